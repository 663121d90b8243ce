package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// knownCallees is the number of callees of the exact registration of
// procedure that tn knows of, on every node (its own too).
func knownCallees(tn *testNode, procedure string) int {
	ms := &tn.node.members
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	if cs := ms.callees[regKey{"realm1", wamp.MatchExact, procedure}]; cs != nil {
		return cs.total
	}
	return 0
}

// waitCallees waits until every node knows of want callees of procedure.
func waitCallees(t *testing.T, nodes []*testNode, procedure string, want int) {
	t.Helper()
	for _, tn := range nodes {
		waitFor(t, fmt.Sprintf("%s to know of %d callees of %s", tn.node.Name(), want, procedure), func() bool {
			return knownCallees(tn, procedure) == want
		})
	}
}

// answer is a callee that answers with its name.
func answer(name string) client.Handler {
	return func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{name}}, nil
	}
}

// callCounts makes n calls of procedure from s and counts the answers.
func callCounts(t *testing.T, s *client.Session, procedure string, n int, opts wamp.Dict, counts map[string]int) {
	t.Helper()
	for range n {
		res, err := s.Call(ctxT(t), procedure, nil, nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := res.Args[0].(string)
		counts[name]++
	}
}

// spreadCallees registers procedure with policy invoke on the nodes: 1
// callee on the first, 2 on the second, 3 on the third, named after their
// node; with nkeys, each callee's name is its shard key (nkey).
func spreadCallees(t *testing.T, nodes []*testNode, procedure, invoke string, nkeys bool) []string {
	t.Helper()
	var names []string
	for i, tn := range nodes {
		for j := range i + 1 {
			name := fmt.Sprintf("%s/%d", tn.node.Name(), j)
			o := wamp.Dict{"invoke": invoke}
			if nkeys {
				o["nkey"] = name
			}
			register(t, dial(t, tn, wamp.FormatJSON), procedure, answer(name), o)
			names = append(names, name)
		}
	}
	waitCallees(t, nodes, procedure, len(names))
	return names
}

// TestRoundRobinAcrossNodes: roundrobin spreads the calls of every node
// over the callees of the cluster, each callee the same share: with a
// stable set of callees, exactly, here 1/6 of the 300 calls each node
// makes (the caller's node goes round the nodes by their callee counts,
// each node round its own callees).
func TestRoundRobinAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	names := spreadCallees(t, nodes, "com.example.rr", "roundrobin", false)
	counts := map[string]int{}
	for _, tn := range nodes {
		callCounts(t, dial(t, tn, wamp.FormatJSON), "com.example.rr", 300, nil, counts)
	}
	for _, name := range names {
		if counts[name] != 150 {
			t.Fatalf("calls per callee %v, want 150 each of the 900", counts)
		}
	}
}

// TestRandomAcrossNodes: random picks every callee of the cluster alike
// (1/6 each of 600 calls: 100 on average, with a standard deviation of 9;
// the bounds are over 6 of them away).
func TestRandomAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	names := spreadCallees(t, nodes, "com.example.random", "random", false)
	counts := map[string]int{}
	callCounts(t, dial(t, nodes[0], wamp.FormatJSON), "com.example.random", 600, nil, counts)
	for _, name := range names {
		if c := counts[name]; c < 40 || c > 160 {
			t.Fatalf("calls per callee %v, want about 100 each of the 600", counts)
		}
	}
}

