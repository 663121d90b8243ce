package router

import (
	"reflect"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

func addTestament(t *testing.T, p *pipe, req wamp.ID, topic string, args wamp.List, kwargs wamp.Dict, opts wamp.Dict) {
	t.Helper()
	res, kw := callOK(t, p, req, "wamp.session.add_testament", wamp.List{topic, args, kwargs}, opts)
	if len(res) != 0 || len(kw) != 0 {
		t.Fatalf("add_testament returned %v %v, want nothing", res, kw)
	}
}

// TestTestamentsPublished checks that a session's testaments go out, in
// their order and scopes, however the session ends, and before on_leave.
func TestTestamentsPublished(t *testing.T) {
	ends := map[string]func(p *pipe){
		"connection lost": func(p *pipe) { p.s.Detach() },
		"goodbye": func(p *pipe) {
			p.s.Receive(&wamp.Goodbye{Reason: wamp.CloseNormal})
		},
		"protocol violation": func(p *pipe) { p.s.Receive(&wamp.Welcome{Session: 1}) },
		"killed": func(p *pipe) {
			killer := join(t, p.s.router, codec.JSON)
			callOK(t, killer, 1, "wamp.session.kill", wamp.List{uint64(p.s.ID())}, nil)
			p.recv()
			p.s.Receive(&wamp.Goodbye{Reason: wamp.CloseGoodbyeAndOut})
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			r := newRouter(t, DropEvents)
			watcher := join(t, r, codec.CBOR)
			subA := subscribe(t, watcher, "com.example.a", nil)
			subB := subscribe(t, watcher, "com.example.b", nil)
			onLeave := subscribe(t, watcher, topicSessionOnLeave, nil)

			p := join(t, r, codec.JSON)
			// The leaving session is subscribed too, and asks not to be
			// excluded: it must still not get its own testament.
			subscribe(t, p, "com.example.a", nil)
			addTestament(t, p, 2, "com.example.a", wamp.List{"destroyed-1"}, wamp.Dict{"n": 1},
				wamp.Dict{"publish_options": wamp.Dict{"exclude_me": false, "disclose_me": true, "acknowledge": true}})
			addTestament(t, p, 3, "com.example.b", wamp.List{"detached-1"}, nil, wamp.Dict{"scope": "detached"})
			addTestament(t, p, 4, "com.example.a", nil, wamp.Dict{"k": "destroyed-2"}, wamp.Dict{"scope": "destroyed"})
			addTestament(t, p, 5, "com.example.a", wamp.List{"detached-2"}, nil, wamp.Dict{"scope": "detached"})
			if r.SessionCount("realm1") != 2 {
				t.Fatal("the session is not in the realm")
			}
			end(p)
			for p.closed() && len(p.out) > 0 {
				if m := p.recv(); m.Type() != wamp.TypeGoodbye && m.Type() != wamp.TypeAbort {
					t.Fatalf("the leaving session got %s %+v", m.Type(), m)
				}
			}
			p.none()

			type ev struct {
				sub    wamp.ID
				args   wamp.List
				kwargs wamp.Dict
			}
			want := []ev{
				{subB, wamp.List{"detached-1"}, nil},
				{subA, wamp.List{"detached-2"}, nil},
				{subA, wamp.List{"destroyed-1"}, wamp.Dict{"n": int64(1)}},
				{subA, nil, wamp.Dict{"k": "destroyed-2"}},
			}
			for i, w := range want {
				e, args, kwargs := event(t, watcher, w.sub)
				if len(args) == 0 {
					args = nil
				}
				if len(kwargs) == 0 {
					kwargs = nil
				}
				if !reflect.DeepEqual(args, w.args) || !reflect.DeepEqual(kwargs, w.kwargs) {
					t.Errorf("testament %d: %v %v, want %v %v", i, args, kwargs, w.args, w.kwargs)
				}
				// Published as the session's own: its options apply.
				if disclosed := e.Details["publisher"] == int64(p.s.ID()); disclosed != (i == 2) {
					t.Errorf("testament %d: details %v; only the one with disclose_me names its publisher", i, e.Details)
				}
			}
			_, args, _ := event(t, watcher, onLeave)
			if args[0] != int64(p.s.ID()) {
				t.Fatalf("on_leave %v", args)
			}
			watcher.none()
		})
	}
}

