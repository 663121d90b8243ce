package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// remoteCallee returns the node a call to procedure from tn goes to, for
// a caller on a node without a registration of it.
func remoteCallee(tn *testNode, procedure string) (uint64, bool) {
	id, _, _, ok := tn.node.Callee("realm1", router.CallRoute{Procedure: wamp.URI(procedure)})
	return id, ok
}

// waitCallee waits until tn knows of a callee of procedure on another node.
func waitCallee(t testing.TB, tn *testNode, procedure string, want bool) {
	t.Helper()
	waitFor(t, tn.node.Name()+" to learn of a remote callee of "+procedure, func() bool {
		_, ok := remoteCallee(tn, procedure)
		return ok == want
	})
}

func register(t *testing.T, s *client.Session, procedure string, h client.Handler, opts wamp.Dict) *client.Registration {
	t.Helper()
	reg, err := s.Register(ctxT(t), procedure, h, opts)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func wampError(t *testing.T, err error, uri wamp.URI) *client.Error {
	t.Helper()
	var we *client.Error
	if !errors.As(err, &we) || we.URI != uri {
		t.Fatalf("error %v, want %s", err, uri)
	}
	return we
}

func TestCallAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	callee := dial(t, b, wamp.FormatCBOR)
	register(t, callee, "com.example.add", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		x, _ := wamp.AsUint(inv.Args[0])
		y, _ := wamp.AsUint(inv.Args[1])
		return &client.Result{Args: wamp.List{x + y}, Kwargs: wamp.Dict{"caller": uint64(inv.Caller()), "who": inv.Details["caller_authrole"]}}, nil
	}, wamp.Dict{"disclose_caller": true})
	register(t, callee, "com.example.fail", func(context.Context, *client.Invocation) (*client.Result, error) {
		return nil, &client.Error{URI: "com.example.error.nope", Args: wamp.List{"no", 1}, Kwargs: wamp.Dict{"why": "because"}}
	}, nil)
	register(t, callee, "com.example.pattern.", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{inv.Procedure}}, nil
	}, wamp.Dict{"match": "prefix"})
	// A node learns of another's registrations in the order they were
	// made: once it knows the last, it knows them all.
	waitCallee(t, a, "com.example.pattern.x", true)
	waitCallee(t, c, "com.example.pattern.x", true)

	for _, tc := range []struct {
		node *testNode
		f    wamp.Format
	}{{a, wamp.FormatJSON}, {c, wamp.FormatMsgPack}} {
		s := dial(t, tc.node, tc.f)
		res, err := s.Call(ctxT(t), "com.example.add", wamp.List{2, 3}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum, _ := wamp.AsUint(res.Args[0]); sum != 5 {
			t.Fatalf("add(2, 3) from %s = %v", tc.node.node.Name(), res.Args)
		}
		if id, _ := wamp.AsUint(res.Kwargs["caller"]); wamp.ID(id) != s.ID() || res.Kwargs["who"] != "anonymous" {
			t.Fatalf("the callee saw caller %v (%v), want %d: disclose_caller across nodes", res.Kwargs["caller"], res.Kwargs["who"], s.ID())
		}
		_, err = s.Call(ctxT(t), "com.example.fail", nil, nil, nil)
		we := wampError(t, err, "com.example.error.nope")
		if len(we.Args) != 2 || we.Args[0] != "no" || we.Kwargs["why"] != "because" {
			t.Fatalf("error payload %v %v", we.Args, we.Kwargs)
		}
		res, err = s.Call(ctxT(t), "com.example.pattern.deep", nil, nil, nil)
		if err != nil || res.Args[0] != "com.example.pattern.deep" {
			t.Fatalf("pattern call: %v, %v", res, err)
		}
		_, err = s.Call(ctxT(t), "com.example.none", nil, nil, nil)
		wampError(t, err, wamp.ErrNoSuchProcedure)
	}
	if sent := a.node.Stats().CallMessagesSent; sent == 0 {
		t.Fatal("no call message crossed NATS")
	}
}

func TestProgressiveResultsAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	register(t, dial(t, nodes[1], wamp.FormatMsgPack), "com.example.count", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		for i := range 3 {
			if err := inv.SendProgress(ctx, wamp.List{i}, nil); err != nil {
				return nil, err
			}
		}
		return &client.Result{Args: wamp.List{"done"}}, nil
	}, nil)
	waitCallee(t, nodes[0], "com.example.count", true)
	var got []uint64
	res, err := dial(t, nodes[0], wamp.FormatJSON).CallProgress(ctxT(t), "com.example.count", nil, nil, nil, func(r *client.Result) error {
		n, _ := wamp.AsUint(r.Args[0])
		got = append(got, n)
		return nil
	})
	if err != nil || res.Args[0] != "done" || len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("progressive results %v, final %v, %v", got, res, err)
	}
}

// TestTimeoutAndCallerLeavingAcrossNodes: the caller's node enforces the
// timeout and the callee's gets the INTERRUPT; a caller that leaves has
// its call interrupted at the callee on the other node.
func TestTimeoutAndCallerLeavingAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	started := make(chan struct{}, 2)
	interrupted := make(chan error, 2)
	register(t, dial(t, nodes[1], wamp.FormatJSON), "com.example.slow", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		interrupted <- context.Cause(ctx)
		return nil, ctx.Err()
	}, nil)
	waitCallee(t, nodes[0], "com.example.slow", true)

	_, err := dial(t, nodes[0], wamp.FormatJSON).Call(ctxT(t), "com.example.slow", nil, nil, wamp.Dict{"timeout": 100})
	wampError(t, err, wamp.ErrTimeout)
	<-started
	// The INTERRUPT says why, as on one node: the callee's node passes on
	// the reason of the caller's node.
	var why *client.Error
	if cause := <-interrupted; !errors.As(cause, &why) || why.URI != wamp.ErrTimeout {
		t.Errorf("the callee's interrupt: %v, want reason %s", cause, wamp.ErrTimeout)
	}

	caller := dial(t, nodes[0], wamp.FormatJSON)
	callCtx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() {
		_, err := caller.Call(callCtx, "com.example.slow", nil, nil, nil)
		done <- err
	}()
	<-started
	caller.Close(ctxT(t)) // leaves with its call in flight
	<-interrupted
	cancel()
	<-done
}

// TestCalleeNodeLost: calls in flight to a node that dies end with an
// ERROR once it is taken for dead, and later calls find no callee.
func TestCalleeNodeLost(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	started := make(chan struct{}, 1)
	register(t, dial(t, b, wamp.FormatJSON), "com.example.hang", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}, nil)
	waitCallee(t, a, "com.example.hang", true)
	caller := dial(t, a, wamp.FormatJSON)
	done := make(chan error, 1)
	go func() {
		_, err := caller.Call(ctxT(t), "com.example.hang", nil, nil, nil)
		done <- err
	}()
	<-started
	b.kill()
	select {
	case err := <-done:
		wampError(t, err, wamp.ErrCanceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the call to a dead node did not end")
	}
	_, err := caller.Call(ctxT(t), "com.example.hang", nil, nil, nil)
	wampError(t, err, wamp.ErrNoSuchProcedure)
}

func TestProgressiveInvocationsAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	register(t, dial(t, nodes[1], wamp.FormatCBOR), "com.example.sum", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		total, _ := wamp.AsUint(inv.Args[0])
		chunks := 1
		for more := inv.Progress; more; {
			next, err := inv.Next(ctx)
			if err != nil {
				return nil, err
			}
			n, _ := wamp.AsUint(next.Args[0])
			total += n
			chunks++
			more = next.Progress
		}
		return &client.Result{Args: wamp.List{total, chunks}}, nil
	}, nil)
	waitCallee(t, nodes[0], "com.example.sum", true)
	cs := dial(t, nodes[0], wamp.FormatJSON).Stream(ctxT(t), "com.example.sum", nil)
	for i := 1; i <= 4; i++ {
		if err := cs.Send(wamp.List{i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := cs.Finish(wamp.List{5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if total, _ := wamp.AsUint(res.Args[0]); total != 15 {
		t.Fatalf("sum of chunks across nodes: %v, want [15 5]", res.Args)
	}
	if chunks, _ := wamp.AsUint(res.Args[1]); chunks != 5 {
		t.Fatalf("sum of chunks across nodes: %v, want [15 5]", res.Args)
	}
}

// TestCallerNodeLost: when the caller's node dies, the callee's node
// interrupts the calls it had from it.
func TestCallerNodeLost(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	started := make(chan struct{}, 1)
	interrupted := make(chan struct{}, 1)
	register(t, dial(t, b, wamp.FormatJSON), "com.example.wait", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		interrupted <- struct{}{}
		return nil, ctx.Err()
	}, nil)
	waitCallee(t, a, "com.example.wait", true)
	caller := dial(t, a, wamp.FormatJSON)
	go caller.Call(ctxT(t), "com.example.wait", nil, nil, nil)
	<-started
	a.kill()
	select {
	case <-interrupted:
	case <-time.After(10 * time.Second):
		t.Fatal("the callee was not interrupted when the caller's node died")
	}
}

// TestCancelAcrossNodes: a caller's CANCEL (mode kill) reaches the callee
// on the other node, whose answer ends the call.
func TestCancelAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	started := make(chan struct{}, 1)
	interrupted := make(chan struct{}, 1)
	register(t, dial(t, nodes[1], wamp.FormatJSON), "com.example.cancel", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		interrupted <- struct{}{}
		return nil, &client.Error{URI: "com.example.stopped"}
	}, nil)
	waitCallee(t, nodes[0], "com.example.cancel", true)
	caller, err := client.Dial(ctxT(t), nodes[0].url, "realm1", &client.Options{CancelMode: "kill"})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close(context.Background())
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() {
		_, err := caller.Call(ctx, "com.example.cancel", nil, nil, nil)
		done <- err
	}()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled call: %v", err)
	}
	select {
	case <-interrupted:
	case <-time.After(10 * time.Second):
		t.Fatal("the CANCEL did not reach the callee on the other node")
	}
}

// TestRegistrationIDsAgree: one procedure has one registration id on
// every node.
func TestRegistrationIDsAgree(t *testing.T) {
	nodes := startCluster(t, 3)
	var ids []wamp.ID
	for _, tn := range nodes {
		reg := register(t, dial(t, tn, wamp.FormatJSON), "com.example.same", func(context.Context, *client.Invocation) (*client.Result, error) {
			return &client.Result{}, nil
		}, wamp.Dict{"invoke": "random"})
		ids = append(ids, reg.ID())
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("registration ids %v differ across nodes", ids)
	}
}

// TestRegistrationConflictsAcrossNodes: a single registration is unique in
// the cluster, and a shared one has one policy: a REGISTER that conflicts
// with another node's registration is refused.
func TestRegistrationConflictsAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ok := func(context.Context, *client.Invocation) (*client.Result, error) { return &client.Result{}, nil }
	register(t, dial(t, a, wamp.FormatJSON), "com.example.one", ok, nil)
	register(t, dial(t, a, wamp.FormatJSON), "com.example.rr", ok, wamp.Dict{"invoke": "roundrobin"})
	waitCallee(t, b, "com.example.one", true)
	waitCallee(t, b, "com.example.rr", true)
	s := dial(t, b, wamp.FormatJSON)
	for _, tc := range []struct {
		procedure string
		opts      wamp.Dict
		refused   bool
	}{
		{"com.example.one", nil, true},
		{"com.example.one", wamp.Dict{"invoke": "roundrobin"}, true},
		{"com.example.rr", wamp.Dict{"invoke": "random"}, true},
		{"com.example.rr", nil, true},
		{"com.example.rr", wamp.Dict{"invoke": "roundrobin"}, false},
		{"com.example.one", wamp.Dict{"match": "prefix"}, false}, // another registration
	} {
		_, err := s.Register(ctxT(t), tc.procedure, ok, tc.opts)
		if tc.refused {
			wampError(t, err, wamp.ErrProcedureAlreadyExists)
		} else if err != nil {
			t.Fatalf("REGISTER %s %v: %v", tc.procedure, tc.opts, err)
		}
	}
}

