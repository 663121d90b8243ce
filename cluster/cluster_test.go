package cluster

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Fast membership for tests: a silent node is dropped after 400 ms.
const (
	testHeartbeat = 100 * time.Millisecond
	testTimeout   = 400 * time.Millisecond
)

// testNode is one node of a test cluster: a cluster Node, its router and a
// transport server on a loopback port.
type testNode struct {
	node *Node
	rt   *router.Router
	url  string // rs:// URL of the transport server
}

// startCluster starts n nodes with embedded NATS servers on loopback
// ports, each joining those started before it, and waits until every node
// knows every other.
func startCluster(t *testing.T, n int) []*testNode {
	t.Helper()
	var nodes []*testNode
	var routes []string
	for i := range n {
		tn := startNode(t, Config{NodeName: fmt.Sprintf("node%d", i+1), Listen: "127.0.0.1:0", Join: routes})
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

func startNode(t *testing.T, cfg Config) *testNode {
	t.Helper()
	cfg.HeartbeatInterval, cfg.NodeTimeout = testHeartbeat, testTimeout
	node, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := router.New(router.Config{
		Realms:   []router.RealmConfig{{Name: "realm1", Anonymous: true, TrustLevels: map[string]int{"anonymous": 2}}},
		Backbone: node,
	})
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
	stopped := false
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
		srv.Shutdown(ctx)
		wg.Wait()
		rt.Close()
		if !stopped {
			node.Close()
		}
	})
	tn := &testNode{node: node, rt: rt, url: "rs://" + ln.Addr().String()}
	_ = &stopped
	return tn
}

// waitFor polls cond until it holds; the test's deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitInterest waits until node knows that peers other nodes have a
// subscription matching topic.
func waitInterest(t *testing.T, tn *testNode, topic string, peers int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s to see %d nodes subscribed to %s", tn.node.Name(), peers, topic), func() bool {
		return len(tn.node.members.interested("realm1", wamp.URI(topic), nil)) == peers
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, tn *testNode, f wamp.Format) *client.Session {
	t.Helper()
	s, err := client.Dial(ctxT(t), tn.url, "realm1", &client.Options{Serializer: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// events subscribes s to topic and returns the channel its events arrive on.
func events(t *testing.T, s *client.Session, topic string, opts wamp.Dict) (<-chan *client.Event, *client.Subscription) {
	t.Helper()
	ch := make(chan *client.Event, 1000)
	sub, err := s.Subscribe(ctxT(t), topic, func(ev *client.Event) { ch <- ev }, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ch, sub
}

func recv(t *testing.T, ch <-chan *client.Event) *client.Event {
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
func none(t *testing.T, what string, chs ...<-chan *client.Event) {
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
	sentBefore := a.node.Stats().PublicationsSent.Load()
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
	if sent := a.node.Stats().PublicationsSent.Load() - sentBefore; sent != 2 {
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
	if sent := a.node.Stats().PublicationsSent.Load(); sent != 0 {
		t.Fatalf("%d publications crossed NATS without any interested node", sent)
	}
}