func TestFlushTestaments(t *testing.T) {
	r := newRouter(t, DropEvents)
	watcher := join(t, r, codec.JSON)
	sub := subscribe(t, watcher, "com.example.t", nil)
	p := join(t, r, codec.JSON)

	flush := func(req wamp.ID, kwargs wamp.Dict) int64 {
		t.Helper()
		res, _ := callOK(t, p, req, "wamp.session.flush_testaments", nil, kwargs)
		if len(res) != 1 {
			t.Fatalf("flush_testaments: %v", res)
		}
		return res[0].(int64)
	}
	if n := flush(1, nil); n != 0 {
		t.Fatalf("flushed %d of none", n)
	}
	addTestament(t, p, 2, "com.example.t", wamp.List{"destroyed"}, nil, nil)
	addTestament(t, p, 3, "com.example.t", wamp.List{"destroyed"}, nil, nil)
	addTestament(t, p, 4, "com.example.t", wamp.List{"detached"}, nil, wamp.Dict{"scope": "detached"})
	if n := flush(5, nil); n != 2 {
		t.Fatalf("flushed %d destroyed testaments, want 2", n)
	}
	if n := flush(6, wamp.Dict{"scope": "destroyed"}); n != 0 {
		t.Fatalf("flushed %d, want 0", n)
	}
	addTestament(t, p, 7, "com.example.t", wamp.List{"kept"}, nil, nil)
	if n := flush(8, wamp.Dict{"scope": "detached"}); n != 1 {
		t.Fatalf("flushed %d detached testaments, want 1", n)
	}
	for i, tc := range []struct {
		args   wamp.List
		kwargs wamp.Dict
	}{
		{nil, wamp.Dict{"scope": "forever"}},
		{nil, wamp.Dict{"scope": 1}},
		{nil, wamp.Dict{"scop": "detached"}},
		{wamp.List{"detached"}, nil},
	} {
		callFails(t, p, wamp.ID(10+i), "wamp.session.flush_testaments", tc.args, tc.kwargs, wamp.ErrInvalidArgument)
	}
	p.s.Detach()
	_, args, _ := event(t, watcher, sub)
	if !reflect.DeepEqual(args, wamp.List{"kept"}) {
		t.Fatalf("published %v, want only the testament left", args)
	}
	watcher.none()
}

func TestTestamentBadInput(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := join(t, r, codec.JSON)
	for i, tc := range []struct {
		args   wamp.List
		kwargs wamp.Dict
		uri    wamp.URI
		msg    string
	}{
		{nil, nil, wamp.ErrInvalidArgument, "takes the topic"},
		{wamp.List{5}, nil, wamp.ErrInvalidArgument, "must be the topic"},
		{wamp.List{"com..x"}, nil, wamp.ErrInvalidURI, "not a valid URI"},
		{wamp.List{"com.x", "args"}, nil, wamp.ErrInvalidArgument, "args (a list), not a string"},
		{wamp.List{"com.x", wamp.List{}, wamp.List{}}, nil, wamp.ErrInvalidArgument, "kwargs (a dict), not a list"},
		{wamp.List{"com.x", wamp.List{}, wamp.Dict{}, 4}, nil, wamp.ErrInvalidArgument, "at most 3"},
		{wamp.List{"com.x"}, wamp.Dict{"scope": "later"}, wamp.ErrInvalidArgument, "scope"},
		{wamp.List{"com.x"}, wamp.Dict{"publish_options": wamp.List{}}, wamp.ErrInvalidArgument, "publish_options must be a dict"},
		{wamp.List{"com.x"}, wamp.Dict{"options": wamp.Dict{}}, wamp.ErrInvalidArgument, `unknown keyword argument "options"`},
	} {
		msg := callFails(t, p, wamp.ID(i+1), "wamp.session.add_testament", tc.args, tc.kwargs, tc.uri)
		if !strings.Contains(msg, tc.msg) {
			t.Errorf("add_testament%v%v: %q, want it to mention %q", tc.args, tc.kwargs, msg, tc.msg)
		}
	}
	// Nothing was kept, and the session goes on.
	if p.s.testaments != nil {
		t.Fatalf("testaments kept from bad calls: %+v", p.s.testaments)
	}
	addTestament(t, p, 20, "com.x", nil, nil, nil)

	// Strict realms check the topic strictly.
	s := attachPipe(t, r, codec.JSON)
	s.s.Receive(&wamp.Hello{Realm: "strict", Details: allRoles})
	s.recv()
	callFails(t, s, 1, "wamp.session.add_testament", wamp.List{"com.Upper"}, nil, wamp.ErrInvalidURI)
}

