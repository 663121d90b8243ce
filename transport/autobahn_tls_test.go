package transport

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAutobahnTLS: Autobahn|Python joins over wss:// on both engines,
// and a 100,000-byte event (several TLS records) and a call go through.
// (Not rss://: Autobahn 22.7.1's ApplicationRunner fails over RawSocket
// with TLS in its own onWelcome, 'WampRawSocketClientProtocol' object has
// no attribute 'transport_details', whatever the engine.)
func TestAutobahnTLS(t *testing.T) {
	const python = "/usr/bin/python3" // Debian's, for which python3-autobahn is installed
	if err := exec.Command(python, "-c", "import autobahn").Run(); err != nil {
		t.Skipf("Autobahn|Python is not installed: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, serverPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	forEngines(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, func(s *Server) { s.TLSConfig = serverTLS })
		for _, url := range []string{"wss://" + ts.addr + "/ws"} {
			t.Run(url[:strings.Index(url, ":")], func(t *testing.T) {
				// A bound on a stuck client, not a timing assertion.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				out, err := exec.CommandContext(ctx, python, "testdata/autobahn_tls.py", url, ca).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "OK 100000 42") {
					t.Fatalf("autobahn_tls.py %s: %v\n%s", url, err, out)
				}
			})
		}
	})
}
