package router

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// writerGate holds the event history's writer back (history.Config's
// BeforeWrite): while it is held, nothing appended is written, as when
// an fsync takes long.
type writerGate struct {
	mu      sync.Mutex
	gate    chan struct{} // nil: the writer passes
	entered chan struct{}
}

func newWriterGate() *writerGate { return &writerGate{entered: make(chan struct{}, 1)} }

func (g *writerGate) beforeWrite() {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate == nil {
		return
	}
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-gate
}

// hold makes the writer stop before its next batch.
func (g *writerGate) hold() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

// waitHeld waits until the writer is held with a batch.
func (g *writerGate) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the history writer never reached the gate")
	}
}

// release lets the writer go on, for good.
func (g *writerGate) release() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

// newGatedHistoryRouter is newHistoryRouter with the writer behind gate;
// the gate is released before the router closes.
func newGatedHistoryRouter(t *testing.T, g *writerGate) *Router {
	t.Helper()
	r, err := New(Config{
		Realms:             []RealmConfig{{Name: "realm1", Anonymous: true, History: historyRules}},
		HistoryPath:        filepath.Join(t.TempDir(), "h.db"),
		historyBeforeWrite: g.beforeWrite,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.release()
		r.Close()
	})
	return r
}

// heldPublication publishes to a history topic (unacknowledged) and waits
// until the writer is held with it.
func heldPublication(t *testing.T, g *writerGate, p *pipe) {
	t.Helper()
	g.hold()
	p.s.Receive(&wamp.Publish{Request: 1, Topic: "com.hist.x", Payload: wamp.Payload{Args: wamp.List{"held"}}})
	g.waitHeld(t)
}

// receiveReturns calls s.Receive(m) and fails the test if it does not
// return: the routing goroutine must never wait for the history.
func receiveReturns(t *testing.T, s *Session, m wamp.Message) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		s.Receive(m)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("Receive(%s) waited for the history writer on the goroutine that routes messages", m.Type())
	}
}

// TestGetEventsDoesNotWaitOnTheRoutingGoroutine checks that
// wamp.subscription.get_events, which must wait for the history writer,
// waits on a goroutine of its own: the CALL's Receive returns at once,
// other requests are answered meanwhile, and the RESULT comes once the
// writer has written.
func TestGetEventsDoesNotWaitOnTheRoutingGoroutine(t *testing.T) {
	g := newWriterGate()
	r := newGatedHistoryRouter(t, g)
	p := join(t, r, codec.JSON)
	other := join(t, r, codec.CBOR)
	sub := subscribe(t, p, "com.hist.x", nil)
	heldPublication(t, g, other)

	receiveReturns(t, p.s, &wamp.Call{Request: 9, Procedure: "wamp.subscription.get_events", Payload: wamp.Payload{Args: wamp.List{uint64(sub)}}})
	wantEvent(t, p) // the held publication, delivered before it is written
	// The same session and another are served while the query waits.
	if args, _ := callOK(t, p, 10, "wamp.session.count", nil, nil); num(t, args[0]) != 2 {
		t.Fatalf("wamp.session.count = %v", args)
	}
	callOK(t, other, 11, "wamp.session.count", nil, nil)
	p.none() // no answer to get_events while its events are not written

	g.release()
	res, ok := p.recv().(*wamp.Result)
	if !ok || res.Request != 9 {
		t.Fatalf("want RESULT 9 once the writer went on, got %+v", res)
	}
	l := decodeList(t, &res.Payload)
	if evs, _ := l[0].([]any); len(evs) != 1 {
		t.Fatalf("get_events: %v, want the one publication", l)
	}
}

// TestGetEventsBounded checks that the get_events calls answered at once
// are bounded: past maxBackgroundTasks, one more is refused with
// wamp.error.limit_exceeded, and the others are answered in the end.
func TestGetEventsBounded(t *testing.T) {
	g := newWriterGate()
	r := newGatedHistoryRouter(t, g)
	p := join(t, r, codec.JSON)
	sub := subscribe(t, p, "com.hist.x", nil)
	heldPublication(t, g, join(t, r, codec.JSON))
	wantEvent(t, p)
	for i := range maxBackgroundTasks {
		receiveReturns(t, p.s, &wamp.Call{Request: wamp.ID(100 + i), Procedure: "wamp.subscription.get_events", Payload: wamp.Payload{Args: wamp.List{uint64(sub)}}})
	}
	p.s.Receive(&wamp.Call{Request: 1, Procedure: "wamp.subscription.get_events", Payload: wamp.Payload{Args: wamp.List{uint64(sub)}}})
	wantError(t, p, wamp.TypeCall, 1, wamp.ErrLimitExceeded)
	if n := r.Stats().LimitExceeded; n != 1 {
		t.Fatalf("Stats.LimitExceeded = %d, want 1", n)
	}

	g.release()
	answered := map[wamp.ID]bool{}
	for range maxBackgroundTasks {
		res, ok := p.recv().(*wamp.Result)
		if !ok {
			t.Fatalf("want RESULT, got %+v", res)
		}
		answered[res.Request] = true
	}
	if len(answered) != maxBackgroundTasks {
		t.Fatalf("%d distinct answers, want %d", len(answered), maxBackgroundTasks)
	}
	getEvents(t, p, sub, nil) // a slot again
}

// TestCloseStopsHistoryQueries checks that Router.Close ends the
// get_events calls in progress, with an ERROR, instead of leaving them to
// wait for a writer that is held.
func TestCloseStopsHistoryQueries(t *testing.T) {
	g := newWriterGate()
	r := newGatedHistoryRouter(t, g)
	p := join(t, r, codec.JSON)
	sub := subscribe(t, p, "com.hist.x", nil)
	heldPublication(t, g, join(t, r, codec.JSON))
	wantEvent(t, p)
	receiveReturns(t, p.s, &wamp.Call{Request: 9, Procedure: "wamp.subscription.get_events", Payload: wamp.Payload{Args: wamp.List{uint64(sub)}}})

	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	// Answered while the writer is still held: Close stopped the query.
	wantError(t, p, wamp.TypeCall, 9, wamp.ErrHistoryUnavailable)
	g.release() // Close writes what is queued before it returns
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}
