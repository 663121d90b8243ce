package router

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// payloadOf decodes a payload the router sent (raw, in the pipe's codec).
func payloadOf(t *testing.T, p *wamp.Payload) (wamp.List, wamp.Dict) {
	t.Helper()
	args, kwargs, err := codec.DecodePayload(p)
	if err != nil {
		t.Fatalf("decoding a payload from the router: %v", err)
	}
	return args, kwargs
}

// callOK makes a call and returns the RESULT's payload, failing on anything
// else.
func callOK(t *testing.T, p *pipe, req wamp.ID, proc wamp.URI, args wamp.List, kwargs wamp.Dict) (wamp.List, wamp.Dict) {
	t.Helper()
	p.s.Receive(&wamp.Call{Request: req, Procedure: proc, Payload: wamp.Payload{Args: args, Kwargs: kwargs}})
	m := p.recv()
	res, ok := m.(*wamp.Result)
	if !ok || res.Request != req {
		if e, ok := m.(*wamp.Error); ok {
			a, _ := payloadOf(t, &e.Payload)
			t.Fatalf("%s%v%v: want RESULT, got ERROR %s %v", proc, args, kwargs, e.Error, a)
		}
		t.Fatalf("%s: want RESULT %d, got %T %+v", proc, req, m, m)
	}
	return payloadOf(t, &res.Payload)
}

// callFails makes a call that must fail with uri and returns the error
// message.
func callFails(t *testing.T, p *pipe, req wamp.ID, proc wamp.URI, args wamp.List, kwargs wamp.Dict, uri wamp.URI) string {
	t.Helper()
	p.s.Receive(&wamp.Call{Request: req, Procedure: proc, Payload: wamp.Payload{Args: args, Kwargs: kwargs}})
	e := wantError(t, p, wamp.TypeCall, req, uri)
	a, _ := payloadOf(t, &e.Payload)
	if len(a) != 1 {
		t.Fatalf("%s: ERROR %s carries %v, want one message", proc, uri, a)
	}
	msg, _ := a[0].(string)
	if msg == "" {
		t.Fatalf("%s: ERROR %s without a message: %v", proc, uri, a)
	}
	return msg
}

// event receives the next message, which must be an EVENT of subscription
// sub, and returns its payload.
func event(t *testing.T, p *pipe, sub wamp.ID) (*wamp.Event, wamp.List, wamp.Dict) {
	t.Helper()
	m := p.recv()
	ev, ok := m.(*wamp.Event)
	if !ok || ev.Subscription != sub {
		t.Fatalf("want EVENT of subscription %d, got %T %+v", sub, m, m)
	}
	args, kwargs := payloadOf(t, &ev.Payload)
	return ev, args, kwargs
}

// joinAs joins realm1 with HELLO details (authid) and transport info.
func joinAs(t *testing.T, r *Router, authid string, info TransportInfo) *pipe {
	t.Helper()
	p := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 1024)}
	p.s = r.Attach(p, info)
	t.Cleanup(p.s.Detach)
	d := wamp.Dict{"roles": allRoles["roles"]}
	if authid != "" {
		d["authid"] = authid
	}
	p.s.Receive(&wamp.Hello{Realm: "realm1", Details: d})
	if w, ok := p.recv().(*wamp.Welcome); !ok || w.Session != p.s.ID() {
		t.Fatalf("want WELCOME, got %+v", w)
	}
	return p
}

// echoGoodbye receives the router's GOODBYE, checks it and answers it.
func echoGoodbye(t *testing.T, p *pipe, reason wamp.URI, details wamp.Dict) {
	t.Helper()
	m := p.recv()
	g, ok := m.(*wamp.Goodbye)
	if !ok || g.Reason != reason {
		t.Fatalf("want GOODBYE %s, got %T %+v", reason, m, m)
	}
	if len(g.Details) != len(details) || (len(details) > 0 && !reflect.DeepEqual(g.Details, details)) {
		t.Fatalf("GOODBYE details %v, want %v", g.Details, details)
	}
	p.s.Receive(&wamp.Goodbye{Reason: wamp.CloseGoodbyeAndOut})
	if !p.closed() {
		t.Fatal("connection not closed after the GOODBYE echo")
	}
}

func ids(l ...*pipe) []int64 {
	out := make([]int64, len(l))
	for i, p := range l {
		out[i] = int64(p.s.ID())
	}
	slices.Sort(out)
	return out
}

