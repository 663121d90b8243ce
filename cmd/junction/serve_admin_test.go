package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// serving is `junction serve` run in-process.
type serving struct {
	logs   *syncBuffer
	stop   context.CancelFunc
	exit   chan int
	listen string // the first listener's address
	admin  string // where the admin endpoints are, "" when nowhere
}

// serve starts `junction serve args...` and waits for its start line.
func serve(t *testing.T, args ...string) *serving {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	s := &serving{logs: &syncBuffer{}, stop: stop, exit: make(chan int, 1)}
	go func() { s.exit <- run(ctx, append([]string{"serve"}, args...), s.logs, s.logs) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-s.exit:
		case <-time.After(10 * time.Second):
			t.Error("serve did not return")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := regexp.MustCompile(`listen"?[=:]"([^ ]+) .*?(admin"?[=:]"https?://([^ ]+) |$)`).FindStringSubmatch(s.logs.String()); m != nil {
			s.listen, s.admin = m[1], m[3]
			return s
		}
		select {
		case code := <-s.exit:
			t.Fatalf("serve exited with %d:\n%s", code, s.logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start:\n%s", s.logs.String())
	return nil
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "junction.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func hashOf(t *testing.T, secret string) string {
	t.Helper()
	h, err := auth.NewPasswordHash(secret, "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func httpDo(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if host := req.Header.Get("Host"); host != "" { // net/http sends req.Host, not the header
		req.Host = host
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

// TestServeAdmin serves the admin endpoints on a WAMP listener for users
// of the config: the web view's kill works for an admin and is refused to
// a viewer; /readyz says ready, and not ready once shutdown begins.
func TestServeAdmin(t *testing.T) {
	cfg := writeConfig(t, fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
admin:
  users:
    - {name: ops, password: '%s', admin: true}
    - {name: viewer, password: '%s'}
`, hashOf(t, "ops-pass"), hashOf(t, "look")))
	s := serve(t, "--config", cfg)
	if s.admin != s.listen {
		t.Fatalf("admin at %q, want on the listener %q", s.admin, s.listen)
	}
	base := "http://" + s.listen
	if code, _ := httpDo(t, "GET", base+"/metrics", ""); code != 401 {
		t.Fatalf("/metrics without a login: %d", code)
	}
	if code, body := httpDo(t, "GET", base+"/readyz", ""); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}

	ctx := context.Background()
	victim, err := client.Dial(ctx, "ws://"+s.listen+"/ws", "realm1", &client.Options{AuthID: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close(ctx)
	kill := fmt.Sprintf(`{"realm":"realm1","session":"%d"}`, uint64(victim.ID()))
	if code, _ := httpDo(t, "POST", base+"/api/kill", kill, "Content-Type", "application/json", "Authorization", basic("viewer", "look")); code != 403 {
		t.Fatalf("kill as viewer: %d", code)
	}
	if code, body := httpDo(t, "POST", base+"/api/kill", kill, "Content-Type", "application/json", "Authorization", basic("ops", "ops-pass")); code != 200 {
		t.Fatalf("kill as ops: %d %s", code, body)
	}
	<-victim.Done()
	var ce *client.CloseError
	if !errors.As(victim.Err(), &ce) || ce.Reason != wamp.CloseKilled {
		t.Fatalf("the killed session ended with %v", victim.Err())
	}
	if !strings.Contains(s.logs.String(), `msg="admin: session killed" by=ops`) {
		t.Errorf("the kill is not logged:\n%s", s.logs.String())
	}
	var snap struct {
		Sessions int `json:"sessions"`
	}
	_, body := httpDo(t, "GET", base+"/api/snapshot", "", "Authorization", basic("viewer", "look"))
	if err := json.Unmarshal([]byte(body), &snap); err != nil || snap.Sessions != 0 {
		t.Fatalf("snapshot after the kill: %v %s", err, body)
	}
	if strings.Contains(s.logs.String(), "ops-pass") || strings.Contains(s.logs.String(), "look") {
		t.Errorf("a password is in the log:\n%s", s.logs.String())
	}
}

// TestServeRefusesOpenAdmin refuses at start to serve metrics and the web
// view to anyone on a public address, saying what to do; nothing listens.
// TestServeAdminThrottleMetrics: what the admin endpoints' login throttle
// holds back is counted in /metrics.
func TestServeAdminThrottleMetrics(t *testing.T) {
	cfg := writeConfig(t, fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
admin:
  users:
    - {name: ops, password: '%s', admin: true}
  throttle: {free: 1, max_delay: 1s}
`, hashOf(t, "ops-pass")))
	s := serve(t, "--config", cfg)
	base := "http://" + s.listen
	ops := basic("ops", "ops-pass")
	if code, _ := httpDo(t, "GET", base+"/metrics", "", "Authorization", ops); code != 200 {
		t.Fatalf("/metrics as ops: %d", code)
	}
	for range 2 { // the second waits for the first's failure
		if code, _ := httpDo(t, "GET", base+"/metrics", "", "Authorization", basic("ops", "guess")); code != 401 {
			t.Fatalf("a wrong password: %d, want 401", code)
		}
	}
	_, body := httpDo(t, "GET", base+"/metrics", "", "Authorization", ops) // remembered: not held back
	if want := `junction_admin_logins_throttled_total{outcome="delayed"} 1`; !strings.Contains(body, want) {
		t.Errorf("/metrics has no %s:\n%s", want, grepLines(body, "logins_throttled"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestServeRefusesOpenAdmin(t *testing.T) {
	cfg := writeConfig(t, "listeners:\n  - address: 127.0.0.1:0\nadmin:\n  address: 0.0.0.0:0\n")
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--config", cfg}, &out, &out); code != 1 {
		t.Fatalf("exit code %d, want 1\n%s", code, out.String())
	}
	for _, want := range []string{"junction.yaml:4:12: admin:", "open to anyone on 0.0.0.0:0", "admin.users or admin.tokens", "allow_unprotected"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out.String())
		}
	}
}

// TestServeAdminOwnListener serves the admin endpoints on an address of
// their own, which does not speak WAMP, and leaves the WAMP listener
// without them.
func TestServeAdminOwnListener(t *testing.T) {
	// 127.0.0.2 (loopback too): "127.0.0.1:0" would name the listener.
	cfg := writeConfig(t, "listeners:\n  - address: 127.0.0.1:0\nadmin:\n  address: 127.0.0.2:0\n  web_view: false\n")
	s := serve(t, "--config", cfg)
	if s.admin == "" || s.admin == s.listen {
		t.Fatalf("admin at %q, listener %q", s.admin, s.listen)
	}
	if code, body := httpDo(t, "GET", "http://"+s.admin+"/metrics", ""); code != 200 || !strings.Contains(body, "junction_sessions{realm=\"realm1\"} 0") {
		t.Fatalf("/metrics on the admin address: %d", code)
	}
	if code, _ := httpDo(t, "GET", "http://"+s.admin+"/", ""); code != 404 {
		t.Fatalf("the web view is off, / answered %d", code)
	}
	if code, _ := httpDo(t, "GET", "http://"+s.listen+"/metrics", ""); code != 404 {
		t.Fatalf("/metrics on the WAMP listener: %d", code)
	}
}

// TestServeAdminHostNames: without logins (the default: the endpoints on
// the loopback listener, open to whoever reaches it), a request for a name
// other than localhost is refused, so that a page of a site whose name is
// pointed at 127.0.0.1 (DNS rebinding) cannot read them; /healthz answers
// any. allow_unprotected (a proxy in front checks) and a Unix socket (only
// a proxy on the host reaches it) let any name through.
func TestServeAdminHostNames(t *testing.T) {
	s := serve(t, "--listen", "127.0.0.1:0")
	base := "http://" + s.listen
	if code, body := httpDo(t, "GET", base+"/api/snapshot", "", "Host", "rebind.example.com"); code != 403 || !strings.Contains(body, "allow_unprotected") {
		t.Fatalf("/api/snapshot for another name: %d %q", code, body)
	}
	if code, _ := httpDo(t, "GET", base+"/healthz", "", "Host", "rebind.example.com"); code != 200 {
		t.Fatalf("/healthz for another name: %d", code)
	}
	if code, _ := httpDo(t, "GET", base+"/api/snapshot", "", "Host", "localhost"); code != 200 {
		t.Fatalf("/api/snapshot for localhost: %d", code)
	}

	cfg := writeConfig(t, "listeners:\n  - address: 127.0.0.1:0\nadmin:\n  allow_unprotected: true\n")
	s = serve(t, "--config", cfg)
	if code, body := httpDo(t, "GET", "http://"+s.listen+"/api/snapshot", "", "Host", "admin.example.com"); code != 200 {
		t.Fatalf("allow_unprotected, /api/snapshot for a name: %d %q", code, body)
	}

	sock := filepath.Join(t.TempDir(), "admin.sock")
	cfg = writeConfig(t, "listeners:\n  - address: 127.0.0.1:0\nadmin:\n  address: unix:"+sock+"\n")
	serve(t, "--config", cfg)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://admin.example.com/api/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("on a Unix socket, /api/snapshot for a name: %d", resp.StatusCode)
	}
}

// TestServeLogFlags: --log-format json and --log-level override the
// config; a refused handshake is logged at info level, why and from where.
func TestServeLogFlags(t *testing.T) {
	s := serve(t, "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "info")
	first, _, _ := strings.Cut(s.logs.String(), "\n")
	var line map[string]any
	if err := json.Unmarshal([]byte(first), &line); err != nil || line["level"] != "INFO" {
		t.Fatalf("the first log line is not JSON at info level: %q", first)
	}
	c, err := net.Dial("tcp", s.listen)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{0x7f, 0xf5, 0, 0}) // RawSocket with serializer 5: refused
	io.ReadAll(c)
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	refused := regexp.MustCompile(`"level":"INFO","msg":"handshake refused",.*"reason":"rawsocket","remote":"127.0.0.1:`)
	for !refused.MatchString(s.logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the refused handshake:\n%s", s.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--log-format", "xml"}, &out, &out); code != 1 || !strings.Contains(out.String(), `--log-format: "xml" is not one of text, json`) {
		t.Fatalf("--log-format xml: %d %s", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"serve", "--log-level", "loud"}, &out, &out); code != 1 || !strings.Contains(out.String(), `--log-level: "loud" is not one of debug, info, warn, error`) {
		t.Fatalf("--log-level loud: %d %s", code, out.String())
	}
}

// TestServeAdminTrustedProxies: on a listener of their own behind a
// trusted proxy, the admin endpoints key a login on the client's address
// from X-Forwarded-For (the throttle, the logs), not on the proxy's; a
// header from elsewhere is not believed.
func TestServeAdminTrustedProxies(t *testing.T) {
	cfg := writeConfig(t, fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.2:0
  trusted_proxies: [127.0.0.1]
  users:
    - {name: ops, password: '%s'}
`, hashOf(t, "ops-pass")))
	s := serve(t, "--config", cfg)
	wrong := basic("ops", "guess")
	if code, _ := httpDo(t, "GET", "http://"+s.admin+"/metrics", "", "Authorization", wrong, "X-Forwarded-For", "203.0.113.7, 127.0.0.1"); code != 401 {
		t.Fatalf("a wrong password through the proxy: %d, want 401", code)
	}
	waitLogCount(t, s.logs, `msg="admin: wrong credentials" remote=203.0.113.7 `, 1)

	// From 127.0.0.3, which is not a trusted proxy: its own address.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}).DialContext}}
	req, _ := http.NewRequest("GET", "http://"+s.admin+"/metrics", nil)
	req.Header.Set("Authorization", wrong)
	req.Header.Set("X-Forwarded-For", "198.51.100.9")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitLogCount(t, s.logs, `msg="admin: wrong credentials" remote=127.0.0.3:`, 1)
	if strings.Contains(s.logs.String(), "198.51.100.9") {
		t.Errorf("the header of a client that is not a proxy was believed:\n%s", s.logs.String())
	}
}
