package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/config"
)

// TestServeTrustedProxies: behind a proxy listed in trusted_proxies, the
// long-poll transport keys its clients on X-Forwarded-For
// (longpoll.max_per_address counts each client, not the proxy), and a
// session's address in the meta API is the client's.
func TestServeTrustedProxies(t *testing.T) {
	// README's example of it is a config that loads.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\n### Behind a reverse proxy\n.*?```yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no config in its Behind a reverse proxy section")
	}
	if c, err := config.Parse("README.md", m[1]); err != nil || len(c.Listeners) != 1 || len(c.Listeners[0].TrustedProxies) == 0 {
		t.Fatalf("README's config: %v", err)
	}

	cfg := writeConfig(t, `listeners:
  - address: 127.0.0.1:0
    trusted_proxies: [127.0.0.0/8]
    longpoll:
      max_per_address: 1
realms:
  - name: realm1
    anonymous: true
`)
	s := serve(t, "--config", cfg)
	c := &http.Client{Timeout: 20 * time.Second}
	post := func(url, forwardedFor, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v\n%s", url, err, s.logs.String())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	base := "http://" + s.listen + "/lp"
	open := func(forwardedFor string) (int, string) {
		t.Helper()
		status, body := post(base+"/open", forwardedFor, `{"protocols": ["wamp.2.json"]}`)
		var o struct{ Transport string }
		json.Unmarshal([]byte(body), &o)
		return status, o.Transport
	}
	status, tr := open("203.0.113.5")
	if status != 200 {
		t.Fatalf("open for 203.0.113.5: %d", status)
	}
	if status, _ := open("198.51.100.1, 203.0.113.5"); status != 429 {
		t.Fatalf("a second open for 203.0.113.5 (max_per_address 1): %d, want 429", status)
	}
	if status, _ := open("203.0.113.6"); status != 200 {
		t.Fatalf("open for another client behind the proxy: %d, want 200", status)
	}

	// Every request of the transport comes through the proxy for that
	// client: one for another client's transport is refused.
	lp := base + "/" + tr
	if status, body := post(lp+"/send", "203.0.113.5", `[1,"realm1",{"roles":{"caller":{}}}]`); status != 204 {
		t.Fatalf("send HELLO: %d %s", status, body)
	}
	recv := func() string {
		t.Helper()
		for {
			status, body := post(lp+"/receive", "203.0.113.5", "")
			if status == 200 {
				return body
			}
			if status != 204 {
				t.Fatalf("receive: %d %s", status, body)
			}
		}
	}
	var welcome []any
	if err := json.Unmarshal([]byte(recv()), &welcome); err != nil || len(welcome) < 2 || welcome[0] != 2.0 {
		t.Fatalf("no WELCOME: %v %v", welcome, err)
	}
	id := uint64(welcome[1].(float64))
	if status, body := post(lp+"/send", "203.0.113.5", fmt.Sprintf(`[48,1,{},"wamp.session.get",[%d]]`, id)); status != 204 {
		t.Fatalf("send CALL: %d %s", status, body)
	}
	if m := recv(); !strings.Contains(m, `"peer":"203.0.113.5"`) {
		t.Fatalf("wamp.session.get: %s, want the peer 203.0.113.5", m)
	}
}

// TestServeProxyProtocol: a listener with proxy_protocol takes a
// connection that begins with a PROXY header (the RawSocket handshake
// after it is answered) and closes one that does not.
func TestServeProxyProtocol(t *testing.T) {
	cfg := writeConfig(t, `listeners:
  - address: 127.0.0.1:0
    trusted_proxies: [127.0.0.1]
    proxy_protocol: true
`)
	s := serve(t, "--config", cfg)
	handshake := func(prelude string) ([]byte, error) {
		t.Helper()
		c, err := net.DialTimeout("tcp", s.listen, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write(append([]byte(prelude), 0x7f, 0xf2, 0, 0)); err != nil {
			return nil, err
		}
		return io.ReadAll(io.LimitReader(c, 4))
	}
	if b, err := handshake("PROXY TCP4 203.0.113.5 127.0.0.1 4711 8080\r\n"); err != nil || len(b) != 4 || b[0] != 0x7f {
		t.Fatalf("with a PROXY header: %x, %v; want the RawSocket handshake's reply\n%s", b, err, s.logs.String())
	}
	if b, _ := handshake(""); len(b) != 0 {
		t.Fatalf("without a PROXY header: %x; want the connection closed", b)
	}
}
