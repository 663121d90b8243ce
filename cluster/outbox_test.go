package cluster

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// stallProxy forwards TCP connections to a NATS server and, while
// stalled, stops reading what its clients send: a NATS server that has
// stopped reading, as the node sees it.
type stallProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	stalled bool
	resumed *sync.Cond
	conns   []net.Conn
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln}
	p.resumed = sync.NewCond(&p.mu)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go io.Copy(c, s)
			go func() {
				buf := make([]byte, 32<<10)
				for {
					p.mu.Lock()
					for p.stalled {
						p.resumed.Wait()
					}
					p.mu.Unlock()
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := s.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						s.Close()
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *stallProxy) stall(on bool) {
	p.mu.Lock()
	p.stalled = on
	p.mu.Unlock()
	p.resumed.Broadcast()
}

func (p *stallProxy) close() {
	p.stall(false)
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestNATSThatStopsReadingStallsNoLoop: while the NATS server stops
// reading what a node sends, the node's event loops go on (what they hand
// the node waits in its outbox, at most outboxBytes, the rest refused and
// counted): a session that has just published 12 MiB for another node
// still gets its local call answered. Before the outbox, the loop waited
// in nats.go's Publish for the stalled write (up to a minute).
func TestNATSThatStopsReadingStallsNoLoop(t *testing.T) {
	ns := startTestNATS(t, server.Options{})
	proxy := newStallProxy(t, ns.Addr().String())
	a := startNode(t, Config{NodeName: "a", NATS: []string{proxy.url()}})
	b := startNode(t, Config{NodeName: "b", NATS: []string{ns.ClientURL()}})
	defer proxy.stall(false) // before the nodes close: they send what they hold
	waitFor(t, "the nodes to know each other", func() bool { return len(a.node.Peers()) == 1 && len(b.node.Peers()) == 1 })

	sb := dial(t, b, wamp.FormatMsgPack)
	events(t, sb, "com.example.big", nil)
	waitInterest(t, a, "com.example.big", 1)
	sa := dial(t, a, wamp.FormatMsgPack)
	register(t, sa, "com.example.local", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{"here"}}, nil
	}, nil)

	proxy.stall(true)
	big := make([]byte, 256<<10)
	for range 48 { // 12 MiB: more than the kernel's socket buffers and the outbox together
		if _, err := sa.Publish(ctxT(t), "com.example.big", wamp.List{big}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := sa.Call(ctxT(t), "com.example.local", nil, nil, nil)
	if err != nil || len(res.Args) != 1 || res.Args[0] != "here" {
		t.Fatalf("a local call while NATS reads nothing: %v %+v", err, res)
	}
	// What /metrics and /readyz ask the node answers too, though nats.go
	// answers its own figures and status under the lock its stalled
	// flusher holds.
	answered := make(chan Stats, 1)
	go func() {
		_ = a.node.Connected()
		answered <- a.node.Stats()
	}()
	select {
	case st := <-answered:
		if st.SendFailures == 0 {
			t.Error("12 MiB for a NATS that reads nothing: none refused, or not counted")
		}
		if st.OutboxBytes == 0 {
			t.Error("the outbox of a node whose NATS reads nothing says it holds nothing")
		}
	case <-time.After(10 * time.Second): // nats.go's flusher waits a minute
		t.Fatal("Node.Stats or Node.Connected waits on the stalled NATS")
	}
}

// TestConnectedFollowsNATS: Connected (readiness) follows the NATS
// connection as it goes and comes back, and NATS's own counts reach
// Stats without traffic of the node's own beyond its heartbeats.
func TestConnectedFollowsNATS(t *testing.T) {
	ns := startTestNATS(t, server.Options{})
	a := startNode(t, Config{NodeName: "a", NATS: []string{ns.ClientURL()}})
	if !a.node.Connected() {
		t.Fatal("a node just connected to NATS says it is not")
	}
	waitFor(t, "NATS's counts in Stats", func() bool {
		st := a.node.Stats()
		return st.NATSMessagesSent > 0 && st.NATSBytesSent > 0
	})
	// Cut the node's connection on the server side: nats.go reconnects.
	before := a.node.Stats().NATSMessagesSent
	cz, err := ns.Connz(&server.ConnzOptions{})
	if err != nil || len(cz.Conns) != 1 {
		t.Fatalf("the server's connections: %v %+v", err, cz)
	}
	ns.DisconnectClientByID(cz.Conns[0].Cid)
	waitFor(t, "the node to reconnect", func() bool {
		cz, err := ns.Connz(&server.ConnzOptions{})
		return err == nil && len(cz.Conns) == 1 && a.node.Connected()
	})
	waitFor(t, "heartbeats counted after the reconnect", func() bool { return a.node.Stats().NATSMessagesSent > before })
	// The server gone for good: the node says so (and has no goodbye to
	// flush when it stops).
	ns.Shutdown()
	waitFor(t, "the node to say it lost NATS", func() bool { return !a.node.Connected() })
	a.kill()
}

// startTestNATS starts an in-process nats-server with o on a random
// loopback port, quiet, stopped when the test ends: an existing NATS.
func startTestNATS(t *testing.T, o server.Options) *server.Server {
	t.Helper()
	o.Host, o.Port, o.NoSigs, o.NoLog = "127.0.0.1", server.RANDOM_PORT, true, true
	ns, err := server.NewServer(&o)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return ns
}

// TestTableRequestWhileNATSStallsNoLoop: a node that must ask another for
// its interest table (a change went missing) while its NATS server reads
// nothing does not hold the members' lock waiting on nats.go: a local
// publication, which looks the members up, and the local call after it
// are served. Before, the request was published under members.mu and
// waited for nats.go's stalled flusher (up to a minute), and with it every
// publication of the node.
func TestTableRequestWhileNATSStallsNoLoop(t *testing.T) {
	// No PING from the server during the test: the node's answer would
	// wait on the stalled write too, and its reading with it, so that b's
	// heartbeat would not reach the node.
	ns := startTestNATS(t, server.Options{DisableShortFirstPing: true})
	proxy := newStallProxy(t, ns.Addr().String())
	a := startNode(t, Config{NodeName: "a", NATS: []string{proxy.url()}})
	b := startNode(t, Config{NodeName: "b", NATS: []string{ns.ClientURL()}})
	defer proxy.stall(false) // before the nodes close: they send what they hold
	waitFor(t, "the nodes to know each other", func() bool { return len(a.node.Peers()) == 1 && len(b.node.Peers()) == 1 })

	events(t, dial(t, b, wamp.FormatMsgPack), "com.example.big", nil)
	waitInterest(t, a, "com.example.big", 1)
	sa := dial(t, a, wamp.FormatMsgPack)
	register(t, sa, "com.example.local", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{"here"}}, nil
	}, nil)

	proxy.stall(true)
	big := make([]byte, 256<<10)
	for range 48 { // 12 MiB: nats.go's writer is stuck in a write
		if _, err := sa.Publish(ctxT(t), "com.example.big", wamp.List{big}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	// b's next change is lost (made without being broadcast): its
	// heartbeat tells a, which asks for b's table.
	syncs := a.node.Stats().Syncs
	b.node.local.mu.Lock()
	b.node.local.set[entry{Realm: "realm1", Match: wamp.MatchExact, Topic: "com.example.missed"}] = struct{}{}
	b.node.local.seq++
	b.node.local.mu.Unlock()
	waitFor(t, "a to ask b for its table", func() bool { return a.node.Stats().Syncs > syncs })

	if _, err := sa.Publish(ctxT(t), "com.example.big", wamp.List{"small"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // nats.go's flusher waits a minute
	defer cancel()
	res, err := sa.Call(ctx, "com.example.local", nil, nil, nil)
	if err != nil || len(res.Args) != 1 || res.Args[0] != "here" {
		t.Fatalf("a local call after a publication, while a table request waits for a NATS that reads nothing: %v %+v", err, res)
	}
}

// TestOutboxPacedWaitsForRoom: putPaced queues at once while the outbox
// holds less than half its bound with the message, and otherwise waits
// for NATS to take a round (or for its context, then refused and
// counted), where put would take it or refuse it at once. The outbox's
// goroutine is not started: the test plays its rounds.
func TestOutboxPacedWaitsForRoom(t *testing.T) {
	n := &Node{log: slog.New(slog.DiscardHandler)}
	o := &n.out
	o.n, o.wake = n, make(chan struct{}, 1)
	chunk := make([]byte, 1<<20)
	if !o.putPaced(context.Background(), "s", chunk) || !o.put("s", make([]byte, outboxBytes/2), 0, 0) {
		t.Fatal("a message refused by an empty outbox")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if o.putPaced(ctx, "s", chunk) || n.stats.SendFailures.Load() != 1 {
		t.Fatalf("putPaced into a half-full outbox, its context ended: taken, or not counted (%d)", n.stats.SendFailures.Load())
	}
	queued := make(chan bool)
	go func() { queued <- o.putPaced(context.Background(), "s", chunk) }()
	waitFor(t, "putPaced to wait for room", func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.room != nil
	})
	// NATS takes what was queued: the round's end makes room.
	o.mu.Lock()
	o.bytes, o.cur = 0, outQueue{}
	o.roomLocked()
	o.mu.Unlock()
	if !<-queued {
		t.Fatal("putPaced refused a message once there was room")
	}
	if o.waiting() != uint64(len(chunk)) {
		t.Fatalf("the outbox holds %d bytes, want the chunk's %d", o.waiting(), len(chunk))
	}
}
