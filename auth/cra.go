package auth

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// CRAKey is the stored form of a WAMP-CRA secret: the HMAC key the client
// and the router share. Unsalted, it is the secret itself (WAMP-CRA has
// no other way: store salted keys where clients support them). Salted, it
// is the key the client derives from its secret, as Autobahn and
// Crossbar.io do: base64(PBKDF2-HMAC-SHA256(secret, salt, iterations,
// keylen)), the base64 text being the key; the challenge then carries
// salt, iterations and keylen.
type CRAKey struct {
	Key        []byte
	Salt       string // "" for an unsalted secret
	Iterations int
	KeyLen     int
}

// DeriveCRAKey derives the salted WAMP-CRA key for secret, as a client
// does when the challenge carries a salt.
func DeriveCRAKey(secret, salt string, iterations, keylen int) (*CRAKey, error) {
	k, err := pbkdf2.Key(sha256.New, secret, []byte(salt), iterations, keylen)
	if err != nil {
		return nil, fmt.Errorf("deriving the WAMP-CRA key: %w", err)
	}
	return &CRAKey{Key: []byte(base64.StdEncoding.EncodeToString(k)), Salt: salt, Iterations: iterations, KeyLen: keylen}, nil
}

// CRASignature is the signature a client answers challenge with:
// base64(HMAC-SHA256(key, challenge)).
func CRASignature(key []byte, challenge string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(challenge))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// WAMPCRA authenticates with WAMP challenge-response: the router sends a
// JSON challenge naming the session it is for, and the client answers with
// its HMAC.
type WAMPCRA struct {
	src   source
	mock  *mockParams
	clock func() time.Time
}

// NewWAMPCRA authenticates the static principals of t.
func NewWAMPCRA(t *Principals) *WAMPCRA {
	return &WAMPCRA{src: staticSource{t}, mock: &t.mock}
}

// Knows reports whether the authid has a WAMP-CRA key.
func (a *WAMPCRA) Knows(req *Request) bool {
	return knows(a.src, req, func(p *Principal) bool { return p.CRA != nil })
}

// Authenticate sends the challenge and checks the signature.
func (a *WAMPCRA) Authenticate(ctx context.Context, req *Request, c Challenger) (*Identity, error) {
	if req.AuthID == "" {
		return nil, &Failure{Reason: wamp.ErrAuthenticationFailed, Message: "wampcra needs an authid in HELLO.Details"}
	}
	p, err := a.src.lookup(ctx, req)
	if err != nil {
		return nil, err
	}
	key, role, provider := a.mockKey(req.AuthID), a.mock.role, a.src.provider()
	if p != nil && p.CRA != nil {
		key, role = p.CRA, p.Role
	}
	now := time.Now
	if a.clock != nil {
		now = a.clock
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	challenge, _ := json.Marshal(map[string]any{
		"authid":       req.AuthID,
		"authrole":     role,
		"authmethod":   MethodWAMPCRA,
		"authprovider": provider,
		"nonce":        base64.StdEncoding.EncodeToString(nonce),
		"timestamp":    now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"session":      uint64(req.Session),
	})
	extra := wamp.Dict{"challenge": string(challenge)}
	if key.Salt != "" {
		extra["salt"], extra["iterations"], extra["keylen"] = key.Salt, key.Iterations, key.KeyLen
	}
	ans, err := c.Challenge(ctx, extra)
	if err != nil {
		return nil, err
	}
	got, err := base64.StdEncoding.DecodeString(ans.Signature)
	if err != nil {
		return nil, malformed("AUTHENTICATE: the wampcra signature must be base64")
	}
	m := hmac.New(sha256.New, key.Key)
	m.Write(challenge)
	ok := hmac.Equal(got, m.Sum(nil))
	switch {
	case p == nil || p.CRA == nil:
		return nil, failed("no principal %q with a wampcra secret", req.AuthID)
	case !ok:
		return nil, failed("wrong wampcra signature for %q", req.AuthID)
	}
	proof := ""
	if t := a.src.table(); t != nil {
		proof = t.craProof(p)
	}
	return p.identity(MethodWAMPCRA, provider, proof, nil), nil
}

// mockKey is the key challenged with for an unknown authid: salted like
// the realm's salted principals, with a salt that is the same every time.
func (a *WAMPCRA) mockKey(authid string) *CRAKey {
	k := &CRAKey{Key: a.mock.mockSalt(authid+"\x00cra", 32)}
	if a.mock.cra != nil && a.mock.cra.Salt != "" {
		k.Salt = base64.StdEncoding.EncodeToString(a.mock.mockSalt(authid, 12))
		k.Iterations, k.KeyLen = a.mock.cra.Iterations, a.mock.cra.KeyLen
	}
	return k
}
