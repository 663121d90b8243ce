package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/junction-wamp/junction/internal/browsertest"
)

// TestChromiumTLS: Chromium loads a page over https:// from the Server's
// TLS listener (the HTTP hand-off) and joins over wss:// with the
// browser's WebSocket, on both engines; a 50,000-character event (several
// TLS records) comes back.
func TestChromiumTLS(t *testing.T) {
	browsertest.Require(t, "testdata/browser", "transport/testdata/browser", "playwright-core")
	page, err := os.ReadFile("testdata/browser/page.html")
	if err != nil {
		t.Fatal(err)
	}
	forEngines(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, func(s *Server) {
			s.TLSConfig = serverTLS
			s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Write(page)
			})
		})
		// A bound on a stuck browser, not a timing assertion.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", "check.mjs", "https://"+ts.addr+"/page")
		cmd.Dir = "testdata/browser"
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("node check.mjs: %v\n%s", err, stderr)
		}
		var report struct {
			Event    int    `json:"event"`
			Protocol string `json:"protocol"`
			Error    string `json:"error"`
		}
		if err := json.Unmarshal(out, &report); err != nil {
			t.Fatalf("report %q: %v", out, err)
		}
		if report.Error != "" || report.Event != 50000 || report.Protocol != "wamp.2.json" {
			t.Fatalf("report %+v", report)
		}
	})
}