// TestFirstAndLastAcrossNodes: first reaches the callee that registered
// first in the cluster, last the one that registered last, from every
// node; when that one leaves, the next in registration order takes over.
// A call whose callee is on its own node does not cross NATS.
func TestFirstAndLastAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, policy := range []string{"first", "last"} {
		procedure := "com.example." + policy
		// Registered in the order node2, node3, node1, each once every
		// node knows of the one before.
		regs := map[string]*client.Registration{}
		for i, k := range []int{1, 2, 0} {
			name := nodes[k].node.Name()
			regs[name] = register(t, dial(t, nodes[k], wamp.FormatJSON), procedure, answer(name), wamp.Dict{"invoke": policy})
			waitCallees(t, nodes, procedure, i+1)
		}
		want, next := "node2", "node3"
		if policy == "last" {
			want, next = "node1", "node3"
		}
		expect := func(want string) {
			t.Helper()
			for _, tn := range nodes {
				sent := tn.node.Stats().CallMessagesSent
				counts := map[string]int{}
				callCounts(t, dial(t, tn, wamp.FormatJSON), procedure, 5, nil, counts)
				if counts[want] != 5 {
					t.Fatalf("%s: calls from %s reached %v, want %s", policy, tn.node.Name(), counts, want)
				}
				if tn.node.Name() == want && tn.node.Stats().CallMessagesSent != sent {
					t.Fatalf("%s: calls from %s to its own callee crossed NATS", policy, want)
				}
			}
		}
		expect(want)
		if err := regs[want].Unregister(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		waitCallees(t, nodes, procedure, 2)
		expect(next)
	}
}

// TestStampsFollowWhatNodesKnew: a callee that registers on a node whose
// wall clock is an hour behind, after that node learnt of another node's
// callee, is still the later one: the node's clock moved past the stamp it
// learnt.
func TestStampsFollowWhatNodesKnew(t *testing.T) {
	nodes := startCluster(t, 2)
	nodes[1].node.skew.Store(-int64(time.Hour))
	for i, tn := range nodes {
		register(t, dial(t, tn, wamp.FormatJSON), "com.example.order", answer(tn.node.Name()), wamp.Dict{"invoke": "first"})
		waitCallees(t, nodes, "com.example.order", i+1)
	}
	for _, tn := range nodes {
		counts := map[string]int{}
		callCounts(t, dial(t, tn, wamp.FormatJSON), "com.example.order", 1, nil, counts)
		if counts["node1"] != 1 {
			t.Fatalf("first from %s reached %v, want node1's callee, registered first", tn.node.Name(), counts)
		}
	}
}

// TestPartitionAcrossNodes: a partitioned call reaches the callee whose
// shard key scores highest for its rkey among the callees of every node,
// the same from every node.
func TestPartitionAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	names := spreadCallees(t, nodes, "com.example.shard", "roundrobin", true)
	// And one without an nkey: its session id is its shard key.
	keys := map[string]string{} // shard key: callee name
	for _, name := range names {
		keys[name] = name
	}
	anon := dial(t, nodes[1], wamp.FormatJSON)
	register(t, anon, "com.example.shard", answer("anon"), wamp.Dict{"invoke": "roundrobin"})
	keys[fmt.Sprint(uint64(anon.ID()))] = "anon"
	waitCallees(t, nodes, "com.example.shard", len(keys))
	callers := []*client.Session{dial(t, nodes[0], wamp.FormatJSON), dial(t, nodes[1], wamp.FormatMsgPack), dial(t, nodes[2], wamp.FormatCBOR)}
	used := map[string]bool{}
	for i := range 60 {
		rkey := fmt.Sprintf("resource-%d", i)
		var want string
		var best uint64
		for key, name := range keys {
			if s := router.ShardScore(rkey, key); want == "" || s > best {
				want, best = name, s
			}
		}
		used[want] = true
		for _, s := range callers {
			counts := map[string]int{}
			callCounts(t, s, "com.example.shard", 1, wamp.Dict{"runmode": "partition", "rkey": rkey}, counts)
			if counts[want] != 1 {
				t.Fatalf("rkey %s reached %v, want %s", rkey, counts, want)
			}
		}
	}
	if len(used) < 4 {
		t.Fatalf("60 keys reached only %d of 7 callees", len(used))
	}
}

