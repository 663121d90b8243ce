package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// TestWebViewRefusesRebinding: without logins (the default: the web view
// on 127.0.0.1 next to /ws, open to whoever reaches it), a page of another
// site whose name the attacker points at 127.0.0.1 (DNS rebinding) is
// refused: a request naming a host that is neither an IP address nor
// localhost gets 403, so it cannot read the sessions, their authids and
// addresses. Before, the page read /api/snapshot as its own. /healthz
// still answers any name; AnyHost (a proxy in front) lets any through.
func TestWebViewRefusesRebinding(t *testing.T) {
	chromium := browsertest.Require(t, "webtest", "internal/admin/webtest", "playwright-core")
	rt := newRouter(t)
	ctx := context.Background()
	victim, err := client.ConnectLocal(ctx, rt, "realm1", &client.Options{AuthID: "secret-authid"})
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close(ctx)
	// The attacker's server, serving the page before the name is rebound
	// to 127.0.0.1, is played by the admin endpoints' port: the page's
	// origin is the same, rebind.test and that port.
	attackPage := `<!doctype html><script>
		fetch("/api/snapshot").then(async (r) => { window.result = { status: r.status, body: await r.text() }; },
			(e) => { window.result = { status: 0, body: String(e) }; });
		</script>`
	addr := serveWAMP(t, Config{Router: rt, WebView: true, Metrics: http.NotFoundHandler()}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/attack" {
				io.WriteString(w, attackPage)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	_, port, _ := strings.Cut(addr, ":")
	var got struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	attack(t, chromium, "page", "", "http://rebind.test:"+port+"/attack", &got)
	if got.Status != http.StatusForbidden || strings.Contains(got.Body, "secret-authid") {
		t.Fatalf("a rebound page read /api/snapshot: %d %.200s", got.Status, got.Body)
	}

	base := "http://" + addr
	for _, c := range []struct {
		host, path string
		want       int
	}{
		{"rebind.test:" + port, "/", 403},
		{"rebind.test", "/metrics", 403},
		{"rebind.test:" + port, "/api/events", 403},
		{"rebind.test:" + port, "/healthz", 200},
		{"127.0.0.1:" + port, "/api/snapshot", 200},
		{"localhost:" + port, "/api/snapshot", 200},
		{"LOCALHOST.", "/api/snapshot", 200},
		{"[::1]:" + port, "/api/snapshot", 200},
		{"192.0.2.7", "/api/snapshot", 200},
	} {
		if code, _, body := do(t, base, request{path: c.path, header: map[string]string{"Host": c.host}}); code != c.want {
			t.Errorf("Host %s, %s: %d %.200q, want %d", c.host, c.path, code, body, c.want)
		}
	}
	// A proxy in front that checks (allow_unprotected), or a login.
	for _, cfg := range []Config{
		{Router: rt, WebView: true, AnyHost: true},
		{Router: rt, WebView: true, Access: &Access{Users: []User{{Name: "ops", Password: fastHash(t, "secret")}}}},
	} {
		base := serve(t, cfg)
		if code, _, body := do(t, base, request{path: "/api/snapshot", user: "ops", pass: "secret",
			header: map[string]string{"Host": "admin.example.com"}}); code != 200 {
			t.Errorf("AnyHost %v, Access %v: %d %q", cfg.AnyHost, cfg.Access != nil, code, body)
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

// TestWebViewRetriesRefusedStream: a page opened while every live stream
// is taken (maxStreams) says it was refused and gets live by itself once
// one is free. EventSource gives up for good on an answer other than 200,
// so before, the page said "reconnecting" and never did.
func TestWebViewRetriesRefusedStream(t *testing.T) {
	chromium := browsertest.Require(t, "webtest", "internal/admin/webtest", "playwright-core")
	addr := serveWAMP(t, Config{Router: newRouter(t), WebView: true}, nil)
	var closers []context.CancelFunc
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for range maxStreams {
		resp, done := openStream(t, "http://"+addr)
		closers = append(closers, done)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", len(closers), resp.StatusCode)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "attack.mjs", "crowded")
	cmd.Dir = "webtest"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "ADMIN=http://"+addr+"/")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	toPage, _ := cmd.StdinPipe()
	fromPage, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewScanner(fromPage)
	if !out.Scan() || out.Text() != "saw refused" {
		cmd.Wait()
		t.Fatalf("the page did not say it was refused: %q\n%s", out.Text(), stderr.String())
	}
	closers[0]()
	closers = closers[1:]
	fmt.Fprintln(toPage, "go freed")
	var got struct {
		Live bool `json:"live"`
	}
	if !out.Scan() || json.Unmarshal(out.Bytes(), &got) != nil || !got.Live {
		cmd.Wait()
		t.Fatalf("the page did not get live once a stream was free: %q\n%s", out.Text(), stderr.String())
	}
	toPage.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("attack.mjs: %v\n%s", err, stderr.String())
	}
}
