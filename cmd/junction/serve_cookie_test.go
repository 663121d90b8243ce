package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/config"
)

// wsSession is a bare WAMP-over-WebSocket client for the cookie test: it
// sends and receives JSON messages as lists.
type wsSession struct {
	t         *testing.T
	conn      net.Conn
	setCookie string
}

func dialWS(t *testing.T, url, cookie string) *wsSession {
	t.Helper()
	s := &wsSession{t: t}
	d := ws.Dialer{Protocols: []string{"wamp.2.json"}, Timeout: 10 * time.Second,
		OnHeader: func(key, value []byte) error {
			if strings.EqualFold(string(key), "Set-Cookie") {
				s.setCookie = string(value)
			}
			return nil
		}}
	if cookie != "" {
		d.Header = ws.HandshakeHeaderHTTP(http.Header{"Cookie": {cookie}})
	}
	var err error
	if s.conn, _, _, err = d.Dial(context.Background(), url); err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { s.conn.Close() })
	return s
}

func (s *wsSession) send(m ...any) {
	s.t.Helper()
	b, _ := json.Marshal(m)
	if err := wsutil.WriteClientText(s.conn, b); err != nil {
		s.t.Fatal(err)
	}
}

func (s *wsSession) recv() []any {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := wsutil.ReadServerText(s.conn)
	if err != nil {
		s.t.Fatal(err)
	}
	var m []any
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatal(err)
	}
	return m
}

