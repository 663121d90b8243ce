package websocket

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
)

// upgradeRaw sends a raw upgrade request through u and returns the cookie
// UpgradeCookie reports and the response's Set-Cookie header.
func upgradeRaw(t *testing.T, u *Upgrader, cookieHeader string) (cookie, setCookie string) {
	t.Helper()
	cli, srv := net.Pipe()
	defer cli.Close()
	type result struct {
		cookie string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		_, c, err := u.UpgradeCookie(srv)
		srv.Close()
		done <- result{c, err}
	}()
	req := "GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n"
	if cookieHeader != "" {
		req += "Cookie: " + cookieHeader + "\r\n"
	}
	go cli.Write([]byte(req + "\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(cli), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, status %d", r.err, resp.StatusCode)
	}
	return r.cookie, resp.Header.Get("Set-Cookie")
}

func TestUpgradeCookie(t *testing.T) {
	n := 0
	u := &Upgrader{Cookie: &Cookie{Name: "jauth", Attributes: "; Path=/; HttpOnly", New: func() string {
		n++
		return strings.Repeat("A", 21) + string(rune('a'+n))
	}}}
	c, set := upgradeRaw(t, u, "")
	if c != strings.Repeat("A", 21)+"b" || set != "jauth="+c+"; Path=/; HttpOnly" {
		t.Errorf("no cookie sent: got %q, Set-Cookie %q", c, set)
	}
	sent := "abcdefghijklmnop_-0123"
	c, set = upgradeRaw(t, u, "other=1; jauth="+sent+"; x=y")
	if c != sent || set != "" {
		t.Errorf("cookie sent: got %q, Set-Cookie %q", c, set)
	}
	c, set = upgradeRaw(t, u, "jauth=short")
	if c == "short" || set == "" {
		t.Errorf("a value the router could not have set was kept: %q, Set-Cookie %q", c, set)
	}
	if c, set := upgradeRaw(t, &Upgrader{}, "jauth="+sent); c != "" || set != "" {
		t.Errorf("cookies off: %q, %q", c, set)
	}
}
