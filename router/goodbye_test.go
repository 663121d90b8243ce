package router

import (
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// goodbyeGate is a peer that holds the router's reply to a GOODBYE (after
// noting it) until the test lets it go, so that the test can publish while
// the reply is on its way.
type goodbyeGate struct {
	mu      sync.Mutex
	got     []wamp.MessageType
	replied chan struct{} // closed when the GOODBYE reply is sent
	release chan struct{} // closed by the test
}

func (g *goodbyeGate) Send(m wamp.Message) error {
	g.mu.Lock()
	g.got = append(g.got, m.Type())
	g.mu.Unlock()
	if m.Type() == wamp.TypeGoodbye {
		close(g.replied)
		select {
		case <-g.release:
		case <-time.After(5 * time.Second):
		}
	}
	return nil
}

func (g *goodbyeGate) Close() {}

func (g *goodbyeGate) sent() []wamp.MessageType {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]wamp.MessageType(nil), g.got...)
}

// TestGoodbyeReplyIsTheLastMessage: the router's GOODBYE in answer to a
// client's ends the session, so nothing may follow it; an EVENT published
// while the reply is being sent does not reach the leaving subscriber
// (the session leaves every table before it answers).
func TestGoodbyeReplyIsTheLastMessage(t *testing.T) {
	r := newRouter(t, DropEvents)
	g := &goodbyeGate{replied: make(chan struct{}), release: make(chan struct{})}
	s := r.Attach(g, TransportInfo{Kind: "test", Serializer: "json"})
	t.Cleanup(s.Detach)
	s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	s.Receive(&wamp.Subscribe{Request: 1, Topic: "t.leaving"})
	if got := g.sent(); len(got) != 2 || got[0] != wamp.TypeWelcome || got[1] != wamp.TypeSubscribed {
		t.Fatalf("before GOODBYE the session got %v, want WELCOME, SUBSCRIBED", got)
	}
	pub := join(t, r, codec.JSON)

	left := make(chan struct{})
	go func() {
		defer close(left)
		s.Receive(&wamp.Goodbye{Reason: wamp.CloseNormal})
	}()
	<-g.replied
	pub.s.Receive(&wamp.Publish{Request: 2, Topic: "t.leaving", Options: wamp.Dict{"acknowledge": true}})
	if _, ok := pub.recv().(*wamp.Published); !ok {
		t.Fatal("no PUBLISHED")
	}
	close(g.release)
	<-left
	got := g.sent()
	if last := got[len(got)-1]; last != wamp.TypeGoodbye {
		t.Errorf("the session got %v: %s after the GOODBYE reply", got, last)
	}
}

// TestNoEventAfterTheRoutersGoodbye: a session the router says GOODBYE to
// (killed through the meta API, or the router shutting down) gets no EVENT
// after it, though it stays until the client echoes.
func TestNoEventAfterTheRoutersGoodbye(t *testing.T) {
	for _, how := range []string{"kill", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			r := newRouter(t, DropEvents)
			g := &goodbyeGate{replied: make(chan struct{}), release: make(chan struct{})}
			s := r.Attach(g, TransportInfo{Kind: "test", Serializer: "json"})
			t.Cleanup(s.Detach)
			s.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
			s.Receive(&wamp.Subscribe{Request: 1, Topic: "t.killed"})
			pub := join(t, r, codec.JSON)

			said := make(chan struct{})
			go func() {
				defer close(said)
				if how == "kill" {
					s.kill(wamp.CloseKilled, "", false)
				} else {
					s.shutdown(wamp.CloseSystemShutdown)
				}
			}()
			<-g.replied
			pub.s.Receive(&wamp.Publish{Request: 2, Topic: "t.killed", Options: wamp.Dict{"acknowledge": true}})
			if _, ok := pub.recv().(*wamp.Published); !ok {
				t.Fatal("no PUBLISHED")
			}
			close(g.release)
			<-said
			got := g.sent()
			if last := got[len(got)-1]; last != wamp.TypeGoodbye {
				t.Errorf("the session got %v: %s after the router's GOODBYE", got, last)
			}
			s.Receive(&wamp.Goodbye{Reason: wamp.CloseGoodbyeAndOut}) // the echo ends it
			if got := g.sent(); got[len(got)-1] != wamp.TypeGoodbye {
				t.Errorf("after the echo the session got %v", got)
			}
		})
	}
}

// TestKilledCalleeGetsNoInvocation: a callee the router has said GOODBYE
// to is no longer picked: a call made before its echo goes to the other
// callee of a shared registration.
func TestKilledCalleeGetsNoInvocation(t *testing.T) {
	r := newRouter(t, DropEvents)
	g := &goodbyeGate{replied: make(chan struct{}), release: make(chan struct{})}
	a := r.Attach(g, TransportInfo{Kind: "test", Serializer: "json"})
	t.Cleanup(a.Detach)
	a.Receive(&wamp.Hello{Realm: "realm1", Details: allRoles})
	a.Receive(&wamp.Register{Request: 1, Procedure: "p.shared", Options: wamp.Dict{"invoke": "roundrobin"}})
	if got := g.sent(); len(got) != 2 || got[1] != wamp.TypeRegistered {
		t.Fatalf("callee a got %v, want WELCOME, REGISTERED", got)
	}
	b := joinRPC(t, r)
	register(t, b, 1, "p.shared", wamp.Dict{"invoke": "roundrobin"})
	caller := joinRPC(t, r)

	said := make(chan struct{})
	go func() {
		defer close(said)
		a.kill(wamp.CloseKilled, "", false)
	}()
	<-g.replied
	for req := wamp.ID(1); req <= 2; req++ {
		caller.s.Receive(&wamp.Call{Request: req, Procedure: "p.shared"})
		inv := wantInvocation(t, b)
		b.s.Receive(&wamp.Yield{Request: inv.Request})
		if res, ok := caller.recv().(*wamp.Result); !ok || res.Request != req {
			t.Fatalf("call %d: got %+v, want its RESULT", req, res)
		}
	}
	close(g.release)
	<-said
	if got := g.sent(); got[len(got)-1] != wamp.TypeGoodbye {
		t.Errorf("the killed callee got %v after its GOODBYE", got)
	}
}