func TestTestamentLimits(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := join(t, r, codec.JSON)
	for i := range maxTestaments {
		scope := "destroyed"
		if i%2 == 1 {
			scope = "detached"
		}
		addTestament(t, p, wamp.ID(i+1), "com.x", nil, nil, wamp.Dict{"scope": scope})
	}
	msg := callFails(t, p, 100, "wamp.session.add_testament", wamp.List{"com.x"}, nil, wamp.ErrInvalidArgument)
	if !strings.Contains(msg, "already holds 16 testaments") {
		t.Errorf("limit message %q", msg)
	}
	callOK(t, p, 101, "wamp.session.flush_testaments", nil, wamp.Dict{"scope": "detached"})
	addTestament(t, p, 102, "com.x", nil, nil, nil)
	callOK(t, p, 103, "wamp.session.flush_testaments", nil, nil)
	callOK(t, p, 104, "wamp.session.flush_testaments", nil, wamp.Dict{"scope": "detached"})

	// The byte bound counts the calls' encoded payloads, as they arrive
	// from a transport.
	rawCall := func(req wamp.ID, n int) *wamp.Call {
		b, err := codec.JSON.Encode(nil, &wamp.Call{Request: req, Procedure: "wamp.session.add_testament",
			Payload: wamp.Payload{Args: wamp.List{"com.x", wamp.List{strings.Repeat("x", n)}}}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := codec.JSON.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return m.(*wamp.Call)
	}
	p.s.Receive(rawCall(200, maxTestamentBytes/2))
	if res, ok := p.recv().(*wamp.Result); !ok || res.Request != 200 {
		t.Fatalf("want RESULT, got %+v", res)
	}
	p.s.Receive(rawCall(201, maxTestamentBytes/2))
	e := wantError(t, p, wamp.TypeCall, 201, wamp.ErrInvalidArgument)
	if a, _ := payloadOf(t, &e.Payload); !strings.Contains(a[0].(string), "bytes") {
		t.Errorf("byte limit message %v", a)
	}
	// Flushing gives the bytes back.
	callOK(t, p, 202, "wamp.session.flush_testaments", nil, nil)
	p.s.Receive(rawCall(203, maxTestamentBytes/2))
	if res, ok := p.recv().(*wamp.Result); !ok || res.Request != 203 {
		t.Fatalf("want RESULT, got %+v", res)
	}
	if b := p.s.testaments.bytes; b <= maxTestamentBytes/2 || b > maxTestamentBytes {
		t.Errorf("testaments hold %d bytes", b)
	}
}

// TestTestamentAuthorized: a testament is a publication the session makes
// when it leaves, so add_testament is authorized as that PUBLISH: a role
// that may not publish to a topic may not leave a testament there either
// (it used to, and the testament was published when it left).
func TestTestamentAuthorized(t *testing.T) {
	roles, err := auth.NewRoles([]*auth.Role{{Name: "anonymous", Permissions: []auth.Permission{
		{URI: "wamp.session.add_testament", Match: wamp.MatchExact, Allow: auth.Allow(0).With(auth.ActionCall)},
		{URI: "com.example.open", Match: wamp.MatchExact, Allow: auth.AllowAll},
		{URI: "com.example.secret", Match: wamp.MatchExact, Allow: auth.Allow(0).With(auth.ActionSubscribe)},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true, Roles: roles}}})
	if err != nil {
		t.Fatal(err)
	}
	p := join(t, r, codec.JSON)
	p.s.Receive(&wamp.Publish{Request: 1, Topic: "com.example.secret", Options: wamp.Dict{"acknowledge": true}})
	wantError(t, p, wamp.TypePublish, 1, wamp.ErrNotAuthorized)
	p.s.Receive(&wamp.Call{Request: 2, Procedure: "wamp.session.add_testament", Payload: wamp.Payload{Args: wamp.List{"com.example.secret", wamp.List{"forged"}}}})
	wantError(t, p, wamp.TypeCall, 2, wamp.ErrNotAuthorized)
	callOK(t, p, 3, "wamp.session.add_testament", wamp.List{"com.example.open", wamp.List{"will"}}, nil)
	p.s.mu.Lock()
	n := p.s.testaments.count()
	p.s.mu.Unlock()
	if n != 1 {
		t.Fatalf("the session holds %d testaments, want the one it may publish", n)
	}
}

// TestTestamentBadPublishOptions: a testament whose publish_options the
// PUBLISH it will be would refuse is refused at add_testament, with the
// PUBLISH's error, rather than kept and dropped in silence when the
// session leaves.
func TestTestamentBadPublishOptions(t *testing.T) {
	r := newRealmRouter(t, RealmConfig{DisclosePublisher: DiscloseNever})
	p := join(t, r, codec.JSON)
	for i, tc := range []struct {
		opts wamp.Dict
		uri  wamp.URI
		msg  string
	}{
		{wamp.Dict{"exclude": "all"}, wamp.ErrInvalidArgument, "exclude"},
		{wamp.Dict{"eligible_authrole": wamp.List{5}}, wamp.ErrInvalidArgument, "eligible_authrole"},
		{wamp.Dict{"exclude_me": "no"}, wamp.ErrInvalidArgument, "exclude_me"},
		{wamp.Dict{"retain": 1}, wamp.ErrInvalidArgument, "retain"},
		{wamp.Dict{"rkey": ""}, wamp.ErrInvalidArgument, "rkey"},
		{wamp.Dict{"ppt_scheme": "x_custom", "ppt_keyid": 5}, wamp.ErrInvalidArgument, "ppt_keyid"},
		// The session did not announce payload_passthru_mode (a PUBLISH
		// so would end it).
		{wamp.Dict{"ppt_scheme": "x_custom"}, wamp.ErrInvalidArgument, "payload_passthru_mode"},
		// The realm never discloses publishers.
		{wamp.Dict{"disclose_me": true}, wamp.ErrDiscloseMeDisallowed, "disclose"},
	} {
		msg := callFails(t, p, wamp.ID(i+1), "wamp.session.add_testament", wamp.List{"com.example.t"},
			wamp.Dict{"publish_options": tc.opts}, tc.uri)
		if !strings.Contains(msg, tc.msg) {
			t.Errorf("publish_options %v: %q, want it to mention %q", tc.opts, msg, tc.msg)
		}
	}
	if p.s.testaments != nil {
		t.Fatalf("testaments kept from bad calls: %+v", p.s.testaments)
	}
	// The options that are fine still are.
	addTestament(t, p, 20, "com.example.t", nil, nil, wamp.Dict{"publish_options": wamp.Dict{"exclude_me": false, "acknowledge": "ignored"}})
}

// TestTestamentOfSessionEndedBeforeOnJoin adds a testament and ends the
// session between its WELCOME and its on_join (a client that leaves a
// testament and loses its connection within microseconds of WELCOME): the
// testament must still go out, before on_leave, which follows on_join.
func TestTestamentOfSessionEndedBeforeOnJoin(t *testing.T) {
	r := newRouter(t, DropEvents)
	watcher := join(t, r, codec.JSON)
	onJoin := subscribe(t, watcher, topicSessionOnJoin, nil)
	will := subscribe(t, watcher, "com.example.will", nil)
	onLeave := subscribe(t, watcher, topicSessionOnLeave, nil)

	lp := &pipe{t: t, c: codec.JSON, out: make(chan wamp.Message, 64)}
	peer := &afterSendPeer{pipe: lp}
	peer.hook = func(m wamp.Message) {
		if _, ok := m.(*wamp.Welcome); ok {
			// The client's first call, then its connection lost on
			// another goroutine, before on_join has gone out.
			lp.s.Receive(&wamp.Call{Request: 1, Procedure: "wamp.session.add_testament",
				Payload: wamp.Payload{Args: wamp.List{"com.example.will", wamp.List{"gone"}}}})
			lp.s.end()
		}
	}
	lp.s = r.Attach(peer, TransportInfo{Kind: "test"})
	t.Cleanup(lp.s.Detach)
	lp.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	lp.recv() // WELCOME
	if res, ok := lp.recv().(*wamp.Result); !ok || res.Request != 1 {
		t.Fatalf("add_testament: want RESULT 1, got %+v", res)
	}

	_, args, _ := event(t, watcher, onJoin)
	if args[0].(map[string]any)["session"] != int64(lp.s.ID()) {
		t.Fatalf("on_join %v", args)
	}
	_, args, _ = event(t, watcher, will)
	if len(args) != 1 || args[0] != "gone" {
		t.Fatalf("testament %v", args)
	}
	_, args, _ = event(t, watcher, onLeave)
	if args[0] != int64(lp.s.ID()) {
		t.Fatalf("on_leave %v", args)
	}
	watcher.none()
}

// afterSendPeer is a pipe that calls hook after each message is sent.
type afterSendPeer struct {
	*pipe
	hook func(wamp.Message)
}

func (a *afterSendPeer) Send(m wamp.Message) error {
	err := a.pipe.Send(m)
	a.hook(m)
	return err
}

// TestTestamentBytesOfDecodedPayload checks the byte bound on testaments
// whose add_testament call arrives decoded (a session attached in the
// router's process that hands Go values to Receive): their payload has no
// encoded size to read, and it used to count as 0 bytes.
func TestTestamentBytesOfDecodedPayload(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := join(t, r, codec.JSON)
	big := func(n int) wamp.List { return wamp.List{strings.Repeat("x", n)} }
	addTestament(t, p, 1, "com.x", big(maxTestamentBytes/2), nil, nil)
	msg := callFails(t, p, 2, "wamp.session.add_testament", wamp.List{"com.x", nil, wamp.Dict{"k": big(maxTestamentBytes / 2)}}, nil, wamp.ErrInvalidArgument)
	if !strings.Contains(msg, "bytes") {
		t.Errorf("byte limit message %q", msg)
	}
	callOK(t, p, 3, "wamp.session.flush_testaments", nil, nil)
	if p.s.testaments != nil {
		t.Fatalf("testaments left after a flush: %+v", p.s.testaments)
	}
	addTestament(t, p, 4, "com.x", nil, wamp.Dict{"k": big(maxTestamentBytes / 2)}, nil)
	if b := p.s.testaments.bytes; b <= maxTestamentBytes/2 || b > maxTestamentBytes/2+64 {
		t.Errorf("a testament of %d bytes of string counts %d bytes", maxTestamentBytes/2, b)
	}
	// A payload no serializer can encode is refused now rather than
	// failing when the session has left.
	msg = callFails(t, p, 5, "wamp.session.add_testament", wamp.List{"com.x", wamp.List{func() {}}}, nil, wamp.ErrInvalidArgument)
	if !strings.Contains(msg, "cannot be encoded") {
		t.Errorf("unencodable payload message %q", msg)
	}
}
