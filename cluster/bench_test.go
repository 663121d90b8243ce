package cluster

import (
	"context"
	"fmt"
	"testing"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// The cost of crossing nodes, against the same work on one node, with both
// nodes in this process (so the time and allocations are those of both):
//
//	go test -run '^$' -bench . -benchmem ./cluster
//
// across-nodes-tls is across-nodes with the nodes' routes on mutual TLS
// (cluster.tls).
func BenchmarkCall(b *testing.B) {
	for _, name := range []string{"local", "across-nodes", "across-nodes-tls"} {
		remote := name != "local"
		b.Run(name, func(b *testing.B) {
			var nodes []*testNode
			if name == "across-nodes-tls" {
				nodes = startTLSCluster(b)
			} else {
				nodes = startCluster(b, 2)
			}
			calleeNode := nodes[0]
			if remote {
				calleeNode = nodes[1]
			}
			callee := dial(b, calleeNode, wamp.FormatMsgPack)
			if _, err := callee.Register(context.Background(), "com.example.echo", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
				return &client.Result{Args: inv.Args}, nil
			}, nil); err != nil {
				b.Fatal(err)
			}
			if remote {
				waitFor(b, "the other node to know", func() bool { _, ok := remoteCallee(nodes[0], "com.example.echo"); return ok })
			}
			caller := dial(b, nodes[0], wamp.FormatMsgPack)
			args := wamp.List{"hello", 42}
			b.ResetTimer()
			for b.Loop() {
				if _, err := caller.Call(context.Background(), "com.example.echo", args, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, remote := range []bool{false, true} {
		name := "local"
		if remote {
			name = "across-nodes"
		}
		b.Run(name, func(b *testing.B) {
			nodes := startCluster(b, 2)
			subNode := nodes[0]
			if remote {
				subNode = nodes[1]
			}
			got := make(chan struct{}, 1024)
			if _, err := dial(b, subNode, wamp.FormatMsgPack).Subscribe(context.Background(), "com.example.bench", func(*client.Event) { got <- struct{}{} }, nil); err != nil {
				b.Fatal(err)
			}
			if remote {
				waitFor(b, "the other node to know", func() bool { return len(nodes[0].node.members.interested("realm1", "com.example.bench", nil)) == 1 })
			}
			pub := dial(b, nodes[0], wamp.FormatMsgPack)
			args := wamp.List{"hello", 42}
			b.ResetTimer()
			for b.Loop() {
				// Acknowledged, and the event awaited: one publication
				// in flight at a time, so nothing is dropped.
				if _, err := pub.Publish(context.Background(), "com.example.bench", args, nil, wamp.Dict{"acknowledge": true}); err != nil {
					b.Fatal(err)
				}
				<-got
			}
		})
	}
}

// BenchmarkCallee: what deciding where a call goes costs the caller's node
// (Node.Callee, under the dealer's read lock), with callees on this node
// and none elsewhere, and with 3 callees here and 3 on another node.
func BenchmarkCallee(b *testing.B) {
	nodes := startCluster(b, 2)
	ok := func(context.Context, *client.Invocation) (*client.Result, error) { return &client.Result{}, nil }
	for _, proc := range []string{"com.example.elsewhere", "com.example.shared"} {
		for i := range 3 {
			for _, tn := range nodes {
				if proc == "com.example.elsewhere" && tn == nodes[0] {
					continue
				}
				if _, err := dial(b, tn, wamp.FormatJSON).Register(context.Background(), proc, ok, wamp.Dict{"invoke": "roundrobin", "nkey": fmt.Sprint(tn.node.Name(), i)}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	waitFor(b, "node1 to know the callees", func() bool {
		return knownCallees(nodes[0], "com.example.shared") == 6 && knownCallees(nodes[0], "com.example.elsewhere") == 3
	})
	n := nodes[0].node
	for _, bc := range []struct {
		name string
		c    router.CallRoute
	}{
		{"none-elsewhere", router.CallRoute{Procedure: "com.example.local", Local: true, Invoke: "roundrobin"}},
		{"roundrobin", router.CallRoute{Procedure: "com.example.shared", Local: true, Pattern: "com.example.shared", Invoke: "roundrobin"}},
		{"random", router.CallRoute{Procedure: "com.example.shared", Local: true, Pattern: "com.example.shared", Invoke: "random"}},
		{"first", router.CallRoute{Procedure: "com.example.shared", Local: true, Pattern: "com.example.shared", Invoke: "first"}},
		{"partition", router.CallRoute{Procedure: "com.example.shared", Local: true, Pattern: "com.example.shared", Invoke: "roundrobin", RKey: "resource-17"}},
		{"remote-only", router.CallRoute{Procedure: "com.example.elsewhere"}},
	} {
		c := bc.c
		c.Match = wamp.MatchExact
		if c.Local && c.Pattern == "" {
			c.Pattern = c.Procedure
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				n.Callee("realm1", c)
			}
		})
	}
}

// BenchmarkMetaSessionCount: wamp.session.count in a cluster of one node
// (no other node to ask) against three nodes (the CALL's node asks the
// other two over NATS and waits off the loop), 100 sessions on each node.
func BenchmarkMetaSessionCount(b *testing.B) {
	for _, n := range []int{1, 3} {
		name := "one-node-cluster"
		if n == 3 {
			name = "three-nodes"
		}
		b.Run(name, func(b *testing.B) {
			nodes := startCluster(b, n)
			for _, tn := range nodes {
				for range 100 {
					dial(b, tn, wamp.FormatMsgPack)
				}
			}
			caller := dial(b, nodes[0], wamp.FormatMsgPack)
			want := uint64(100*n + 1)
			for b.Loop() {
				res, err := caller.Call(context.Background(), "wamp.session.count", nil, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				if got, _ := wamp.AsUint(res.Args[0]); got != want {
					b.Fatalf("wamp.session.count = %d, want %d", got, want)
				}
			}
		})
	}
}

// BenchmarkPublishHistory is an acknowledged publication to a topic with
// event history on a three-node cluster: PUBLISHED comes once JetStream
// stored the event, with one copy or three (compare the single node's
// bbolt in router's BenchmarkPublishAcknowledgedHistory):
//
//	go test -run '^$' -bench PublishHistory -benchtime 500x -count 3 ./cluster
func BenchmarkPublishHistory(b *testing.B) {
	for _, replicas := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas-%d", replicas), func(b *testing.B) {
			nodes := startStoreCluster(b, replicas, []string{b.TempDir(), b.TempDir(), b.TempDir()})
			pub := dial(b, nodes[0], wamp.FormatMsgPack)
			args := wamp.List{"hello", 42}
			b.ResetTimer()
			for b.Loop() {
				if _, err := pub.Publish(context.Background(), "com.example.history", args, nil, wamp.Dict{"acknowledge": true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// startTLSCluster starts two nodes whose routes are mutual TLS.
func startTLSCluster(b *testing.B) []*testNode {
	dir := b.TempDir()
	ca, caFile := newCA(b, dir, "ca")
	n1 := startNode(b, Config{NodeName: "tls1", Listen: "127.0.0.1:0", TLS: tlsFiles(b, dir, "tls1", ca, caFile)})
	n2 := startNode(b, Config{NodeName: "tls2", Listen: "127.0.0.1:0", Join: []string{n1.node.RouteAddr()}, TLS: tlsFiles(b, dir, "tls2", ca, caFile)})
	waitFor(b, "the TLS nodes to meet", func() bool { return len(n1.node.Peers()) == 1 && len(n2.node.Peers()) == 1 })
	return []*testNode{n1, n2}
}
