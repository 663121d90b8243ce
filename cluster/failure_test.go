package cluster

import (
	"cmp"
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// What a node survives of the others: bad call messages, one-sided
// losses, a node lost while a call is routed to it, and two nodes lost
// one after the other.

// TestBadCallMessagesEndNoProxy: call messages from another node that
// break the protocol (a RESULT and an ERROR for INVOCATIONs never sent, an
// ERROR for a CANCEL) are dropped and counted, and calls with that node go
// on: the proxy that stands for all of them is not ended as a client's
// session would be.
func TestBadCallMessagesEndNoProxy(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	register(t, dial(t, b, wamp.FormatJSON), "com.example.r", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{"ok"}}, nil
	}, nil)
	waitCallee(t, a, "com.example.r", true)
	caller := dial(t, a, wamp.FormatJSON)
	call := func(when string) {
		t.Helper()
		res, err := caller.Call(ctxT(t), "com.example.r", nil, nil, wamp.Dict{"timeout": 5000})
		if err != nil || len(res.Args) != 1 || res.Args[0] != "ok" {
			t.Fatalf("a call across nodes %s: %v %+v", when, err, res)
		}
	}
	call("before")
	established := a.rt.Stats().Established
	for _, m := range []wamp.Message{
		&wamp.Result{Request: 1 << 52},
		&wamp.Error{RequestType: wamp.TypeInvocation, Request: 1 << 52, Error: "com.example.error"},
		&wamp.Error{RequestType: wamp.TypeCancel, Request: 1, Error: "com.example.error"},
	} {
		data, err := appendCallMessage(nil, b.node.id, "realm1", m, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.node.onCall(&nats.Msg{Data: data})
		call("after a bad " + m.Type().String())
	}
	if got := a.rt.Stats().Established; got != established {
		t.Errorf("sessions established went from %d to %d: a proxy was counted as a session that ended", established, got)
	}
	if a.rt.Stats().InvalidRequests+a.node.Stats().BadMessages < 3 {
		t.Errorf("3 bad call messages, counted: %d invalid requests, %d bad messages", a.rt.Stats().InvalidRequests, a.node.Stats().BadMessages)
	}
}

// TestCallsAfterOneSidedLoss: node a takes node b for lost while b still
// has a (a partition that heals between their two expiries), with a call
// from a in flight at b. a's calls to b go on: its new proxy's INVOCATION
// ids are not taken at b for those of the call b still holds.
func TestCallsAfterOneSidedLoss(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	callee := dial(t, b, wamp.FormatJSON)
	register(t, callee, "com.example.slow", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return &client.Result{Args: wamp.List{"slow"}}, nil
	}, nil)
	register(t, callee, "com.example.fast", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{"fast"}}, nil
	}, nil)
	waitCallee(t, a, "com.example.fast", true)
	defer close(release)
	caller := dial(t, a, wamp.FormatJSON)
	go caller.Call(ctxT(t), "com.example.slow", nil, nil, nil)
	<-started
	a.rt.NodeLost(b.node.id) // what a's expire does when b is silent for the node timeout
	for i := range 3 {
		res, err := caller.Call(ctxT(t), "com.example.fast", nil, nil, wamp.Dict{"timeout": 5000})
		if err != nil || len(res.Args) != 1 || res.Args[0] != "fast" {
			t.Fatalf("call %d to node b after a took it for lost: %v %+v", i, err, res)
		}
	}
}

// lossRacer is a Node whose Callee, once armed, has the node it answered
// taken for lost at once, as expire may between the dealer's routing of a
// call and its making of the proxy.
type lossRacer struct {
	*Node
	armed chan struct{}
}

func (r *lossRacer) Callee(realm wamp.URI, c router.CallRoute) (uint64, wamp.Match, wamp.URI, bool) {
	node, m, p, ok := r.Node.Callee(realm, c)
	select {
	case <-r.armed:
		if ok {
			ms := &r.members
			ms.mu.Lock()
			if pe := ms.peers[node]; pe != nil {
				r.forget(pe)
			}
			ms.mu.Unlock()
			r.lost(node)
		}
	default:
	}
	return node, m, p, ok
}