func idList(t *testing.T, v any) []int64 {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("want a list of session ids, got %#v", v)
	}
	out := make([]int64, len(l))
	for i, e := range l {
		n, ok := e.(int64)
		if !ok {
			t.Fatalf("session id %#v is not an integer", e)
		}
		out[i] = n
	}
	slices.Sort(out)
	return out
}

func TestWelcomeAnnouncesMetaAPI(t *testing.T) {
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true}, {Name: "nometa", Anonymous: true, DisableMetaAPI: true}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		realm wamp.URI
		meta  bool
	}{{"realm1", true}, {"nometa", false}} {
		p := attachPipe(t, r, codec.JSON)
		p.s.Receive(&wamp.Hello{Realm: tc.realm, Details: allRoles})
		w := p.recv().(*wamp.Welcome)
		roles := w.Details["roles"].(map[string]any)
		for _, role := range []string{"broker", "dealer"} {
			f := roles[role].(map[string]any)["features"].(map[string]any)
			for _, feat := range []string{"session_meta_api", "testament_meta_api"} {
				if got := f[feat] == true; got != tc.meta {
					t.Errorf("realm %s: WELCOME %s feature %s = %v, want %v", tc.realm, role, feat, f[feat], tc.meta)
				}
			}
		}
		if w.Details["authmethod"] != "anonymous" || w.Details["authprovider"] != "static" || w.Details["authid"] != p.s.authid {
			t.Errorf("WELCOME details %v", w.Details)
		}
		if !tc.meta {
			for i, proc := range []wamp.URI{"wamp.session.count", "wamp.session.add_testament"} {
				callFails(t, p, wamp.ID(i+1), proc, nil, nil, wamp.ErrNoSuchProcedure)
			}
			// No meta events either.
			subscribe(t, p, topicSessionOnJoin, nil)
			other := attachPipe(t, r, codec.JSON)
			other.s.Receive(&wamp.Hello{Realm: tc.realm, Details: allRoles})
			other.recv()
			other.s.Detach()
			p.none()
		}
	}
}

func TestSessionOnJoinAndOnLeave(t *testing.T) {
	r := newRouter(t, DropEvents)
	watcher := join(t, r, codec.MsgPack)
	onJoin := subscribe(t, watcher, topicSessionOnJoin, nil)
	onLeave := subscribe(t, watcher, topicSessionOnLeave, nil)

	info := TransportInfo{Kind: "websocket", Serializer: "cbor", RemoteAddr: "192.0.2.7:4242", TLS: true}
	p := joinAs(t, r, "alice", info)
	_, args, kwargs := event(t, watcher, onJoin)
	want := map[string]any{
		"session":      int64(p.s.ID()),
		"authid":       "alice",
		"authrole":     "anonymous",
		"authmethod":   "anonymous",
		"authprovider": "static",
		"transport": map[string]any{
			"type": "websocket", "serializer": "cbor", "peer": "192.0.2.7:4242", "is_secure": true,
		},
	}
	if len(args) != 1 || !reflect.DeepEqual(args[0], want) || len(kwargs) != 0 {
		t.Fatalf("on_join args %#v kwargs %v, want [%#v]", args, kwargs, want)
	}
	// wamp.session.get gives the same details.
	res, _ := callOK(t, watcher, 3, "wamp.session.get", wamp.List{uint64(p.s.ID())}, nil)
	if !reflect.DeepEqual(res, wamp.List{want}) {
		t.Fatalf("get: %#v, want [%#v]", res, want)
	}

	p.s.Receive(&wamp.Goodbye{Reason: wamp.CloseNormal})
	p.recv()
	_, args, _ = event(t, watcher, onLeave)
	if !reflect.DeepEqual(args, wamp.List{int64(p.s.ID()), "alice", "anonymous"}) {
		t.Fatalf("on_leave args %#v", args)
	}

	// A lost connection is a leave too.
	q := join(t, r, codec.JSON)
	event(t, watcher, onJoin)
	q.s.Detach()
	_, args, _ = event(t, watcher, onLeave)
	if args[0] != int64(q.s.ID()) {
		t.Fatalf("on_leave for %v, want %d", args[0], q.s.ID())
	}
	watcher.none()
}

// hookPeer calls hook before each message it passes on to its pipe.
type hookPeer struct {
	*pipe
	hook func(m wamp.Message)
}

func (h *hookPeer) Send(m wamp.Message) error {
	h.hook(m)
	return h.pipe.Send(m)
}

