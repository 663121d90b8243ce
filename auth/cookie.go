package auth

import (
	"sync"
	"time"
)

// Cookies remembers which identity each WebSocket cookie authenticated as,
// per realm, in memory (a restart forgets them). It holds at most Max
// cookies, each for TTL after it was last remembered; when full, it drops
// the expired ones and then the ones that expire first. It is safe for
// concurrent use.
type Cookies struct {
	Max int
	TTL time.Duration
	now func() time.Time // for tests; nil is time.Now

	mu sync.Mutex
	m  map[cookieKey]cookieEntry
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
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[cookieKey]cookieEntry)
	}
	k := cookieKey{cookie, realm}
	if _, ok := c.m[k]; !ok && len(c.m) >= max(c.Max, 1) {
		c.evictLocked(now)
	}
	e := cookieEntry{id: *id, expires: now.Add(c.TTL)}
	e.id.AuthExtra = nil
	c.m[k] = e
}

// evictLocked makes room for one entry.
func (c *Cookies) evictLocked(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	for len(c.m) >= max(c.Max, 1) {
		var oldest cookieKey
		var at time.Time
		first := true
		for k, e := range c.m {
			if first || e.expires.Before(at) {
				oldest, at, first = k, e.expires, false
			}
		}
		delete(c.m, oldest)
	}
}

// Lookup returns the identity cookie authenticated as in realm.
func (c *Cookies) Lookup(cookie, realm string) (*Identity, bool) {
	if c == nil {
		return nil, false
	}
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[cookieKey{cookie, realm}]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		delete(c.m, cookieKey{cookie, realm})
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
	delete(c.m, cookieKey{cookie, realm})
	c.mu.Unlock()
}

// Len returns the number of cookies remembered.
func (c *Cookies) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