// TestCallRoutedToANodeLostMeanwhile: a call routed to a node that is
// taken for lost before its INVOCATION is forwarded ends at once with an
// error (before, it waited forever: the node's loss had been dealt with).
func TestCallRoutedToANodeLostMeanwhile(t *testing.T) {
	b := startNode(t, Config{NodeName: "b", Listen: "127.0.0.1:0"})
	armed := make(chan struct{})
	a := startWrappedNode(t, Config{NodeName: "a", Listen: "127.0.0.1:0", Join: []string{b.node.RouteAddr()}},
		router.Config{Realms: []router.RealmConfig{testRealm}},
		func(n *Node) router.Backbone { return &lossRacer{Node: n, armed: armed} })
	register(t, dial(t, b, wamp.FormatJSON), "com.example.x", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{}, nil
	}, nil)
	waitCallee(t, a, "com.example.x", true)
	caller := dial(t, a, wamp.FormatJSON)
	b.kill()
	close(armed)
	ctx, cancel := context.WithTimeout(ctxT(t), 5*testTimeout)
	defer cancel()
	if _, err := caller.Call(ctx, "com.example.x", nil, nil, nil); ctx.Err() != nil || err == nil {
		t.Fatalf("a call routed to a node lost meanwhile: %v (context: %v)", err, ctx.Err())
	}
	a.node.calls.mu.Lock()
	held := a.node.calls.byNode[b.node.id]
	a.node.calls.mu.Unlock()
	if held != nil {
		t.Error("a call batch is kept for the lost node")
	}
}

// TestSessionsOfLostNodeWhenLowestDiesToo: a node dies, and the live node
// with the lowest id, which should announce its sessions' leave, dies
// before it takes the first for lost: the remaining node announces them.
// (The sleep sets the scene: the lowest dies a half node timeout after
// the first, before it can notice; if it noticed, it announced, and the
// test passes too.)
func TestSessionsOfLostNodeWhenLowestDiesToo(t *testing.T) {
	nodes := startCluster(t, 3)
	slices.SortFunc(nodes, func(x, y *testNode) int { return cmp.Compare(x.node.id, y.node.id) })
	low, survivor, first := nodes[0], nodes[1], nodes[2]
	watch := dial(t, survivor, wamp.FormatJSON)
	left, _ := events(t, watch, "wamp.session.on_leave", nil)
	waitInterest(t, first, "wamp.session.on_leave", 1)
	s := dial(t, first, wamp.FormatJSON)
	waitFor(t, "the survivor to know the first node's session", func() bool {
		survivor.node.members.mu.RLock()
		defer survivor.node.members.mu.RUnlock()
		p := survivor.node.members.peers[first.node.id]
		return p != nil && len(p.sessions.set) == 1
	})
	first.kill()
	time.Sleep(testTimeout / 2)
	low.kill()
	deadline := time.After(5 * testTimeout)
	for {
		select {
		case ev := <-left:
			if id, _ := wamp.AsUint(ev.Args[0]); wamp.ID(id) == s.ID() {
				return
			}
		case <-deadline:
			t.Fatalf("no on_leave for session %d of the node lost first (announced: %d)", s.ID(), survivor.node.Stats().SessionsAnnounced)
		}
	}
}

// interruptDropper is a Node whose Forward loses every INTERRUPT, as NATS
// does what a slow consumer misses.
type interruptDropper struct {
	*Node
	dropped chan struct{}
}

func (d *interruptDropper) Forward(node uint64, realm wamp.URI, m wamp.Message, origin *router.CallOrigin) error {
	if _, ok := m.(*wamp.Interrupt); ok {
		select {
		case d.dropped <- struct{}{}:
		default:
		}
		return nil
	}
	return d.Node.Forward(node, realm, m, origin)
}