// TestPatternPrecedenceAcrossNodes: a call goes to the best registration
// of the cluster by the specification's precedence, on whichever node:
// another node's exact registration wins over this node's prefix, a longer
// prefix over a shorter, and of two wildcard patterns the one with the
// longer concrete portion before the wildcard, wherever the caller is.
func TestPatternPrecedenceAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	for _, r := range []struct {
		tn      *testNode
		pattern string
		match   string
	}{
		{a, "com.example.", "prefix"},
		{b, "com.example.deep.", "prefix"},
		{b, "com.example.x", "exact"},
		{a, "com.wild..z", "wildcard"},
		{b, "com..y.z", "wildcard"},
	} {
		register(t, dial(t, r.tn, wamp.FormatJSON), r.pattern, answer(r.tn.node.Name()+" "+r.pattern), wamp.Dict{"match": r.match})
	}
	waitFor(t, "both nodes to know the other's registrations", func() bool {
		return len(a.node.Peers()) == 1 && a.node.Peers()[0].Registrations == 3 && len(b.node.Peers()) == 1 && b.node.Peers()[0].Registrations == 2
	})
	for procedure, want := range map[string]string{
		"com.example.x":      "node2 com.example.x",
		"com.example.y":      "node1 com.example.",
		"com.example.deep.y": "node2 com.example.deep.",
		"com.wild.y.z":       "node1 com.wild..z",
	} {
		for _, tn := range nodes {
			counts := map[string]int{}
			callCounts(t, dial(t, tn, wamp.FormatJSON), procedure, 1, nil, counts)
			if counts[want] != 1 {
				t.Fatalf("%s from %s reached %v, want %s", procedure, tn.node.Name(), counts, want)
			}
		}
	}
}

// TestSchedule: a roundrobin cycle gives each node as many calls as it has
// callees, interleaved rather than in runs.
func TestSchedule(t *testing.T) {
	cs := &calleeSet{total: 6, nodes: []nodeCallees{
		{id: 1, callees: make([]stampedCallee, 1)},
		{id: 2, callees: make([]stampedCallee, 2)},
		{id: 3, callees: make([]stampedCallee, 3)},
	}}
	if got := fmt.Sprint(*cs.schedule()); got != "[3 2 1 3 2 3]" {
		t.Fatalf("schedule %s, want [3 2 1 3 2 3]", got)
	}
	counts := map[uint64]int{}
	for range 600 {
		counts[cs.roundRobin()]++
	}
	if counts[1] != 100 || counts[2] != 200 || counts[3] != 300 {
		t.Fatalf("600 picks by node: %v", counts)
	}
}

