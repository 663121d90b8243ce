package router

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// TestMain fails the package's tests if a goroutine outlives them: the
// router starts goroutines of its own (authentication, the answers of
// router-side calls, event history queries), and each must end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipe is an in-memory Peer: it encodes what the router sends with a real
// codec and decodes it again, as a client on the far side would see it.
type pipe struct {
	t     *testing.T
	c     codec.Codec
	out   chan wamp.Message
	s     *Session
	mu    sync.Mutex
	full  bool // Send answers ErrQueueFull
	limit int  // Send answers ErrTooLarge above this many bytes (0: none)
	shut  bool
}

func (p *pipe) Send(m wamp.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shut {
		return ErrClosed
	}
	if p.full {
		return ErrQueueFull
	}
	b, err := p.c.Encode(nil, m)
	if err != nil {
		return err
	}
	if p.limit > 0 && len(b) > p.limit {
		return ErrTooLarge
	}
	got, err := p.c.Decode(b)
	if err != nil {
		p.t.Errorf("router sent %q, which does not decode: %v", b, err)
		return nil
	}
	select {
	case p.out <- got:
	default:
		p.t.Errorf("test peer overflow")
	}
	return nil
}

func (p *pipe) Close() {
	p.mu.Lock()
	p.shut = true
	p.mu.Unlock()
}

func (p *pipe) closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shut
}

// waitClosed reports whether the router closes the peer within 2 s: a
// session's end publishes its meta events before it closes the peer, so a
// test that saw on_leave must wait for the close rather than expect it.
func (p *pipe) waitClosed() bool {
	for deadline := time.Now().Add(2 * time.Second); !p.closed(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// recv returns the next message the router sent.
func (p *pipe) recv() wamp.Message {
	p.t.Helper()
	select {
	case m := <-p.out:
		return m
	case <-time.After(2 * time.Second):
		p.t.Fatal("no message from the router")
		return nil
	}
}

// none checks that the router sent nothing more.
func (p *pipe) none() {
	p.t.Helper()
	select {
	case m := <-p.out:
		p.t.Fatalf("unexpected %s: %+v", m.Type(), m)
	default:
	}
}

func newRouter(t *testing.T, policy SlowConsumerPolicy) *Router {
	t.Helper()
	r, err := New(Config{Realms: []RealmConfig{{Name: "realm1", Anonymous: true}, {Name: "strict", Anonymous: true, StrictURIs: true}}, SlowConsumer: policy})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func attachPipe(t *testing.T, r *Router, c codec.Codec) *pipe {
	p := &pipe{t: t, c: c, out: make(chan wamp.Message, 1024)}
	p.s = r.Attach(p, TransportInfo{Kind: "test", Serializer: c.Format().String()})
	t.Cleanup(p.s.Detach)
	return p
}

// joinPeer attaches a session with peer as its transport and joins realm1
// with every role, for tests whose peer is not a pipe.
func joinPeer(t *testing.T, r *Router, peer Peer) *Session {
	t.Helper()
	s := r.Attach(peer, TransportInfo{Kind: "test", Serializer: "json"})
	t.Cleanup(s.Detach)
	s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	return s
}

var allRoles = wamp.Dict{"roles": wamp.Dict{"publisher": wamp.Dict{}, "subscriber": wamp.Dict{}, "caller": wamp.Dict{}, "callee": wamp.Dict{}}}

// join attaches a session and joins realm1.
func join(t *testing.T, r *Router, c codec.Codec) *pipe {
	t.Helper()
	p := attachPipe(t, r, c)
	p.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	w, ok := p.recv().(*wamp.Welcome)
	if !ok || w.Session == 0 || w.Session > wamp.MaxID {
		t.Fatalf("want WELCOME, got %+v", w)
	}
	return p
}

func wantAbort(t *testing.T, p *pipe, reason wamp.URI) *wamp.Abort {
	t.Helper()
	a, ok := p.recv().(*wamp.Abort)
	if !ok || a.Reason != reason {
		t.Fatalf("want ABORT %s, got %+v", reason, a)
	}
	// Whoever sent the ABORT closes next, on its own goroutine when a
	// login's verdict sent it.
	if !p.waitClosed() {
		t.Fatal("connection not closed after ABORT")
	}
	return a
}

func wantError(t *testing.T, p *pipe, rt wamp.MessageType, req wamp.ID, uri wamp.URI) *wamp.Error {
	t.Helper()
	m := p.recv()
	e, ok := m.(*wamp.Error)
	if !ok || e.RequestType != rt || e.Request != req || e.Error != uri {
		t.Fatalf("want ERROR %s %d %s, got %T %+v", rt, req, uri, m, m)
	}
	return e
}

func TestWelcomeAnnouncesRolesAndFeatures(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := attachPipe(t, r, codec.JSON)
	p.s.Receive(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"subscriber": wamp.Dict{}}, "agent": "test"}})
	w := p.recv().(*wamp.Welcome)
	roles := w.Details["roles"].(map[string]any)
	if _, ok := roles["broker"]; !ok {
		t.Fatal("no broker role")
	}
	if _, ok := roles["dealer"]; !ok {
		t.Fatal("no dealer role")
	}
	if w.Details["authrole"] != "anonymous" || w.Details["realm"] != "realm1" {
		t.Fatalf("details: %v", w.Details)
	}
	if r.SessionCount("realm1") != 1 {
		t.Fatal("session not counted in realm")
	}
}