// TestOnLeaveOnceGone checks that a subscriber of on_leave finds the session
// gone when the event is sent, and that on_join follows WELCOME.
func TestOnLeaveOnceGone(t *testing.T) {
	r := newRouter(t, DropEvents)
	var leaver *Session
	var seen []string
	watcherPipe := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64)}
	watcher := &hookPeer{pipe: watcherPipe, hook: func(m wamp.Message) {
		if _, ok := wamp.Unwrap(m).(*wamp.Event); ok && leaver != nil {
			seen = append(seen, "event")
			if n := r.SessionCount("realm1"); n != 1 {
				t.Errorf("meta event sent while the realm counts %d sessions, want 1 (the watcher)", n)
			}
			leaver.mu.Lock()
			if leaver.subs != nil || leaver.state != stateClosed {
				t.Error("meta event sent before the session was disposed of")
			}
			leaver.mu.Unlock()
		}
	}}
	watcherPipe.s = r.Attach(watcher, TransportInfo{Kind: "test"})
	t.Cleanup(watcherPipe.s.Detach)
	watcherPipe.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	watcherPipe.recv()
	sub := subscribe(t, watcherPipe, topicSessionOnLeave, nil)

	var welcomed bool
	lp := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64)}
	lpeer := &hookPeer{pipe: lp, hook: func(m wamp.Message) {
		if _, ok := m.(*wamp.Welcome); ok {
			welcomed = true
		}
	}}
	lp.s = r.Attach(lpeer, TransportInfo{Kind: "test"})
	lp.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	if !welcomed {
		t.Fatal("no WELCOME")
	}
	lp.recv()
	leaver = lp.s
	subscribe(t, lp, "com.some.topic", nil)
	lp.s.Detach()
	event(t, watcherPipe, sub)
	if len(seen) != 1 {
		t.Fatalf("hook saw %v", seen)
	}
}

// TestOnJoinBeforeOnLeave ends a session between its WELCOME and its
// on_join: on_leave must still come after on_join.
func TestOnJoinBeforeOnLeave(t *testing.T) {
	r := newRouter(t, DropEvents)
	watcher := join(t, r, codec.JSON)
	onJoin := subscribe(t, watcher, topicSessionOnJoin, nil)
	onLeave := subscribe(t, watcher, topicSessionOnLeave, nil)

	lp := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64)}
	peer := &hookPeer{pipe: lp}
	peer.hook = func(m wamp.Message) {
		if _, ok := m.(*wamp.Welcome); ok {
			// As if the connection were lost on another goroutine right now.
			lp.s.end()
		}
	}
	lp.s = r.Attach(peer, TransportInfo{Kind: "test"})
	t.Cleanup(lp.s.Detach)
	lp.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	_, args, _ := event(t, watcher, onJoin)
	if args[0].(map[string]any)["session"] != int64(lp.s.ID()) {
		t.Fatalf("on_join %v", args)
	}
	_, args, _ = event(t, watcher, onLeave)
	if args[0] != int64(lp.s.ID()) {
		t.Fatalf("on_leave %v", args)
	}
	watcher.none()

	// A session whose WELCOME could not be queued never joined: no events.
	full := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64), full: true}
	full.s = r.Attach(full, TransportInfo{Kind: "test"})
	t.Cleanup(full.s.Detach)
	full.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	if !full.closed() {
		t.Fatal("session with a full queue not disconnected")
	}
	watcher.none()
}

