package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// Snapshot is what the web view shows, as /api/snapshot and each event of
// /api/events carry it (JSON). Counters only grow: the page computes rates
// from two snapshots and their times.
type Snapshot struct {
	Time          time.Time `json:"time"`
	Version       string    `json:"version"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	// User is who is looking ("" without logins); Admin whether they may
	// kill sessions.
	User  string `json:"user"`
	Admin bool   `json:"admin"`

	Sessions int          `json:"sessions"` // established, every realm
	Realms   []RealmView  `json:"realms"`
	Received countsByType `json:"received"`
	Sent     countsByType `json:"sent"`

	Connections     []ConnView        `json:"connections"`
	Refused         map[string]uint64 `json:"refused"` // handshakes refused, by reason
	Authentications []AuthView        `json:"authentications"`

	EventsDropped       uint64         `json:"events_dropped"`
	SlowConsumers       uint64         `json:"slow_consumers_disconnected"`
	RecentSlowConsumers []SlowConsumer `json:"recent_slow_consumers"`
	CallTimeouts        uint64         `json:"call_timeouts"`
	CallCancels         uint64         `json:"call_cancels"`

	// Realm is the realm whose subscriptions and registrations follow
	// (the query's realm, or the first).
	Realm              string             `json:"realm"`
	Subscriptions      []SubscriptionView `json:"subscriptions"`
	SubscriptionsTotal int                `json:"subscriptions_total"`
	Registrations      []RegistrationView `json:"registrations"`
	RegistrationsTotal int                `json:"registrations_total"`
	SessionList        []SessionView      `json:"session_list"` // the query's, newest first
	SessionsMatched    int                `json:"sessions_matched"`
}

// countsByType are message counts by type, in lower case.
type countsByType map[string]uint64

// ConnView counts the connections of one engine and transport.
type ConnView struct {
	Engine    string `json:"engine"`
	Transport string `json:"transport"`
	Open      int64  `json:"open"`
	Total     uint64 `json:"total"`
}

// AuthView counts one authentication method's outcome.
type AuthView struct {
	Method  string `json:"method"`
	Outcome string `json:"outcome"`
	Count   uint64 `json:"count"`
}

// RealmView is one realm's line.
type RealmView struct {
	Name          string `json:"name"`
	Sessions      int    `json:"sessions"`
	Subscriptions int    `json:"subscriptions"`
	Registrations int    `json:"registrations"`
	CallsInFlight int    `json:"calls_in_flight"`
	FromTemplate  bool   `json:"from_template"`
}

// SubscriptionView is a subscription and its subscriber count.
type SubscriptionView struct {
	ID          uint64 `json:"id"`
	Topic       string `json:"topic"`
	Match       string `json:"match"`
	Subscribers int    `json:"subscribers"`
}

// RegistrationView is a registration and its callee count.
type RegistrationView struct {
	ID        uint64 `json:"id"`
	Procedure string `json:"procedure"`
	Match     string `json:"match"`
	Invoke    string `json:"invoke"`
	Callees   int    `json:"callees"`
}

// SessionView is a session's line. Ids are strings: they go up to 2^53,
// past what a JavaScript number holds exactly once doubled, and a page
// must send back exactly what it got.
type SessionView struct {
	ID             string    `json:"id"`
	Realm          string    `json:"realm"`
	AuthID         string    `json:"authid"`
	AuthRole       string    `json:"authrole"`
	AuthMethod     string    `json:"authmethod"`
	Transport      string    `json:"transport"`
	Serializer     string    `json:"serializer"`
	Address        string    `json:"address"`
	Since          time.Time `json:"since"`
	Subscriptions  int       `json:"subscriptions"`
	Registrations  int       `json:"registrations"`
	DroppingEvents bool      `json:"dropping_events"`
}

// SlowConsumer is a session disconnected for its full queue.
type SlowConsumer struct {
	Time    time.Time `json:"time"`
	Realm   string    `json:"realm"`
	Session string    `json:"session"`
	AuthID  string    `json:"authid"`
	Address string    `json:"address"`
	Message string    `json:"message"`
}

// view is what a request asks to see: its query parameters.
type view struct {
	realm  string
	search string
	limit  int
}

// maxSessionList bounds the sessions one snapshot lists; listRows the
// subscriptions and registrations.
const (
	maxSessionList = 500
	listRows       = 50
)

func readView(q url.Values) view {
	v := view{realm: q.Get("realm"), search: q.Get("q"), limit: 50}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil {
		v.limit = min(max(n, 0), maxSessionList)
	}
	return v
}

// snapshotCache shares the part of a snapshot that is the same for every
// viewer, so that many open pages cost the router one walk of its tables
// per interval, not one each: the base, and the lists a query selects,
// which are the same for every viewer of the same realm or search.
type snapshotCache struct {
	mu   sync.Mutex
	at   time.Time
	base Snapshot

	realms   sharedLists[realmLists]  // by realm
	sessions sharedLists[sessionList] // by search
}

// realmLists are a realm's subscriptions and registrations as the page
// shows them: the listRows largest, and how many there are.
type realmLists struct {
	subs      []SubscriptionView
	subsTotal int
	regs      []RegistrationView
	regsTotal int
}

// sessionList is the maxSessionList newest sessions a search matches, and
// how many it matches; each viewer shows as many as it asks for.
type sessionList struct {
	list    []SessionView
	matched int
}

// maxSharedLists bounds the lists of each kind kept: viewers past that
// many distinct realms or searches at once get theirs built for them
// alone.
const maxSharedLists = 16

// sharedLists keeps lists of one kind by their query (realm or search).
// Making one walks, and sorts, all that the router holds (about 100 ms for
// 100,000 sessions with a subscription each), so with them shared a tick
// costs one build per realm and search shown, not one per viewer. A list
// is built under mu: viewers asking for it meanwhile wait and take it, and
// the live view builds one list of each kind at a time. A list is kept
// baseTTL, or four times as long as it took to build if that is longer:
// with millions of sessions the lists are a few seconds old, and each
// list shown keeps at most a fifth of a core busy, however many watch.
// Its memory is bounded: maxSharedLists lists, each of at most
// maxSessionList rows.
type sharedLists[V any] struct {
	mu      sync.Mutex
	entries map[string]sharedList[V]
}

type sharedList[V any] struct {
	until time.Time // fresh until then
	list  V
}

// get returns the list of query, built by build when there is none fresh.
func (c *sharedLists[V]) get(query string, build func() V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	if e, ok := c.entries[query]; ok && start.Before(e.until) {
		return e.list
	}
	list := build()
	now := time.Now()
	if c.entries == nil {
		c.entries = make(map[string]sharedList[V])
	}
	if _, ok := c.entries[query]; !ok && len(c.entries) >= maxSharedLists {
		for q, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, q)
			}
		}
	}
	if _, ok := c.entries[query]; ok || len(c.entries) < maxSharedLists {
		c.entries[query] = sharedList[V]{until: now.Add(max(baseTTL, 4*now.Sub(start))), list: list}
	}
	return list
}

// baseTTL is how old the shared part of a snapshot may be.
const baseTTL = 500 * time.Millisecond

func (h *Handler) base() Snapshot {
	c := &h.snaps
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < baseTTL {
		return c.base
	}
	rt := h.cfg.Router
	st := rt.Stats()
	s := Snapshot{
		Time: time.Now().UTC(), Version: h.cfg.Version, UptimeSeconds: time.Since(h.started).Seconds(),
		Received: countsByType{}, Sent: countsByType{}, Refused: map[string]uint64{},
		EventsDropped: st.EventsDropped, SlowConsumers: st.SlowConsumers,
		CallTimeouts: st.CallTimeouts, CallCancels: st.CallCancels,
	}
	for _, rs := range rt.RealmStats() {
		s.Sessions += rs.Sessions
		s.Realms = append(s.Realms, RealmView{Name: string(rs.Name), Sessions: rs.Sessions, Subscriptions: rs.Subscriptions,
			Registrations: rs.Registrations, CallsInFlight: rs.CallsInFlight, FromTemplate: rs.FromTemplate})
	}
	for t, n := range st.Received {
		s.Received[strings.ToLower(t.String())] = n
	}
	for t, n := range st.Sent {
		s.Sent[strings.ToLower(t.String())] = n
	}
	for _, a := range st.Authentications {
		s.Authentications = append(s.Authentications, AuthView{Method: a.Method, Outcome: a.Outcome, Count: a.Count})
	}
	for _, sc := range st.RecentSlowConsumers {
		s.RecentSlowConsumers = append(s.RecentSlowConsumers, SlowConsumer{Time: sc.Time.UTC(), Realm: string(sc.Realm),
			Session: strconv.FormatUint(uint64(sc.Session), 10), AuthID: sc.AuthID, Address: sc.Address, Message: strings.ToLower(sc.Message.String())})
	}
	index := map[[2]string]int{}
	for _, srv := range h.cfg.Servers {
		ss := srv.Stats()
		for _, cs := range ss.Conns {
			k := [2]string{cs.Engine, cs.Transport}
			i, ok := index[k]
			if !ok {
				i = len(s.Connections)
				index[k] = i
				s.Connections = append(s.Connections, ConnView{Engine: cs.Engine, Transport: cs.Transport})
			}
			s.Connections[i].Open += cs.Open
			s.Connections[i].Total += cs.Total
		}
		for r, n := range ss.Refused {
			s.Refused[r] += n
		}
	}
	c.at, c.base = time.Now(), s
	return s
}

// build returns the snapshot for v, seen by id.
func (h *Handler) build(v view, id identity) Snapshot {
	s := h.base()
	s.User, s.Admin = id.name, id.admin
	s.Realm = v.realm
	if s.Realm == "" && len(s.Realms) > 0 {
		s.Realm = s.Realms[0].Name
	}
	// The lists are shared with other viewers: read, never changed.
	rl := h.snaps.realms.get(s.Realm, func() realmLists { return h.realmLists(wamp.URI(s.Realm)) })
	s.Subscriptions, s.SubscriptionsTotal = rl.subs, rl.subsTotal
	s.Registrations, s.RegistrationsTotal = rl.regs, rl.regsTotal
	sl := h.snaps.sessions.get(v.search, func() sessionList { return h.sessionList(v.search) })
	s.SessionList, s.SessionsMatched = sl.list[:min(len(sl.list), v.limit):min(len(sl.list), v.limit)], sl.matched
	return s
}

// realmLists builds the lists of realm for sharedLists.
func (h *Handler) realmLists(realm wamp.URI) realmLists {
	rt := h.cfg.Router
	var l realmLists
	subs, n := rt.Subscriptions(realm, listRows)
	l.subsTotal = n
	l.subs = make([]SubscriptionView, len(subs))
	for i, sub := range subs {
		l.subs[i] = SubscriptionView{ID: uint64(sub.ID), Topic: string(sub.Topic), Match: sub.Match, Subscribers: sub.Subscribers}
	}
	regs, n := rt.Registrations(realm, listRows)
	l.regsTotal = n
	l.regs = make([]RegistrationView, len(regs))
	for i, reg := range regs {
		l.regs[i] = RegistrationView{ID: uint64(reg.ID), Procedure: string(reg.Procedure), Match: reg.Match, Invoke: reg.Invoke, Callees: reg.Callees}
	}
	return l
}

// sessionList builds the sessions of search for sharedLists: as many as
// any viewer may ask for.
func (h *Handler) sessionList(search string) sessionList {
	list, matched := h.cfg.Router.Sessions(router.SessionQuery{Search: search, Limit: maxSessionList})
	l := sessionList{matched: matched, list: make([]SessionView, len(list))}
	for i, si := range list {
		l.list[i] = SessionView{ID: strconv.FormatUint(uint64(si.ID), 10), Realm: string(si.Realm), AuthID: si.AuthID,
			AuthRole: si.AuthRole, AuthMethod: si.AuthMethod, Transport: si.Transport, Serializer: si.Serializer,
			Address: si.Address, Since: si.Since.UTC(), Subscriptions: si.Subscriptions, Registrations: si.Registrations,
			DroppingEvents: si.DroppingEvents}
	}
	return l
}

func (h *Handler) snapshot(w http.ResponseWriter, r *http.Request) {
	s := h.build(readView(r.URL.Query()), requester(r))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(s)
}

// eventInterval is how often /api/events sends a snapshot.
const eventInterval = time.Second

// maxStreams bounds the live streams open at once (/api/events, one per
// open page): each encodes a snapshot a second for its viewer and holds
// one of the listener's HTTP connections (256 by default, which a WAMP
// listener shares with long-poll clients and the bridge), so that one
// viewer, or anyone on loopback without logins, could otherwise take them
// all. Beyond, 503 with Retry-After; the page tries again.
const maxStreams = 32

// events streams snapshots (Server-Sent Events, event "snapshot") until
// the client goes away or the server shuts down (the request's context
// ends), or the logins are replaced (SetAccess).
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	if h.streams.Add(1) > maxStreams {
		h.streams.Add(-1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, fmt.Sprintf("503 service unavailable: %d live views are open, the most at once; try again later", maxStreams), http.StatusServiceUnavailable)
		return
	}
	defer h.streams.Add(-1)
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream: no write timeout, but a write that blocks ends it (below)
	v, id := readView(r.URL.Query()), requester(r)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	t := time.NewTicker(eventInterval)
	defer t.Stop()
	for {
		b, _ := json.Marshal(h.build(v, id))
		// A client that stops reading is dropped after a while instead of
		// holding the goroutine.
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		if h.auth != nil && h.auth.generation() != id.gen {
			return // the logins were replaced (SetAccess): the page logs in again
		}
	}
}

// killRequest is POST /api/kill's body.
type killRequest struct {
	Realm   string      `json:"realm"`
	Session json.Number `json:"session"` // the id: a number, or a string holding one
	Reason  string      `json:"reason"`  // default wamp.close.killed
	Message string      `json:"message"`
}

// kill kills a session; only an admin may. The body is JSON, which a form
// on another site cannot send without the browser asking first (CORS
// preflight, which this server never grants), and a request that says it
// comes from another origin is refused: no cross-site request forgery.
func (h *Handler) kill(w http.ResponseWriter, r *http.Request) {
	id := requester(r)
	if !id.admin {
		http.Error(w, "403 forbidden: killing a session needs an admin login (a user or token with admin: true in the admin section)", http.StatusForbidden)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		http.Error(w, "415 unsupported media type: send JSON", http.StatusUnsupportedMediaType)
		return
	}
	if err := h.crossOrigin.Check(r); err != nil {
		http.Error(w, "403 forbidden: request from another origin", http.StatusForbidden)
		return
	}
	var req killRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "400 bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	sid, err := strconv.ParseUint(req.Session.String(), 10, 64)
	if err != nil || sid == 0 || sid > uint64(wamp.MaxID) {
		http.Error(w, fmt.Sprintf("400 bad request: session %q is not a session id", req.Session), http.StatusBadRequest)
		return
	}
	err = h.cfg.Router.KillSession(wamp.URI(req.Realm), wamp.ID(sid), wamp.URI(req.Reason), req.Message)
	switch {
	case errors.Is(err, router.ErrNoSuchSession):
		http.Error(w, "404 "+err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, "400 bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	h.log.Info("admin: session killed", "by", id.name, "remote", r.RemoteAddr, "realm", req.Realm, "session", sid)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"killed\":%q}\n", req.Session)
}
