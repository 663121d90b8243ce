package client

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/junction-wamp/junction/wamp"
)

// Credential authenticates the client with one of WAMP's authentication
// methods; Options.Credentials lists those the client offers, and the router
// picks one. Ticket, WAMPCRA, SCRAM, Cryptosign, TLSCertificate and Cookie
// make them; for anything else, Options.Authenticate answers the challenge
// directly.
type Credential interface {
	// AuthMethod is the method's name in HELLO.Details.authmethods.
	AuthMethod() string
	// begin starts one authentication exchange (one HELLO).
	begin(authid string) (exchange, error)
}

// exchange is one authentication in progress.
type exchange interface {
	// authextra is what the method adds to HELLO.Details.authextra.
	authextra() wamp.Dict
	// respond answers the router's CHALLENGE.
	respond(c *wamp.Challenge) (*wamp.Authenticate, error)
	// verify checks WELCOME (mutual authentication); nil when there is
	// nothing to check.
	verify(w *wamp.Welcome) error
}

// joinAuth is the authentication state of one join.
type joinAuth struct {
	methods []string
	extra   wamp.Dict
	ex      map[string]exchange
	custom  func(context.Context, *wamp.Challenge) (*wamp.Authenticate, error)
}

func (o *Options) startAuth() (*joinAuth, error) {
	a := &joinAuth{methods: o.AuthMethods, custom: o.Authenticate}
	for _, c := range o.Credentials {
		if _, ok := c.(cookieCred); ok && o.CookieJar == nil {
			return nil, errors.New("cookie authentication needs Options.CookieJar to keep the router's cookie")
		}
		ex, err := c.begin(o.AuthID)
		if err != nil {
			return nil, fmt.Errorf("%s authentication: %w", c.AuthMethod(), err)
		}
		if a.ex == nil {
			a.ex = make(map[string]exchange, len(o.Credentials))
		}
		a.ex[c.AuthMethod()] = ex
		if len(o.AuthMethods) == 0 {
			a.methods = append(a.methods, c.AuthMethod())
		}
		for k, v := range ex.authextra() {
			if a.extra == nil {
				a.extra = wamp.Dict{}
			}
			a.extra[k] = v
		}
	}
	return a, nil
}

// answer returns what answers a CHALLENGE for method, nil if nothing does.
func (a *joinAuth) answer(method string) func(context.Context, *wamp.Challenge) (*wamp.Authenticate, error) {
	if a.custom != nil {
		return a.custom
	}
	ex := a.ex[method]
	if ex == nil {
		return nil
	}
	return func(_ context.Context, c *wamp.Challenge) (*wamp.Authenticate, error) { return ex.respond(c) }
}

// verify checks WELCOME with the method the router used.
func (a *joinAuth) verify(w *wamp.Welcome) error {
	ex := a.ex[wamp.String(w.Details, "authmethod")]
	if ex == nil {
		return nil
	}
	return ex.verify(w)
}

// Ticket authenticates with a ticket (a password or a token), sent as is:
// use it over TLS. Options.AuthID names the principal.
func Ticket(ticket string) Credential { return ticketCred(ticket) }

type ticketCred string

func (ticketCred) AuthMethod() string               { return "ticket" }
func (t ticketCred) begin(string) (exchange, error) { return t, nil }
func (ticketCred) authextra() wamp.Dict             { return nil }
func (ticketCred) verify(*wamp.Welcome) error       { return nil }
func (t ticketCred) respond(*wamp.Challenge) (*wamp.Authenticate, error) {
	return &wamp.Authenticate{Signature: string(t), Extra: wamp.Dict{}}, nil
}

// WAMPCRA authenticates with WAMP challenge-response: the secret never
// travels, the client signs the router's challenge with it (salted with
// PBKDF2 when the router says so). Options.AuthID names the principal.
func WAMPCRA(secret string) Credential { return craCred(secret) }

type craCred string

