package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/testcert"
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

// TestServeClusterTLSFlags: --cluster-tls-cert, -key and -ca put two
// nodes' routes on mutual TLS (they meet); a certificate without its key
// is refused before anything starts, naming the missing setting.
func TestServeClusterTLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tlsFlags := func(name string) []string {
		p, err := ca.Node(name)
		if err != nil {
			t.Fatal(err)
		}
		cert, key, err := p.WriteFiles(dir, name+"-")
		if err != nil {
			t.Fatal(err)
		}
		return []string{"--cluster-tls-cert", cert, "--cluster-tls-key", key, "--cluster-tls-ca", caFile}
	}
	ctx, stop := context.WithCancel(context.Background())
	var exits []<-chan int
	defer func() {
		stop()
		for _, e := range exits {
			<-e
		}
	}()
	_, logs1, exit1 := serveInProcess(t, ctx, append([]string{"--listen", "127.0.0.1:0", "--cluster", "127.0.0.1:0", "--node", "n1"}, tlsFlags("n1")...)...)
	exits = append(exits, exit1)
	m := routesRE.FindStringSubmatch(logs1.String())
	if m == nil {
		t.Fatalf("no route address in the log:\n%s", logs1.String())
	}
	_, _, exit2 := serveInProcess(t, ctx, append([]string{"--listen", "127.0.0.1:0", "--cluster", "127.0.0.1:0", "--join", m[1], "--node", "n2"}, tlsFlags("n2")...)...)
	exits = append(exits, exit2)
	waitLogLine(t, logs1, "peer=n2")

	var out strings.Builder
	code := run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--cluster", "127.0.0.1:0", "--cluster-tls-cert", filepath.Join(dir, "n1-cert.pem")}, &out, &out)
	if code == 0 || !strings.Contains(out.String(), "cluster.tls.key: route TLS needs this node's private key") {
		t.Fatalf("a certificate without its key: exit %d, %s", code, out.String())
	}
}
