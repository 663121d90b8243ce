package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/internal/lru"
)

// Access says who may see the admin endpoints and who may act.
type Access struct {
	// Users log in with HTTP basic auth.
	Users []User
	// Tokens are bearer tokens (Authorization: Bearer ...), for
	// Prometheus and scripts.
	Tokens []Token
	// Throttle slows down repeated failures from one address, as it does
	// WAMP logins; nil turns it off (config's admin.throttle.max_delay: 0).
	Throttle *auth.Throttle
}

// User is a basic-auth login.
type User struct {
	Name     string
	Password *auth.PasswordHash // from `junction passwd --method ticket`
	// Admin lets the user act (kill sessions), not only look.
	Admin bool
}

// Token is a bearer token, stored as a hash.
type Token struct {
	Name  string // for the logs
	Hash  *auth.PasswordHash
	Admin bool
}

// identity is who made a request.
type identity struct {
	name  string
	admin bool
	// gen is the authenticator's generation of access the identity was
	// verified under (see setAccess).
	gen uint64
}

// verifiedTTL is how long a verified secret is taken without hashing it
// again: the web view's requests and every scrape would otherwise each pay
// a key derivation (tens of milliseconds, 19 MiB for Argon2id).
const verifiedTTL = 5 * time.Minute

// maxVerified bounds the remembered secrets.
const maxVerified = 256

// authenticator checks the credentials of requests against an Access.
type authenticator struct {
	throttle *auth.Throttle
	// kdf schedules the password hashes, shared with the router's ticket
	// logins: a flood of wrong logins queues for the same bounded slots
	// (each Argon2id hash takes its memory, 19 MiB by default) instead of
	// hashing all at once, and one address has a bounded number in
	// flight.
	kdf *auth.KDFLimiter

	mu sync.Mutex
	// access is what requests are checked against, replaced by
	// setAccess, which counts a generation.
	access   *Access
	gen      uint64
	verified lru.Map[[32]byte, verifiedEntry] // by hash of the credential, this generation's
}

type verifiedEntry struct {
	id identity
	at time.Time
}

// newAuthenticator checks requests against a, hashing through kdf (nil
// hashes at once, unbounded).
func newAuthenticator(a *Access, kdf *auth.KDFLimiter) *authenticator {
	return &authenticator{access: a, throttle: a.Throttle, kdf: kdf} // a nil *auth.Throttle never delays
}

// verdict is what check made of a request's credentials.
type verdict int

const (
	noCredentials verdict = iota
	wrongCredentials
	// busy: the throttle or the password limiter refused the check
	// unhashed, its address having too many in flight; not a failure,
	// nothing was checked.
	busy
	// gone: the request's context ended before the verdict.
	gone
	allowed
)

// check returns who r is when the verdict is allowed. Wrong credentials
// count as a failure for the throttle; a request from an address that
// failed before, or that has many logins going on, waits as WAMP logins
// do.
func (a *authenticator) check(ctx context.Context, r *http.Request) (identity, verdict) {
	user, pass, basic := r.BasicAuth()
	token, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !basic && !bearer {
		return identity{}, noCredentials
	}
	key := sha256.Sum256([]byte(r.Header.Get("Authorization")))
	id, acc, ok := a.remembered(key)
	if ok {
		return id, allowed
	}
	// Its turn among the address's logins and the throttle's delay, as
	// WAMP logins: parallel wrong logins get no more guesses per delay
	// than the throttle's in-flight bound.
	turn, err := a.throttle.Enter(r.RemoteAddr)
	if err != nil {
		return identity{}, busy
	}
	defer turn.Done() // after Failed: the next turn's delay counts it
	if err := turn.Wait(ctx); err != nil {
		return identity{}, gone
	}
	for {
		if basic {
			id, ok, err = a.checkUser(ctx, acc, r.RemoteAddr, user, pass)
		} else {
			id, ok, err = a.checkToken(ctx, acc, r.RemoteAddr, strings.TrimSpace(token))
		}
		switch {
		case ctx.Err() != nil:
			return identity{}, gone
		case err != nil:
			return identity{}, busy
		case !ok:
			a.throttle.Failed(r.RemoteAddr)
			return identity{}, wrongCredentials
		}
		id.gen = acc.gen
		// The logins may have been replaced while the hash was computed:
		// a credential is let through only by the logins in force.
		if acc, ok = a.remember(key, id); ok {
			return id, allowed
		}
	}
}

// checkUser verifies a basic-auth login from addr. An unknown user costs
// a hash too, so that timing does not tell which users exist.
func (a *authenticator) checkUser(ctx context.Context, acc accessNow, addr, name, pass string) (identity, bool, error) {
	for _, u := range acc.Users {
		if subtle.ConstantTimeCompare([]byte(u.Name), []byte(name)) == 1 {
			ok, err := a.kdf.Verify(ctx, addr, u.Password, pass)
			return identity{name: u.Name, admin: u.Admin}, ok, err
		}
	}
	if len(acc.Users) > 0 {
		_, err := a.kdf.Verify(ctx, addr, acc.Users[0].Password, pass)
		return identity{}, false, err
	}
	return identity{}, false, nil
}

// checkToken verifies a bearer token from addr against each token's hash.
func (a *authenticator) checkToken(ctx context.Context, acc accessNow, addr, token string) (identity, bool, error) {
	if token == "" {
		return identity{}, false, nil
	}
	for _, t := range acc.Tokens {
		ok, err := a.kdf.Verify(ctx, addr, t.Hash, token)
		if err != nil {
			return identity{}, false, err
		}
		if ok {
			return identity{name: "token " + t.Name, admin: t.Admin}, true, nil
		}
	}
	return identity{}, false, nil
}

// accessNow is the access a check goes by, and its generation.
type accessNow struct {
	*Access
	gen uint64
}

// remembered returns the identity of the credential whose hash is key,
// when it was verified less than verifiedTTL ago under the access in
// force; else the access to verify it against.
func (a *authenticator) remembered(key [32]byte) (identity, accessNow, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := accessNow{a.access, a.gen}
	e, ok := a.verified.Get(key)
	if !ok || time.Since(e.at) > verifiedTTL {
		return identity{}, now, false
	}
	return e.id, now, true
}

// remember records a verified credential, unless the access it was
// verified against has been replaced meanwhile: then it returns the
// access in force, false, and the credential is to be verified again.
func (a *authenticator) remember(key [32]byte, id identity) (accessNow, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id.gen != a.gen {
		return accessNow{a.access, a.gen}, false
	}
	a.verified.Put(key, verifiedEntry{id: id, at: time.Now()})
	a.verified.Trim(maxVerified)
	return accessNow{}, true
}

// setAccess replaces the users and tokens (the throttle stays, with what
// it counted) and forgets every verified credential: a user or token
// removed, or whose secret changed, is refused from the next request,
// and a live stream it opened ends (Handler.events).
func (a *authenticator) setAccess(users []User, tokens []Token) {
	a.mu.Lock()
	a.access = &Access{Users: users, Tokens: tokens, Throttle: a.throttle}
	a.gen++
	a.verified = lru.Map[[32]byte, verifiedEntry]{}
	a.mu.Unlock()
}

// generation is the generation of the access in force.
func (a *authenticator) generation() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen
}
