package auth

import (
	"github.com/junction-wamp/junction/internal/lru"
	"sync"
	"time"
)

// Cookies remembers which identity each WebSocket cookie authenticated as,
// per realm, in memory (a restart forgets them). It holds at most Max
// cookies, each for TTL after it was last remembered; when full, it drops
// the one remembered longest ago (which expires first). It is safe for
// concurrent use.
type Cookies struct {
	Max int
	TTL time.Duration
	now func() time.Time // for tests; nil is time.Now

	mu sync.Mutex
	m  lru.Map[cookieKey, cookieEntry]
}

type cookieKey struct{ cookie, realm string }

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
	e := cookieEntry{id: *id, expires: c.clock().Add(c.TTL)}
	e.id.AuthExtra = nil
	c.mu.Lock()
	c.m.Put(cookieKey{cookie, realm}, e)
	c.m.Trim(c.Max)
	c.mu.Unlock()
}

// Lookup returns the identity cookie authenticated as in realm.
func (c *Cookies) Lookup(cookie, realm string) (*Identity, bool) {
	if c == nil {
		return nil, false
	}
	now := c.clock()
	k := cookieKey{cookie, realm}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m.Get(k)
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		c.m.Delete(k)
		return nil, false
	}
	id := e.id
	return &id, true
}

// Forget drops what cookie remembers in realm (a session that said
// GOODBYE with wamp.close.logout, for one).
func (c *Cookies) Forget(cookie, realm string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.m.Delete(cookieKey{cookie, realm})
	c.mu.Unlock()
}

// Len returns the number of cookies remembered.
func (c *Cookies) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m.Len()
}