// TestRacingSingleRegistrations: two nodes that each accepted a single
// registration of one procedure while they could not see each other (here
// their NATS was down) settle it when they meet: the node with the lower
// id keeps it, the other revokes its own.
func TestRacingSingleRegistrations(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	port := ns.Addr().(*net.TCPAddr).Port
	cur := ns
	t.Cleanup(func() {
		cur.Shutdown()
		cur.WaitForShutdown()
	})
	url := "nats://" + ns.Addr().String()
	a := startNode(t, Config{NodeName: "a", NATS: []string{url}})
	b := startNode(t, Config{NodeName: "b", NATS: []string{url}})
	waitFor(t, "the nodes to meet", func() bool { return len(a.node.Peers()) == 1 && len(b.node.Peers()) == 1 })
	cur.Shutdown()
	cur.WaitForShutdown()
	waitFor(t, "the nodes to forget each other", func() bool { return len(a.node.Peers()) == 0 && len(b.node.Peers()) == 0 })

	answer := func(who string) client.Handler {
		return func(context.Context, *client.Invocation) (*client.Result, error) {
			return &client.Result{Args: wamp.List{who}}, nil
		}
	}
	register(t, dial(t, a, wamp.FormatJSON), "com.example.race", answer("a"), nil)
	register(t, dial(t, b, wamp.FormatJSON), "com.example.race", answer("b"), nil)

	if cur, err = server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true}); err != nil {
		t.Fatal(err)
	}
	cur.Start()
	if !cur.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not restart")
	}
	winner, loser, want := a, b, "a"
	if b.node.id < a.node.id {
		winner, loser, want = b, a, "b"
	}
	waitFor(t, "the conflict to be settled", func() bool {
		_, stillLoser := loser.node.Registration("realm1", wamp.MatchExact, "com.example.race")
		_, remote := remoteCallee(loser, "com.example.race")
		return localHas(winner, "com.example.race") && !localHas(loser, "com.example.race") && remote && stillLoser
	})
	for _, tn := range []*testNode{a, b} {
		res, err := dial(t, tn, wamp.FormatJSON).Call(ctxT(t), "com.example.race", nil, nil, nil)
		if err != nil || res.Args[0] != want {
			t.Fatalf("call from %s: %v, %v; want the callee of %s, the node with the lower id", tn.node.Name(), res, err, want)
		}
	}
}

// localHas reports whether tn's router has announced a registration of
// procedure.
func localHas(tn *testNode, procedure string) bool {
	tn.node.local.mu.Lock()
	defer tn.node.local.mu.Unlock()
	for e := range tn.node.local.set {
		if e.Kind == kindRegistration && e.Topic == procedure {
			return true
		}
	}
	return false
}

// TestCallsGoRoundTheNodes: a caller on a node without callees reaches the
// callees of every node that has the registration, in turn.
func TestCallsGoRoundTheNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, tn := range nodes[1:] {
		who := tn.node.Name()
		register(t, dial(t, tn, wamp.FormatJSON), "com.example.spread", func(context.Context, *client.Invocation) (*client.Result, error) {
			return &client.Result{Args: wamp.List{who}}, nil
		}, wamp.Dict{"invoke": "roundrobin"})
	}
	waitCallees(t, nodes[:1], "com.example.spread", 2)
	s := dial(t, nodes[0], wamp.FormatJSON)
	answered := map[any]int{}
	for range 4 {
		res, err := s.Call(ctxT(t), "com.example.spread", nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		answered[res.Args[0]]++
	}
	if answered["node2"] != 2 || answered["node3"] != 2 {
		t.Fatalf("answers by node: %v, want 2 each from node2 and node3", answered)
	}
}

// TestCalleeLeavesAcrossNodes: a callee that leaves with a call in flight
// ends it with wamp.error.canceled for its caller on another node.
func TestCalleeLeavesAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	started := make(chan struct{}, 1)
	callee := dial(t, nodes[1], wamp.FormatJSON)
	register(t, callee, "com.example.leave", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}, nil)
	waitCallee(t, nodes[0], "com.example.leave", true)
	caller := dial(t, nodes[0], wamp.FormatJSON)
	done := make(chan error, 1)
	go func() {
		_, err := caller.Call(ctxT(t), "com.example.leave", nil, nil, nil)
		done <- err
	}()
	<-started
	callee.Close(ctxT(t))
	wampError(t, <-done, wamp.ErrCanceled)
}

