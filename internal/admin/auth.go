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
}

// verifiedTTL is how long a verified secret is taken without hashing it
// again: the web view's requests and every scrape would otherwise each pay
// a key derivation (tens of milliseconds, 19 MiB for Argon2id).
const verifiedTTL = 5 * time.Minute

// maxVerified bounds the remembered secrets.
const maxVerified = 256

// authenticator checks the credentials of requests against an Access.
type authenticator struct {
	access   *Access
	throttle *auth.Throttle

	mu       sync.Mutex
	verified lru.Map[[32]byte, verifiedEntry] // by hash of the credential
}

type verifiedEntry struct {
	id identity
	at time.Time
}

func newAuthenticator(a *Access) *authenticator {
	return &authenticator{access: a, throttle: a.Throttle} // a nil *auth.Throttle never delays
}

// check returns who r is, or ok false when r has no valid credentials
// (none, or wrong ones: the latter count as a failure for the throttle).
// A request from an address that failed before waits as WAMP logins do.
func (a *authenticator) check(ctx context.Context, r *http.Request) (id identity, ok bool, failed bool) {
	user, pass, basic := r.BasicAuth()
	token, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !basic && !bearer {
		return identity{}, false, false
	}
	key := sha256.Sum256([]byte(r.Header.Get("Authorization")))
	if id, ok := a.remembered(key); ok {
		return id, true, false
	}
	if d := a.throttle.Delay(r.RemoteAddr); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return identity{}, false, false
		}
	}
	if basic {
		id, ok = a.checkUser(user, pass)
	} else {
		id, ok = a.checkToken(strings.TrimSpace(token))
	}
	if !ok {
		a.throttle.Failed(r.RemoteAddr)
		return identity{}, false, true
	}
	a.remember(key, id)
	return id, true, false
}

// checkUser verifies a basic-auth login. An unknown user costs a hash too,
// so that timing does not tell which users exist.
func (a *authenticator) checkUser(name, pass string) (identity, bool) {
	for _, u := range a.access.Users {
		if subtle.ConstantTimeCompare([]byte(u.Name), []byte(name)) == 1 {
			return identity{name: u.Name, admin: u.Admin}, u.Password.Verify(pass)
		}
	}
	if len(a.access.Users) > 0 {
		a.access.Users[0].Password.Verify(pass)
	}
	return identity{}, false
}

// checkToken verifies a bearer token against each token's hash.
func (a *authenticator) checkToken(token string) (identity, bool) {
	if token == "" {
		return identity{}, false
	}
	for _, t := range a.access.Tokens {
		if t.Hash.Verify(token) {
			return identity{name: "token " + t.Name, admin: t.Admin}, true
		}
	}
	return identity{}, false
}

func (a *authenticator) remembered(key [32]byte) (identity, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.verified.Get(key)
	if !ok || time.Since(e.at) > verifiedTTL {
		return identity{}, false
	}
	return e.id, true
}

func (a *authenticator) remember(key [32]byte, id identity) {
	a.mu.Lock()
	a.verified.Put(key, verifiedEntry{id: id, at: time.Now()})
	a.verified.Trim(maxVerified)
	a.mu.Unlock()
}
