package router

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// Looking inside the router, for operators (package metrics, the web
// view): what its realms hold now. Every method copies what it reports
// under the locks that guard it, holding each only for a copy (a realm's
// session list, say) or a length, never across other work, so that a
// reader does not stall routing.

// RealmStats is what one realm holds now.
type RealmStats struct {
	Name          wamp.URI
	Sessions      int // established sessions
	Subscriptions int // subscriptions (a topic or pattern with its subscribers)
	Registrations int // registrations (a procedure or pattern with its callees)
	CallsInFlight int // calls routed to a callee and not yet answered
	// FromTemplate is set for a realm created from the realm template.
	FromTemplate bool
}

// allRealms returns the configured realms, then those created from the
// template, each in name order.
func (r *Router) allRealms() []*realm {
	configured := r.realms.all()
	out := make([]*realm, 0, len(configured))
	for _, rl := range configured {
		out = append(out, rl)
	}
	slices.SortFunc(out, func(a, b *realm) int { return cmp.Compare(a.name, b.name) })
	n := len(out)
	r.autoMu.Lock()
	for _, rl := range r.autoRealms {
		out = append(out, rl)
	}
	r.autoMu.Unlock()
	slices.SortFunc(out[n:], func(a, b *realm) int { return cmp.Compare(a.name, b.name) })
	return out
}

// RealmStats returns what each realm holds now, the configured realms
// first, then those created from the template, each in name order.
func (r *Router) RealmStats() []RealmStats {
	realms := r.allRealms()
	out := make([]RealmStats, len(realms))
	for i, rl := range realms {
		configured := r.realms.get(rl.name) == rl
		st := RealmStats{Name: rl.name, FromTemplate: !configured}
		sessions := rl.copySessions()
		for _, s := range sessions {
			s.mu.Lock()
			if s.state == stateEstablished {
				st.Sessions++
			}
			st.CallsInFlight += len(s.invocations)
			s.mu.Unlock()
		}
		rl.broker.mu.RLock()
		st.Subscriptions = len(rl.broker.byID)
		rl.broker.mu.RUnlock()
		rl.dealer.mu.RLock()
		st.Registrations = len(rl.dealer.byID)
		rl.dealer.mu.RUnlock()
		out[i] = st
	}
	return out
}

// copySessions copies the realm's sessions (joined, leaving included).
func (rl *realm) copySessions() []*Session {
	rl.mu.RLock()
	out := make([]*Session, 0, len(rl.sessions))
	for _, s := range rl.sessions {
		out = append(out, s)
	}
	rl.mu.RUnlock()
	return out
}

// SessionInfo describes an established session.
type SessionInfo struct {
	ID         wamp.ID
	Realm      wamp.URI
	AuthID     string
	AuthRole   string
	AuthMethod string
	Transport  string // websocket, rawsocket, local, ...
	Serializer string // json, msgpack, cbor
	Address    string // the client's address
	Since      time.Time
	// Subscriptions and Registrations the session holds, and calls made
	// to it that it has not answered yet.
	Subscriptions, Registrations, Invocations int
	// DroppingEvents is set once an EVENT for the session was dropped
	// because its queue was full (DropEvents).
	DroppingEvents bool
}

// SessionQuery selects sessions for Sessions.
type SessionQuery struct {
	// Realm keeps the sessions of one realm; "" keeps every realm's.
	Realm wamp.URI
	// Search keeps the sessions whose id (decimal), authid, authrole or
	// address contains it, ignoring case; "" keeps all.
	Search string
	// Limit bounds the sessions returned (the newest first); 0 or less
	// returns none, which counts them.
	Limit int
}

// Sessions returns the established sessions q selects, the newest first,
// at most q.Limit of them, and how many q selects in all. It describes
// only the sessions it returns: a search over many sessions costs a
// pointer and a time per session, not a SessionInfo.
func (r *Router) Sessions(q SessionQuery) (list []SessionInfo, matched int) {
	search := strings.ToLower(q.Search)
	type candidate struct {
		since int64
		s     *Session
	}
	newest := newBest(q.Limit, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.since, a.since), cmp.Compare(a.s.id, b.s.id))
	})
	for _, rl := range r.allRealms() {
		if q.Realm != "" && rl.name != q.Realm {
			continue
		}
		for _, s := range rl.copySessions() {
			if !s.Established() || search != "" && !s.matches(search) {
				continue
			}
			matched++
			newest.offer(candidate{s.since, s}) // since is set before the session is established
		}
	}
	for _, c := range newest.sorted() {
		if info, ok := c.s.describe(); ok {
			list = append(list, info)
		}
	}
	return list, matched
}

