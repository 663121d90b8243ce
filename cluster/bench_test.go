package cluster

import (
	"context"
	"testing"

	"github.com/junction-wamp/junction/client"
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
				waitFor(b, "the other node to know", func() bool { _, _, _, ok := nodes[0].node.Callee("realm1", "com.example.echo"); return ok })
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

// startTLSCluster starts two nodes whose routes are mutual TLS.
func startTLSCluster(b *testing.B) []*testNode {
	dir := b.TempDir()
	ca, caFile := newCA(b, dir, "ca")
	n1 := startNode(b, Config{NodeName: "tls1", Listen: "127.0.0.1:0", TLS: tlsFiles(b, dir, "tls1", ca, caFile)})
	n2 := startNode(b, Config{NodeName: "tls2", Listen: "127.0.0.1:0", Join: []string{n1.node.RouteAddr()}, TLS: tlsFiles(b, dir, "tls2", ca, caFile)})
	waitFor(b, "the TLS nodes to meet", func() bool { return len(n1.node.Peers()) == 1 && len(n2.node.Peers()) == 1 })
	return []*testNode{n1, n2}
}
