package cluster

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/testwait"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// nats-server leaves a stream's file store running when the
		// server shuts down while the stream is being made (the tests
		// stop nodes whose event stores are still making theirs), and
		// with it its registration in the server's clock service.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
	)
}

// Membership for tests: heartbeats ten times a second, so that nodes meet
// at once, and a silent node dropped after 2 s: the tests that kill a node
// wait that long, and no other is at the mercy of a heartbeat that a
// loaded machine (or the race detector) delays by a few hundred
// milliseconds.
const (
	testHeartbeat = 100 * time.Millisecond
	testTimeout   = 2 * time.Second
)

// testNode is one node of a test cluster: a cluster Node, its router and a
// transport server on a loopback port.
type testNode struct {
	node *Node
	rt   *router.Router
	url  string // rs:// URL of the transport server
	once sync.Once
}

// stop closes the node as a stopping router does: with a goodbye.
func (tn *testNode) stop(t testing.TB) {
	tn.once.Do(func() {
		if err := tn.node.Close(); err != nil {
			t.Error(err)
		}
	})
}

// kill stops the node as a dying process would: its heartbeats and NATS
// server just end.
func (tn *testNode) kill() {
	tn.once.Do(func() {
		tn.node.cancel()
		<-tn.node.done
		tn.node.shutdownNATS()
	})
}