// TestDynamicAuthenticatorOnAnotherNode: a client logging in on node1 is
// authenticated by a dynamic authenticator registered on node2.
func TestDynamicAuthenticatorOnAnotherNode(t *testing.T) {
	policy := &auth.Policy{}
	a, err := (&auth.Dynamic{Realm: "realm1", Procedure: "com.example.authenticate"}).Authenticator(auth.MethodTicket)
	if err != nil {
		t.Fatal(err)
	}
	policy.Add(auth.MethodTicket, a)
	nodes := startCluster(t, 2, router.RealmConfig{Name: "secure", Auth: policy})
	register(t, dial(t, nodes[1], wamp.FormatJSON), "com.example.authenticate", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		details, _ := inv.Args[2].(map[string]any)
		if inv.Args[1] != "alice" || details["ticket"] != "open sesame" {
			return nil, &client.Error{URI: wamp.ErrAuthenticationFailed, Args: wamp.List{"wrong ticket"}}
		}
		return &client.Result{Args: wamp.List{"user"}}, nil
	}, nil)
	waitCallee(t, nodes[0], "com.example.authenticate", true)

	s, err := client.Dial(ctxT(t), nodes[0].url, "secure", &client.Options{AuthID: "alice", Credentials: []client.Credential{client.Ticket("open sesame")}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if role := s.Details()["authrole"]; role != "user" {
		t.Fatalf("authrole %v, want user (from the authenticator on node2)", role)
	}
	if _, err := client.Dial(ctxT(t), nodes[0].url, "secure", &client.Options{AuthID: "alice", Credentials: []client.Credential{client.Ticket("wrong")}}); err == nil {
		t.Fatal("a wrong ticket was accepted")
	}
}

// TestTooLargeForNATS: what NATS cannot carry stays on its node, counted:
// a call ends with wamp.error.payload_size_exceeded, a publication reaches
// the local subscribers only.
func TestTooLargeForNATS(t *testing.T) {
	a := startNode(t, Config{NodeName: "a", Listen: "127.0.0.1:0", MaxMessageSize: 1000})
	b := startNode(t, Config{NodeName: "b", Listen: "127.0.0.1:0", Join: []string{a.node.RouteAddr()}, MaxMessageSize: 1000})
	waitFor(t, "the nodes to meet", func() bool { return len(a.node.Peers()) == 1 && len(b.node.Peers()) == 1 })
	big := strings.Repeat("x", 100<<10) // more than NATS takes here (1000 + 64 KiB)

	register(t, dial(t, b, wamp.FormatJSON), "com.example.big", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{len(inv.Args[0].(string))}}, nil
	}, nil)
	waitCallee(t, a, "com.example.big", true)
	s := dial(t, a, wamp.FormatJSON)
	_, err := s.Call(ctxT(t), "com.example.big", wamp.List{big}, nil, nil)
	wampError(t, err, wamp.ErrPayloadSizeExceeded)
	if res, err := s.Call(ctxT(t), "com.example.big", wamp.List{"small"}, nil, nil); err != nil || res.Args[0] != uint64(5) && res.Args[0] != int64(5) {
		t.Fatalf("a small call after the big one: %v, %v", res, err)
	}

	onA, _ := events(t, dial(t, a, wamp.FormatJSON), "com.example.big", nil)
	onB, _ := events(t, dial(t, b, wamp.FormatJSON), "com.example.big", nil)
	waitInterest(t, a, "com.example.big", 1)
	failures := a.node.Stats().SendFailures
	for _, arg := range []string{big, "small"} {
		if _, err := s.Publish(ctxT(t), "com.example.big", wamp.List{arg}, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
	}
	recv(t, onA)
	recv(t, onA)
	if ev := recv(t, onB); ev.Args[0] != "small" {
		t.Fatalf("node b got a publication larger than NATS takes")
	}
	if a.node.Stats().SendFailures == failures {
		t.Fatal("the refused publication was not counted")
	}
}

