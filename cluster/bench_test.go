package cluster

import (
	"context"
	"fmt"
	"testing"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// The cost of crossing nodes, against the same work on one node, with both
// nodes in this process (so the time and allocations are those of both):
//
//	go test -run '^$' -bench . -benchmem ./cluster
func BenchmarkCall(b *testing.B) {
	for _, remote := range []bool{false, true} {
		name := "local"
		if remote {
			name = "across-nodes"
		}
		b.Run(name, func(b *testing.B) {
			nodes := startCluster(b, 2)
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
