package cluster

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/router/history"
	"github.com/junction-wamp/junction/wamp"
)

// storeRealm is realm1 with event history: 100 events of one topic, and
// the last 5 of the topics under com.example.h.
var storeRealm = router.RealmConfig{Name: "realm1", Anonymous: true, History: []router.HistoryRule{
	{Match: wamp.MatchExact, Topic: "com.example.history", Limit: 100},
	{Match: wamp.MatchPrefix, Topic: "com.example.h.", Limit: 5},
}}

// startStoreCluster starts three nodes that all join each other, with
// JetStream replicas copies of each stream and their JetStream data in
// dirs, and waits until they know each other and their event stores are
// ready.
func startStoreCluster(t testing.TB, replicas int, dirs []string) []*testNode {
	t.Helper()
	var nodes []*testNode
	var routes []string
	for i, dir := range dirs {
		nodes = append(nodes, startRouterNode(t, Config{NodeName: fmt.Sprintf("node%d", i+1), Listen: "127.0.0.1:0", Join: routes, Replicas: replicas, StoreDir: dir},
			router.Config{Realms: []router.RealmConfig{storeRealm}}))
		routes = append(routes, nodes[i].node.RouteAddr())
	}
	start := time.Now()
	for _, tn := range nodes {
		waitStoreReady(t, tn)
	}
	t.Logf("JetStream ready on every node after %v", time.Since(start).Round(time.Millisecond))
	waitFor(t, "every node to know every other", func() bool {
		for _, tn := range nodes {
			if len(tn.node.Peers()) != len(nodes)-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

func startStoreNode(t testing.TB, name string, join []string, replicas int, dir string) *testNode {
	t.Helper()
	tn := startRouterNode(t, Config{NodeName: name, Listen: "127.0.0.1:0", Join: join, Replicas: replicas, StoreDir: dir},
		router.Config{Realms: []router.RealmConfig{storeRealm}})
	waitStoreReady(t, tn)
	return tn
}

// waitStoreReady waits until the node's event store has its streams.
func waitStoreReady(t testing.TB, tn *testNode) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for tn.node.store().ensure(ctxT(t)) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the event store is not ready after 30 s", tn.node.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getEvents calls get_events for subscription sub on s.
func getEvents(t *testing.T, s *client.Session, sub wamp.ID, kwargs wamp.Dict) wamp.List {
	t.Helper()
	res, err := s.Call(ctxT(t), "wamp.subscription.get_events", wamp.List{uint64(sub)}, kwargs, nil)
	if err != nil {
		t.Fatalf("get_events(%d, %v): %v", sub, kwargs, err)
	}
	if len(res.Args) != 1 {
		t.Fatalf("get_events: %v", res.Args)
	}
	l, _ := res.Args[0].(wamp.List)
	return l
}

// pubs is the publication ids of get_events' answer, in order.
func pubs(t *testing.T, evs wamp.List) []uint64 {
	t.Helper()
	var out []uint64
	for _, e := range evs {
		d, _ := e.(wamp.Dict)
		p, ok := wamp.AsUint(d["publication"])
		if !ok {
			t.Fatalf("event without a publication id: %v", e)
		}
		out = append(out, p)
	}
	return out
}

func TestStoreAcrossNodes(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := startStoreCluster(t, 3, dirs)
	a, b, c := nodes[0], nodes[1], nodes[2]

	t.Run("retained on one node, given on another", func(t *testing.T) {
		pubA := dial(t, a, wamp.FormatJSON)
		id, err := pubA.Publish(ctxT(t), "com.example.retained", wamp.List{"first"}, nil, wamp.Dict{"retain": true, "acknowledge": true})
		if err != nil {
			t.Fatal(err)
		}
		// The event reaches the other nodes through JetStream: wait until
		// every node has read it (node1 its own), then join on node3.
		waitFor(t, "every node to read the retained event", func() bool {
			return a.node.Stats().RetainedReceived >= 1 && b.node.Stats().RetainedReceived >= 1 && c.node.Stats().RetainedReceived >= 1
		})
		ch, _ := events(t, dial(t, c, wamp.FormatCBOR), "com.example.retained", wamp.Dict{"get_retained": true})
		ev := recv(t, ch)
		if ev.Publication != id || len(ev.Args) != 1 || ev.Args[0] != "first" || ev.Details["retained"] != true {
			t.Fatalf("retained event on node3: publication %d args %v details %v; want %d [first] retained", ev.Publication, ev.Args, ev.Details, id)
		}

		// A later retained event on node2 replaces it on every node.
		before := a.node.Stats().RetainedReceived
		id2, err := dial(t, b, wamp.FormatMsgPack).Publish(ctxT(t), "com.example.retained", wamp.List{"second"}, nil, wamp.Dict{"retain": true, "acknowledge": true})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "node1 to read the new retained event", func() bool { return a.node.Stats().RetainedReceived > before })
		ch, _ = events(t, dial(t, a, wamp.FormatJSON), "com.example.retained", wamp.Dict{"get_retained": true})
		if ev := recv(t, ch); ev.Publication != id2 || ev.Args[0] != "second" {
			t.Fatalf("retained event on node1 after node2 retained another: publication %d args %v; want %d [second]", ev.Publication, ev.Args, id2)
		}
	})

	t.Run("history is the same whichever node is asked", func(t *testing.T) {
		pubB := dial(t, b, wamp.FormatMsgPack)
		var want []uint64
		for i := range 8 {
			topic := "com.example.history"
			if i%2 == 1 {
				topic = "com.example.h.x"
			}
			id, err := pubB.Publish(ctxT(t), topic, wamp.List{i}, wamp.Dict{"i": i}, wamp.Dict{"acknowledge": true})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, uint64(id))
		}
		// The prefix rule keeps its last 5 (all 4 here); a subscription
		// to com.example. covers both rules: every event, in order.
		var answers [][]uint64
		for _, tn := range []*testNode{a, c, b} {
			s := dial(t, tn, wamp.FormatJSON)
			_, sub := events(t, s, "com.example.", wamp.Dict{"match": "prefix"})
			got := pubs(t, getEvents(t, s, sub.ID(), nil))
			answers = append(answers, got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: get_events gave publications %v, want %v", tn.node.Name(), got, want)
			}
			_, exact := events(t, s, "com.example.history", nil)
			last := getEvents(t, s, exact.ID(), wamp.Dict{"reverse": true, "limit": 1})
			if p := pubs(t, last); len(p) != 1 || p[0] != want[6] {
				t.Errorf("%s: the last event of com.example.history is %v, want [%d]", tn.node.Name(), p, want[6])
			}
		}
	})

	t.Run("PUBLISHED means stored", func(t *testing.T) {
		// After PUBLISHED, the event is in the stream, as another node
		// reads it directly (without waiting for the publisher's node).
		st := a.node.store()
		name, _ := st.streamFor("realm1", storeRealm.History[0])
		before := streamMsgs(t, c, name)
		pub := dial(t, a, wamp.FormatJSON)
		for i := range 5 {
			if _, err := pub.Publish(ctxT(t), "com.example.history", wamp.List{i}, nil, wamp.Dict{"acknowledge": true}); err != nil {
				t.Fatal(err)
			}
			if n := streamMsgs(t, c, name); n != before+uint64(i)+1 {
				t.Fatalf("after PUBLISHED %d, the stream holds %d events, want %d", i, n, before+uint64(i)+1)
			}
		}
	})

	t.Run("a restarted node keeps the history", func(t *testing.T) {
		s := dial(t, a, wamp.FormatJSON)
		_, sub := events(t, s, "com.example.history", nil)
		want := pubs(t, getEvents(t, s, sub.ID(), nil))
		if len(want) == 0 {
			t.Fatal("no history to keep")
		}
		c.stop(t)
		c2 := startStoreNode(t, "node3", []string{a.node.RouteAddr(), b.node.RouteAddr()}, 3, dirs[2])
		s2 := dial(t, c2, wamp.FormatJSON)
		_, sub2 := events(t, s2, "com.example.history", nil)
		if got := pubs(t, getEvents(t, s2, sub2.ID(), nil)); !reflect.DeepEqual(got, want) {
			t.Fatalf("the restarted node3's history: %v, want %v", got, want)
		}
	})
}

// streamMsgs is how many messages a stream holds, as node tn reads it.
func streamMsgs(t *testing.T, tn *testNode, name string) uint64 {
	t.Helper()
	return streamInfo(t, tn, name).State.Msgs
}

// streamInfo is a stream's configuration and state, as node tn reads it.
func streamInfo(t *testing.T, tn *testNode, name string) *jetstream.StreamInfo {
	t.Helper()
	st, err := tn.node.js.Stream(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// A store that fails (here: a node alone, whose clustered JetStream waits
// for another node before it runs) answers an acknowledged publication to
// a history topic with an ERROR, and counts an unacknowledged one as lost.
func TestStoreFailureAnswersError(t *testing.T) {
	tn := startRouterNode(t, Config{NodeName: "alone", Listen: "127.0.0.1:0", StoreDir: t.TempDir()},
		router.Config{Realms: []router.RealmConfig{storeRealm}})
	s := dial(t, tn, wamp.FormatJSON)
	ch, _ := events(t, s, "com.example.history", nil)
	_, err := s.Publish(ctxT(t), "com.example.history", wamp.List{1}, nil, wamp.Dict{"acknowledge": true, "exclude_me": false})
	var we *client.Error
	if !errors.As(err, &we) || we.URI != wamp.ErrHistoryUnavailable {
		t.Fatalf("acknowledged publication with a failing store: %v, want %s", err, wamp.ErrHistoryUnavailable)
	}
	if ev := recv(t, ch); ev.Args[0] != uint64(1) && ev.Args[0] != int64(1) && ev.Args[0] != float64(1) {
		t.Fatalf("the publication was not delivered: %v", ev.Args)
	}
	before := tn.rt.HistoryStats().Lost
	if _, err := s.Publish(ctxT(t), "com.example.history", wamp.List{2}, nil, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lost event to be counted", func() bool { return tn.rt.HistoryStats().Lost > before })
}

// An existing NATS without JetStream: a router with event history does
// not start, and says why.
func TestStoreWithoutJetStream(t *testing.T) {
	ns := startTestNATS(t, server.Options{})
	node, err := Start(Config{NodeName: "n", NATS: []string{ns.ClientURL()}, HeartbeatInterval: testHeartbeat, NodeTimeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	_, err = router.New(router.Config{Realms: []router.RealmConfig{storeRealm}, Backbone: node})
	if err == nil || !strings.Contains(err.Error(), "does not run JetStream") || !strings.Contains(err.Error(), "-js") {
		t.Fatalf("router with event history on a NATS without JetStream: %v; want an error that says JetStream is not enabled and how to enable it", err)
	}
	// Without history the router starts; retained events stay per node.
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{testRealm}, Backbone: node})
	if err != nil {
		t.Fatal(err)
	}
	rt.Shutdown(context.Background())
	rt.Close()
}

// TestBadHistoryRecordIsSkipped: a message in a history stream that is
// not a record this build reads (one published there by another program
// on a shared NATS, or by a build with another record format) is left out
// of get_events' answer and counted; the other events are still given.
// Before, every get_events of the rule failed while the message was in
// the stream.
func TestBadHistoryRecordIsSkipped(t *testing.T) {
	ns := startTestNATS(t, server.Options{JetStream: true, StoreDir: t.TempDir()})
	tn := startRouterNode(t, Config{NodeName: "a", NATS: []string{ns.ClientURL()}}, router.Config{Realms: []router.RealmConfig{storeRealm}})
	waitStoreReady(t, tn)
	s := dial(t, tn, wamp.FormatJSON)
	_, sub := events(t, s, "com.example.history", nil)
	publish := func(v int) uint64 {
		id, err := s.Publish(ctxT(t), "com.example.history", wamp.List{v}, nil, wamp.Dict{"acknowledge": true})
		if err != nil {
			t.Fatal(err)
		}
		return uint64(id)
	}
	first := publish(1)
	subj := tn.node.store().subjects[ruleKey{"realm1", wamp.MatchExact, "com.example.history"}]
	stamp := make([]byte, 8)
	for _, junk := range [][]byte{
		[]byte("short"),                  // not even a stamp
		append(stamp, "not a record"...), // a stamp, then no record
		append(stamp, 9, 0, 0),           // another record version
	} {
		if _, err := tn.node.js.Publish(ctxT(t), subj, junk); err != nil {
			t.Fatal(err)
		}
	}
	last := publish(2)
	bad := tn.node.Stats().BadMessages
	for _, kw := range []wamp.Dict{nil, {"reverse": true, "limit": 1}, {"after_publication": first}} {
		got := pubs(t, getEvents(t, s, sub.ID(), kw))
		want := []uint64{first, last}
		switch {
		case kw["reverse"] == true:
			want = []uint64{last}
		case kw["after_publication"] != nil:
			want = []uint64{last}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("get_events(%v) = %v, want %v", kw, got, want)
		}
	}
	if tn.node.Stats().BadMessages == bad {
		t.Error("the records that do not decode were not counted")
	}
}

// TestLongHistoryReadWithFewRequests: get_events reads a long history
// stream with a handful of JetStream API requests, not one new consumer
// per 512 events (an ordered consumer's every fetch makes a new consumer
// and deletes the one before: 3000 events cost 6 of each, and a history
// of 100 000, 200 at every get_events).
func TestLongHistoryReadWithFewRequests(t *testing.T) {
	const total = 3000
	ns := startTestNATS(t, server.Options{JetStream: true, StoreDir: t.TempDir()})
	realm := router.RealmConfig{Name: "realm1", Anonymous: true, History: []router.HistoryRule{
		{Match: wamp.MatchExact, Topic: "com.example.long", Limit: total}}}
	tn := startRouterNode(t, Config{NodeName: "a", NATS: []string{ns.ClientURL()}}, router.Config{Realms: []router.RealmConfig{realm}})
	waitStoreReady(t, tn)
	st := tn.node.store()
	for i := range total {
		if err := st.Append("realm1", history.Event{Topic: "com.example.long", Publication: wamp.ID(i + 1), Payload: wamp.Payload{Args: wamp.List{i}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	s := dial(t, tn, wamp.FormatJSON)
	_, sub := events(t, s, "com.example.long", nil)
	requests := func() uint64 {
		jsz, err := ns.Jsz(nil)
		if err != nil {
			t.Fatal(err)
		}
		return jsz.API.Total
	}
	before := requests()
	got := pubs(t, getEvents(t, s, sub.ID(), wamp.Dict{"reverse": true, "limit": 2}))
	if want := []uint64{total, total - 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("get_events = %v, want %v", got, want)
	}
	if n := requests() - before; n > 5 {
		t.Errorf("reading %d events took %d JetStream API requests", total, n)
	}
}

// TestStoreMaxBytes: a history rule's MaxBytes bounds its stream as it
// bounds the single node's file: the stream is made with it, holds no
// more, and keeps the newest events; an event larger than the bound on
// its own is refused (an acknowledged publication gets an ERROR) and
// costs the stream none of the events it holds.
func TestStoreMaxBytes(t *testing.T) {
	const payload, maxBytes = 10 << 10, 35 << 10
	ns := startTestNATS(t, server.Options{JetStream: true, StoreDir: t.TempDir()})
	rule := router.HistoryRule{Match: wamp.MatchExact, Topic: "com.example.big", Limit: 1000, MaxBytes: maxBytes}
	realm := router.RealmConfig{Name: "realm1", Anonymous: true, History: []router.HistoryRule{rule}}
	tn := startRouterNode(t, Config{NodeName: "a", NATS: []string{ns.ClientURL()}}, router.Config{Realms: []router.RealmConfig{realm}})
	waitStoreReady(t, tn)
	name, _ := tn.node.store().streamFor("realm1", rule)
	stream := func() *jetstream.StreamInfo { return streamInfo(t, tn, name) }
	if mb := stream().Config.MaxBytes; mb != maxBytes {
		t.Fatalf("stream %s made with MaxBytes %d, want the rule's %d", name, mb, maxBytes)
	}
	s := dial(t, tn, wamp.FormatJSON)
	publish := func(n int) (uint64, error) {
		id, err := s.Publish(ctxT(t), "com.example.big", wamp.List{strings.Repeat("x", n)}, nil, wamp.Dict{"acknowledge": true})
		return uint64(id), err
	}
	var published []uint64
	for range 10 {
		id, err := publish(payload)
		if err != nil {
			t.Fatal(err)
		}
		published = append(published, id)
	}
	_, sub := events(t, s, "com.example.big", nil)
	kept := pubs(t, getEvents(t, s, sub.ID(), nil))
	if info := stream(); info.State.Bytes > maxBytes || len(kept) != 3 || !reflect.DeepEqual(kept, published[7:]) {
		t.Fatalf("10 events of %d bytes under max_bytes %d: the stream holds %d bytes, get_events gives %v of %v",
			payload, maxBytes, info.State.Bytes, kept, published)
	}

	_, err := publish(maxBytes)
	var we *client.Error
	if !errors.As(err, &we) || we.URI != wamp.ErrHistoryUnavailable {
		t.Fatalf("an event larger than max_bytes: %v, want %s", err, wamp.ErrHistoryUnavailable)
	}
	if got := pubs(t, getEvents(t, s, sub.ID(), nil)); !reflect.DeepEqual(got, kept) {
		t.Fatalf("after an event larger than max_bytes, get_events gives %v, want %v", got, kept)
	}
	if n := tn.rt.HistoryStats().TooLarge; n != 1 {
		t.Errorf("TooLarge %d, want 1", n)
	}
}
