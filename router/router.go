package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/internal/lograte"
	"github.com/junction-wamp/junction/router/attach"
	"github.com/junction-wamp/junction/wamp"
)

// SlowConsumerPolicy says what happens when a message does not fit in a
// client's outbound queue.
type SlowConsumerPolicy uint8

const (
	// DropEvents drops an EVENT that does not fit and counts it (per session
	// and per router); any other message that does not fit disconnects the
	// session, because a lost RESULT or INVOCATION would be a silent loss.
	// An INVOCATION that does not fit fails the call with an ERROR to the
	// caller before the callee is disconnected.
	DropEvents SlowConsumerPolicy = iota
	// Disconnect ends the session on the first message that does not fit.
	Disconnect
)

// RealmConfig describes one realm.
type RealmConfig struct {
	Name wamp.URI
	// StrictURIs checks topic and procedure URIs with the specification's
	// strict rules (lower-case letters, digits, '_') instead of the loose
	// ones.
	StrictURIs bool
	// Anonymous lets clients join without authentication, with every
	// permission.
	Anonymous bool
	// DisableMetaAPI switches off the meta API in the realm: calls to the
	// wamp.session/registration/subscription procedures get
	// wamp.error.no_such_procedure and no meta events are published.
	DisableMetaAPI bool
	// DiscloseCaller and DisclosePublisher say whether callees and
	// subscribers learn who called or published: when asked
	// (disclose_me, the default), always, or never.
	DiscloseCaller    Disclosure
	DisclosePublisher Disclosure
	// TrustLevels assigns a trust level to calls and publications by the
	// caller's or publisher's authrole (call_trustlevels,
	// publication_trustlevels); roles not listed get none.
	TrustLevels map[string]int
	// History gives topics of the realm an event history
	// (wamp.subscription.get_events), kept in Config.HistoryPath, or in
	// the cluster's store when Config.Backbone is a SharedStore.
	History []HistoryRule
	// Auth authenticates the realm's clients (join.go); nil admits
	// anonymous clients when Anonymous is set, with authrole "anonymous".
	Auth *auth.Policy
	// Roles authorizes what the realm's sessions do, by authrole, before
	// their messages reach the broker or dealer (authz.go); nil allows
	// everything.
	Roles *auth.Roles
}

// Disclosure says whether a caller or publisher is disclosed to callees or
// subscribers.
type Disclosure uint8

const (
	// DiscloseOnRequest discloses when the caller or publisher asks for it
	// with the disclose_me option.
	DiscloseOnRequest Disclosure = iota
	// DiscloseAlways discloses every caller or publisher.
	DiscloseAlways
	// DiscloseNever refuses disclose_me with wamp.error.option_disallowed.disclose_me.
	DiscloseNever
)

// Config configures a Router.
type Config struct {
	Realms       []RealmConfig
	SlowConsumer SlowConsumerPolicy
	// Agent is announced in WELCOME.Details.agent.
	Agent string
	// Logger receives the router's logs; nil discards them.
	Logger *slog.Logger
	// HistoryPath is the file (bbolt) that keeps the realms' event
	// history across restarts; required when a realm has History rules,
	// unless Backbone is a SharedStore (a cluster keeps the history
	// itself).
	HistoryPath string
	// RealmTemplate, when set, creates the realm a HELLO names when it
	// does not exist, with these settings (its Name is ignored).
	RealmTemplate *RealmConfig
	// PasswordChecks bounds the password hashing of ticket logins, for
	// all realms together and per client address (auth.KDFLimiter); zero
	// fields take the defaults.
	PasswordChecks auth.KDFLimits
	// Limits bound what one session may hold in the router.
	Limits SessionLimits

	// Backbone joins this router to others as one (package cluster);
	// nil for a single node.
	Backbone Backbone

	// historyBeforeWrite is the history store's BeforeWrite (tests).
	historyBeforeWrite func()
	// authTimeout replaces the default authTimeout (tests).
	authTimeout time.Duration
}

// SessionLimits bound what one session may hold in the router, so that no
// client can grow the router's tables (and its own cost to every other
// session) without end. A request past a limit is refused with ERROR
// wamp.error.limit_exceeded and counted (Stats.LimitExceeded); the session
// goes on. A field left 0 takes its default.
type SessionLimits struct {
	// Subscriptions is the most subscriptions a session may hold at once
	// (default DefaultMaxSubscriptions).
	Subscriptions int
	// Registrations is the most registrations a session may hold at once
	// (default DefaultMaxRegistrations).
	Registrations int
	// CallsInFlight is the most calls a session may have made and not had
	// answered yet (default DefaultMaxCallsInFlight). The router's own
	// calls (to dynamic authenticators and authorizers) are bounded by
	// their timeouts instead.
	CallsInFlight int
}