func TestSessionOpeningErrors(t *testing.T) {
	cases := []struct {
		name   string
		msg    wamp.Message
		reason wamp.URI
	}{
		{"no such realm", &wamp.Hello{Realm: "nope", Details: allRoles}, wamp.ErrNoSuchRealm},
		{"invalid realm", &wamp.Hello{Realm: "a..b", Details: allRoles}, wamp.ErrInvalidURI},
		{"no roles", &wamp.Hello{Realm: "realm1", Details: wamp.Dict{}}, wamp.ErrProtocolViolation},
		{"bad role", &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"dealer": wamp.Dict{}}}}, wamp.ErrProtocolViolation},
		{"publish before hello", &wamp.Publish{Request: 1, Topic: "a"}, wamp.ErrProtocolViolation},
		{"goodbye before hello", &wamp.Goodbye{Reason: wamp.CloseRealm}, wamp.ErrProtocolViolation},
		{"error before hello", &wamp.Error{RequestType: wamp.TypeInvocation, Request: 1, Error: "x.y"}, wamp.ErrProtocolViolation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRouter(t, DropEvents)
			p := attachPipe(t, r, codec.JSON)
			p.s.Receive(tc.msg)
			wantAbort(t, p, tc.reason)
			p.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles}) // ignored after the abort
			p.none()
		})
	}
}

func TestProtocolViolationsAfterJoin(t *testing.T) {
	cases := []struct {
		name string
		msg  wamp.Message
	}{
		{"second hello", &wamp.Hello{Realm: "realm1", Details: allRoles}},
		{"welcome from client", &wamp.Welcome{Session: 1}},
		{"error for a call", &wamp.Error{RequestType: wamp.TypeCall, Request: 1, Error: "x.y"}},
		{"yield never invoked", &wamp.Yield{Request: 99}},
		{"event from client", &wamp.Event{Subscription: 1, Publication: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRouter(t, DropEvents)
			p := join(t, r, codec.JSON)
			other := join(t, r, codec.JSON)
			p.s.Receive(&wamp.Register{Request: 1, Procedure: "com.p"})
			p.recv()
			p.s.Receive(tc.msg)
			wantAbort(t, p, wamp.ErrProtocolViolation)
			// Its registration is gone and the other session is unaffected.
			other.s.Receive(&wamp.Call{Request: 1, Procedure: "com.p"})
			wantError(t, other, wamp.TypeCall, 1, wamp.ErrNoSuchProcedure)
		})
	}
}

func TestGoodbyeIsEchoed(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := join(t, r, codec.MsgPack)
	p.s.Receive(&wamp.Goodbye{Reason: wamp.CloseRealm})
	g := p.recv().(*wamp.Goodbye)
	if g.Reason != wamp.CloseGoodbyeAndOut || !p.closed() {
		t.Fatalf("got %+v closed=%v", g, p.closed())
	}
	if r.SessionCount("realm1") != 0 {
		t.Fatal("session still in realm")
	}
}

