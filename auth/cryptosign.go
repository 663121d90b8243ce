package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"

	"github.com/junction-wamp/junction/wamp"
)

// Cryptosign authenticates with WAMP-Cryptosign: the client announces an
// Ed25519 public key in HELLO.Details.authextra.pubkey and signs a random
// 32-byte challenge with its private key. With channel binding
// (authextra.channel_binding "tls-unique" or "tls-exporter"), it signs the
// challenge XOR the connection's 32-byte channel id, so that a signature
// cannot be relayed to another connection.
//
// tls-unique is the SHA-256 of the TLS Finished message (as Autobahn
// computes it). Go's crypto/tls has it only for TLS 1.2 (and TLS 1.2
// resumed with extended master secret): TLS 1.3 has no tls-unique, so a
// client asking for it on TLS 1.3 is refused, and should ask for
// tls-exporter (RFC 9266), which works on TLS 1.3.
//
// Router authentication (the router signing authextra.challenge) and
// certificate chains (trustroots) are not implemented: a client's
// authextra.challenge is ignored.
type Cryptosign struct {
	src source
}

// NewCryptosign authenticates the static principals of t by public key.
func NewCryptosign(t *Principals) *Cryptosign { return &Cryptosign{src: pubkeySource{t}} }

// pubkeySource finds static principals by the public key in the HELLO.
type pubkeySource struct{ t *Principals }

func (s pubkeySource) lookup(_ context.Context, req *Request) (*Principal, error) {
	k, err := helloPubkey(req)
	if err != nil {
		return nil, nil
	}
	return s.t.ByPublicKey(k), nil
}
func (s pubkeySource) table() *Principals { return s.t }
func (pubkeySource) provider() string     { return "static" }

// helloPubkey reads HELLO.Details.authextra.pubkey.
func helloPubkey(req *Request) (ed25519.PublicKey, error) {
	s, ok := extraString(req.AuthExtra, "pubkey")
	if !ok || len(s) != 2*ed25519.PublicKeySize {
		return nil, malformed("HELLO.Details.authextra.pubkey must be the client's Ed25519 public key in hex (64 digits) for cryptosign")
	}
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, malformed("HELLO.Details.authextra.pubkey must be hex")
	}
	return ed25519.PublicKey(k), nil
}

// Knows reports whether the public key (and authid, when given) is known.
func (a *Cryptosign) Knows(req *Request) bool {
	t := a.src.table()
	if t == nil {
		return true
	}
	k, err := helloPubkey(req)
	if err != nil {
		return false
	}
	p := t.ByPublicKey(k)
	return p != nil && (req.AuthID == "" || req.AuthID == p.AuthID)
}

// Authenticate sends the challenge and verifies the signature.
func (a *Cryptosign) Authenticate(ctx context.Context, req *Request, c Challenger) (*Identity, error) {
	pub, err := helloPubkey(req)
	if err != nil {
		return nil, err
	}
	cbType, ok := extraString(req.AuthExtra, "channel_binding")
	if !ok {
		return nil, malformed("HELLO.Details.authextra.channel_binding must be a string or null")
	}
	var channelID []byte
	if cbType != "" {
		if channelID, err = req.Transport.channelBinding(cbType); err != nil {
			return nil, &Failure{Reason: wamp.ErrAuthenticationFailed, Message: err.Error()}
		}
	}
	p, err := a.src.lookup(ctx, req)
	if err != nil {
		return nil, err
	}

	challenge := make([]byte, 32)
	rand.Read(challenge)
	ans, err := c.Challenge(ctx, wamp.Dict{"challenge": hex.EncodeToString(challenge), "channel_binding": nilIfEmpty(cbType)})
	if err != nil {
		return nil, err
	}
	sig, err := hex.DecodeString(ans.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize+32 {
		return nil, malformed("AUTHENTICATE: the cryptosign signature must be 192 hex digits (the signature and the message signed)")
	}
	want := challenge
	if channelID != nil {
		want = make([]byte, 32)
		subtle.XORBytes(want, challenge, channelID)
	}
	signed := sig[ed25519.SignatureSize:]
	valid := subtle.ConstantTimeCompare(signed, want) == 1 && ed25519.Verify(pub, signed, sig[:ed25519.SignatureSize])
	switch {
	case p == nil:
		return nil, failed("no principal with public key %x", []byte(pub))
	case req.AuthID != "" && req.AuthID != p.AuthID:
		return nil, failed("public key %x belongs to %q, not to %q", []byte(pub), p.AuthID, req.AuthID)
	case !valid:
		return nil, failed("bad cryptosign signature for %q", p.AuthID)
	}
	if !keyAllowed(p, pub) {
		return nil, failed("public key %x is not one of %q's", []byte(pub), p.AuthID)
	}
	proof := ""
	if a.src.table() != nil {
		proof = keyProof(pub)
	}
	return p.identity(MethodCryptosign, a.src.provider(), proof, nil), nil
}

// keyAllowed reports whether pub is one of p's keys; a principal from a
// dynamic authenticator that lists no keys accepts the key the client
// presented (the authenticator saw it).
func keyAllowed(p *Principal, pub ed25519.PublicKey) bool {
	if len(p.PublicKeys) == 0 {
		return true
	}
	for _, k := range p.PublicKeys {
		if k.Equal(pub) {
			return true
		}
	}
	return false
}

// SignCryptosignChallenge is the client's side: it signs a challenge (hex,
// from CHALLENGE.Extra.challenge) with key, XOR channelID when not nil,
// and returns what AUTHENTICATE carries: the signature and the message
// signed, in hex. The router does not use it; tests and Go clients do.
func SignCryptosignChallenge(key ed25519.PrivateKey, challenge string, channelID []byte) (string, error) {
	msg, err := hex.DecodeString(challenge)
	if err != nil || len(msg) != 32 {
		return "", malformed("the cryptosign challenge must be 64 hex digits")
	}
	if channelID != nil {
		if len(channelID) != 32 {
			return "", malformed("the channel id must be 32 bytes")
		}
		subtle.XORBytes(msg, msg, channelID)
	}
	sig := ed25519.Sign(key, msg)
	return hex.EncodeToString(append(sig, msg...)), nil
}