// Default session limits: generous, so that no sound application meets
// them, and still small enough that the largest session costs the router
// a few MB, like its outbound queue.
const (
	// A dashboard subscribing to a topic per item on its screen holds
	// hundreds; 10,000 subscriptions cost ~5 MB of router memory.
	DefaultMaxSubscriptions = 10_000
	// Services register their procedures once, tens or hundreds.
	DefaultMaxRegistrations = 1_000
	// 1,000 calls in flight keep a callee with 1 ms per call busy for a
	// second; a caller that needs more is better served by several
	// sessions or by progressive results.
	DefaultMaxCallsInFlight = 1_000
)

// withDefaults returns l with each 0 field set to its default.
func (l SessionLimits) withDefaults() SessionLimits {
	l.Subscriptions = cmp.Or(l.Subscriptions, DefaultMaxSubscriptions)
	l.Registrations = cmp.Or(l.Registrations, DefaultMaxRegistrations)
	l.CallsInFlight = cmp.Or(l.CallsInFlight, DefaultMaxCallsInFlight)
	return l
}

// Router routes messages between the sessions of its realms. Create it with
// New; it is safe for concurrent use.
type Router struct {
	cfg     Config
	log     *slog.Logger
	realms  realmTable    // the configured realms (realm.go)
	subIDs  wamp.Sequence // router scope: subscription ids
	regIDs  wamp.Sequence // router scope: registration ids
	closing atomic.Bool
	history EventStore       // nil when no realm has history rules
	shared  SharedEventStore // the cluster's store (SharedStore); nil on a single node
	bg      background       // blocking work off the routing goroutines (event history queries)

	mu       sync.Mutex
	sessions map[*Session]struct{}
	drained  chan struct{} // closed when sessions empties during shutdown

	stats counters         // stats.go
	kdf   *auth.KDFLimiter // join.go: the password hashes of every realm's logins
	// logLimit keeps the log lines clients can cause (slow consumers,
	// refused requests, EVENTs a subscriber's serializer cannot carry)
	// from filling the disk.
	logLimit lograte.Limiter

	autoRealmsState // join.go: realms created from Config.RealmTemplate
}