// TestProxiesAreNotLimited: the per-session limits bound one client's
// session, not the proxy that stands for every session of another node.
// With at most one registration and one call in flight per session, a
// node still learns two procedures registered on another (its callee
// proxy holds both) and two callers' calls are in flight at once (the
// callee node's caller proxy makes both).
func TestProxiesAreNotLimited(t *testing.T) {
	limits := router.SessionLimits{Subscriptions: 1, Registrations: 1, CallsInFlight: 1}
	a := startLimitedNode(t, Config{NodeName: "a", Listen: "127.0.0.1:0"}, limits)
	b := startLimitedNode(t, Config{NodeName: "b", Listen: "127.0.0.1:0", Join: []string{a.node.RouteAddr()}}, limits)
	waitFor(t, "the nodes to know each other", func() bool { return len(a.node.Peers()) == 1 && len(b.node.Peers()) == 1 })

	arrived := make(chan struct{}, 2)
	release := make(chan struct{})
	letGo := sync.OnceFunc(func() { close(release) })
	defer letGo() // a failing test must not leave a callee waiting
	slow := func(context.Context, *client.Invocation) (*client.Result, error) {
		arrived <- struct{}{}
		<-release
		return &client.Result{Args: wamp.List{"done"}}, nil
	}
	register(t, dial(t, b, wamp.FormatJSON), "com.example.one", slow, nil)
	register(t, dial(t, b, wamp.FormatJSON), "com.example.two", slow, nil)
	waitCallee(t, a, "com.example.one", true)
	waitCallee(t, a, "com.example.two", true)

	errs := make(chan error, 2)
	for _, proc := range []string{"com.example.one", "com.example.two"} {
		caller := dial(t, a, wamp.FormatMsgPack)
		go func() {
			_, err := caller.Call(ctxT(t), proc, nil, nil, nil)
			errs <- err
		}()
	}
	for range 2 {
		select {
		case <-arrived:
		case err := <-errs:
			t.Fatalf("a call ended before both were in flight: %v", err)
		}
	}
	letGo()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestCallMessagesBatched: between BeginBatch and EndBatch the messages
// for a node are held back and cross NATS together, in order; outside a
// batch each goes at once; a batch that grows past callBatchBytes goes
// without waiting for the end.
func TestCallMessagesBatched(t *testing.T) {
	a := startCluster(t, 1)[0]
	const to = 0xabc // a node that does not exist: the test reads its subject
	// A connection of its own: the node's does not get what it sends.
	nc, err := nats.Connect("", nats.InProcessServer(a.node.ns), nats.Token(a.node.token))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(a.node.subj.callPrefix + "abc")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	inv := func(req wamp.ID, arg string) *wamp.Invocation {
		return &wamp.Invocation{Request: req, Registration: 7, Payload: wamp.Payload{Args: wamp.List{arg}}}
	}
	forward := func(m wamp.Message) {
		t.Helper()
		if err := a.node.Forward(to, "realm1", m, &router.CallOrigin{Procedure: "com.example.p", Caller: 5}); err != nil {
			t.Fatal(err)
		}
	}
	// next returns the requests of the INVOCATIONs in the next NATS
	// message on the subject.
	next := func() []wamp.ID {
		t.Helper()
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var reqs []wamp.ID
		if err := splitCallBatch(msg.Data, func(data []byte) {
			from, realm, m, origin, err := decodeCallMessage(data)
			if err != nil || from != a.node.id || realm != "realm1" || origin == nil || origin.Procedure != "com.example.p" {
				t.Fatalf("a call message from %x in %q, origin %+v: %v", from, realm, origin, err)
			}
			reqs = append(reqs, m.(*wamp.Invocation).Request)
		}); err != nil {
			t.Fatal(err)
		}
		return reqs
	}

	a.node.BeginBatch()
	for req := range wamp.ID(3) {
		forward(inv(req+1, "x"))
	}
	a.node.EndBatch()
	forward(inv(4, "alone"))
	if got := next(); !slices.Equal(got, []wamp.ID{1, 2, 3}) {
		t.Fatalf("the batch crossed as %v, want [1 2 3] in one message", got)
	}
	if got := next(); !slices.Equal(got, []wamp.ID{4}) {
		t.Fatalf("a message outside a batch crossed as %v, want [4]", got)
	}

	// Past callBatchBytes, the batch goes before the batch ends.
	big := strings.Repeat("x", callBatchBytes/2+1)
	a.node.BeginBatch()
	forward(inv(5, big))
	forward(inv(6, big))
	if got := next(); !slices.Equal(got, []wamp.ID{5, 6}) {
		t.Fatalf("a large batch crossed as %v, want [5 6]", got)
	}
	forward(inv(7, "x"))
	a.node.EndBatch()
	if got := next(); !slices.Equal(got, []wamp.ID{7}) {
		t.Fatalf("after the large batch: %v, want [7]", got)
	}
}

// TestSplitCallBatch: a batch cut short gives the messages before the
// cut and an error; a message alone is given as it is.
func TestSplitCallBatch(t *testing.T) {
	batch := []byte{callBatchVersion, 0, 0, 0, 2, 'a', 'b', 0, 0, 0, 1, 'c'}
	for _, tc := range []struct {
		data []byte
		want []string
		bad  bool
	}{
		{batch, []string{"ab", "c"}, false},
		{batch[:1], nil, false},
		{batch[:3], nil, true},
		{batch[:6], nil, true},
		{batch[:9], []string{"ab"}, true},
		{[]byte{callVersion, 'x'}, []string{string([]byte{callVersion, 'x'})}, false},
		{nil, []string{""}, false},
	} {
		var got []string
		err := splitCallBatch(tc.data, func(b []byte) { got = append(got, string(b)) })
		if !slices.Equal(got, tc.want) || (err != nil) != tc.bad {
			t.Errorf("splitCallBatch(%q) = %q, %v; want %q, error %v", tc.data, got, err, tc.want, tc.bad)
		}
	}
}

// TestCallMessageRoundTrip: a call message gives back its node, realm,
// message and origin (an INVOCATION's; none for the others), and a message
// cut anywhere is an error, not a panic or a wrong origin.
func TestCallMessageRoundTrip(t *testing.T) {
	origin := &router.CallOrigin{Procedure: "com.example.prozedur.ü", Caller: 1 << 52, AuthID: "alice", AuthRole: "", RKey: "key-7", Timeout: 1500 * time.Millisecond}
	inv := &wamp.Invocation{Request: 9, Registration: 3, Details: wamp.Dict{"trustlevel": uint64(2)}, Payload: wamp.Payload{Args: wamp.List{"x", uint64(1)}}}
	res := &wamp.Result{Request: 4, Payload: wamp.Payload{Kwargs: wamp.Dict{"k": "v"}}}
	for _, tc := range []struct {
		m      wamp.Message
		origin *router.CallOrigin
	}{{inv, origin}, {res, nil}, {inv, &router.CallOrigin{Procedure: "p"}}, {inv, &router.CallOrigin{Procedure: "p", Continued: true}}} {
		b, err := appendCallMessage(nil, 0xabc, "realm.one", tc.m, tc.origin)
		if err != nil {
			t.Fatal(err)
		}
		from, realm, m, o, err := decodeCallMessage(b)
		if err != nil || from != 0xabc || realm != "realm.one" || m.Type() != tc.m.Type() {
			t.Fatalf("%s: from %x, realm %q, %v: %v", tc.m.Type(), from, realm, m, err)
		}
		if (o == nil) != (tc.origin == nil) || o != nil && *o != *tc.origin {
			t.Fatalf("%s: origin %+v, want %+v", tc.m.Type(), o, tc.origin)
		}
		if got, ok := m.(*wamp.Invocation); ok && (got.Request != 9 || !isTwo(got.Details["trustlevel"])) {
			t.Fatalf("INVOCATION %+v", got)
		}
		for cut := range len(b) - 1 {
			if _, _, _, _, err := decodeCallMessage(b[:cut]); err == nil {
				t.Fatalf("%s cut at %d of %d bytes: no error", tc.m.Type(), cut, len(b))
			}
		}
	}
}

func FuzzSplitCallBatch(f *testing.F) {
	f.Add([]byte{callBatchVersion, 0, 0, 0, 2, 'a', 'b', 0, 0, 0, 1, 'c'})
	if m, err := appendCallMessage([]byte{callBatchVersion, 0, 0, 0, 0}, 1, "realm1", &wamp.Invocation{Request: 1}, &router.CallOrigin{Procedure: "p", AuthID: "a"}); err == nil {
		binary.BigEndian.PutUint32(m[1:], uint32(len(m)-5))
		f.Add(m)
	}
	f.Add([]byte{callBatchVersion, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		total := 0
		splitCallBatch(data, func(b []byte) {
			total += len(b)
			decodeCallMessage(b) // must not panic either
		})
		if total > len(data) {
			t.Fatalf("%d bytes of messages in %d bytes", total, len(data))
		}
	})
}

// TestRefusedInvocationEndsCall: an INVOCATION held back in a batch that
// NATS then refuses (here: the node's NATS connection is closed) ends
// its call at once with wamp.error.canceled, and is counted.
func TestRefusedInvocationEndsCall(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	register(t, dial(t, b, wamp.FormatJSON), "com.example.far", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{}, nil
	}, nil)
	waitCallee(t, a, "com.example.far", true)
	s := dial(t, a, wamp.FormatJSON)
	if _, err := s.Call(ctxT(t), "com.example.far", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	failures := a.node.Stats().SendFailures
	a.node.nc.Close()
	_, err := s.Call(ctxT(t), "com.example.far", nil, nil, nil)
	wampError(t, err, wamp.ErrCanceled)
	if a.node.Stats().SendFailures == failures {
		t.Fatal("the refused INVOCATION was not counted")
	}
}

func isTwo(v any) bool { n, ok := wamp.AsUint(v); return ok && n == 2 }

// TestCallerNeverDisclosedAcrossNodes: a caller whose role never discloses
// it is not disclosed to a callee on another node that registered with
// disclose_caller (the callee's node does not know the caller's role's
// policy: the caller's node must not send the identity); a caller whose
// role leaves it to the callee is.
func TestCallerNeverDisclosedAcrossNodes(t *testing.T) {
	everything := []auth.Permission{{URI: "com.", Match: wamp.MatchPrefix, Allow: auth.AllowAll}}
	roles, err := auth.NewRoles([]*auth.Role{
		{Name: "anonymous", DiscloseCaller: auth.DiscloseNever, Permissions: everything},
		{Name: "open", Permissions: everything},
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := &auth.Policy{}
	policy.Add(auth.MethodAnonymous, &auth.Anonymous{Role: "anonymous"})
	ticket, err := auth.NewPasswordHash("pw", "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	policy.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals([]*auth.Principal{{AuthID: "bob", Role: "open", Ticket: ticket}})})
	nodes := startCluster(t, 2, router.RealmConfig{Name: "roles", Roles: roles, Auth: policy})
	join := func(tn *testNode, o *client.Options) *client.Session {
		t.Helper()
		s, err := client.Dial(ctxT(t), tn.url, "roles", o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	}
	callee := join(nodes[1], nil)
	register(t, callee, "com.example.who", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		_, disclosed := inv.Details["caller"]
		_, authid := inv.Details["caller_authid"]
		return &client.Result{Args: wamp.List{disclosed || authid}}, nil
	}, wamp.Dict{"disclose_caller": true})
	waitFor(t, "node1 to learn of the callee on node2", func() bool {
		_, _, _, ok := nodes[0].node.Callee("roles", router.CallRoute{Procedure: "com.example.who"})
		return ok
	})

	for _, tc := range []struct {
		name      string
		opts      *client.Options
		disclosed bool
	}{
		{"role never", nil, false},
		{"role on request", &client.Options{AuthID: "bob", Credentials: []client.Credential{client.Ticket("pw")}}, true},
	} {
		res, err := join(nodes[0], tc.opts).Call(ctxT(t), "com.example.who", nil, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res.Args[0] != tc.disclosed {
			t.Errorf("%s: the callee on the other node saw the caller: %v, want %v", tc.name, res.Args[0], tc.disclosed)
		}
	}
}
