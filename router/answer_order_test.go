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
		p.s.kill(killedByMeta, wamp.CloseKilled, "", false)
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
		p.s.kill(killedByMeta, wamp.CloseKilled, "", false)
		wantGoodbye(t, p)
		g.release()
		noMoreAfterGoodbye(t, p, 300*time.Millisecond)
	})
}

// holdingPeer records what it is sent, in the order Send completes; the
// first message hold picks waits in Send (before it is recorded) until
// release is closed: a goroutine slow to send it. sent is closed once it
// is recorded.
type holdingPeer struct {
	hold    func(wamp.Message) bool
	mu      sync.Mutex
	got     []wamp.Message
	held    bool
	entered chan struct{}
	release chan struct{}
	sent    chan struct{}
}

func newHoldingPeer(hold func(wamp.Message) bool) *holdingPeer {
	return &holdingPeer{hold: hold, entered: make(chan struct{}), release: make(chan struct{}), sent: make(chan struct{})}
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
	if first {
		close(o.sent)
	}
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
	go func() { defer close(killed); caller.kill(killedByMeta, wamp.CloseKilled, "", false) }()
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
	callee.s.kill(killedByMeta, wamp.CloseKilled, "", false)
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

// TestNoMessageFromElsewhereAfterGoodbye: what the router sends a
// session because of something that happened elsewhere (an INTERRUPT for
// a caller's CANCEL, a timeout or a caller leaving; an UNREGISTERED or
// UNSUBSCRIBED for a revocation through the meta API) never follows the
// GOODBYE of the session's kill or of its own leaving. The session's peer
// holds that message in Send while the session is killed or leaves;
// before the fix the kill (or the leave) did not wait for it and its
// GOODBYE went first.
func TestNoMessageFromElsewhereAfterGoodbye(t *testing.T) {
	// env is a session v that is a callee of reg, with call 3 of caller
	// in flight to it, or (subscriber) only subscribed to sub.
	type env struct {
		caller, admin *pipe
		v             *Session
		reg, sub      wamp.ID
	}
	cancel := func(mode string) func(e *env) {
		return func(e *env) { e.caller.s.Receive(&wamp.Cancel{Request: 3, Options: wamp.Dict{"mode": mode}}) }
	}
	ways := []struct {
		name       string
		hold       wamp.MessageType
		subscriber bool
		// start makes the router send v the message held; nil: the
		// call's timeout does.
		start func(e *env)
	}{
		{"cancel killnowait", wamp.TypeInterrupt, false, cancel("killnowait")},
		{"cancel kill", wamp.TypeInterrupt, false, cancel("kill")},
		{"caller leaving", wamp.TypeInterrupt, false, func(e *env) { e.caller.s.Detach() }},
		{"timeout", wamp.TypeInterrupt, false, nil},
		{"registration revocation", wamp.TypeUnregistered, false, func(e *env) {
			e.admin.s.Receive(&wamp.Call{Request: 1, Procedure: "wamp.registration.remove_callee",
				Payload: wamp.Payload{Args: wamp.List{uint64(e.reg), uint64(e.v.ID())}}})
		}},
		{"subscription revocation", wamp.TypeUnsubscribed, true, func(e *env) {
			e.admin.s.Receive(&wamp.Call{Request: 1, Procedure: "wamp.subscription.remove_subscriber",
				Payload: wamp.Payload{Args: wamp.List{uint64(e.sub), uint64(e.v.ID())}}})
		}},
	}
	for _, w := range ways {
		for _, leave := range []string{"kill", "goodbye"} {
			t.Run(w.name+"/"+leave, func(t *testing.T) {
				r := newRouter(t, DropEvents)
				e := &env{admin: join(t, r, codec.JSON), caller: joinRPC(t, r, "call_canceling")}
				vp := newHoldingPeer(func(m wamp.Message) bool { return m.Type() == w.hold })
				e.v = r.Attach(vp, TransportInfo{Kind: "test", Serializer: "json"})
				t.Cleanup(e.v.Detach)
				hello := helloWith("call_canceling", "registration_revocation")
				hello["roles"].(wamp.Dict)["subscriber"] = wamp.Dict{"features": wamp.Dict{"subscription_revocation": true}}
				e.v.Receive(&wamp.Hello{Realm: "realm1", Details: hello})
				if w.subscriber {
					e.v.Receive(&wamp.Subscribe{Request: 1, Topic: "com.example.t"})
				} else {
					e.v.Receive(&wamp.Register{Request: 1, Procedure: "com.example.p"})
				}
				vp.mu.Lock()
				switch m := vp.got[1].(type) {
				case *wamp.Subscribed:
					e.sub = m.Subscription
				case *wamp.Registered:
					e.reg = m.Registration
				}
				vp.mu.Unlock()
				if !w.subscriber {
					var opts wamp.Dict
					if w.start == nil {
						opts = wamp.Dict{"timeout": 1}
					}
					e.caller.s.Receive(&wamp.Call{Request: 3, Procedure: "com.example.p", Options: opts})
				}
				started := make(chan struct{})
				go func() {
					defer close(started)
					if w.start != nil {
						w.start(e)
					}
				}()
				<-vp.entered // the message is on its way
				left := make(chan struct{})
				go func() {
					defer close(left)
					if leave == "kill" {
						e.v.kill(killedByMeta, wamp.CloseKilled, "", false)
					} else {
						e.v.Receive(&wamp.Goodbye{Reason: wamp.CloseNormal})
					}
				}()
				// The kill (or leave) waits for the held message, or (the
				// bug) says GOODBYE at once; either way nothing may follow
				// the GOODBYE. The wait only gives the bug its chance.
				select {
				case <-left:
				case <-time.After(100 * time.Millisecond):
				}
				close(vp.release)
				<-started
				<-left
				<-vp.sent // the held message is recorded
				got := vp.types()
				if n := len(got); got[n-1] != wamp.TypeGoodbye {
					t.Errorf("the session got %v: %s after the GOODBYE", got, got[n-1])
				}
			})
		}
	}
}