func TestSessionCountListGet(t *testing.T) {
	r := newRouter(t, DropEvents)
	caller := join(t, r, codec.JSON)
	a := join(t, r, codec.CBOR)
	b := join(t, r, codec.MsgPack)
	b.s.authrole = "admin" // as an authenticator would have set it

	count := func(req wamp.ID, args wamp.List) int64 {
		t.Helper()
		res, _ := callOK(t, caller, req, "wamp.session.count", args, nil)
		if len(res) != 1 {
			t.Fatalf("count%v: %v", args, res)
		}
		return res[0].(int64)
	}
	list := func(req wamp.ID, args wamp.List) []int64 {
		t.Helper()
		res, _ := callOK(t, caller, req, "wamp.session.list", args, nil)
		if len(res) != 1 {
			t.Fatalf("list%v: %v", args, res)
		}
		return idList(t, res[0])
	}
	for i, tc := range []struct {
		args wamp.List
		want []*pipe
	}{
		{nil, []*pipe{caller, a, b}},
		{wamp.List{nil}, []*pipe{caller, a, b}},
		{wamp.List{wamp.List{"anonymous"}}, []*pipe{caller, a}},
		{wamp.List{wamp.List{"admin", "nobody"}}, []*pipe{b}},
		{wamp.List{wamp.List{"admin", "anonymous"}}, []*pipe{caller, a, b}},
		{wamp.List{wamp.List{}}, nil},
	} {
		if got := count(wamp.ID(10+i), tc.args); got != int64(len(tc.want)) {
			t.Errorf("count%v = %d, want %d", tc.args, got, len(tc.want))
		}
		if got, want := list(wamp.ID(20+i), tc.args), ids(tc.want...); !slices.Equal(got, want) {
			t.Errorf("list%v = %v, want %v", tc.args, got, want)
		}
	}

	for i, args := range []wamp.List{{"anonymous"}, {wamp.Dict{}}, {wamp.List{"ok", 1}}} {
		callFails(t, caller, wamp.ID(30+i), "wamp.session.count", args, nil, wamp.ErrInvalidArgument)
		callFails(t, caller, wamp.ID(40+i), "wamp.session.list", args, nil, wamp.ErrInvalidArgument)
	}

	res, _ := callOK(t, caller, 50, "wamp.session.get", wamp.List{uint64(b.s.ID())}, nil)
	if d := res[0].(map[string]any); d["session"] != int64(b.s.ID()) || d["authrole"] != "admin" || d["authid"] != b.s.authid {
		t.Errorf("get: %v", d)
	}
	callFails(t, caller, 51, "wamp.session.get", wamp.List{12345}, nil, wamp.ErrNoSuchSession)
	for i, args := range []wamp.List{nil, {"x"}, {0}, {-1}, {1.5}, {uint64(wamp.MaxID) + 1}} {
		callFails(t, caller, wamp.ID(52+i), "wamp.session.get", args, nil, wamp.ErrInvalidArgument)
	}

	// A session that left, and one that is leaving, are not counted.
	a.s.Detach()
	if got := count(60, nil); got != 2 {
		t.Errorf("count after a left: %d, want 2", got)
	}
	callOK(t, caller, 61, "wamp.session.kill", wamp.List{uint64(b.s.ID())}, nil)
	if got := count(62, nil); got != 1 {
		t.Errorf("count with b leaving: %d, want 1", got)
	}
	callFails(t, caller, 63, "wamp.session.get", wamp.List{uint64(b.s.ID())}, nil, wamp.ErrNoSuchSession)
	callFails(t, caller, 64, "wamp.session.get", wamp.List{uint64(a.s.ID())}, nil, wamp.ErrNoSuchSession)
}

