package router

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

// orderPeer records the types of what the router sends a callee, in the
// order it is queued, and hands each INVOCATION's request id to answer.
type orderPeer struct {
	mu     sync.Mutex
	reg    wamp.ID // the registration the callee holds, 0 between
	broken string  // what went wrong first
	answer chan wamp.ID
}

func (p *orderPeer) Send(m wamp.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch m := m.(type) {
	case *wamp.Registered:
		p.reg = m.Registration
	case *wamp.Unregistered:
		p.reg = 0
	case *wamp.Invocation:
		if m.Registration != p.reg && p.broken == "" {
			p.broken = "an INVOCATION for a registration the callee had unregistered"
		}
		select {
		case p.answer <- m.Request:
		default: // cannot be: the callers' calls in flight are bounded
			p.broken = "more INVOCATIONs unanswered than the test holds"
		}
	}
	return nil
}

func (p *orderPeer) Close() {}

// TestNoInvocationAfterUnregistered: while callers call a procedure, its
// callee registers and unregisters it again and again; no INVOCATION may
// reach the callee after its UNREGISTERED (Autobahn|Python drops the
// session for one). A call that picked the callee just before it left is
// refused instead. The race is between two goroutines, so the test makes
// many rounds of it; the router's order (the callee's lock held from the
// check to the queued INVOCATION) makes every round pass.
func TestNoInvocationAfterUnregistered(t *testing.T) {
	r := newRouter(t, DropEvents)
	p := &orderPeer{answer: make(chan wamp.ID, 1<<16)}
	callee := joinPeer(t, r, p)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		for id := range p.answer {
			callee.Receive(&wamp.Yield{Request: id})
		}
	}()

	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 3 {
		c := joinPeer(t, r, discardPeer{})
		wg.Go(func() {
			for req := wamp.ID(1); !stop.Load(); req++ {
				c.Receive(&wamp.Call{Request: req, Procedure: "p.flapping"})
			}
		})
	}
	for i := range 2000 {
		callee.Receive(&wamp.Register{Request: wamp.ID(2*i + 1), Procedure: "p.flapping"})
		callee.Receive(&wamp.Unregister{Request: wamp.ID(2*i + 2), Registration: registrationOf(p)})
	}
	stop.Store(true)
	wg.Wait()
	close(p.answer)
	<-answered
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken != "" {
		t.Error(p.broken)
	}
}

func registrationOf(p *orderPeer) wamp.ID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reg
}