// describe describes s, if it is established.
func (s *Session) describe() (SessionInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateEstablished {
		return SessionInfo{}, false
	}
	method, _ := s.authMethod()
	return SessionInfo{
		ID: s.id, Realm: s.realm.name, AuthID: s.authid, AuthRole: s.authrole, AuthMethod: method,
		Transport: s.info.Kind, Serializer: s.info.Serializer, Address: s.info.RemoteAddr,
		Since:         time.Unix(0, s.since),
		Subscriptions: s.subs.len(), Registrations: s.regs.len(), Invocations: len(s.invocations),
		DroppingEvents: s.warned,
	}, true
}

// matches reports whether the id, authid, authrole or address of s, which
// are fixed once it has joined, contains search (lower case).
func (s *Session) matches(search string) bool {
	for _, f := range [...]string{strconv.FormatUint(uint64(s.id), 10), s.authid, s.authrole, s.info.RemoteAddr} {
		if strings.Contains(strings.ToLower(f), search) {
			return true
		}
	}
	return false
}

// SubscriptionInfo describes a subscription.
type SubscriptionInfo struct {
	ID          wamp.ID
	Topic       wamp.URI // or pattern
	Match       string   // exact, prefix or wildcard
	Subscribers int
}

// Subscriptions returns the realm's subscriptions with the most
// subscribers, at most limit of them, and how many it has in all.
func (r *Router) Subscriptions(realm wamp.URI, limit int) (list []SubscriptionInfo, total int) {
	rl := r.realmNamed(realm)
	if rl == nil {
		return nil, 0
	}
	b := &rl.broker
	b.mu.RLock()
	subs := make([]*subscription, 0, len(b.byID))
	for _, sub := range b.byID {
		subs = append(subs, sub)
	}
	b.mu.RUnlock()
	largest := newBest(limit, func(a, b SubscriptionInfo) int {
		return cmp.Or(cmp.Compare(b.Subscribers, a.Subscribers), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Match, b.Match))
	})
	for _, sub := range subs {
		sub.mu.RLock()
		n := len(sub.subscribers)
		sub.mu.RUnlock()
		largest.offer(SubscriptionInfo{ID: sub.id, Topic: sub.topic, Match: sub.match.String(), Subscribers: n})
	}
	return largest.sorted(), len(subs)
}

// RegistrationInfo describes a registration.
type RegistrationInfo struct {
	ID        wamp.ID
	Procedure wamp.URI // or pattern
	Match     string   // exact, prefix or wildcard
	Invoke    string   // single, roundrobin, random, first or last
	Callees   int
}

// Registrations returns the realm's registrations with the most callees,
// at most limit of them, and how many it has in all.
func (r *Router) Registrations(realm wamp.URI, limit int) (list []RegistrationInfo, total int) {
	rl := r.realmNamed(realm)
	if rl == nil {
		return nil, 0
	}
	d := &rl.dealer
	largest := newBest(limit, func(a, b RegistrationInfo) int {
		return cmp.Or(cmp.Compare(b.Callees, a.Callees), cmp.Compare(a.Procedure, b.Procedure), cmp.Compare(a.Match, b.Match))
	})
	d.mu.RLock()
	for _, reg := range d.byID {
		largest.offer(RegistrationInfo{ID: reg.id, Procedure: reg.procedure, Match: reg.match.String(),
			Invoke: reg.invoke.String(), Callees: len(reg.callees)})
	}
	total = len(d.byID)
	d.mu.RUnlock()
	return largest.sorted(), total
}

// ErrNoSuchSession is returned by KillSession for a session that is not
// established in the realm.
var ErrNoSuchSession = errors.New("no such session")

// KillSession ends an established session of realm as wamp.session.kill
// does: GOODBYE with reason (wamp.close.killed when empty) and message,
// then the connection closes when the client answers, or a few seconds
// later.
func (r *Router) KillSession(realm wamp.URI, id wamp.ID, reason wamp.URI, message string) error {
	if reason == "" {
		reason = wamp.CloseKilled
	}
	if !wamp.ValidURI(reason, false, false) {
		return fmt.Errorf("killing session %d: reason %q is not a valid URI", id, reason)
	}
	rl := r.realmNamed(realm)
	if rl == nil {
		return fmt.Errorf("killing session %d: realm %q: %w", id, realm, ErrNoSuchSession)
	}
	rl.mu.RLock()
	s := rl.sessions[id]
	rl.mu.RUnlock()
	if s == nil || !s.kill(killedByAdmin, reason, message, false) {
		return fmt.Errorf("killing session %d in realm %s: %w", id, realm, ErrNoSuchSession)
	}
	return nil
}