func TestSessionKill(t *testing.T) {
	r := newRouter(t, DropEvents)
	caller := join(t, r, codec.JSON)
	onLeave := subscribe(t, caller, topicSessionOnLeave, nil)
	victim := join(t, r, codec.CBOR)

	// Bad input first: nobody is killed and the caller goes on.
	for i, tc := range []struct {
		args   wamp.List
		kwargs wamp.Dict
		uri    wamp.URI
	}{
		{nil, nil, wamp.ErrInvalidArgument},
		{wamp.List{"x"}, nil, wamp.ErrInvalidArgument},
		{wamp.List{uint64(victim.s.ID())}, wamp.Dict{"reason": "not a uri"}, wamp.ErrInvalidURI},
		{wamp.List{uint64(victim.s.ID())}, wamp.Dict{"reason": ""}, wamp.ErrInvalidURI},
		{wamp.List{uint64(victim.s.ID())}, wamp.Dict{"reason": 7}, wamp.ErrInvalidArgument},
		{wamp.List{uint64(victim.s.ID())}, wamp.Dict{"message": wamp.List{}}, wamp.ErrInvalidArgument},
		{wamp.List{uint64(victim.s.ID())}, wamp.Dict{"reasn": "a.b"}, wamp.ErrInvalidArgument},
		{wamp.List{uint64(caller.s.ID())}, nil, wamp.ErrNoSuchSession},
		{wamp.List{424242}, nil, wamp.ErrNoSuchSession},
	} {
		callFails(t, caller, wamp.ID(10+i), "wamp.session.kill", tc.args, tc.kwargs, tc.uri)
	}
	victim.none()

	// Default reason, no message.
	res, kw := callOK(t, caller, 20, "wamp.session.kill", wamp.List{uint64(victim.s.ID())}, nil)
	if len(res) != 0 || len(kw) != 0 {
		t.Errorf("kill returned %v %v, want nothing", res, kw)
	}
	// Until it echoes GOODBYE the victim is leaving: it cannot be killed
	// again, and what it sends is ignored.
	callFails(t, caller, 21, "wamp.session.kill", wamp.List{uint64(victim.s.ID())}, nil, wamp.ErrNoSuchSession)
	echoGoodbye(t, victim, wamp.CloseKilled, nil)
	_, args, _ := event(t, caller, onLeave)
	if args[0] != int64(victim.s.ID()) {
		t.Fatalf("on_leave %v", args)
	}

	// A reason and a message.
	v2 := join(t, r, codec.MsgPack)
	callOK(t, caller, 30, "wamp.session.kill", wamp.List{uint64(v2.s.ID())}, wamp.Dict{"reason": "com.example.banned", "message": "go away"})
	v2.s.Receive(&wamp.Publish{Request: 1, Topic: "com.t", Options: wamp.Dict{"acknowledge": true}})
	echoGoodbye(t, v2, "com.example.banned", wamp.Dict{"message": "go away"})
	v2.none()
	event(t, caller, onLeave)

	// A victim that never echoes GOODBYE is cut off after killGrace.
	defer func(g time.Duration) { killGrace = g }(killGrace)
	killGrace = time.Millisecond
	// With a grace of 1 ms, the kill's RESULT and the victim's on_leave
	// race each other to the caller: either order is right.
	v3 := join(t, r, codec.JSON)
	caller.s.Receive(&wamp.Call{Request: 40, Procedure: "wamp.session.kill", Payload: wamp.Payload{Args: wamp.List{uint64(v3.s.ID())}}})
	if m := v3.recv(); m.Type() != wamp.TypeGoodbye || m.(*wamp.Goodbye).Reason != wamp.CloseKilled {
		t.Fatalf("want GOODBYE, got %T %+v", m, m)
	}
	var gotResult, gotLeave bool
	for !gotResult || !gotLeave {
		switch m := caller.recv().(type) { // recv waits long enough for the grace
		case *wamp.Result:
			if gotResult || m.Request != 40 {
				t.Fatalf("unexpected RESULT %+v", m)
			}
			gotResult = true
		case *wamp.Event:
			args, _ := payloadOf(t, &m.Payload)
			if gotLeave || m.Subscription != onLeave || args[0] != int64(v3.s.ID()) {
				t.Fatalf("unexpected EVENT %+v", m)
			}
			gotLeave = true
		default:
			t.Fatalf("want RESULT 40 and on_leave, got %T %+v", m, m)
		}
	}
	if !v3.waitClosed() {
		t.Fatal("victim not closed after the grace")
	}
	caller.none()
}

// TestSessionKillNullKwargs checks that a null reason or message is taken
// as absent, as the router takes a null option: the default reason, no
// message (meta_api_sessions.md: the keyword arguments are optional).
// Clients pass null for an argument they leave out (Autobahn|Python's
// reason=None).
func TestSessionKillNullKwargs(t *testing.T) {
	r := newRouter(t, DropEvents)
	caller := join(t, r, codec.JSON)
	victim := join(t, r, codec.CBOR)
	callOK(t, caller, 1, "wamp.session.kill", wamp.List{uint64(victim.s.ID())}, wamp.Dict{"reason": nil, "message": nil})
	echoGoodbye(t, victim, wamp.CloseKilled, nil)
	others := joinAs(t, r, "bob", TransportInfo{Kind: "test"})
	res, _ := callOK(t, caller, 2, "wamp.session.kill_by_authid", wamp.List{"bob"}, wamp.Dict{"reason": nil, "message": nil})
	if len(res) != 1 || !slices.Equal(idList(t, res[0]), ids(others)) {
		t.Fatalf("kill_by_authid killed %v, want %v", res, ids(others))
	}
	echoGoodbye(t, others, wamp.CloseKilled, nil)
}

