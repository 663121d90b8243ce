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
	m := routesRE.FindStringSubmatch(p.waitLog(t, "cluster node started"))
	if m == nil {
		t.Fatalf("no route address in the cluster line:\n%s", p.logText())
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
	n1 := startServe(t, dir, nil, "--config", cfg, "--node", "n1", "--cluster", "127.0.0.1:0")
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

	n2.signal(t, syscall.SIGKILL)
	n2.wait(t)
	n1.waitLog(t, `msg="cluster: node lost`)

	n1.signal(t, syscall.SIGTERM)
	if code := n1.wait(t); code != 0 {
		t.Fatalf("n1 exited with %d:\n%s", code, n1.logText())
	}
}