func TestPubSub(t *testing.T) {
	r := newRouter(t, DropEvents)
	pub := join(t, r, codec.JSON)
	sub1 := join(t, r, codec.MsgPack)
	sub2 := join(t, r, codec.CBOR)

	var subIDs []wamp.ID
	for _, s := range []*pipe{sub1, sub2, pub} {
		s.s.Receive(&wamp.Subscribe{Request: 1, Topic: "com.topic"})
		subIDs = append(subIDs, s.recv().(*wamp.Subscribed).Subscription)
	}
	if subIDs[0] != subIDs[1] || subIDs[1] != subIDs[2] {
		t.Fatalf("one topic must have one subscription id, got %v", subIDs)
	}

	pub.s.Receive(&wamp.Publish{Request: 2, Topic: "com.topic", Options: wamp.Dict{"acknowledge": true},
		Payload: wamp.Payload{Args: wamp.List{"hello", []byte{1, 2, 3}}, Kwargs: wamp.Dict{"n": 5}}})
	ack := pub.recv().(*wamp.Published)
	if ack.Request != 2 || ack.Publication == 0 {
		t.Fatalf("PUBLISHED %+v", ack)
	}
	for _, s := range []*pipe{sub1, sub2} {
		ev := s.recv().(*wamp.Event)
		if ev.Subscription != subIDs[0] || ev.Publication != ack.Publication {
			t.Fatalf("EVENT %+v", ev)
		}
		l := decodeList(t, &ev.Payload)
		if l[0] != "hello" || string(l[1].([]byte)) != "\x01\x02\x03" {
			t.Fatalf("args %#v", l)
		}
	}
	pub.none() // excluded by default

	pub.s.Receive(&wamp.Publish{Request: 3, Topic: "com.topic", Options: wamp.Dict{"exclude_me": false, "disclose_me": true}})
	for _, s := range []*pipe{sub1, sub2, pub} {
		ev := s.recv().(*wamp.Event)
		if ev.Details["publisher"] != int64(pub.s.ID()) {
			t.Fatalf("publisher not disclosed: %v", ev.Details)
		}
	}

	sub1.s.Receive(&wamp.Unsubscribe{Request: 4, Subscription: subIDs[0]})
	if u := sub1.recv().(*wamp.Unsubscribed); u.Request != 4 {
		t.Fatalf("UNSUBSCRIBED %+v", u)
	}
	sub1.s.Receive(&wamp.Unsubscribe{Request: 5, Subscription: subIDs[0]})
	wantError(t, sub1, wamp.TypeUnsubscribe, 5, wamp.ErrNoSuchSubscription)

	pub.s.Receive(&wamp.Publish{Request: 6, Topic: "com.topic"})
	sub2.recv()
	sub1.none()

	// Invalid topics: an ERROR with acknowledge, silence without.
	pub.s.Receive(&wamp.Publish{Request: 7, Topic: "bad topic", Options: wamp.Dict{"acknowledge": true}})
	wantError(t, pub, wamp.TypePublish, 7, wamp.ErrInvalidURI)
	pub.s.Receive(&wamp.Publish{Request: 8, Topic: "bad topic"})
	pub.none()
	sub2.s.Receive(&wamp.Subscribe{Request: 9, Topic: "a..b"})
	wantError(t, sub2, wamp.TypeSubscribe, 9, wamp.ErrInvalidURI)
	sub2.s.Receive(&wamp.Subscribe{Request: 10, Topic: "com.a", Options: wamp.Dict{"match": "regex"}})
	wantError(t, sub2, wamp.TypeSubscribe, 10, wamp.ErrInvalidArgument)
}

func TestStrictURIs(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := attachPipe(t, r, codec.JSON)
	p.s.Receive(&wamp.Hello{Realm: "strict", Details: allRoles})
	p.recv()
	p.s.Receive(&wamp.Register{Request: 1, Procedure: "com.Upper"})
	wantError(t, p, wamp.TypeRegister, 1, wamp.ErrInvalidURI)
	p.s.Receive(&wamp.Register{Request: 2, Procedure: "com.lower_1"})
	p.recv().(*wamp.Registered).Request = 0
}

