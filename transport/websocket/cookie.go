package websocket

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// CookieSigner issues authentication cookie values that only it accepts
// back: 16 random bytes followed by the first 16 bytes of their
// HMAC-SHA256 under a key drawn when the signer is made, base64url (43
// characters). A value a client made up, or one planted in a browser by
// someone else before the user logged in, fails Valid and is replaced with
// a fresh one, so the identity a login attaches to a cookie can only be
// ridden by the connection the router gave that cookie to (no session
// fixation). A restart draws a new key, which matches the router keeping
// its cookies in memory only.
type CookieSigner struct {
	key [32]byte
	// Also, when set, accepts a value the key did not sign: on a node of
	// a cluster, a value another node issued that the cluster remembers a
	// login under (auth.Cookies.Known). Such a value was a signed one
	// where it was issued, and it already carries a login, so a client
	// cannot invent it. Set it before the signer is used.
	Also func(v string) bool
}

// NewCookieSigner returns a signer with a random key.
func NewCookieSigner() *CookieSigner {
	s := new(CookieSigner)
	rand.Read(s.key[:])
	return s
}

const (
	cookieNonce = 16
	cookieTag   = 16
)

// New returns a new signed value.
func (s *CookieSigner) New() string {
	var b [cookieNonce + cookieTag]byte
	rand.Read(b[:cookieNonce])
	s.tag(b[cookieNonce:cookieNonce], b[:cookieNonce])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Valid reports whether v is a value New made (or one Also accepts).
func (s *CookieSigner) Valid(v string) bool {
	if s.valid(v) {
		return true
	}
	return s.Also != nil && v != "" && s.Also(v)
}

func (s *CookieSigner) valid(v string) bool {
	var b [cookieNonce + cookieTag]byte
	if base64.RawURLEncoding.EncodedLen(len(b)) != len(v) {
		return false
	}
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(v)); err != nil || n != len(b) {
		return false
	}
	var want [cookieTag]byte
	s.tag(want[:0], b[:cookieNonce])
	return hmac.Equal(want[:], b[cookieNonce:])
}

// tag appends the truncated HMAC of nonce to dst.
func (s *CookieSigner) tag(dst, nonce []byte) []byte {
	m := hmac.New(sha256.New, s.key[:])
	m.Write(nonce)
	return append(dst, m.Sum(nil)[:cookieTag]...)
}
