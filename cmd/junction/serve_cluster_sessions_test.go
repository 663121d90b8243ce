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

var adminRE = regexp.MustCompile(`admin="?http://([^ "]+)`)

// adminAddr returns the address of the process's admin (metrics) listener.
func (p *serveProc) adminAddr(t *testing.T) string {
	t.Helper()
	return p.logMatch(t, "junction listening", adminRE)
}

// TestServeClusterKilledNodeSessions: three `junction serve` processes
// with the default membership timing; a session on n3 holds a testament,
// and n3 is killed (SIGKILL: nothing announced by itself). Subscribers on
// n1 and n2 get the testament and wamp.session.on_leave, once each,
// within the node timeout and a little: the surviving node with the
// lowest id announces them.
func TestServeClusterKilledNodeSessions(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(cfg, []byte("listeners:\n  - address: 127.0.0.1:0\ncluster:\n  listen: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n1 := startServe(t, dir, nil, "--config", cfg, "--node", "n1")
	route1 := n1.routeAddr(t)
	n2 := startServe(t, dir, nil, "--config", cfg, "--node", "n2", "--join", route1)
	n3 := startServe(t, dir, nil, "--config", cfg, "--node", "n3", "--join", route1)
	admin1, admin2 := n1.adminAddr(t), n2.adminAddr(t)
	waitMetric(t, admin1, 2, "junction_cluster_peers")
	waitMetric(t, admin2, 2, "junction_cluster_peers")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type watcher struct{ left, will chan *client.Event }
	var ws []watcher
	for _, addr := range []string{n1.address(t), n2.address(t)} {
		s, err := client.Dial(ctx, "rs://"+addr, "realm1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		w := watcher{make(chan *client.Event, 10), make(chan *client.Event, 10)}
		if _, err := s.Subscribe(ctx, "wamp.session.on_leave", func(ev *client.Event) { w.left <- ev }, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Subscribe(ctx, "com.example.will", func(ev *client.Event) { w.will <- ev }, nil); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	dying, err := client.Dial(ctx, "rs://"+n3.address(t), "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dying.Call(ctx, "wamp.session.add_testament", wamp.List{"com.example.will", wamp.List{"n3 is gone"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	// A session joins n1 and n2 after their subscriptions: once each
	// survivor knows the other's, it knows the other's subscriptions too
	// (a node tells its changes in order), so that the one that announces
	// the lost session reaches the subscribers of both.
	for _, addr := range []string{n1.address(t), n2.address(t)} {
		m, err := client.Dial(ctx, "rs://"+addr, "realm1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close(ctx)
	}
	// Each survivor knows the other's watcher and marker, the dying
	// session and its testament.
	for _, admin := range []string{admin1, admin2} {
		waitMetric(t, admin, 3, "junction_cluster_remote_sessions")
		waitMetric(t, admin, 1, "junction_cluster_remote_testaments")
	}

	killed := time.Now()
	n3.signal(t, syscall.SIGKILL)
	n3.wait(t)
	for i, w := range ws {
		var ev *client.Event
		select {
		case ev = <-w.will:
		case <-ctx.Done():
			t.Fatalf("n%d: no testament", i+1)
		}
		if ev.Args[0] != "n3 is gone" {
			t.Fatalf("n%d: testament %v", i+1, ev.Args)
		}
		select {
		case ev = <-w.left:
		case <-ctx.Done():
			t.Fatalf("n%d: no on_leave", i+1)
		}
		if id, _ := wamp.AsUint(ev.Args[0]); id != uint64(dying.ID()) {
			t.Fatalf("n%d: on_leave of %v, want %d", i+1, ev.Args, dying.ID())
		}
		t.Logf("n%d: testament and on_leave %v after SIGKILL", i+1, time.Since(killed).Round(10*time.Millisecond))
	}
	announced := metricValue(scrapeMetrics(t, admin1), "junction_cluster_sessions_announced_total") +
		metricValue(scrapeMetrics(t, admin2), "junction_cluster_sessions_announced_total")
	if announced != 1 {
		t.Fatalf("the survivors announced %v sessions, want 1", announced)
	}
	for i, w := range ws {
		select {
		case ev := <-w.left:
			t.Fatalf("n%d: a second on_leave %v", i+1, ev.Args)
		case ev := <-w.will:
			t.Fatalf("n%d: a second testament %v", i+1, ev.Args)
		default:
		}
	}
}