// TestShardedSubscriptionAcrossNodes: an event with an rkey reaches the
// subscribers of one node key in the whole cluster, the one that scores
// highest among the keys of every node (on every node that has
// subscribers of it), and the subscribers without a node key; from a
// publisher on any node.
func TestShardedSubscriptionAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	const topic = "com.example.sharded"
	type subscriber struct {
		nkey string
		ch   <-chan *client.Event
	}
	var subs []subscriber
	for _, s := range []struct {
		node int
		nkey string
	}{{0, "k1"}, {1, "k2"}, {1, "k3"}, {2, "k4"}, {2, "k2"}, {2, ""}} {
		opts := wamp.Dict{}
		if s.nkey != "" {
			opts["nkey"] = s.nkey
		}
		ch, _ := events(t, dial(t, nodes[s.node], wamp.FormatJSON), topic, opts)
		subs = append(subs, subscriber{s.nkey, ch})
	}
	for _, tn := range nodes {
		waitInterest(t, tn, topic, 2)
		waitFor(t, tn.node.Name()+" to know the other nodes' node keys", func() bool {
			tn.node.members.mu.RLock()
			defer tn.node.members.mu.RUnlock()
			return len(tn.node.members.nkeys[regKey{"realm1", wamp.MatchExact, topic}]) == 3
		})
	}
	keys := []string{"k1", "k2", "k3", "k4"}
	want := map[string]string{} // rkey: the node key that gets it
	for i, tn := range nodes {
		pub := dial(t, tn, wamp.FormatJSON)
		for j := range 20 {
			rkey := fmt.Sprintf("r%d-%d", i, j)
			var best uint64
			for _, k := range keys {
				if s := router.ShardScore(rkey, k); want[rkey] == "" || s > best {
					want[rkey], best = k, s
				}
			}
			if _, err := pub.Publish(ctxT(t), topic, wamp.List{rkey}, nil, wamp.Dict{"rkey": rkey, "acknowledge": true}); err != nil {
				t.Fatal(err)
			}
		}
		// The end of this publisher's events: no rkey, so for everyone.
		if _, err := pub.Publish(ctxT(t), topic, wamp.List{"end"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range subs {
		var got []string
		for ends := 0; ends < 3; {
			rkey, _ := recv(t, s.ch).Args[0].(string)
			if rkey == "end" {
				ends++
				continue
			}
			got = append(got, rkey)
		}
		for _, rkey := range got {
			if s.nkey != "" && want[rkey] != s.nkey {
				t.Fatalf("a subscriber of node key %s got the event with rkey %s, which belongs to %s", s.nkey, rkey, want[rkey])
			}
		}
		n := 0
		for _, k := range want {
			if k == s.nkey {
				n++
			}
		}
		if s.nkey == "" {
			n = len(want)
		}
		if len(got) != n {
			t.Fatalf("the subscriber of node key %q got %d events, want %d", s.nkey, len(got), n)
		}
	}
	used := map[string]bool{}
	for _, k := range want {
		used[k] = true
	}
	if len(used) < 3 {
		t.Fatalf("60 rkeys went to the node keys %v only", used)
	}
}

// fakePeer makes tn take control messages from a node that does not exist:
// each call of say hands tn's onControl one, numbered in turn.
type fakePeer struct {
	tn  *testNode
	id  uint64
	seq uint64
}

func (p *fakePeer) say(e entry, add bool) {
	p.seq++
	p.tn.node.onControl(&nats.Msg{Data: p.tn.node.encodeControl(&control{Kind: kindInterest, Node: p.id, Seq: p.seq, Entry: &e, Add: add})})
}

// TestPolicyAfterConflictSettled: a node that learnt of two conflicting
// registrations of one procedure, the loser's first (a single one, here),
// takes the winner's policy once the loser revoked its own, rather than
// keep the policy of a registration no node has any more: it accepts a
// REGISTER with the winner's policy and refuses one with the loser's.
func TestPolicyAfterConflictSettled(t *testing.T) {
	c := startCluster(t, 1)[0]
	// Two nodes that registered at once on both sides of a partition;
	// the winner has the lower id.
	winner, loser := &fakePeer{tn: c, id: 1 << 60}, &fakePeer{tn: c, id: 1<<60 + 1}
	reg := func(invoke string) entry {
		return entry{Kind: kindRegistration, Realm: "realm1", Match: wamp.MatchExact, Topic: "com.example.settled", Invoke: invoke}
	}
	loser.say(reg("single"), true)
	winner.say(reg("roundrobin"), true)
	winner.say(entry{Kind: kindCallee, Realm: "realm1", Match: wamp.MatchExact, Topic: "com.example.settled", Session: 7, Key: "7", At: 1}, true)
	loser.say(reg("single"), false) // revoked
	if invoke, ok := c.node.Registration("realm1", wamp.MatchExact, "com.example.settled"); !ok || invoke != "roundrobin" {
		t.Fatalf("the registration left is known with policy %q (%v), want the winner's, roundrobin", invoke, ok)
	}
	s := dial(t, c, wamp.FormatJSON)
	_, err := s.Register(ctxT(t), "com.example.settled", answer("c"), wamp.Dict{"invoke": "single"})
	wampError(t, err, wamp.ErrProcedureAlreadyExists)
	register(t, s, "com.example.settled", answer("c"), wamp.Dict{"invoke": "roundrobin"})
}
