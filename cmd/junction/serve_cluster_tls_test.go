package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/internal/testcert"
)

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