func (craCred) AuthMethod() string               { return "wampcra" }
func (c craCred) begin(string) (exchange, error) { return c, nil }
func (craCred) authextra() wamp.Dict             { return nil }
func (craCred) verify(*wamp.Welcome) error       { return nil }

func (c craCred) respond(ch *wamp.Challenge) (*wamp.Authenticate, error) {
	challenge := wamp.String(ch.Extra, "challenge")
	if challenge == "" {
		return nil, errors.New("wampcra: the CHALLENGE has no challenge string")
	}
	key := []byte(c)
	if salt := wamp.String(ch.Extra, "salt"); salt != "" {
		iterations, keylen := 1000, 32
		if n, ok := wamp.AsUint(ch.Extra["iterations"]); ok && n > 0 {
			iterations = int(n)
		}
		if n, ok := wamp.AsUint(ch.Extra["keylen"]); ok && n > 0 {
			keylen = int(n)
		}
		derived, err := craDeriveKey(string(c), salt, iterations, keylen)
		if err != nil {
			return nil, err
		}
		key = []byte(derived)
	}
	return &wamp.Authenticate{Signature: craSign(key, challenge), Extra: wamp.Dict{}}, nil
}

// craDeriveKey is WAMP-CRA's salted key: base64(PBKDF2-HMAC-SHA256), which
// then keys the HMAC as a string (as Autobahn does).
func craDeriveKey(secret, salt string, iterations, keylen int) (string, error) {
	k, err := pbkdf2.Key(sha256.New, secret, []byte(salt), iterations, keylen)
	if err != nil {
		return "", fmt.Errorf("wampcra: deriving the salted key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

func craSign(key []byte, challenge string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(challenge))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SCRAM authenticates with WAMP-SCRAM (SHA-256, with the Argon2id or PBKDF2
// key derivation the router names): neither side learns the password, and
// the client checks the router's proof that it knows the user's keys.
// Options.AuthID names the principal. Channel binding is not used.
func SCRAM(password string) Credential { return scramCred(password) }

type scramCred string

func (scramCred) AuthMethod() string { return "wamp-scram" }

// The costs of SCRAM's key derivation this client accepts: a router that
// asks for less gets an ABORT, as the specification suggests (a rogue
// router would collect cheap hashes), and one that asks for much more is
// refused as well. `junction passwd` makes no credential outside them.
const (
	SCRAMMinPBKDF2Iterations = 1000
	SCRAMMaxPBKDF2Iterations = 10_000_000
	SCRAMMinArgon2Memory     = 1024    // KiB
	SCRAMMaxArgon2Memory     = 1 << 21 // KiB: 2 GiB
	SCRAMMaxArgon2Iterations = 100
)

func (p scramCred) begin(authid string) (exchange, error) {
	var n [16]byte
	rand.Read(n[:])
	return &scramExchange{password: string(p), authid: authid, nonce: base64.StdEncoding.EncodeToString(n[:])}, nil
}

type scramExchange struct {
	password  string
	authid    string
	nonce     string // the client's
	saltedPwd []byte
	authMsg   string
}

func (x *scramExchange) authextra() wamp.Dict {
	return wamp.Dict{"nonce": x.nonce, "channel_binding": nil}
}

func (x *scramExchange) respond(c *wamp.Challenge) (*wamp.Authenticate, error) {
	nonce := wamp.String(c.Extra, "nonce")
	if !strings.HasPrefix(nonce, x.nonce) || len(nonce) == len(x.nonce) {
		return nil, errors.New("wamp-scram: the router's nonce does not extend the client's")
	}
	salt64 := wamp.String(c.Extra, "salt")
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) == 0 {
		return nil, errors.New("wamp-scram: the salt is not base64")
	}
	iterations, ok := wamp.AsUint(c.Extra["iterations"])
	if !ok || iterations == 0 {
		return nil, errors.New("wamp-scram: no iteration count")
	}
	kdf := wamp.String(c.Extra, "kdf")
	switch kdf {
	case "pbkdf2":
		if iterations < SCRAMMinPBKDF2Iterations || iterations > SCRAMMaxPBKDF2Iterations {
			return nil, fmt.Errorf("wamp-scram: refusing PBKDF2 with %d iterations", iterations)
		}
		x.saltedPwd, err = pbkdf2.Key(sha256.New, x.password, salt, int(iterations), 32)
		if err != nil {
			return nil, fmt.Errorf("wamp-scram: %w", err)
		}
	case "argon2id13":
		mem, ok := wamp.AsUint(c.Extra["memory"])
		if !ok || mem < SCRAMMinArgon2Memory || mem > SCRAMMaxArgon2Memory || iterations > SCRAMMaxArgon2Iterations {
			return nil, fmt.Errorf("wamp-scram: refusing Argon2id with %d iterations and %v KiB", iterations, c.Extra["memory"])
		}
		x.saltedPwd = argon2.IDKey([]byte(x.password), salt, uint32(iterations), uint32(mem), 1, 32)
	default:
		return nil, fmt.Errorf("wamp-scram: unknown key derivation %q", kdf)
	}
	proof, authMsg := scramProof(x.saltedPwd, x.authid, x.nonce, nonce, salt64, iterations)
	x.authMsg = authMsg
	return &wamp.Authenticate{Signature: proof,
		Extra: wamp.Dict{"nonce": nonce, "channel_binding": nil, "cbind_data": nil}}, nil
}

// scramProof computes the ClientProof (base64) and the AuthMessage.
func scramProof(saltedPwd []byte, authid, clientNonce, nonce, salt64 string, iterations uint64) (string, string) {
	clientFirstBare := "n=" + scramEscape(authid) + ",r=" + clientNonce
	serverFirst := "r=" + nonce + ",s=" + salt64 + ",i=" + strconv.FormatUint(iterations, 10)
	clientFinalNoProof := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + nonce
	authMsg := clientFirstBare + "," + serverFirst + "," + clientFinalNoProof
	clientKey := hmacSHA256(saltedPwd, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	sig := hmacSHA256(storedKey[:], authMsg)
	proof := make([]byte, len(clientKey))
	subtle.XORBytes(proof, clientKey, sig)
	return base64.StdEncoding.EncodeToString(proof), authMsg
}

func scramServerSignature(saltedPwd []byte, authMsg string) string {
	return base64.StdEncoding.EncodeToString(hmacSHA256(hmacSHA256(saltedPwd, "Server Key"), authMsg))
}

func (x *scramExchange) verify(w *wamp.Welcome) error {
	extra, _ := w.Details["authextra"].(wamp.Dict)
	got := wamp.String(extra, "verifier")
	if x.saltedPwd == nil {
		return errors.New("wamp-scram: WELCOME without a CHALLENGE")
	}
	want := scramServerSignature(x.saltedPwd, x.authMsg)
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return errors.New("wamp-scram: the router's verifier is wrong: it does not know the user's keys")
	}
	return nil
}

func scramEscape(s string) string {
	return strings.NewReplacer(",", "=2C", "=", "=3D").Replace(s)
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Cryptosign authenticates with WAMP-Cryptosign: the client proves that it
// holds key by signing the router's challenge (Ed25519). The public key goes
// in HELLO.Details.authextra.pubkey; Options.AuthID is optional. TLS channel
// binding is not used.
func Cryptosign(key ed25519.PrivateKey) Credential { return cryptosignCred{key} }

// CryptosignKey reads a private key given as the hex string of its 32-byte
// seed, the form Autobahn and Crossbar.io use.
func CryptosignKey(hexSeed string) (ed25519.PrivateKey, error) {
	seed, err := hex.DecodeString(strings.TrimSpace(hexSeed))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("cryptosign: a private key is 64 hex digits (its 32-byte seed)")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

type cryptosignCred struct{ key ed25519.PrivateKey }

func (cryptosignCred) AuthMethod() string               { return "cryptosign" }
func (c cryptosignCred) begin(string) (exchange, error) { return c, nil }
func (cryptosignCred) verify(*wamp.Welcome) error       { return nil }
func (c cryptosignCred) authextra() wamp.Dict {
	return wamp.Dict{"pubkey": hex.EncodeToString(c.key.Public().(ed25519.PublicKey))}
}

func (c cryptosignCred) respond(ch *wamp.Challenge) (*wamp.Authenticate, error) {
	if cb := wamp.String(ch.Extra, "channel_binding"); cb != "" {
		return nil, fmt.Errorf("cryptosign: the router asks for channel binding %q, which the client did not offer", cb)
	}
	sig, err := cryptosignSign(c.key, wamp.String(ch.Extra, "challenge"))
	if err != nil {
		return nil, err
	}
	return &wamp.Authenticate{Signature: sig, Extra: wamp.Dict{}}, nil
}

// cryptosignSign signs a hex challenge of 32 bytes and returns the hex of
// the signature followed by the challenge (96 bytes).
func cryptosignSign(key ed25519.PrivateKey, challengeHex string) (string, error) {
	msg, err := hex.DecodeString(challengeHex)
	if err != nil || len(msg) != 32 {
		return "", errors.New("cryptosign: the challenge is not 32 bytes in hex")
	}
	sig := ed25519.Sign(key, msg)
	return hex.EncodeToString(append(sig, msg...)), nil
}

// TLSCertificate offers the tls method: the router identifies the client by
// the certificate it presented in the TLS handshake, the one in
// Options.TLSConfig.Certificates (wss:// and rss:// URLs). Nothing travels
// in WAMP and the router sends no CHALLENGE; Options.AuthID is optional.
func TLSCertificate() Credential { return tlsCred{} }

type tlsCred struct{}

func (tlsCred) AuthMethod() string               { return "tls" }
func (c tlsCred) begin(string) (exchange, error) { return c, nil }
func (tlsCred) authextra() wamp.Dict             { return nil }
func (tlsCred) verify(*wamp.Welcome) error       { return nil }
func (tlsCred) respond(*wamp.Challenge) (*wamp.Authenticate, error) {
	return nil, errors.New("tls: the router challenges a client that authenticates with its certificate")
}

// Cookie offers the cookie method: the router knows the client by the
// authentication cookie it set on an earlier WebSocket connection of the
// client that logged in to the realm with another method, and the client
// joins with that identity (authid and authrole; authmethod "cookie")
// without a CHALLENGE. The cookie is kept in Options.CookieJar, which Dial
// requires.
//
// List Cookie first and the methods that log in without the cookie after
// it: the first session (and any whose cookie the router does not know,
// after the router restarted or the cookie expired) logs in with those and
// the router has its cookie remember the identity; later sessions and
// reconnects with the same jar join by cookie, and their secrets are not
// used. The router decides: it takes the first offered method that knows
// the client, and refuses a client whose cookie it does not know when
// Cookie is the only method offered. Cookies exist over WebSocket only; a
// RawSocket session offering Cookie is known by its other methods.
//
// A router that welcomes the client by cookie has not proved anything to
// it: a session that relies on SCRAM's verification of the router does
// not offer Cookie.
func Cookie() Credential { return cookieCred{} }

type cookieCred struct{}

func (cookieCred) AuthMethod() string               { return "cookie" }
func (c cookieCred) begin(string) (exchange, error) { return c, nil }
func (cookieCred) authextra() wamp.Dict             { return nil }
func (cookieCred) verify(*wamp.Welcome) error       { return nil }
func (cookieCred) respond(*wamp.Challenge) (*wamp.Authenticate, error) {
	return nil, errors.New("cookie: the router challenges a client that authenticates with its cookie")
}
