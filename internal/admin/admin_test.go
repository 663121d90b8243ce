package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fastHash makes a password hash that is quick to verify, for tests.
func fastHash(t *testing.T, secret string) *auth.PasswordHash {
	t.Helper()
	h, err := auth.NewPasswordHash(secret, "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newRouter(t *testing.T) *router.Router {
	t.Helper()
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// serve serves the admin endpoints of cfg on a loopback port.
func serve(t *testing.T, cfg Config) string {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

type request struct {
	method, path, body string
	header             map[string]string
	user, pass         string
}

func do(t *testing.T, base string, r request) (int, http.Header, string) {
	t.Helper()
	if r.method == "" {
		r.method = "GET"
	}
	req, err := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if host, ok := r.header["Host"]; ok { // net/http sends req.Host, not the header
		req.Host = host
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestHealth(t *testing.T) {
	var notReady error = errors.New("listeners not up yet")
	base := serve(t, Config{Router: newRouter(t), WebView: true, Ready: func() error { return notReady },
		Access: &Access{Users: []User{{Name: "ops", Password: fastHash(t, "secret")}}}})
	// No login needed, even with Access.
	if code, _, body := do(t, base, request{path: "/healthz"}); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, _, body := do(t, base, request{path: "/readyz"}); code != 503 || !strings.Contains(body, "listeners not up yet") {
		t.Fatalf("/readyz not ready: %d %q", code, body)
	}
	notReady = nil
	if code, _, body := do(t, base, request{path: "/readyz"}); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz ready: %d %q", code, body)
	}
	code, _, body := do(t, base, request{path: "/nothing/here"})
	if code != 404 || !strings.Contains(body, "/nothing/here") || !strings.Contains(body, "connect to /ws") {
		t.Fatalf("unknown path: %d %q", code, body)
	}
	code, h, body := do(t, base, request{path: "/ws"})
	if code != 426 || h.Get("Upgrade") != "websocket" || !strings.Contains(body, "WebSocket client") {
		t.Fatalf("plain GET of the WebSocket path: %d %q", code, body)
	}
}

// TestAccess checks logins: 401 without or with wrong credentials (which
// the throttle then slows down), users and bearer tokens let in, and only
// an admin may kill.
func TestAccess(t *testing.T) {
	rt := newRouter(t)
	throttle := &auth.Throttle{Free: 3, Base: time.Hour, Max: time.Hour}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics here\n") })
	base := serve(t, Config{Router: rt, WebView: true, Metrics: metrics, Access: &Access{
		Users: []User{
			{Name: "viewer", Password: fastHash(t, "look")},
			{Name: "ops", Password: fastHash(t, "act"), Admin: true},
		},
		Tokens:   []Token{{Name: "prometheus", Hash: fastHash(t, "scrape-token")}},
		Throttle: throttle,
	}})

	for _, path := range []string{"/", "/metrics", "/api/snapshot", "/app.js"} {
		code, h, _ := do(t, base, request{path: path})
		if code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
			t.Fatalf("%s without login: %d %q", path, code, h.Get("WWW-Authenticate"))
		}
	}
	if code, _, body := do(t, base, request{path: "/metrics", user: "viewer", pass: "look"}); code != 200 || body != "metrics here\n" {
		t.Fatalf("/metrics as viewer: %d %q", code, body)
	}
	if code, _, _ := do(t, base, request{path: "/metrics", header: map[string]string{"Authorization": "Bearer scrape-token"}}); code != 200 {
		t.Fatalf("/metrics with the token: %d", code)
	}
	if code, _, body := do(t, base, request{path: "/", user: "ops", pass: "act"}); code != 200 || !strings.Contains(body, `data-metric="sessions"`) {
		t.Fatalf("/ as ops: %d", code)
	}
	var snap Snapshot
	_, _, body := do(t, base, request{path: "/api/snapshot", user: "ops", pass: "act"})
	if err := json.Unmarshal([]byte(body), &snap); err != nil || snap.User != "ops" || !snap.Admin {
		t.Fatalf("snapshot as ops: %v %+v", err, snap)
	}

	// Killing: an admin only, JSON only, same origin only.
	ctx := context.Background()
	victim, err := client.ConnectLocal(ctx, rt, "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close(ctx)
	kill := `{"realm":"realm1","session":"` + idString(victim.ID()) + `","message":"bye"}`
	json := map[string]string{"Content-Type": "application/json"}
	if code, _, _ := do(t, base, request{method: "POST", path: "/api/kill", body: kill, header: json, user: "viewer", pass: "look"}); code != 403 {
		t.Fatalf("kill as viewer: %d", code)
	}
	if code, _, _ := do(t, base, request{method: "POST", path: "/api/kill", body: kill, user: "ops", pass: "act",
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}); code != 415 {
		t.Fatalf("kill as a form: %d", code)
	}
	if code, _, _ := do(t, base, request{method: "POST", path: "/api/kill", body: kill, user: "ops", pass: "act",
		header: map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example.com"}}); code != 403 {
		t.Fatalf("kill from another origin: %d", code)
	}
	if code, _, _ := do(t, base, request{method: "POST", path: "/api/kill", body: kill, user: "ops", pass: "act",
		header: map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example.com", "Sec-Fetch-Site": "cross-site"}}); code != 403 {
		t.Fatalf("kill from another site, as a browser says it: %d", code)
	}
	// Behind a proxy that rewrites Host (nginx's default: the router's
	// address), the page's own kill names the proxy's public origin; the
	// browser says it is same-origin.
	behindProxy := map[string]string{"Content-Type": "application/json", "Origin": "https://ops.example.com", "Sec-Fetch-Site": "same-origin"}
	if code, _, body := do(t, base, request{method: "POST", path: "/api/kill", body: `{"realm":"realm1","session":"1"}`, header: behindProxy, user: "ops", pass: "act"}); code != 404 {
		t.Fatalf("the page's kill behind a proxy that rewrites Host: %d %s, want 404 (no such session)", code, body)
	}
	if code, _, body := do(t, base, request{method: "POST", path: "/api/kill", body: kill, header: json, user: "ops", pass: "act"}); code != 200 {
		t.Fatalf("kill as ops: %d %s", code, body)
	}
	select {
	case <-victim.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the killed session did not end")
	}
	if code, _, _ := do(t, base, request{method: "POST", path: "/api/kill", body: kill, header: json, user: "ops", pass: "act"}); code != 404 {
		t.Fatalf("killing it again: %d", code)
	}

	// Wrong passwords: 401 each, counted by the throttle, which then
	// holds up the next attempt from this address, right or wrong.
	for range 2 {
		if code, _, _ := do(t, base, request{path: "/metrics", user: "ops", pass: "guess"}); code != 401 {
			t.Fatalf("wrong password: %d", code)
		}
	}
	if code, _, _ := do(t, base, request{path: "/metrics", header: map[string]string{"Authorization": "Bearer wrong"}}); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if d := throttle.Delay("127.0.0.1:1"); d != time.Hour {
		t.Fatalf("throttle delay after 3 failures: %v", d)
	}
	reqCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(reqCtx, "GET", base+"/metrics", nil)
	req.SetBasicAuth("viewer", "right-or-wrong")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a throttled login was answered at once: %d", resp.StatusCode)
	}
	// A login verified before is remembered: it is not held up.
	if code, _, _ := do(t, base, request{path: "/metrics", user: "viewer", pass: "look"}); code != 200 {
		t.Fatalf("remembered login: %d", code)
	}
}

func idString(id wamp.ID) string {
	b, _ := json.Marshal(uint64(id))
	return string(b)
}

// TestNoAccess lets anyone look and nobody kill when no logins are
// configured.
func TestNoAccess(t *testing.T) {
	rt := newRouter(t)
	base := serve(t, Config{Router: rt, WebView: true})
	if code, _, _ := do(t, base, request{path: "/api/snapshot"}); code != 200 {
		t.Fatalf("snapshot: %d", code)
	}
	code, _, body := do(t, base, request{method: "POST", path: "/api/kill", body: `{"realm":"realm1","session":1}`,
		header: map[string]string{"Content-Type": "application/json"}})
	if code != 403 || !strings.Contains(body, "admin") {
		t.Fatalf("kill without logins: %d %q", code, body)
	}
	if _, err := New(Config{Router: rt, Access: &Access{}}); err == nil {
		t.Fatal("Access without users or tokens was accepted")
	}
}

// TestEvents reads the live stream: a session that joins shows in the next
// snapshots.
func TestEvents(t *testing.T) {
	rt := newRouter(t)
	base := serve(t, Config{Router: rt, WebView: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events?q=realm", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	next := func() Snapshot {
		t.Helper()
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var s Snapshot
				if err := json.Unmarshal([]byte(data), &s); err != nil {
					t.Fatal(err)
				}
				return s
			}
		}
		t.Fatalf("the stream ended: %v", sc.Err())
		return Snapshot{}
	}
	if s := next(); s.Sessions != 0 {
		t.Fatalf("first snapshot: %d sessions", s.Sessions)
	}
	sess, err := client.ConnectLocal(ctx, rt, "realm1", &client.Options{AuthID: "watched"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(context.Background())
	for {
		s := next()
		if s.Sessions == 1 {
			if len(s.SessionList) != 0 {
				t.Fatalf("the search %q matched %+v", "realm", s.SessionList)
			}
			break
		}
	}
}

// TestEventsOutliveReadTimeout keeps the stream going past the server's
// read timeout, which net/http would otherwise enforce on the idle request
// by canceling it.
func TestEventsOutliveReadTimeout(t *testing.T) {
	h, err := New(Config{Router: newRouter(t), WebView: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for n := 0; n < 2; {
		if !sc.Scan() {
			t.Fatalf("the stream ended after %d snapshots: %v", n, sc.Err())
		}
		if strings.HasPrefix(sc.Text(), "data: ") {
			n++
		}
	}
}

// TestThrottleOff: without a throttle (admin.throttle.max_delay: 0 gives
// none), wrong logins do not hold up the next one (a nil throttle used to
// mean the default one).
func TestThrottleOff(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics here\n") })
	base := serve(t, Config{Router: newRouter(t), Metrics: metrics,
		Access: &Access{Users: []User{{Name: "ops", Password: fastHash(t, "secret")}}}})
	for range 6 {
		if code, _, _ := do(t, base, request{path: "/metrics", user: "ops", pass: "guess"}); code != 401 {
			t.Fatalf("wrong password: %d", code)
		}
	}
	// The default throttle would hold this one 2 s after six failures.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	req.SetBasicAuth("ops", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a right login after six wrong ones, without a throttle: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a right login after six wrong ones: %d", resp.StatusCode)
	}
}

// openStream opens /api/events at base and reads its first snapshot.
func openStream(t *testing.T, base string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
			t.Fatalf("the stream ended at once: %v", err)
		}
	}
	return resp, func() { cancel(); resp.Body.Close() }
}

// TestEventStreamsBounded: at most maxStreams live streams are open at
// once; the next is answered 503 with Retry-After, and one is taken again
// once a stream ends. Before, every request became a stream, each encoding
// a snapshot a second and holding one of the listener's HTTP connections
// (shared, on a WAMP listener, with long-poll clients and the bridge), so
// that one viewer could take them all.
func TestEventStreamsBounded(t *testing.T) {
	h, err := New(Config{Router: newRouter(t), WebView: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	var closers []context.CancelFunc
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for range maxStreams {
		resp, done := openStream(t, srv.URL)
		closers = append(closers, done)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d of %d: %d", len(closers), maxStreams, resp.StatusCode)
		}
	}
	resp, done := openStream(t, srv.URL)
	var body []byte
	if resp.StatusCode != http.StatusOK { // a stream never ends
		body, _ = io.ReadAll(resp.Body)
	}
	done()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stream %d: %d %q, Retry-After %q", maxStreams+1, resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	closers[0]()
	closers = closers[1:]
	deadline := time.Now().Add(10 * time.Second)
	for h.streams.Load() >= maxStreams { // the handler sees the client gone within a tick
		if time.Now().After(deadline) {
			t.Fatal("a closed stream still counts")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, done = openStream(t, srv.URL)
	closers = append(closers, done)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a stream after one ended: %d", resp.StatusCode)
	}
}