func TestSessionKillByAuthIDAndAuthRole(t *testing.T) {
	r := newRouter(t, DropEvents)
	caller := joinAs(t, r, "bob", TransportInfo{Kind: "test"})
	onLeave := subscribe(t, caller, topicSessionOnLeave, nil)
	bob1 := joinAs(t, r, "bob", TransportInfo{Kind: "test"})
	bob2 := joinAs(t, r, "bob", TransportInfo{Kind: "test"})
	alice := joinAs(t, r, "alice", TransportInfo{Kind: "test"})
	carol := joinAs(t, r, "carol", TransportInfo{Kind: "test"})
	carol.s.authrole = "guest"

	callFails(t, caller, 2, "wamp.session.kill_by_authid", nil, nil, wamp.ErrInvalidArgument)
	callFails(t, caller, 3, "wamp.session.kill_by_authid", wamp.List{5}, nil, wamp.ErrInvalidArgument)
	callFails(t, caller, 4, "wamp.session.kill_by_authid", wamp.List{"bob"}, wamp.Dict{"reason": "bad reason"}, wamp.ErrInvalidURI)
	callFails(t, caller, 5, "wamp.session.kill_by_authrole", wamp.List{nil}, nil, wamp.ErrInvalidArgument)

	res, _ := callOK(t, caller, 10, "wamp.session.kill_by_authid", wamp.List{"bob"}, wamp.Dict{"message": "bye bob"})
	if got, want := idList(t, res[0]), ids(bob1, bob2); !slices.Equal(got, want) {
		t.Fatalf("kill_by_authid killed %v, want %v (the caller excluded)", got, want)
	}
	for _, p := range []*pipe{bob1, bob2} {
		echoGoodbye(t, p, wamp.CloseKilled, wamp.Dict{"message": "bye bob"})
		event(t, caller, onLeave)
	}
	res, _ = callOK(t, caller, 11, "wamp.session.kill_by_authid", wamp.List{"nobody"}, nil)
	if l, ok := res[0].([]any); !ok || len(l) != 0 {
		t.Fatalf("kill_by_authid of nobody: %#v, want an empty list", res)
	}

	res, _ = callOK(t, caller, 12, "wamp.session.kill_by_authrole", wamp.List{"guest"}, wamp.Dict{"reason": "com.example.closed"})
	if !reflect.DeepEqual(res, wamp.List{int64(1)}) {
		t.Fatalf("kill_by_authrole guest: %v, want [1]", res)
	}
	echoGoodbye(t, carol, "com.example.closed", nil)
	event(t, caller, onLeave)

	// The caller is anonymous too, and excluded.
	res, _ = callOK(t, caller, 13, "wamp.session.kill_by_authrole", wamp.List{"anonymous"}, nil)
	if !reflect.DeepEqual(res, wamp.List{int64(1)}) {
		t.Fatalf("kill_by_authrole anonymous: %v, want [1]", res)
	}
	echoGoodbye(t, alice, wamp.CloseKilled, nil)
	event(t, caller, onLeave)
	caller.none()
	if caller.closed() {
		t.Fatal("the caller was killed")
	}
}

func TestSessionKillAll(t *testing.T) {
	r := newRouter(t, DropEvents)
	caller := join(t, r, codec.JSON)
	onLeave := subscribe(t, caller, topicSessionOnLeave, nil)
	testamentSub := subscribe(t, caller, "com.example.gone", nil)
	var victims []*pipe
	for range 3 {
		v := join(t, r, codec.JSON)
		callOK(t, v, 1, "wamp.session.add_testament", wamp.List{"com.example.gone", wamp.List{"v"}}, nil)
		victims = append(victims, v)
	}
	callFails(t, caller, 3, "wamp.session.kill_all", nil, wamp.Dict{"reason": 1}, wamp.ErrInvalidArgument)
	res, _ := callOK(t, caller, 4, "wamp.session.kill_all", nil, wamp.Dict{"message": "maintenance"})
	if !reflect.DeepEqual(res, wamp.List{int64(3)}) {
		t.Fatalf("kill_all: %v, want [3]", res)
	}
	for _, v := range victims {
		echoGoodbye(t, v, wamp.CloseKilled, wamp.Dict{"message": "maintenance"})
	}
	// As the specification says: no on_leave, no testaments.
	caller.none()
	if n := r.SessionCount("realm1"); n != 1 {
		t.Fatalf("%d sessions left, want the caller alone", n)
	}
	// Sessions that join later leave as usual.
	v := join(t, r, codec.JSON)
	callOK(t, v, 1, "wamp.session.add_testament", wamp.List{"com.example.gone"}, nil)
	v.s.Detach()
	event(t, caller, testamentSub)
	if _, args, _ := event(t, caller, onLeave); args[0] != int64(v.s.ID()) {
		t.Fatalf("on_leave %v", args)
	}
}
