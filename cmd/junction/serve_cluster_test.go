package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

var routesRE = regexp.MustCompile(`routes on ([0-9.:]+)`)

// routeAddr waits for the cluster node's start and returns its route
// address.
func (p *serveProc) routeAddr(t *testing.T) string {
	t.Helper()
	return p.logMatch(t, "cluster node started", routesRE)
}

// logMatch waits for the process's log line with text and returns what
// re's first group matched in it.
func (p *serveProc) logMatch(t *testing.T, text string, re *regexp.Regexp) string {
	t.Helper()
	m := re.FindStringSubmatch(p.waitLog(t, text))
	if m == nil {
		t.Fatalf("no match of %s in the line %q:\n%s", re, text, p.logText())
	}
	return m[1]
}

// TestServeCluster: two `junction serve` processes joined with --cluster
// and --join carry a publication from one to a subscriber on the other;
// when one is killed (SIGKILL: no goodbye), the other takes it for dead
// within the node timeout and logs it.
func TestServeCluster(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cluster.yaml")
	// Fast membership, so that the test need not wait 4 s; the route
	// address comes from --cluster.
	if err := os.WriteFile(cfg, []byte("listeners:\n  - address: 127.0.0.1:0\ncluster:\n  listen: 127.0.0.1:0\n  heartbeat_interval: 100ms\n  node_timeout: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n1 := startServe(t, dir, nil, "--config", cfg, "--node", "n1", "--cluster", "127.0.0.1:0", "--cluster-store", filepath.Join(dir, "js1"))
	route1 := n1.routeAddr(t)
	addr1 := n1.address(t)
	n2 := startServe(t, dir, nil, "--config", cfg, "--node", "n2", "--cluster", "127.0.0.1:0", "--join", route1)
	addr2 := n2.address(t)
	n1.waitLog(t, `peer=n2 peer_id=`) // "cluster: node joined"

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := client.Dial(ctx, "rs://"+addr1, "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctx)
	got := make(chan *client.Event, 100)
	if _, err := sub.Subscribe(ctx, "com.example.cluster", func(ev *client.Event) { got <- ev }, nil); err != nil {
		t.Fatal(err)
	}
	pub, err := client.Dial(ctx, "ws://"+addr2+"/ws", "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The subscription reaches n2 a moment after SUBSCRIBED: publish until
	// an event comes through.
	var ev *client.Event
	for ev == nil {
		if _, err := pub.Publish(ctx, "com.example.cluster", wamp.List{"across"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev = <-got:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no event crossed from n2 to n1")
		}
	}
	if ev.Args[0] != "across" {
		t.Fatalf("event %v", ev.Args)
	}

	// Retained events cross too, through JetStream: retained on n2, given
	// to a subscriber joining n1 (once n1 has read it: subscribe again
	// until it comes). n1 keeps its JetStream data in --cluster-store.
	n1.waitLog(t, "event store ready in JetStream")
	if _, err := os.Stat(filepath.Join(dir, "js1", "node-name")); err != nil {
		t.Fatalf("--cluster-store: %v", err)
	}
	if _, err := pub.Publish(ctx, "com.example.retained", wamp.List{"kept"}, nil, wamp.Dict{"retain": true, "acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	for retained := false; !retained; {
		s, err := sub.Subscribe(ctx, "com.example.retained", func(ev *client.Event) { got <- ev }, wamp.Dict{"get_retained": true})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-got:
			if ev.Args[0] != "kept" || ev.Details["retained"] != true {
				t.Fatalf("retained event %v %v", ev.Args, ev.Details)
			}
			retained = true
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the event retained on n2 never reached a subscriber on n1")
		}
		if err := s.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
	}

	n2.signal(t, syscall.SIGKILL)
	n2.wait(t)
	n1.waitLog(t, `msg="cluster: node lost`)

	n1.signal(t, syscall.SIGTERM)
	if code := n1.wait(t); code != 0 {
		t.Fatalf("n1 exited with %d:\n%s", code, n1.logText())
	}
}

// TestBenchCluster: `junction bench` against two clustered `junction serve`
// processes, as BENCHMARKS.md's cluster figures are made: calls from
// callers on one node to the callee on the other (-callee-url), and a
// fan-out with subscribers spread over both nodes (-url A,B), with the
// CPU of both processes summed (-pid P1,P2).
func TestBenchCluster(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(cfg, []byte("listeners:\n  - address: 127.0.0.1:0\ncluster:\n  listen: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n1 := startServe(t, dir, nil, "--config", cfg, "--node", "b1")
	route1 := n1.routeAddr(t)
	addr1 := n1.address(t)
	n2 := startServe(t, dir, nil, "--config", cfg, "--node", "b2", "--join", route1)
	addr2 := n2.address(t)
	n1.waitLog(t, `peer=b2 peer_id=`)
	pids := itoa(n1.cmd.Process.Pid) + "," + itoa(n2.cmd.Process.Pid)

	rpc := runBenchT(t, "rpc", "-url", "rs://"+addr1, "-callee-url", "rs://"+addr2, "-callers", "2", "-inflight", "4",
		"-duration", "1s", "-warmup", "200ms", "-pid", pids)
	if rpc.Errors != 0 || rpc.Calls == 0 {
		t.Errorf("rpc across nodes: %d calls, %d errors (%s)", rpc.Calls, rpc.Errors, rpc.FirstError)
	}
	if rpc.Router == nil || rpc.Router.CPUPerCallUs <= 0 || len(rpc.Router.PIDs) != 2 {
		t.Errorf("rpc: both routers not sampled: %+v", rpc.Router)
	}

	fan := runBenchT(t, "fanout", "-url", "rs://"+addr1+",ws://"+addr2+"/ws", "-subscribers", "10", "-rate", "100",
		"-duration", "1s", "-warmup", "200ms", "-pid", pids)
	if fan.Lost != 0 || fan.Delivered == 0 || fan.Delivered != fan.Expected {
		t.Errorf("fanout across nodes: delivered %d of %d, lost %d", fan.Delivered, fan.Expected, fan.Lost)
	}
	if fan.Router == nil || fan.Router.CPUPerEventUs <= 0 {
		t.Errorf("fanout: routers not sampled: %+v", fan.Router)
	}
}
