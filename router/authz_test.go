package router

import (
	"path/filepath"
	"testing"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// allowOf is the set of actions as.
func allowOf(as ...auth.Action) auth.Allow {
	var a auth.Allow
	for _, x := range as {
		a = a.With(x)
	}
	return a
}

// authzRouter is a router whose realm1 has role "admin" (everything; the
// ticket login admin / admin-secret) and the given roles; anonymous
// clients get role "low". edit, when set, changes the config first.
func authzRouter(t *testing.T, edit func(*Config), roles ...*auth.Role) *Router {
	t.Helper()
	h, err := auth.NewPasswordHash("admin-secret", "pbkdf2-sha256", 1000, 0) // cheap, for the test
	if err != nil {
		t.Fatal(err)
	}
	pol := &auth.Policy{}
	pol.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals([]*auth.Principal{{AuthID: "admin", Role: "admin", Ticket: h}})})
	pol.Add(auth.MethodAnonymous, &auth.Anonymous{Role: "low"})
	rs, err := auth.NewRoles(append([]*auth.Role{{Name: "admin", Permissions: []auth.Permission{{URI: "*", Allow: auth.AllowAll}}}}, roles...))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Realms: []RealmConfig{{Name: "realm1", Auth: pol, Roles: rs}}}
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// adminLogin joins realm1 as admin.
func adminLogin(t *testing.T, r *Router) *pipe {
	t.Helper()
	p := ticketLogin(t, r, "admin", "admin-secret")
	if w := wantWelcome(t, p); w.Details["authrole"] != "admin" {
		t.Fatalf("admin joined as %v", w.Details["authrole"])
	}
	return p
}

// lowLogin joins realm1 anonymously, as role low.
func lowLogin(t *testing.T, r *Router) *pipe {
	t.Helper()
	p := attachPipe(t, r, codec.JSON)
	p.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	if w := wantWelcome(t, p); w.Details["authrole"] != "low" {
		t.Fatalf("anonymous client joined as %v", w.Details["authrole"])
	}
	return p
}

// publishAcked publishes args to topic from p and waits for PUBLISHED.
func publishAcked(t *testing.T, p *pipe, topic wamp.URI, args ...any) {
	t.Helper()
	p.s.Receive(&wamp.Publish{Request: 77, Topic: topic, Options: wamp.Dict{"acknowledge": true}, Payload: wamp.Payload{Args: args}})
	if m, ok := p.recv().(*wamp.Published); !ok || m.Request != 77 {
		t.Fatalf("PUBLISH to %s: got %+v", topic, m)
	}
}

