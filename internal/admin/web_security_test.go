package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/browsertest"
	"github.com/junction-wamp/junction/transport"
)

// serveWAMP serves the admin endpoints of cfg on a loopback WAMP listener
// (its WebSocket path /ws next to them), as junction serve does by
// default, wrapped by wrap when not nil. It returns host:port.
func serveWAMP(t *testing.T, cfg Config, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	srv := &transport.Server{Router: cfg.Router}
	cfg.Servers = []*transport.Server{srv}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Handler = h
	if wrap != nil {
		srv.Handler = wrap(h)
	}
	ln, err := transport.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return ln.Addr().String()
}

// attack runs webtest/attack.mjs in mode, with the web view at admin and
// a hostile page at attacker, and reads what it printed (a JSON object)
// into out.
func attack(t *testing.T, chromium, mode, admin, attacker string, out any, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "attack.mjs", mode)
	cmd.Dir = "webtest"
	cmd.Env = append(os.Environ(), append([]string{"CHROMIUM=" + chromium, "ADMIN=" + admin, "ATTACKER=" + attacker}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("attack.mjs %s: %v\n%s", mode, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("attack.mjs %s printed %q: %v\n%s", mode, stdout.String(), err, stderr.String())
	}
}

// hostile serves page at / of a loopback server of its own: another
// origin and site than the admin endpoints (localhost, not 127.0.0.1),
// and, as the attacker's server, on the same network, so that Chromium's
// Private Network Access, which other browsers lack, does not hide what
// the server lets through.
func hostile(t *testing.T, page string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/"
}

// TestWebViewNotFramed: a page of another site cannot show the web view in
// a frame, where it could trick an admin into clicking Kill twice
// (clickjacking): every answer says X-Frame-Options: DENY and
// Content-Security-Policy frame-ancestors 'none'. Before, Chromium drew
// the web view, kill buttons and all, in the other site's frame.
func TestWebViewNotFramed(t *testing.T) {
	chromium := browsertest.Require(t, "webtest", "internal/admin/webtest", "playwright-core")
	addr := serveWAMP(t, Config{Router: newRouter(t), WebView: true}, nil)
	admin := "http://" + addr + "/"
	var got struct {
		Rendered bool   `json:"rendered"`
		URL      string `json:"url"`
	}
	attack(t, chromium, "frame", admin, hostile(t, `<!doctype html><p>Win a prize: click twice below!</p>
		<iframe src="`+admin+`" width="1200" height="800" onload="window.frameLoaded = true"></iframe>`), &got)
	if got.Rendered {
		t.Fatalf("another site's page showed the web view in a frame (%s)", got.URL)
	}
	for _, path := range []string{"/", "/api/snapshot", "/nothing"} {
		code, h, _ := do(t, "http://"+addr, request{path: path})
		if h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: %d with X-Frame-Options %q, Content-Security-Policy %q", path, code, h.Get("X-Frame-Options"), h.Get("Content-Security-Policy"))
		}
	}
}

// TestWebViewShowsMarkupAsText: an authid and a topic that are markup, the
// clients' choice, show as text in Chromium: no element made of them, no
// script run.
func TestWebViewShowsMarkupAsText(t *testing.T) {
	chromium := browsertest.Require(t, "webtest", "internal/admin/webtest", "playwright-core")
	rt := newRouter(t)
	const markup = `"><img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`
	const topic = `com.x<svg/onload=window.pwned=3>`
	ctx := context.Background()
	s, err := client.ConnectLocal(ctx, rt, "realm1", &client.Options{AuthID: markup})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, err := s.Subscribe(ctx, topic, func(*client.Event) {}, nil); err != nil {
		t.Fatal(err)
	}
	addr := serveWAMP(t, Config{Router: rt, WebView: true}, nil)
	var got struct {
		Shown    bool `json:"shown"`
		Ran      bool `json:"ran"`
		Elements int  `json:"elements"`
	}
	attack(t, chromium, "xss", "http://"+addr+"/", "", &got, "MARKUP="+markup, "TOPIC="+topic)
	if !got.Shown || got.Ran || got.Elements != 0 {
		t.Fatalf("markup in an authid or topic: %+v", got)
	}
}
