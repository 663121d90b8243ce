package websocket

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// upgradeRaw sends a raw upgrade request through u and returns the cookie
// Accept reports and the response's Set-Cookie header.
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
		up, err := u.Accept(srv)
		c := up.Cookie
		srv.Close()
		if c.Issued != (c.Value != "" && !strings.Contains(cookieHeader, c.Value)) {
			err = fmt.Errorf("cookie %q reported Issued=%v for a request with Cookie %q", c.Value, c.Issued, cookieHeader)
		}
		done <- result{c.Value, err}
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

func TestAcceptCookie(t *testing.T) {
	signer := NewCookieSigner()
	u := &Upgrader{Cookie: &Cookie{Name: "jauth", Attributes: "; Path=/; HttpOnly", Signer: signer}}
	c, set := upgradeRaw(t, u, "")
	if !signer.Valid(c) || set != "jauth="+c+"; Path=/; HttpOnly" {
		t.Errorf("no cookie sent: got %q, Set-Cookie %q", c, set)
	}
	sent := c
	c, set = upgradeRaw(t, u, "other=1; jauth="+sent+"; x=y")
	if c != sent || set != "" {
		t.Errorf("cookie the router set sent back: got %q, Set-Cookie %q", c, set)
	}
	// Values the router did not make are replaced, however well formed:
	// nobody can plant a value and ride the login it later authenticates.
	other := NewCookieSigner().New()
	for _, bad := range []string{"short", "abcdefghijklmnop_-0123", other, sent[:len(sent)-1] + "A", sent + "A"} {
		if bad == sent {
			continue
		}
		c, set = upgradeRaw(t, u, "jauth="+bad)
		if c == bad || !signer.Valid(c) || set == "" {
			t.Errorf("a value the router did not set (%q) was kept: %q, Set-Cookie %q", bad, c, set)
		}
	}
	if c, set := upgradeRaw(t, &Upgrader{}, "jauth="+sent); c != "" || set != "" {
		t.Errorf("cookies off: %q, %q", c, set)
	}
}

func TestCookieSigner(t *testing.T) {
	s := NewCookieSigner()
	seen := map[string]bool{}
	for range 100 {
		v := s.New()
		if len(v) != 43 || !s.Valid(v) || seen[v] {
			t.Fatalf("New() = %q: length %d, valid %v, seen before %v", v, len(v), s.Valid(v), seen[v])
		}
		seen[v] = true
	}
	if NewCookieSigner().Valid(s.New()) {
		t.Fatal("another signer's value accepted")
	}
	for _, v := range []string{"", "!", strings.Repeat("A", 43), strings.Repeat("A", 44)} {
		if s.Valid(v) {
			t.Errorf("Valid(%q) = true", v)
		}
	}
}
