package cluster

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// FuzzNodeMessages: whatever arrives on a node's NATS subjects (another
// node's bug, another build, or any NATS client allowed to publish there)
// costs the node at most that message: no handler panics or hangs, and
// the node's router still lets a session join afterwards. The seeds are
// the messages a real second node sent the first while sessions on both
// registered, called, subscribed, published and asked the meta API; the
// fuzzer then feeds any bytes to any of the first node's handlers, the
// second node stopped (so that a handler runs only where NATS would run
// it: on its subscription's goroutine, here the fuzzer's).
func FuzzNodeMessages(f *testing.F) {
	a := startNode(f, Config{NodeName: "node1", Listen: "127.0.0.1:0"})
	subs := a.node.subscriptions()
	// A message on another node's subject of the same kind (a call to
	// node3, say) is as good a seed as one on node1's.
	kind := func(subj string) string { return strings.TrimSuffix(subj, a.node.idString()) }
	handler := make(map[string]uint8, len(subs))
	for i, s := range subs {
		handler[kind(s.subj)] = uint8(i)
	}
	handlerOf := func(subj string) (uint8, bool) {
		if i, ok := handler[subj]; ok {
			return i, true
		}
		if j := strings.LastIndexByte(subj, '.'); j >= 0 {
			i, ok := handler[subj[:j+1]]
			return i, ok
		}
		return 0, false
	}
	type seed struct {
		which uint8
		reply bool
		data  string
	}
	var mu sync.Mutex
	seeds := make(map[seed]bool)
	nc, err := nats.Connect("", nats.InProcessServer(a.node.ns), nats.Token(a.node.token))
	if err != nil {
		f.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Subscribe(">", func(m *nats.Msg) {
		if i, ok := handlerOf(m.Subject); ok {
			mu.Lock()
			seeds[seed{i, m.Reply != "", string(m.Data)}] = true
			mu.Unlock()
		}
	}); err != nil {
		f.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		f.Fatal(err)
	}

	b := startNode(f, Config{NodeName: "node2", Listen: "127.0.0.1:0", Join: []string{a.node.RouteAddr()}})
	waitFor(f, "the nodes to know each other", func() bool { return len(a.node.Peers()) == 1 && len(b.node.Peers()) == 1 })
	sa, sb := dial(f, a, wamp.FormatJSON), dial(f, b, wamp.FormatMsgPack)
	if _, err := sb.Register(ctxT(f), "com.p", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: inv.Args}, nil
	}, nil); err != nil {
		f.Fatal(err)
	}
	ch, _ := events(f, sa, "com.t", nil)
	waitCallee(f, a, "com.p", true)
	waitInterest(f, b, "com.t", 1)
	if _, err := sa.Call(ctxT(f), "com.p", wamp.List{1, "two", []byte{3}}, wamp.Dict{"k": true}, wamp.Dict{"disclose_me": true}); err != nil {
		f.Fatal(err)
	}
	if _, err := sb.Publish(ctxT(f), "com.t", wamp.List{1}, wamp.Dict{"k": "v"}, wamp.Dict{"acknowledge": true, "retain": true}); err != nil {
		f.Fatal(err)
	}
	recv(f, ch)
	if _, err := sb.Call(ctxT(f), "wamp.session.list", nil, nil, nil); err != nil {
		f.Fatal(err)
	}
	if _, err := sb.Call(ctxT(f), "wamp.registration.match", wamp.List{"com.p"}, nil, nil); err != nil {
		f.Fatal(err)
	}
	// A third node asks both for their tables: sync requests and
	// snapshots with something in them.
	c := startNode(f, Config{NodeName: "node3", Listen: "127.0.0.1:0", Join: []string{a.node.RouteAddr()}})
	waitFor(f, "node3 to learn of the callee", func() bool { _, ok := remoteCallee(c, "com.p"); return ok })
	if err := nc.Flush(); err != nil {
		f.Fatal(err)
	}
	b.stop(f)
	c.stop(f)
	waitFor(f, "node1 to see the others leave", func() bool { return len(a.node.Peers()) == 0 })
	mu.Lock()
	got := make(map[uint8]int)
	for s := range seeds {
		f.Add(s.which, s.reply, []byte(s.data))
		got[s.which]++
	}
	mu.Unlock()
	// node3's own sync requests may leave before its server has learnt of
	// the capture's interest, so two are written here.
	for _, table := range []string{"", tableSessions} {
		req, err := json.Marshal(syncRequest{Node: c.node.id, Nonce: 1, Table: table})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(handler[a.node.subj.syncPrefix], true, req)
	}
	// What the other nodes must have sent node1 or each other: heartbeats
	// and interest (control), the snapshot of a table, publications, call
	// messages, meta queries.
	for _, want := range []string{a.node.subj.ctl, a.node.subj.snapPrefix, a.node.subj.pubPrefix, a.node.subj.callPrefix, a.node.subj.meta} {
		if got[handler[want]] == 0 {
			f.Fatalf("no message on %s to take as a seed", want)
		}
	}

	f.Fuzz(func(t *testing.T, which uint8, reply bool, data []byte) {
		s := subs[int(which)%len(subs)]
		m := &nats.Msg{Subject: s.subj, Data: data}
		if reply {
			m.Reply = "fuzz.reply"
		}
		s.fn(m)
		joins(t, a.rt)
	})
}

// joins checks that a session can join realm1 of rt.
func joins(t *testing.T, rt *router.Router) {
	t.Helper()
	p := &chanPeer{ch: make(chan wamp.Message, 64)}
	s := rt.Attach(p, router.TransportInfo{Kind: "test", Serializer: "json"})
	defer s.Detach()
	s.Receive(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"caller": wamp.Dict{}}}})
	select {
	case m := <-p.ch:
		if _, ok := m.(*wamp.Welcome); !ok {
			t.Fatalf("a session joining after the message: want WELCOME, got %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a session joining after the message got no answer")
	}
}

// chanPeer is an in-process router.Peer that passes on what it is sent.
type chanPeer struct{ ch chan wamp.Message }

func (p *chanPeer) Send(m wamp.Message) error {
	select {
	case p.ch <- m:
	default:
	}
	return nil
}

func (p *chanPeer) Close() {}

// FuzzMetaAnswerChunk: what arrives on a meta query's inbox (the chunks
// of the nodes' parts, or anything another NATS client sends there) is
// read without a panic.
func FuzzMetaAnswerChunk(f *testing.F) {
	part, err := encodeMetaAnswer(7, &router.MetaAnswer{Args: wamp.List{wamp.List{1, 2, 3}, "x"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(appendMetaChunk(nil, 1, 0, 1, part))
	f.Add(appendMetaChunk(nil, 1, 1, 2, part[:3]))
	f.Add([]byte{metaVersion})
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, index, count, data, err := readMetaChunk(msg)
		if err != nil {
			return
		}
		if index >= count {
			t.Fatalf("chunk %d of %d read", index, count)
		}
		decodeMetaAnswer(data)
	})
}