// TestGetEventsNeedsSubscribePermission: wamp.subscription.get_events
// shows a subscription's events only to a session whose role may
// subscribe to the subscription (or, with the topic option, to that
// topic), as pubsub_event_history.md's Security Aspects require;
// permission to call the meta procedure is not enough.
func TestGetEventsNeedsSubscribePermission(t *testing.T) {
	low := &auth.Role{Name: "low", Permissions: []auth.Permission{
		{URI: "public.", Match: wamp.MatchPrefix, Allow: allowOf(auth.ActionSubscribe)},
		{URI: "wamp.subscription.get_events", Allow: allowOf(auth.ActionCall)},
	}}
	path := filepath.Join(t.TempDir(), "history.db")
	r := authzRouter(t, func(c *Config) {
		c.HistoryPath = path
		c.Realms[0].History = []HistoryRule{{Match: wamp.MatchPrefix, Topic: "p", Limit: 100}}
	}, low)
	admin, reader := adminLogin(t, r), lowLogin(t, r)

	private := subscribe(t, admin, "private.log", nil)
	all := subscribe(t, admin, "p", wamp.Dict{"match": "prefix"})
	public := subscribe(t, reader, "public.news", nil)
	publishAcked(t, admin, "private.log", "secret")
	publishAcked(t, admin, "public.news", "hello")
	wantEvent(t, reader) // the admin is excluded from its own events

	for _, tc := range []struct {
		name   string
		sub    wamp.ID
		kwargs wamp.Dict
		want   int // events; -1: not authorized
	}{
		{"own subscription", public, nil, 1},
		{"a topic the role may not subscribe to", private, nil, -1},
		{"a pattern wider than the role's", all, nil, -1},
		{"a pattern narrowed to an allowed topic", all, wamp.Dict{"topic": "public.news"}, 1},
		{"a pattern narrowed to a denied topic", all, wamp.Dict{"topic": "private.log"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, e := callGetEvents(t, reader, wamp.List{uint64(tc.sub)}, tc.kwargs)
			switch {
			case tc.want < 0 && (e == nil || e.Error != wamp.ErrNotAuthorized):
				t.Fatalf("get_events(%d, %v): want not_authorized, got %v %+v", tc.sub, tc.kwargs, l, e)
			case tc.want >= 0 && e != nil:
				t.Fatalf("get_events(%d, %v): %s %v", tc.sub, tc.kwargs, e.Error, e.Args)
			case tc.want >= 0 && len(l[0].([]any)) != tc.want:
				t.Fatalf("get_events(%d, %v): %v, want %d events", tc.sub, tc.kwargs, l, tc.want)
			}
		})
	}
	// The admin role may subscribe to anything: it reads every history.
	if evs := getEvents(t, admin, all, nil); len(evs) != 2 {
		t.Fatalf("admin: %v", evs)
	}
}

// TestGetEventsAsksTheDynamicAuthorizer: with a dynamic authorizer,
// get_events asks it whether the session may subscribe to the
// subscription, and answers once it has decided.
func TestGetEventsAsksTheDynamicAuthorizer(t *testing.T) {
	low := &auth.Role{Name: "low", Authorizer: &auth.DynamicAuthorizer{Realm: "auth", Procedure: "com.example.authorize"}}
	path := filepath.Join(t.TempDir(), "history.db")
	r := authzRouter(t, func(c *Config) {
		c.HistoryPath = path
		c.Realms[0].History = []HistoryRule{{Match: wamp.MatchPrefix, Topic: "p", Limit: 100}}
		c.Realms = append(c.Realms, RealmConfig{Name: "auth", Anonymous: true})
	}, low)
	authorizer := authCallee(t, r, "com.example.authorize")
	admin, reader := adminLogin(t, r), lowLogin(t, r)
	private := subscribe(t, admin, "private.log", nil)
	public := subscribe(t, admin, "p", wamp.Dict{"match": "prefix"})
	publishAcked(t, admin, "private.log", "secret")

	answer := func(action, uri string, allow bool) {
		t.Helper()
		inv, args := recvInvocation(t, authorizer)
		if args[1] != uri || args[2] != action {
			t.Fatalf("authorizer asked about %v, want %s %s", args, action, uri)
		}
		authorizer.s.Receive(&wamp.Yield{Request: inv.Request, Payload: wamp.Payload{Args: wamp.List{allow}}})
	}
	reader.s.Receive(&wamp.Call{Request: 9, Procedure: "wamp.subscription.get_events", Payload: wamp.Payload{Args: wamp.List{uint64(private)}}})
	answer("call", "wamp.subscription.get_events", true)
	answer("subscribe", "private.log", false)
	wantError(t, reader, wamp.TypeCall, 9, wamp.ErrNotAuthorized)

	reader.s.Receive(&wamp.Call{Request: 9, Procedure: "wamp.subscription.get_events", Payload: wamp.Payload{Args: wamp.List{uint64(public)}}})
	answer("call", "wamp.subscription.get_events", true)
	answer("subscribe", "p", true)
	res := wantResult(t, reader, 9)
	if l, _, err := codec.DecodePayload(&res.Payload); err != nil || len(l) != 1 || len(l[0].([]any)) != 1 {
		t.Fatalf("get_events: %v %v", l, err)
	}
}