// TestServeCookieAuth: a browser that logged in with a ticket gets a
// cookie, and a later connection with that cookie is let in as the same
// principal without credentials (authmethod cookie). A cookie the router
// did not see log in is refused.
func TestServeCookieAuth(t *testing.T) {
	h, err := auth.NewPasswordHash("pw", "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
    cookie: {name: jauth, max_age: 1h}
realms:
  - name: realm1
    anonymous: false
    auth:
      cookie: true
      principals:
        - {authid: joe, role: user, ticket: "%s"}
`, h)
	path := filepath.Join(t.TempDir(), "junction.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addrs, logs := serveUntilEnd(t, "--config", path)
	url := "ws://" + addrs[0] + "/ws"
	roles := map[string]any{"caller": map[string]any{}}

	first := dialWS(t, url, "")
	value, _, ok := strings.Cut(strings.TrimPrefix(first.setCookie, "jauth="), ";")
	if !ok || !strings.HasPrefix(first.setCookie, "jauth=") || !strings.Contains(first.setCookie, "HttpOnly") || !strings.Contains(first.setCookie, "Max-Age=3600") {
		t.Fatalf("Set-Cookie %q\n%s", first.setCookie, logs.String())
	}
	first.send(1, "realm1", map[string]any{"roles": roles, "authmethods": []string{"cookie", "ticket"}, "authid": "joe"})
	if m := first.recv(); m[0] != float64(4) || m[1] != "ticket" {
		t.Fatalf("want CHALLENGE ticket, got %v", m)
	}
	first.send(5, "pw", map[string]any{})
	if m := first.recv(); m[0] != float64(2) || m[2].(map[string]any)["authmethod"] != "ticket" {
		t.Fatalf("want WELCOME by ticket, got %v", m)
	}

	again := dialWS(t, url, "jauth="+value)
	if again.setCookie != "" {
		t.Errorf("a client with a cookie got a new one: %q", again.setCookie)
	}
	again.send(1, "realm1", map[string]any{"roles": roles, "authmethods": []string{"cookie", "ticket"}})
	m := again.recv()
	d, _ := m[2].(map[string]any)
	if m[0] != float64(2) || d["authmethod"] != "cookie" || d["authid"] != "joe" || d["authrole"] != "user" {
		t.Fatalf("want WELCOME by cookie as joe, got %v", m)
	}

	stranger := dialWS(t, url, "jauth=AAAAAAAAAAAAAAAAAAAAAA")
	stranger.send(1, "realm1", map[string]any{"roles": roles, "authmethods": []string{"cookie"}})
	if m := stranger.recv(); m[0] != float64(3) || m[2] != "wamp.error.authentication_failed" {
		t.Fatalf("want ABORT authentication_failed, got %v", m)
	}
	// Gone before the shutdown, which would otherwise wait for their
	// GOODBYE.
	first.conn.Close()
	again.conn.Close()
	stranger.conn.Close()
}

// TestServeClusterCookie: a cookie login made on one node of a cluster is
// recognised by the others: by a node that was up when it was made (the
// login is broadcast) and by one that joined later (it asks a peer for
// the logins it missed); a logout on any node forgets it everywhere.
func TestServeClusterCookie(t *testing.T) {
	h, err := auth.NewPasswordHash("pw", "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
    cookie: {name: jauth, max_age: 1h}
realms:
  - name: realm1
    anonymous: false
    auth:
      cookie: true
      principals:
        - {authid: joe, role: user, ticket: "%s"}
cluster:
  listen: 127.0.0.1:0
  heartbeat_interval: 100ms
  node_timeout: 2s
`, h)
	path := filepath.Join(t.TempDir(), "junction.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var exits []<-chan int
	defer func() {
		stop()
		for _, e := range exits {
			<-e
		}
	}()
	start := func(name string, join ...string) (url string, logs *syncBuffer) {
		t.Helper()
		args := []string{"--config", path, "--node", name}
		if len(join) > 0 {
			args = append(args, "--join", strings.Join(join, ","))
		}
		addrs, logs, exit := serveInProcess(t, ctx, args...)
		exits = append(exits, exit)
		return "ws://" + addrs[0] + "/ws", logs
	}
	url1, logs1 := start("n1")
	m := routesRE.FindStringSubmatch(logs1.String())
	if m == nil {
		t.Fatalf("no route address in the log:\n%s", logs1.String())
	}
	route1 := m[1]
	url2, _ := start("n2", route1)
	waitLogLine(t, logs1, "peer=n2")
	roles := map[string]any{"caller": map[string]any{}}

	first := dialWS(t, url1, "")
	value, _, ok := strings.Cut(strings.TrimPrefix(first.setCookie, "jauth="), ";")
	if !ok {
		t.Fatalf("Set-Cookie %q", first.setCookie)
	}
	first.send(1, "realm1", map[string]any{"roles": roles, "authmethods": []string{"ticket"}, "authid": "joe"})
	if m := first.recv(); m[0] != float64(4) {
		t.Fatalf("want CHALLENGE, got %v", m)
	}
	first.send(5, "pw", map[string]any{})
	if m := first.recv(); m[0] != float64(2) {
		t.Fatalf("want WELCOME, got %v", m)
	}
	first.conn.Close()

	// cookieLogin tries a cookie-only login on url and reports whether it
	// was let in as joe; a node that does not know the cookie (yet) sets
	// a new one and refuses the login.
	cookieLogin := func(url string) (*wsSession, bool) {
		s := dialWS(t, url, "jauth="+value)
		s.send(1, "realm1", map[string]any{"roles": roles, "authmethods": []string{"cookie"}})
		m := s.recv()
		if m[0] != float64(2) {
			s.conn.Close()
			return nil, false
		}
		d, _ := m[2].(map[string]any)
		if s.setCookie != "" || d["authmethod"] != "cookie" || d["authid"] != "joe" || d["authrole"] != "user" {
			t.Fatalf("cookie login: Set-Cookie %q, WELCOME %v", s.setCookie, m)
		}
		return s, true
	}
	// waitCookie retries the login until it gets the answer want: the
	// login (or logout) reaches the other nodes a moment after it is made.
	waitCookie := func(url string, want bool) *wsSession {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, ok := cookieLogin(url)
			if ok == want {
				return s
			}
			if s != nil {
				s.conn.Close()
			}
			if time.Now().After(deadline) {
				t.Fatalf("cookie login at %s: still %v", url, ok)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCookie(url2, true).conn.Close()

	// A node started after the login learns it from a peer.
	url3, logs3 := start("n3", route1)
	s3 := waitCookie(url3, true)
	// NATS routes do not relay: what n3 broadcasts reaches n2 once their
	// own route formed, which n3 meeting n2 shows (and n1 likewise).
	waitLogLine(t, logs3, "peer=n1")
	waitLogLine(t, logs3, "peer=n2")
	// Logging out there forgets the cookie on every node.
	s3.send(6, map[string]any{}, "wamp.close.logout")
	if m := s3.recv(); m[0] != float64(6) {
		t.Fatalf("want GOODBYE, got %v", m)
	}
	s3.conn.Close()
	waitCookie(url1, false)
	waitCookie(url2, false)
}

// waitLogLine waits until logs holds s.
func waitLogLine(t *testing.T, logs *syncBuffer, s string) {
	t.Helper()
	timeout := time.After(time.Minute)
	for !strings.Contains(logs.String(), s) {
		select {
		case <-logs.changed:
		case <-timeout:
			t.Fatalf("no %q in the log:\n%s", s, logs.String())
		}
	}
}

// TestCookieLoginLifetime: the router remembers a cookie login as long as
// the listeners' cookie.max_age says (the shortest of them), never longer,
// and for 24 hours when cookies last for the browser session.
func TestCookieLoginLifetime(t *testing.T) {
	listener := func(maxAge time.Duration) config.Listener {
		return config.Listener{Cookie: &config.Cookie{Name: "c", MaxAge: maxAge}}
	}
	for _, tc := range []struct {
		name      string
		listeners []config.Listener
		want      time.Duration
	}{
		{"one hour", []config.Listener{listener(time.Hour)}, time.Hour},
		{"a week", []config.Listener{listener(7 * 24 * time.Hour)}, 7 * 24 * time.Hour},
		{"two listeners", []config.Listener{listener(48 * time.Hour), {}, listener(2 * time.Hour)}, 2 * time.Hour},
		{"browser session", []config.Listener{listener(0)}, 24 * time.Hour},
	} {
		if got := newAuthShared(&config.Config{Listeners: tc.listeners}).cookies.TTL; got != tc.want {
			t.Errorf("%s: logins remembered for %v, want %v", tc.name, got, tc.want)
		}
	}
}