// startCluster starts n nodes with embedded NATS servers on loopback
// ports, each joining those started before it, and waits until every node
// knows every other.
func startCluster(t testing.TB, n int, realms ...router.RealmConfig) []*testNode {
	t.Helper()
	var nodes []*testNode
	var routes []string
	for i := range n {
		tn := startNode(t, Config{NodeName: fmt.Sprintf("node%d", i+1), Listen: "127.0.0.1:0", Join: routes}, realms...)
		routes = append(routes, tn.node.RouteAddr())
		nodes = append(nodes, tn)
	}
	waitFor(t, "every node to know every other", func() bool {
		for _, tn := range nodes {
			if len(tn.node.Peers()) != n-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

// testRealm is the realm of the test nodes: anonymous, with a trust
// level for the anonymous role.
var testRealm = router.RealmConfig{Name: "realm1", Anonymous: true, TrustLevels: map[string]int{"anonymous": 2}}

func startNode(t testing.TB, cfg Config, realms ...router.RealmConfig) *testNode {
	t.Helper()
	return startLimitedNode(t, cfg, router.SessionLimits{}, realms...)
}

// startLimitedNode is startNode with per-session limits for its router.
func startLimitedNode(t testing.TB, cfg Config, limits router.SessionLimits, realms ...router.RealmConfig) *testNode {
	t.Helper()
	return startRouterNode(t, cfg, router.Config{Realms: append([]router.RealmConfig{testRealm}, realms...), Limits: limits})
}

// startRouterNode starts a node whose router has rcfg (and the node as
// its backbone).
func startRouterNode(t testing.TB, cfg Config, rcfg router.Config) *testNode {
	t.Helper()
	return startWrappedNode(t, cfg, rcfg, nil)
}

// startWrappedNode is startRouterNode with wrap(node) as the router's
// backbone when wrap is not nil.
func startWrappedNode(t testing.TB, cfg Config, rcfg router.Config, wrap func(*Node) router.Backbone) *testNode {
	t.Helper()
	cfg.HeartbeatInterval, cfg.NodeTimeout = testHeartbeat, testTimeout
	if cfg.QueryTimeout == 0 {
		// Meta queries wait for every node: a loaded machine must not
		// make one look silent (TestMetaQueryWithoutANode shortens it).
		cfg.QueryTimeout = 10 * time.Second
	}
	node, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rcfg.Backbone = node
	if wrap != nil {
		rcfg.Backbone = wrap(node)
	}
	rt, err := router.New(rcfg)
	if err != nil {
		node.Close()
		t.Fatal(err)
	}
	node.SetRouter(rt)
	srv := &transport.Server{Router: rt}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		srv.Serve(ln)
	}()
	tn := &testNode{node: node, rt: rt, url: "rs://" + ln.Addr().String()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
		srv.Shutdown(ctx)
		wg.Wait()
		rt.Close()
		tn.stop(t)
	})
	return tn
}

// waitFor polls cond until it holds, for up to 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testwait.True(t, 10*time.Second, what, cond)
}

// waitInterest waits until node knows that peers other nodes have a
// subscription matching topic.
func waitInterest(t testing.TB, tn *testNode, topic string, peers int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s to see %d nodes subscribed to %s", tn.node.Name(), peers, topic), func() bool {
		return len(tn.node.members.interested("realm1", wamp.URI(topic), nil)) == peers
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t testing.TB, tn *testNode, f wamp.Format) *client.Session {
	t.Helper()
	s, err := client.Dial(ctxT(t), tn.url, "realm1", &client.Options{Serializer: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// events subscribes s to topic and returns the channel its events arrive on.
func events(t testing.TB, s *client.Session, topic string, opts wamp.Dict) (<-chan *client.Event, *client.Subscription) {
	t.Helper()
	ch := make(chan *client.Event, 1000)
	sub, err := s.Subscribe(ctxT(t), topic, func(ev *client.Event) { ch <- ev }, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ch, sub
}

func recv(t testing.TB, ch <-chan *client.Event) *client.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return nil
	}
}

// none checks that nothing arrived on any of chs once a later event, sent
// after the one that must not arrive, came through marker.
func none(t testing.TB, what string, chs ...<-chan *client.Event) {
	t.Helper()
	for _, ch := range chs {
		select {
		case ev := <-ch:
			t.Fatalf("%s: unexpected event %v %v", what, ev.Args, ev.Details)
		default:
		}
	}
}

func TestPubSubAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	pub := dial(t, a, wamp.FormatJSON)
	onB, subB := events(t, dial(t, b, wamp.FormatMsgPack), "com.example.topic", nil)
	cSession := dial(t, c, wamp.FormatCBOR)
	onC, subC := events(t, cSession, "com.example.topic", nil)
	onCPrefix, _ := events(t, cSession, "com.example", wamp.Dict{"match": "prefix"})
	onCWild, _ := events(t, dial(t, c, wamp.FormatJSON), "com..topic", wamp.Dict{"match": "wildcard"})
	waitInterest(t, a, "com.example.topic", 2)

	if subB.ID() != subC.ID() {
		t.Fatalf("one topic, two subscription ids: %d on node2, %d on node3", subB.ID(), subC.ID())
	}
	sentBefore := a.node.Stats().PublicationsSent
	pubID, err := pub.Publish(ctxT(t), "com.example.topic", wamp.List{"hello", 42}, wamp.Dict{"k": "v"}, wamp.Dict{"acknowledge": true})
	if err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan *client.Event{"exact on node2": onB, "exact on node3": onC, "prefix on node3": onCPrefix, "wildcard on node3": onCWild} {
		ev := recv(t, ch)
		if ev.Publication != pubID || len(ev.Args) != 2 || ev.Args[0] != "hello" || ev.Kwargs["k"] != "v" || ev.Topic != "com.example.topic" {
			t.Errorf("%s: got publication %d args %v kwargs %v topic %q; want %d [hello 42] {k:v}", name, ev.Publication, ev.Args, ev.Kwargs, ev.Topic, pubID)
		}
		if lvl, _ := wamp.AsUint(ev.Details["trustlevel"]); lvl != 2 {
			t.Errorf("%s: trustlevel %v, want 2", name, ev.Details["trustlevel"])
		}
	}
	// One NATS message per interested node (node3 has three matching
	// subscriptions), none for the publisher's own node.
	if sent := a.node.Stats().PublicationsSent - sentBefore; sent != 2 {
		t.Errorf("the publication crossed NATS %d times, want 2 (once per interested node)", sent)
	}
}

func TestPubSubNoInterestStaysLocal(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	pub := dial(t, a, wamp.FormatJSON)
	local, _ := events(t, dial(t, a, wamp.FormatJSON), "com.example.local", nil)
	// A subscriber elsewhere to another topic: interest is by topic.
	events(t, dial(t, b, wamp.FormatJSON), "com.example.other", nil)
	waitInterest(t, a, "com.example.other", 1)
	if _, err := pub.Publish(ctxT(t), "com.example.local", wamp.List{1}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	recv(t, local)
	if sent := a.node.Stats().PublicationsSent; sent != 0 {
		t.Fatalf("%d publications crossed NATS without any interested node", sent)
	}
}

func TestPubSubOrderPerPublisher(t *testing.T) {
	nodes := startCluster(t, 2)
	pub := dial(t, nodes[0], wamp.FormatJSON)
	onB, _ := events(t, dial(t, nodes[1], wamp.FormatMsgPack), "com.example.seq", nil)
	waitInterest(t, nodes[0], "com.example.seq", 1)
	const n = 500
	for i := range n {
		if _, err := pub.Publish(ctxT(t), "com.example.seq", wamp.List{i}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		ev := recv(t, onB)
		if got, _ := wamp.AsUint(ev.Args[0]); got != uint64(i) {
			t.Fatalf("event %d arrived as number %d: order lost", i, got)
		}
	}
}

func TestPubSubOptionsAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	pub := dial(t, a, wamp.FormatJSON)
	s1, s2 := dial(t, b, wamp.FormatJSON), dial(t, b, wamp.FormatCBOR)
	on1, _ := events(t, s1, "com.example.opts", nil)
	on2, _ := events(t, s2, "com.example.opts", nil)
	onPub, _ := events(t, pub, "com.example.opts", nil)
	waitInterest(t, a, "com.example.opts", 1)

	send := func(arg string, opts wamp.Dict) {
		t.Helper()
		opts["acknowledge"] = true
		if _, err := pub.Publish(ctxT(t), "com.example.opts", wamp.List{arg}, nil, opts); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(what string, ch <-chan *client.Event, arg string) *client.Event {
		t.Helper()
		ev := recv(t, ch)
		if ev.Args[0] != arg {
			t.Fatalf("%s: got %v, want %q", what, ev.Args, arg)
		}
		return ev
	}
	// Each case is followed by a publication every subscriber gets: a
	// subscriber that was wrongly sent the first would see it before
	// this one.
	all := func(tag string) {
		t.Helper()
		send(tag, wamp.Dict{"exclude_me": false})
		expect(tag, on1, tag)
		expect(tag, on2, tag)
		expect(tag, onPub, tag)
	}

	send("exclude", wamp.Dict{"exclude": wamp.List{uint64(s1.ID())}})
	expect("exclude s1: s2", on2, "exclude")
	all("after exclude")

	send("eligible", wamp.Dict{"eligible": wamp.List{uint64(s1.ID()), uint64(pub.ID())}, "exclude_me": false})
	expect("eligible s1: s1", on1, "eligible")
	expect("eligible pub: pub", onPub, "eligible")
	all("after eligible")

	send("authrole", wamp.Dict{"exclude_authrole": wamp.List{"anonymous"}, "exclude_me": false})
	all("after authrole")

	send("authid", wamp.Dict{"eligible_authid": wamp.List{s2.Details()["authid"]}})
	expect("eligible_authid s2", on2, "authid")
	all("after authid")

	send("nobody", wamp.Dict{"eligible": wamp.List{uint64(1)}})
	all("after nobody")

	send("disclosed", wamp.Dict{"disclose_me": true})
	for _, ch := range []<-chan *client.Event{on1, on2} {
		ev := expect("disclose_me", ch, "disclosed")
		if ev.Publisher() != pub.ID() || ev.Details["publisher_authrole"] != "anonymous" || ev.Details["publisher_authid"] != pub.Details()["authid"] {
			t.Fatalf("disclose_me across nodes: details %v, want publisher %d", ev.Details, pub.ID())
		}
	}
	all("last")
	none(t, "after every case", on1, on2, onPub)
}

func TestMetaEventsAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	watcher := dial(t, nodes[1], wamp.FormatJSON)
	onJoin, _ := events(t, watcher, "wamp.session.on_join", nil)
	onLeave, _ := events(t, watcher, "wamp.session.on_leave", nil)
	waitInterest(t, nodes[0], "wamp.session.on_leave", 1)
	s := dial(t, nodes[0], wamp.FormatCBOR)
	ev := recv(t, onJoin)
	if id, _ := wamp.AsUint(ev.Args[0].(map[string]any)["session"]); wamp.ID(id) != s.ID() {
		t.Fatalf("on_join on node2 for %v, want the session %d of node1", ev.Args, s.ID())
	}
	s.Close(ctxT(t))
	ev = recv(t, onLeave)
	if id, _ := wamp.AsUint(ev.Args[0]); wamp.ID(id) != s.ID() {
		t.Fatalf("on_leave on node2 for %v, want the session %d of node1", ev.Args, s.ID())
	}
}

func TestUnsubscribeWithdrawsInterest(t *testing.T) {
	nodes := startCluster(t, 2)
	_, sub := events(t, dial(t, nodes[1], wamp.FormatJSON), "com.example.gone", nil)
	waitInterest(t, nodes[0], "com.example.gone", 1)
	if err := sub.Unsubscribe(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitInterest(t, nodes[0], "com.example.gone", 0)
}

// TestNodeLeavesAndDies: a node that stops says goodbye and is forgotten
// at once; one that dies (its NATS gone without a word) is forgotten once
// it has been silent for the node timeout, with its subscriptions.
func TestNodeLeavesAndDies(t *testing.T) {
	nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	events(t, dial(t, b, wamp.FormatJSON), "com.example.b", nil)
	events(t, dial(t, c, wamp.FormatJSON), "com.example.c", nil)
	waitInterest(t, a, "com.example.b", 1)
	waitInterest(t, a, "com.example.c", 1)

	// Dies: heartbeats stop and its NATS server goes, no goodbye.
	c.kill()
	waitFor(t, "node3 to be taken for dead", func() bool { return len(a.node.Peers()) == 1 })
	if lost := a.node.Stats().NodesLost; lost != 1 {
		t.Fatalf("NodesLost = %d, want 1", lost)
	}
	waitInterest(t, a, "com.example.c", 0)
	waitInterest(t, a, "com.example.b", 1)

	// Leaves: the goodbye removes it before any timeout could.
	lostBefore := a.node.Stats().NodesLost
	b.stop(t)
	waitFor(t, "node2 to be gone", func() bool { return len(a.node.Peers()) == 0 })
	if lost := a.node.Stats().NodesLost; lost != lostBefore {
		t.Fatalf("a node that said goodbye was counted as lost")
	}
	waitInterest(t, a, "com.example.b", 0)
}

// TestLostInterestChangeIsRecovered: a node that misses a change (here the
// change is made without being broadcast, as if NATS had lost it) learns
// of it from the next heartbeat and asks for the whole table.
func TestLostInterestChangeIsRecovered(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	syncs := a.node.Stats().Syncs
	b.node.local.mu.Lock()
	b.node.local.set[entry{Realm: "realm1", Match: wamp.MatchPrefix, Topic: "com.example.lost"}] = struct{}{}
	b.node.local.seq++
	b.node.local.mu.Unlock()
	waitInterest(t, a, "com.example.lost.topic", 1)
	if a.node.Stats().Syncs == syncs {
		t.Fatal("the change was learnt without a sync")
	}
	// Changes go on from there.
	events(t, dial(t, b, wamp.FormatJSON), "com.example.after", nil)
	waitInterest(t, a, "com.example.after", 1)
}

// TestExistingNATS runs two nodes on a NATS server of their own (started
// here, with a password), not embedded in them.
func TestExistingNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		Username: "junction", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	url := "nats://junction:s3cret@" + ns.Addr().String()
	a := startNode(t, Config{NodeName: "a", NATS: []string{url}})
	b := startNode(t, Config{NodeName: "b", NATS: []string{url}})
	on, _ := events(t, dial(t, b, wamp.FormatJSON), "com.example.ext", nil)
	waitInterest(t, a, "com.example.ext", 1)
	pub := dial(t, a, wamp.FormatMsgPack)
	if _, err := pub.Publish(ctxT(t), "com.example.ext", wamp.List{"via nats"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, on); ev.Args[0] != "via nats" {
		t.Fatalf("got %v", ev.Args)
	}

	if _, err := Start(Config{NodeName: "c", NATS: []string{"nats://junction:wrong@" + ns.Addr().String()}}); err == nil {
		t.Fatal("a node connected with a wrong password")
	}
}

// TestNATSRestart: while their NATS server is down, nodes keep routing
// among their own sessions; once it is back they find each other again,
// relearn each other's subscriptions and carry publications across.
func TestNATSRestart(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	addr := ns.Addr().(*net.TCPAddr)
	var cur *server.Server = ns
	t.Cleanup(func() {
		cur.Shutdown()
		cur.WaitForShutdown()
	})
	url := "nats://" + addr.String()
	a := startNode(t, Config{NodeName: "a", NATS: []string{url}})
	b := startNode(t, Config{NodeName: "b", NATS: []string{url}})
	onB, _ := events(t, dial(t, b, wamp.FormatJSON), "com.example.restart", nil)
	onA, _ := events(t, dial(t, a, wamp.FormatJSON), "com.example.restart", nil)
	waitInterest(t, a, "com.example.restart", 1)
	pub := dial(t, a, wamp.FormatJSON)
	publish := func(arg string) {
		t.Helper()
		if _, err := pub.Publish(ctxT(t), "com.example.restart", wamp.List{arg}, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
	}
	publish("before")
	recv(t, onA)
	recv(t, onB)

	cur.Shutdown()
	cur.WaitForShutdown()
	waitFor(t, "the nodes to forget each other", func() bool { return len(a.node.Peers()) == 0 && len(b.node.Peers()) == 0 })
	publish("during") // still delivered on node a
	if ev := recv(t, onA); ev.Args[0] != "during" {
		t.Fatalf("local event during the outage: %v", ev.Args)
	}

	opts2 := &server.Options{Host: "127.0.0.1", Port: addr.Port, NoSigs: true}
	if cur, err = server.NewServer(opts2); err != nil {
		t.Fatal(err)
	}
	cur.Start()
	if !cur.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not restart")
	}
	waitInterest(t, a, "com.example.restart", 1)
	publish("after")
	recv(t, onA)
	// node b may get "during" if NATS buffered it while a was
	// reconnecting; "after" must come, and last.
	for {
		if ev := recv(t, onB); ev.Args[0] == "after" {
			break
		}
	}
}

// TestRollingRestart: nodes stopped one at a time as `junction serve`
// stops them (router first, then the node) are forgotten at once, their
// sessions' subscriptions and registrations with them; a node started
// again joins and serves the cluster at once.
func TestRollingRestart(t *testing.T) {
	nodes := startCluster(t, 3)
	first := nodes[0]
	pub := dial(t, first, wamp.FormatJSON)
	for i, old := range nodes[1:] {
		on, _ := events(t, dial(t, old, wamp.FormatJSON), "com.example.roll", nil)
		waitInterest(t, first, "com.example.roll", 1)
		if _, err := pub.Publish(ctxT(t), "com.example.roll", wamp.List{i}, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
		recv(t, on)

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		old.rt.Shutdown(ctx) // the sessions say goodbye, their subscriptions are withdrawn
		cancel()
		waitInterest(t, first, "com.example.roll", 0)
		lost := first.node.Stats().NodesLost
		old.stop(t)
		waitFor(t, "the stopped node to be forgotten", func() bool {
			for _, p := range first.node.Peers() {
				if p.Name == old.node.Name() {
					return false
				}
			}
			return true
		})
		if first.node.Stats().NodesLost != lost {
			t.Fatal("a node that stopped was taken for dead instead of gone")
		}

		again := startNode(t, Config{NodeName: old.node.Name(), Listen: "127.0.0.1:0", Join: []string{first.node.RouteAddr()}})
		register(t, dial(t, again, wamp.FormatJSON), "com.example.back", func(context.Context, *client.Invocation) (*client.Result, error) {
			return &client.Result{Args: wamp.List{"back"}}, nil
		}, wamp.Dict{"invoke": "roundrobin"})
		waitCallee(t, first, "com.example.back", true)
		if res, err := pub.Call(ctxT(t), "com.example.back", nil, nil, nil); err != nil || res.Args[0] != "back" {
			t.Fatalf("call to the restarted node: %v, %v", res, err)
		}
	}
}

// TestOtherProtocolVersion: a node that runs another version of the
// cluster protocol is never a member: the others log it once and count
// its messages, and nothing is routed to it (a call for a procedure only
// it has fails at once with no_such_procedure), while nodes of the same
// version form their cluster as usual.
func TestOtherProtocolVersion(t *testing.T) {
	var logA logBuffer
	a := startNode(t, Config{NodeName: "a", Listen: "127.0.0.1:0", Logger: logA.logger()})
	join := []string{a.node.RouteAddr()}
	var logB logBuffer
	b := startNode(t, Config{NodeName: "b", Listen: "127.0.0.1:0", Join: join, Logger: logB.logger(), wire: wireVersion + 1})
	c := startNode(t, Config{NodeName: "c", Listen: "127.0.0.1:0", Join: join})

	waitFor(t, "a and c to know each other", func() bool {
		return len(a.node.Peers()) == 1 && len(c.node.Peers()) == 1
	})
	logA.waitLog(t, "another version of the cluster protocol")
	logB.waitLog(t, "another version of the cluster protocol")
	waitFor(t, "c to hear b", func() bool { return c.node.Stats().Incompatible > 0 })
	if !strings.Contains(logA.String(), "peer=b") {
		t.Errorf("a's log does not name b:\n%s", logA.String())
	}

	register(t, dial(t, b, wamp.FormatJSON), "com.example.only_b", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{}, nil
	}, nil)
	register(t, dial(t, c, wamp.FormatJSON), "com.example.only_c", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{"c"}}, nil
	}, nil)
	waitFor(t, "a to learn c's registration", func() bool {
		_, ok := a.node.Registration("realm1", wamp.MatchExact, "com.example.only_c")
		return ok
	})
	caller := dial(t, a, wamp.FormatJSON)
	if res, err := caller.Call(ctxT(t), "com.example.only_c", nil, nil, nil); err != nil || len(res.Args) != 1 || res.Args[0] != "c" {
		t.Fatalf("a call to c: %v, %v", res, err)
	}
	_, err := caller.Call(ctxT(t), "com.example.only_b", nil, nil, nil)
	wampError(t, err, wamp.ErrNoSuchProcedure)

	for _, tn := range []*testNode{a, c} {
		for _, p := range tn.node.Peers() {
			if p.Name == "b" {
				t.Errorf("%s takes b for a member", tn.node.Name())
			}
		}
	}
	if n := len(b.node.Peers()); n != 0 {
		t.Errorf("b has %d members, want none", n)
	}
	if st := a.node.Stats(); st.Incompatible == 0 || st.CallMessagesSent == 0 {
		t.Errorf("a's stats %+v: want its messages from b counted and calls sent to c", st)
	}
	if strings.Count(logA.String(), "another version of the cluster protocol") != 1 {
		t.Errorf("a logged b more than once:\n%s", logA.String())
	}
}
