package router

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
)

// realm is a routing namespace: sessions in different realms never see
// each other.
type realm struct {
	name wamp.URI
	cfg  RealmConfig
	// roles authorize the realm's sessions: cfg.Roles at first, then
	// what Router.SetRoles gives; nil for a realm without roles (which
	// SetRoles does not change).
	roles atomic.Pointer[auth.Roles]
	// auth authenticates the realm's clients: cfg.Auth at first, then
	// what Router.SetAuth gives; nil for a realm without authentication
	// (which SetAuth does not change).
	auth atomic.Pointer[auth.Policy]
	// removed is set when Router.RemoveRealm takes the realm out.
	removed   atomic.Bool
	strict    bool
	anonymous bool
	broker    broker
	dealer    dealer
	// meta holds the meta procedures; nil when the meta API is off.
	meta map[wamp.URI]metaProcedure
	// gathers holds the meta procedures that answer for the whole
	// cluster (meta_cluster.go); nil on a single node.
	gathers map[wamp.URI]*metaGather
	// welcomeRoles is WELCOME.Details.roles, built once (routerRoles) and
	// shared read-only by every WELCOME of the realm.
	welcomeRoles wamp.Dict
	// hist holds the retained events and the history store (retention.go).
	hist realmHistory

	mu       sync.RWMutex
	sessions map[wamp.ID]*Session

	// proxies stand for other nodes in calls across nodes
	// (remote_call.go); empty on a single node.
	proxies proxies

	// router and the router-side caller (caller.go), made on first use.
	router     *Router
	callerOnce sync.Once
	internal   *internalCaller
}

func newRealm(r *Router, rc RealmConfig) *realm {
	rl := &realm{
		name:      rc.Name,
		cfg:       rc,
		strict:    rc.StrictURIs,
		anonymous: rc.Anonymous,
		sessions:  make(map[wamp.ID]*Session),
		router:    r,
	}
	rl.roles.Store(rc.Roles)
	rl.auth.Store(rc.Auth)
	rl.broker.init(r)
	rl.dealer.init(r)
	rl.dealer.meta = &rl.broker.meta
	if !rc.DisableMetaAPI {
		rl.meta = rl.metaProcedures()
		if r.cfg.Backbone != nil {
			rl.gathers = rl.metaGathers()
		}
	}
	return rl
}

func (rl *realm) join(s *Session) {
	rl.mu.Lock()
	rl.sessions[s.id] = s
	rl.mu.Unlock()
}

func (rl *realm) leave(s *Session) {
	rl.mu.Lock()
	delete(rl.sessions, s.id)
	rl.mu.Unlock()
}

// SessionCount returns the number of sessions joined to the named realm.
func (r *Router) SessionCount(name wamp.URI) int {
	rl := r.realmNamed(name)
	if rl == nil {
		return 0
	}
	rl.mu.RLock()
	defer rl.mu.RUnlock()
	return len(rl.sessions)
}

// realmTable holds the configured realms. Every HELLO looks its realm up,
// without a lock: the map is never changed, but replaced whole when
// Router.AddRealm adds one.
type realmTable struct {
	mu sync.Mutex // serializes add
	m  atomic.Pointer[map[wamp.URI]*realm]
}

// get returns the realm named name, or nil.
func (t *realmTable) get(name wamp.URI) *realm {
	if m := t.m.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}

// all returns the realms; the map must not be changed.
func (t *realmTable) all() map[wamp.URI]*realm {
	if m := t.m.Load(); m != nil {
		return *m
	}
	return nil
}

// remove takes out rl, if it is the realm of its name.
func (t *realmTable) remove(rl *realm) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.all()
	if old[rl.name] != rl {
		return false
	}
	m := maps.Clone(old)
	delete(m, rl.name)
	t.m.Store(&m)
	return true
}

// add adds rl, unless a realm of its name is there.
func (t *realmTable) add(rl *realm) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.all()
	if old[rl.name] != nil {
		return false
	}
	m := make(map[wamp.URI]*realm, len(old)+1)
	maps.Copy(m, old)
	m[rl.name] = rl
	t.m.Store(&m)
	return true
}
