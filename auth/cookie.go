package auth

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/junction-wamp/junction/internal/lru"
)

// Cookies remembers which identity each WebSocket cookie authenticated as,
// per realm, in memory (a restart forgets them). It holds at most Max
// cookies, each for TTL after it was last remembered; when full, it drops
// the one remembered longest ago (which expires first). It is safe for
// concurrent use.
//
// It keeps a SHA-256 of each cookie, never the cookie itself, so that
// what it holds (and, on a cluster node, what crosses NATS) cannot be
// replayed as a cookie.
type Cookies struct {
	Max int
	TTL time.Duration
	// Replica, when set, is told every Remember and Forget, so that the
	// other nodes of a cluster learn them (package cluster); they come
	// back through RememberHash and ForgetHash. Set it before the store
	// is used.
	Replica CookieReplica
	now     func() time.Time // for tests; nil is time.Now

	mu     sync.Mutex
	m      lru.Map[cookieKey, cookieEntry]
	hashes map[CookieHash]int // realms remembered per cookie, for Known
}

// CookieHash is a cookie's SHA-256.
type CookieHash [sha256.Size]byte

// HashCookie returns cookie's hash.
func HashCookie(cookie string) CookieHash { return sha256.Sum256([]byte(cookie)) }

// CookieReplica carries a cookie store's changes to the other nodes of a
// cluster. Its methods must not block (they run where logins succeed).
type CookieReplica interface {
	CookieRemembered(h CookieHash, realm string, id *Identity, expires time.Time)
	CookieForgotten(h CookieHash, realm string)
}

type cookieKey struct {
	hash  CookieHash
	realm string
}

type cookieEntry struct {
	id      Identity
	expires time.Time
}

func (c *Cookies) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// Remember records that cookie authenticated as id in realm.
func (c *Cookies) Remember(cookie, realm string, id *Identity) {
	if cookie == "" || c == nil {
		return
	}
	h, expires := HashCookie(cookie), c.clock().Add(c.TTL)
	c.RememberHash(h, realm, id, expires)
	if c.Replica != nil {
		c.Replica.CookieRemembered(h, realm, id, expires)
	}
}

// RememberHash records that the cookie whose hash is h authenticated as
// id in realm, until expires: a login another node of the cluster saw.
func (c *Cookies) RememberHash(h CookieHash, realm string, id *Identity, expires time.Time) {
	e := cookieEntry{id: *id, expires: expires}
	e.id.AuthExtra = nil
	k := cookieKey{h, realm}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m.Get(k); !ok {
		if c.hashes == nil {
			c.hashes = map[CookieHash]int{}
		}
		c.hashes[h]++
	}
	c.m.Put(k, e)
	for c.m.Len() > max(c.Max, 1) {
		old, _, _ := c.m.Oldest()
		c.deleteLocked(old)
	}
}

func (c *Cookies) deleteLocked(k cookieKey) {
	if _, ok := c.m.Get(k); !ok {
		return
	}
	c.m.Delete(k)
	if c.hashes[k.hash]--; c.hashes[k.hash] <= 0 {
		delete(c.hashes, k.hash)
	}
}

// Lookup returns the identity cookie authenticated as in realm.
func (c *Cookies) Lookup(cookie, realm string) (*Identity, bool) {
	if c == nil {
		return nil, false
	}
	now := c.clock()
	k := cookieKey{HashCookie(cookie), realm}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m.Get(k)
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		c.deleteLocked(k)
		return nil, false
	}
	id := e.id
	return &id, true
}

// Known reports whether cookie remembers a login in some realm. A cluster
// node's cookie signer asks it of a value another node signed (see
// websocket.CookieSigner.Also): such a value is taken only when the
// cluster remembers a login under it.
func (c *Cookies) Known(cookie string) bool {
	if c == nil || cookie == "" {
		return false
	}
	h := HashCookie(cookie)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hashes[h] > 0
}

// Forget drops what cookie remembers in realm (a session that said
// GOODBYE with wamp.close.logout, for one).
func (c *Cookies) Forget(cookie, realm string) {
	if c == nil {
		return
	}
	h := HashCookie(cookie)
	c.ForgetHash(h, realm)
	if c.Replica != nil {
		c.Replica.CookieForgotten(h, realm)
	}
}

// ForgetHash drops what the cookie whose hash is h remembers in realm: a
// logout another node of the cluster saw.
func (c *Cookies) ForgetHash(h CookieHash, realm string) {
	c.mu.Lock()
	c.deleteLocked(cookieKey{h, realm})
	c.mu.Unlock()
}

// Each calls fn for every cookie remembered and not expired, oldest first,
// with the store locked (fn must not call the store): what a cluster node
// sends a node that joined.
func (c *Cookies) Each(fn func(h CookieHash, realm string, id *Identity, expires time.Time)) {
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m.All() {
		if now.Before(e.expires) {
			fn(k.hash, k.realm, &e.id, e.expires)
		}
	}
}

// Len returns the number of cookies remembered.
func (c *Cookies) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m.Len()
}