// TestTimedOutCallWhoseInterruptIsLost: a call that times out at the
// caller's node, whose INTERRUPT to the callee's node is lost, is ended at
// the callee's node too (its own timer, a moment later): the callee is
// interrupted and the node keeps nothing of the call. Before, it stayed
// there until the callee answered, which this one never does.
func TestTimedOutCallWhoseInterruptIsLost(t *testing.T) {
	b := startNode(t, Config{NodeName: "b", Listen: "127.0.0.1:0"})
	dropper := &interruptDropper{dropped: make(chan struct{}, 1)}
	a := startWrappedNode(t, Config{NodeName: "a", Listen: "127.0.0.1:0", Join: []string{b.node.RouteAddr()}},
		router.Config{Realms: []router.RealmConfig{testRealm}},
		func(n *Node) router.Backbone { dropper.Node = n; return dropper })
	started, interrupted := make(chan struct{}, 1), make(chan struct{}, 1)
	register(t, dial(t, b, wamp.FormatJSON), "com.example.deaf", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		started <- struct{}{}
		<-ctx.Done() // only an INTERRUPT ends it
		interrupted <- struct{}{}
		return nil, ctx.Err()
	}, nil)
	waitCallee(t, a, "com.example.deaf", true)
	caller := dial(t, a, wamp.FormatJSON)
	_, err := caller.Call(ctxT(t), "com.example.deaf", nil, nil, wamp.Dict{"timeout": 100})
	wampError(t, err, wamp.ErrTimeout)
	<-started
	select {
	case <-dropper.dropped:
	case <-time.After(10 * time.Second):
		t.Fatal("the caller's node sent no INTERRUPT for the call that timed out")
	}
	select {
	case <-interrupted:
	case <-time.After(10 * time.Second):
		t.Fatal("the callee's node did not end the call whose INTERRUPT was lost")
	}
	waitFor(t, "the callee's node to count the timeout", func() bool { return b.rt.Stats().CallTimeouts == 1 })
	// The caller's node took the callee node's late ERROR for what it is:
	// the answer to a call that ended, not a protocol violation.
	if n := a.rt.Stats().InvalidRequests; n != 0 {
		t.Errorf("the caller's node counted %d invalid requests", n)
	}
}

// resultDropper is a Node whose Forward loses every RESULT while drop is
// set, and counts those it lost.
type resultDropper struct {
	*Node
	drop    atomic.Bool
	dropped atomic.Int32
}

func (d *resultDropper) Forward(node uint64, realm wamp.URI, m wamp.Message, origin *router.CallOrigin) error {
	if _, ok := m.(*wamp.Result); ok && d.drop.Load() {
		d.dropped.Add(1)
		return nil
	}
	return d.Node.Forward(node, realm, m, origin)
}

// TestLateChunkOfEndedStream: a chunk of a progressive call invocation
// that reaches the callee's node after the call ended there (its answer on
// the way back) is dropped, however many of the caller node's progressive
// calls ended meanwhile. Before, the callee's node told such a chunk from
// a new call by the 16 calls of the caller node's that ended last: past
// them, it invoked a callee with the chunk as a call no one made.
func TestLateChunkOfEndedStream(t *testing.T) {
	a := startNode(t, Config{NodeName: "a", Listen: "127.0.0.1:0"})
	dropper := &resultDropper{}
	b := startWrappedNode(t, Config{NodeName: "b", Listen: "127.0.0.1:0", Join: []string{a.node.RouteAddr()}},
		router.Config{Realms: []router.RealmConfig{testRealm}},
		func(n *Node) router.Backbone { dropper.Node = n; return dropper })
	var late atomic.Int32
	callee := dial(t, b, wamp.FormatJSON)
	register(t, callee, "com.example.stream", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		if inv.Args[0] == "late" {
			late.Add(1)
		}
		return &client.Result{}, nil // at once, without the other chunks
	}, nil)
	register(t, callee, "com.example.marker", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{}, nil
	}, nil)
	waitCallee(t, a, "com.example.stream", true)
	waitCallee(t, a, "com.example.marker", true)

	// 17 streams whose calls end at b at their first chunk; their RESULTs
	// are lost, so that each is still under way at a.
	dropper.drop.Store(true)
	caller := dial(t, a, wamp.FormatJSON)
	var streams []*client.CallStream
	for i := range 17 {
		cs := caller.Stream(ctxT(t), "com.example.stream", nil)
		if err := cs.Send(wamp.List{"first"}, nil); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, cs)
		waitFor(t, "b to end the call", func() bool { return dropper.dropped.Load() == int32(i+1) })
	}
	invocations := b.rt.Stats().Sent[wamp.TypeInvocation]
	if err := streams[0].Send(wamp.List{"late"}, nil); err != nil {
		t.Fatal(err)
	}
	// What a sends b arrives in order: once the marker's call is
	// answered, b has handled the late chunk.
	dropper.drop.Store(false)
	if _, err := caller.Call(ctxT(t), "com.example.marker", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if sent := b.rt.Stats().Sent[wamp.TypeInvocation] - invocations; sent != 1 || late.Load() != 0 {
		t.Fatalf("b sent %d INVOCATIONs for the late chunk and the marker, want 1 (the marker's); the callee got the late chunk %d times", sent, late.Load())
	}
}