func TestRPC(t *testing.T) {
	r := newRouter(t, DropEvents)
	callee := join(t, r, codec.CBOR)
	caller := join(t, r, codec.JSON)

	callee.s.Receive(&wamp.Register{Request: 1, Procedure: "com.echo"})
	reg := callee.recv().(*wamp.Registered)
	caller.s.Receive(&wamp.Register{Request: 1, Procedure: "com.echo"})
	wantError(t, caller, wamp.TypeRegister, 1, wamp.ErrProcedureAlreadyExists)

	caller.s.Receive(&wamp.Call{Request: 2, Procedure: "com.echo", Options: wamp.Dict{"disclose_me": true},
		Payload: wamp.Payload{Args: wamp.List{[]byte("bin")}, Kwargs: wamp.Dict{"k": "v"}}})
	inv := callee.recv().(*wamp.Invocation)
	if inv.Registration != reg.Registration || inv.Details["caller"] != int64(caller.s.ID()) {
		t.Fatalf("INVOCATION %+v", inv)
	}
	callee.s.Receive(&wamp.Yield{Request: inv.Request, Payload: inv.Payload})
	res := caller.recv().(*wamp.Result)
	if res.Request != 2 || string(decodeList(t, &res.Payload)[0].([]byte)) != "bin" {
		t.Fatalf("RESULT %+v", res)
	}

	// An application error passes through with its payload.
	caller.s.Receive(&wamp.Call{Request: 3, Procedure: "com.echo"})
	inv = callee.recv().(*wamp.Invocation)
	callee.s.Receive(&wamp.Error{RequestType: wamp.TypeInvocation, Request: inv.Request, Error: "com.app.oops",
		Payload: wamp.Payload{Args: wamp.List{"why"}}})
	e := wantError(t, caller, wamp.TypeCall, 3, "com.app.oops")
	if decodeList(t, &e.Payload)[0] != "why" {
		t.Fatalf("error args %+v", e)
	}

	caller.s.Receive(&wamp.Call{Request: 4, Procedure: "com.nothing"})
	wantError(t, caller, wamp.TypeCall, 4, wamp.ErrNoSuchProcedure)
	caller.s.Receive(&wamp.Call{Request: 5, Procedure: "com..x"})
	wantError(t, caller, wamp.TypeCall, 5, wamp.ErrInvalidURI)

	// A call in flight when the callee leaves ends with an ERROR.
	caller.s.Receive(&wamp.Call{Request: 6, Procedure: "com.echo"})
	callee.recv()
	callee.s.Detach()
	wantError(t, caller, wamp.TypeCall, 6, wamp.ErrCanceled)
	caller.s.Receive(&wamp.Call{Request: 7, Procedure: "com.echo"})
	wantError(t, caller, wamp.TypeCall, 7, wamp.ErrNoSuchProcedure)
}

func TestUnregister(t *testing.T) {
	r := newRouter(t, DropEvents)
	callee := join(t, r, codec.JSON)
	callee.s.Receive(&wamp.Register{Request: 1, Procedure: "com.p"})
	reg := callee.recv().(*wamp.Registered)
	callee.s.Receive(&wamp.Unregister{Request: 2, Registration: reg.Registration})
	if u := callee.recv().(*wamp.Unregistered); u.Request != 2 {
		t.Fatalf("%+v", u)
	}
	callee.s.Receive(&wamp.Unregister{Request: 3, Registration: reg.Registration})
	wantError(t, callee, wamp.TypeUnregister, 3, wamp.ErrNoSuchRegistration)
	callee.s.Receive(&wamp.Register{Request: 4, Procedure: "com.p"})
	if _, ok := callee.recv().(*wamp.Registered); !ok {
		t.Fatal("re-register failed")
	}
}