// New returns a router for cfg.
func New(cfg Config) (*Router, error) {
	r := &Router{
		cfg:      cfg,
		log:      cfg.Logger,
		sessions: make(map[*Session]struct{}),
		kdf:      auth.NewKDFLimiter(cfg.PasswordChecks),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.cfg.Agent == "" {
		r.cfg.Agent = "Junction"
	}
	r.cfg.Limits = cfg.Limits.withDefaults()
	r.bg.init(maxBackgroundTasks)
	configured := make(map[wamp.URI]*realm, len(cfg.Realms))
	for _, rc := range cfg.Realms {
		if !wamp.ValidURI(rc.Name, false, false) {
			return nil, fmt.Errorf("realm %q: not a valid URI", rc.Name)
		}
		if configured[rc.Name] != nil {
			return nil, fmt.Errorf("realm %q: defined twice", rc.Name)
		}
		configured[rc.Name] = newRealm(r, rc)
	}
	r.realms.m.Store(&configured)
	if cfg.RealmTemplate != nil && len(cfg.RealmTemplate.History) > 0 {
		return nil, fmt.Errorf("realm template: realms made from it cannot keep event history (the store is opened with the rules of the realms known at start)")
	}
	if err := r.openHistory(); err != nil {
		return nil, err
	}
	for _, rl := range r.realms.all() {
		rl.welcomeRoles = routerRoles(rl) // after openHistory: event_history depends on it
	}
	return r, nil
}

// ErrRealmExists is returned by AddRealm for a realm the router has.
var ErrRealmExists = errors.New("the router has a realm of that name")

// AddRealm adds a configured realm to a running router (one added to the
// configuration, on a reload): clients may join it from then on. It may
// not keep event history (the store is opened with the rules of the
// realms known at start), and its name must not be a realm the router
// has, configured or made from the template.
func (r *Router) AddRealm(rc RealmConfig) error {
	if !wamp.ValidURI(rc.Name, false, false) {
		return fmt.Errorf("adding realm %q: not a valid URI", rc.Name)
	}
	if len(rc.History) > 0 {
		return fmt.Errorf("adding realm %q: a realm added while the router runs cannot keep event history (the store is opened with the rules of the realms known at start)", rc.Name)
	}
	rl := newRealm(r, rc)
	rl.welcomeRoles = routerRoles(rl)
	// Under autoMu, which realmFor takes before it makes a realm from the
	// template: a HELLO naming this realm finds it configured, or was
	// given the template's realm first (and then this one is refused).
	r.autoMu.Lock()
	defer r.autoMu.Unlock()
	if r.autoRealms[rc.Name] != nil || !r.realms.add(rl) {
		return fmt.Errorf("adding realm %q: %w", rc.Name, ErrRealmExists)
	}
	r.log.Info("realm added", "realm", rc.Name)
	return nil
}

// realmRemoved is the GOODBYE message of a session ended by RemoveRealm.
const realmRemoved = "the realm was removed from the router's configuration"

// RemoveRealm takes a configured realm out of a running router (one
// removed from the configuration, on a reload): a HELLO naming it is
// refused from then on (or, with a realm template, makes a new realm of
// the name, as after a restart), and its sessions are ended with GOODBYE
// wamp.close.killed, also those that were joining it. A realm that keeps
// event history waits for a restart. It returns the number of sessions
// ended.
func (r *Router) RemoveRealm(name wamp.URI) (int, error) {
	rl := r.realms.get(name)
	if rl == nil {
		return 0, fmt.Errorf("removing realm %q: no such realm in the configuration", name)
	}
	if len(rl.cfg.History) > 0 {
		return 0, fmt.Errorf("removing realm %q: a realm that keeps event history is removed at a restart (its store is opened with the rules known at start)", name)
	}
	// As in Router.SetAuth: a session welcomed after the list below is
	// taken finds the realm removed (Session.welcome).
	rl.removed.Store(true)
	r.autoMu.Lock() // as AddRealm: against realmFor making a realm of the name
	r.realms.remove(rl)
	r.autoMu.Unlock()
	n := 0
	for _, s := range rl.established(nil) {
		s.kill(killedByRemoval, wamp.CloseKilled, realmRemoved, false)
		n++
	}
	r.log.Info("realm removed", "realm", name, "sessions_ended", n)
	return n, nil
}

// Realms returns the names of the router's realms: those configured, then
// those created from the realm template, each in name order.
func (r *Router) Realms() []wamp.URI {
	configured := r.realms.all()
	names := make([]wamp.URI, 0, len(configured))
	for name := range configured {
		names = append(names, name)
	}
	slices.Sort(names)
	n := len(names)
	r.autoMu.Lock()
	for name := range r.autoRealms {
		names = append(names, name)
	}
	r.autoMu.Unlock()
	slices.Sort(names[n:])
	return names
}

// BeginBatch says that the messages given to the sessions' Receive until
// EndBatch arrived together (an event loop's round of reads, or one read
// of a connection): in a cluster, what they make the router send to
// another node goes together (Backbone.BeginBatch). A transport that
// calls it must call EndBatch after; one that does not loses nothing but
// the batching. Batches may overlap. Without a backbone both do nothing.
func (r *Router) BeginBatch() {
	if bb := r.cfg.Backbone; bb != nil {
		bb.BeginBatch()
	}
}

// EndBatch ends what BeginBatch began.
func (r *Router) EndBatch() {
	if bb := r.cfg.Backbone; bb != nil {
		bb.EndBatch()
	}
}

// Attach starts a session for a new connection. The transport then passes
// every message it decodes to the session's Receive, in order, and calls
// Detach once the connection is gone.
func (r *Router) Attach(p Peer, info TransportInfo) *Session {
	s := &Session{router: r, peer: p, info: connInfo{Kind: info.Kind, Serializer: info.Serializer, RemoteAddr: info.RemoteAddr}, tls: info.TLS,
		shard: shardOf(info.Loop)}
	if info.TLSState != nil || info.Cookie != "" {
		s.handshake = &info // only authentication reads these
	}
	r.mu.Lock()
	r.sessions[s] = struct{}{}
	r.mu.Unlock()
	r.stats.Sessions.Add(1)
	return s
}

// AttachLocal is Attach for a connection that only feeds its session
// messages and detaches it: a client in this process
// (client.ConnectLocal), which knows the router by this method alone and
// so does not link it.
func (r *Router) AttachLocal(p Peer, info TransportInfo) attach.Session {
	return r.Attach(p, info)
}

func (r *Router) forget(s *Session) {
	r.mu.Lock()
	delete(r.sessions, s)
	if len(r.sessions) == 0 && r.drained != nil {
		close(r.drained)
		r.drained = nil
	}
	r.mu.Unlock()
	r.stats.Sessions.Add(-1)
}

// Shutdown says GOODBYE (wamp.close.system_shutdown) to every session and
// waits for the sessions to end, or for ctx to be done, after which it closes
// the connections that remain, logging each (remote address, realm,
// session, authid), and returns an error that wraps ctx.Err(). New
// sessions are refused from the start.
func (r *Router) Shutdown(ctx context.Context) error {
	r.closing.Store(true)
	r.mu.Lock()
	all := make([]*Session, 0, len(r.sessions))
	for s := range r.sessions {
		all = append(all, s)
	}
	var drained chan struct{}
	if len(r.sessions) > 0 {
		drained = make(chan struct{})
		r.drained = drained
	}
	r.mu.Unlock()

	for _, s := range all {
		s.shutdown(wamp.CloseSystemShutdown)
	}
	if drained == nil {
		return nil
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		left := make([]*Session, 0, len(r.sessions))
		for s := range r.sessions {
			left = append(left, s)
		}
		r.mu.Unlock()
		for _, s := range left {
			// Each one by name: an operator who sees shutdowns wait wants
			// to know which client does not answer GOODBYE.
			s.logger().Warn("shutdown: closing a session that did not end in time (no answer to GOODBYE)")
			s.peer.Close()
		}
		return fmt.Errorf("router shutdown: %d sessions did not say goodbye in time: %w", len(left), ctx.Err())
	}
}
