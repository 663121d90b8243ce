package router

import (
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// What the router sends a session in answer to something that happens
// elsewhere (a callee's YIELD, a history query, the history writer) never
// follows the GOODBYE of a kill (README: "no EVENT or RESULT follows
// either GOODBYE"), a kill never comes before WELCOME, and the
// registration meta events come in the order of the changes.

// noMoreAfterGoodbye fails if p gets anything within d: the router said
// GOODBYE. (An absence can only be waited for.)
func noMoreAfterGoodbye(t *testing.T, p *pipe, d time.Duration) {
	t.Helper()
	select {
	case m := <-p.out:
		t.Fatalf("%s after the router's GOODBYE: %+v", m.Type(), m)
	case <-time.After(d):
	}
}

func wantGoodbye(t *testing.T, p *pipe) {
	t.Helper()
	if m, ok := p.recv().(*wamp.Goodbye); !ok {
		t.Fatalf("want GOODBYE, got %+v", m)
	}
}

// TestHistoryAnswersAfterKill: a get_events RESULT and the PUBLISHED of a
// publication kept in the history, answered by background goroutines, are
// not sent once a kill said GOODBYE.
func TestHistoryAnswersAfterKill(t *testing.T) {
	t.Run("get_events", func(t *testing.T) {
		g := newWriterGate()
		r := newGatedHistoryRouter(t, g)
		p := join(t, r, codec.JSON)
		sub := subscribe(t, p, "com.hist.x", nil)
		heldPublication(t, g, join(t, r, codec.JSON))
		wantEvent(t, p)
		p.s.Receive(&wamp.Call{Request: 9, Procedure: "wamp.subscription.get_events", Payload: wamp.Payload{Args: wamp.List{uint64(sub)}}})
		p.s.kill(wamp.CloseKilled, "", false)
		wantGoodbye(t, p)
		g.release()
		noMoreAfterGoodbye(t, p, 300*time.Millisecond)
	})
	t.Run("published", func(t *testing.T) {
		g := newWriterGate()
		r := newGatedHistoryRouter(t, g)
		p := join(t, r, codec.JSON)
		g.hold()
		p.s.Receive(&wamp.Publish{Request: 3, Topic: "com.hist.x", Options: wamp.Dict{"acknowledge": true}})
		g.waitHeld(t)
		p.s.kill(wamp.CloseKilled, "", false)
		wantGoodbye(t, p)
		g.release()
		noMoreAfterGoodbye(t, p, 300*time.Millisecond)
	})
}

// holdingPeer records what it is sent, in the order Send completes; the
// first message hold picks waits in Send (before it is recorded) until
// release is closed: a goroutine slow to send it.
type holdingPeer struct {
	hold    func(wamp.Message) bool
	mu      sync.Mutex
	got     []wamp.Message
	held    bool
	entered chan struct{}
	release chan struct{}
}

func newHoldingPeer(hold func(wamp.Message) bool) *holdingPeer {
	return &holdingPeer{hold: hold, entered: make(chan struct{}), release: make(chan struct{})}
}

func (o *holdingPeer) Send(m wamp.Message) error {
	o.mu.Lock()
	first := !o.held && o.hold(m)
	o.held = o.held || first
	o.mu.Unlock()
	if first {
		close(o.entered)
		<-o.release
	}
	b, err := codec.JSON.Encode(nil, m)
	if err != nil {
		return err
	}
	d, _ := codec.JSON.Decode(b) // a copy: m's payload may be reused
	o.mu.Lock()
	o.got = append(o.got, d)
	o.mu.Unlock()
	return nil
}

func (o *holdingPeer) Close() {}

func (o *holdingPeer) types() []wamp.MessageType {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ts []wamp.MessageType
	for _, m := range o.got {
		ts = append(ts, m.Type())
	}
	return ts
}

// TestResultBeforeKillGoodbye: a kill of a caller whose RESULT is on its
// way waits for it: the RESULT comes first, then GOODBYE (it used to
// follow the GOODBYE).
func TestResultBeforeKillGoodbye(t *testing.T) {
	r := newRouter(t, DropEvents)
	callee := joinRPC(t, r)
	register(t, callee, 1, "com.example.p", nil)
	cp := newHoldingPeer(func(m wamp.Message) bool { return m.Type() == wamp.TypeResult })
	caller := joinPeer(t, r, cp)
	caller.Receive(&wamp.Call{Request: 5, Procedure: "com.example.p"})
	inv := wantInvocation(t, callee)
	yielded := make(chan struct{})
	go func() { defer close(yielded); callee.s.Receive(&wamp.Yield{Request: inv.Request}) }()
	<-cp.entered // the RESULT is on its way
	killed := make(chan struct{})
	go func() { defer close(killed); caller.kill(wamp.CloseKilled, "", false) }()
	close(cp.release)
	<-yielded
	<-killed
	got := cp.types()
	if n := len(got); n < 2 || got[n-2] != wamp.TypeResult || got[n-1] != wamp.TypeGoodbye {
		t.Fatalf("the caller got %v, want the RESULT, then GOODBYE", got)
	}
}

// TestRegistrationMetaEventOrder: a callee killed while its REGISTER's
// on_create is being delivered: a watcher sees on_create, then on_delete.
func TestRegistrationMetaEventOrder(t *testing.T) {
	r := newRouter(t, DropEvents)
	var onCreate wamp.ID
	wp := newHoldingPeer(func(m wamp.Message) bool {
		ev, ok := wamp.Unwrap(m).(*wamp.Event)
		return ok && ev.Subscription == onCreate
	})
	watcher := joinPeer(t, r, wp)
	watcher.Receive(&wamp.Subscribe{Request: 1, Topic: "wamp.registration.on_create"})
	watcher.Receive(&wamp.Subscribe{Request: 2, Topic: "wamp.registration.on_delete"})
	wp.mu.Lock()
	onCreate = wp.got[1].(*wamp.Subscribed).Subscription
	onDelete := wp.got[2].(*wamp.Subscribed).Subscription
	wp.mu.Unlock()

	callee := joinRPC(t, r)
	registered := make(chan struct{})
	go func() {
		defer close(registered)
		callee.s.Receive(&wamp.Register{Request: 1, Procedure: "com.example.meta"})
	}()
	<-wp.entered // on_create is on its way to the watcher
	callee.s.kill(wamp.CloseKilled, "", false)
	close(wp.release)
	<-registered
	wp.mu.Lock()
	defer wp.mu.Unlock()
	var order []string
	for _, m := range wp.got[3:] {
		switch m.(*wamp.Event).Subscription {
		case onCreate:
			order = append(order, "on_create")
		case onDelete:
			order = append(order, "on_delete")
		}
	}
	if len(order) != 2 || order[0] != "on_create" {
		t.Fatalf("the watcher saw %v, want on_create then on_delete", order)
	}
}

// TestKillBeforeWelcome: a kill_all while a session is joining (a member
// of its realm, its WELCOME not yet queued) does not send it GOODBYE
// before its WELCOME: it joined after the kill.
func TestKillBeforeWelcome(t *testing.T) {
	r := newRouter(t, DropEvents)
	admin := join(t, r, codec.JSON)
	vp := newHoldingPeer(func(m wamp.Message) bool { return m.Type() == wamp.TypeWelcome })
	v := r.Attach(vp, TransportInfo{Kind: "test", Serializer: "json"})
	t.Cleanup(v.Detach)
	joined := make(chan struct{})
	go func() { defer close(joined); v.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles}) }()
	<-vp.entered
	callOK(t, admin, 1, "wamp.session.kill_all", nil, nil)
	close(vp.release)
	<-joined
	if got := vp.types(); len(got) == 0 || got[0] != wamp.TypeWelcome {
		t.Fatalf("the joining session got %v, want WELCOME first", got)
	}
}