func TestSlowConsumer(t *testing.T) {
	t.Run("events dropped and counted", func(t *testing.T) {
		r := newRouter(t, DropEvents)
		pub := join(t, r, codec.JSON)
		slow := join(t, r, codec.JSON)
		fast := join(t, r, codec.JSON)
		for _, s := range []*pipe{slow, fast} {
			s.s.Receive(&wamp.Subscribe{Request: 1, Topic: "t"})
			s.recv()
		}
		slow.mu.Lock()
		slow.full = true
		slow.mu.Unlock()
		for i := 1; i <= 3; i++ {
			pub.s.Receive(&wamp.Publish{Request: wamp.ID(i), Topic: "t"})
			fast.recv()
		}
		if got := r.Stats().EventsDropped; got != 3 {
			t.Fatalf("dropped %d, want 3", got)
		}
		if slow.closed() {
			t.Fatal("drop policy disconnected the subscriber")
		}
	})
	t.Run("disconnect policy", func(t *testing.T) {
		r := newRouter(t, Disconnect)
		pub := join(t, r, codec.JSON)
		slow := join(t, r, codec.JSON)
		slow.s.Receive(&wamp.Subscribe{Request: 1, Topic: "t"})
		slow.recv()
		slow.mu.Lock()
		slow.full = true
		slow.mu.Unlock()
		pub.s.Receive(&wamp.Publish{Request: 1, Topic: "t"})
		if !slow.closed() || r.Stats().SlowConsumers != 1 {
			t.Fatal("slow subscriber not disconnected")
		}
	})
	t.Run("invocation that does not fit fails the call", func(t *testing.T) {
		r := newRouter(t, DropEvents)
		callee := join(t, r, codec.JSON)
		caller := join(t, r, codec.JSON)
		callee.s.Receive(&wamp.Register{Request: 1, Procedure: "p"})
		callee.recv()
		callee.mu.Lock()
		callee.full = true
		callee.mu.Unlock()
		caller.s.Receive(&wamp.Call{Request: 1, Procedure: "p"})
		wantError(t, caller, wamp.TypeCall, 1, wamp.ErrCanceled)
	})
	t.Run("too large for the callee", func(t *testing.T) {
		r := newRouter(t, DropEvents)
		callee := join(t, r, codec.JSON)
		caller := join(t, r, codec.JSON)
		callee.s.Receive(&wamp.Register{Request: 1, Procedure: "p"})
		callee.recv()
		callee.limit = 100
		caller.s.Receive(&wamp.Call{Request: 1, Procedure: "p", Payload: wamp.Payload{Args: wamp.List{strings.Repeat("x", 200)}}})
		wantError(t, caller, wamp.TypeCall, 1, wamp.ErrPayloadSizeExceeded)
		if callee.closed() {
			t.Fatal("callee closed for a large call")
		}
	})
}

func TestShutdownSaysGoodbye(t *testing.T) {
	r := newRouter(t, DropEvents)
	a := join(t, r, codec.JSON)
	b := join(t, r, codec.CBOR)
	done := make(chan error, 1)
	go func() { done <- r.Shutdown(context.Background()) }()
	for _, p := range []*pipe{a, b} {
		g := p.recv().(*wamp.Goodbye)
		if g.Reason != wamp.CloseSystemShutdown {
			t.Fatalf("%+v", g)
		}
		p.s.Receive(&wamp.Publish{Request: 1, Topic: "ignored", Options: wamp.Dict{"acknowledge": true}})
		p.none()
		p.s.Receive(&wamp.Goodbye{Reason: wamp.CloseGoodbyeAndOut})
		if !p.closed() {
			t.Fatal("not closed after the echo")
		}
		p.s.Detach()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	late := attachPipe(t, r, codec.JSON)
	late.s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	wantAbort(t, late, wamp.CloseSystemShutdown)
}

func TestShutdownTimesOut(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := join(t, r, codec.JSON)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := r.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !p.closed() {
		t.Fatalf("err=%v closed=%v", err, p.closed())
	}
}

func TestConcurrentRouting(t *testing.T) {
	r := newRouter(t, DropEvents)
	callee := join(t, r, codec.MsgPack)
	callee.s.Receive(&wamp.Register{Request: 1, Procedure: "p"})
	callee.recv()
	const callers, calls = 8, 50
	callee.out = make(chan wamp.Message, callers*calls)
	var pipes []*pipe
	for range callers {
		p := join(t, r, codec.JSON)
		p.out = make(chan wamp.Message, calls+1)
		pipes = append(pipes, p)
	}
	var wg sync.WaitGroup
	for _, p := range pipes {
		wg.Go(func() {
			for i := 1; i <= calls; i++ {
				p.s.Receive(&wamp.Call{Request: wamp.ID(i), Procedure: "p"})
			}
		})
	}
	wg.Go(func() {
		for range callers * calls {
			inv := (<-callee.out).(*wamp.Invocation)
			callee.s.Receive(&wamp.Yield{Request: inv.Request})
		}
	})
	wg.Wait()
	for _, p := range pipes {
		seen := map[wamp.ID]bool{}
		for range calls {
			seen[p.recv().(*wamp.Result).Request] = true
		}
		if len(seen) != calls {
			t.Fatalf("results for %d distinct calls, want %d", len(seen), calls)
		}
	}
}
