package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestUpgradeWithBodyRefused: an upgrade request that announces a body
// (Content-Length other than 0, or Transfer-Encoding) is refused with
// 400 on every engine. Before, it was upgraded and the body was read as
// the client's first WebSocket frames: bytes that an HTTP intermediary
// forwarded as a request's content reached the WAMP session as frames
// (request smuggling). Content-Length: 0 is no body and is upgraded.
func TestUpgradeWithBodyRefused(t *testing.T) {
	head := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n"
	hello := []byte(`[1,"realm1",{"roles":{"publisher":{}}}]`)
	frame := mframe(0x81, hello)
	tests := []struct {
		name, req string
		status    string
	}{
		{"Content-Length", head + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(frame)) + string(frame), "400"},
		{"Transfer-Encoding", head + "Transfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(frame), frame), "400"},
		{"Content-Length 0", head + "Content-Length: 0\r\n\r\n", "101"},
	}
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				conn := ts.dial(t)
				if _, err := conn.Write([]byte(tt.req)); err != nil {
					t.Fatal(err)
				}
				got, _ := readHead(conn)
				if !bytes.HasPrefix(got, []byte("HTTP/1.1 "+tt.status+" ")) {
					t.Fatalf("response %q, want %s", got, tt.status)
				}
				if tt.status != "400" {
					return
				}
				rest, _ := io.ReadAll(conn)
				if got = append(got, rest...); !strings.Contains(string(got), "body") {
					t.Fatalf("response %q does not say why", got)
				}
			})
		}
	})
}

// TestUpgradeBadKeyRefused: a Sec-WebSocket-Key that is not the base64 of
// 16 bytes is refused with 400 on every engine (RFC 6455 section 4.2.1);
// before, any 24 characters were taken (gobwas/ws checks only the length)
// and the client upgraded.
func TestUpgradeBadKeyRefused(t *testing.T) {
	req := func(key string) string {
		return "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
	}
	tests := []struct {
		name, key, status string
	}{
		{"not base64", "!!!!!!!!!!!!!!!!!!!!!!!!", "400"},
		{"17 bytes", "dGhlIHNhbXBsZSBub25jZQ=A", "400"},
		{"no padding", "dGhlIHNhbXBsZSBub25jZQAA", "400"},
		{"valid", "dGhlIHNhbXBsZSBub25jZQ==", "101"},
	}
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				conn := ts.dial(t)
				if _, err := conn.Write([]byte(req(tt.key))); err != nil {
					t.Fatal(err)
				}
				conn.SetReadDeadline(time.Now().Add(ioTimeout))
				got := make([]byte, 0, 64)
				buf := make([]byte, 64)
				for len(got) < len("HTTP/1.1 400 ") {
					n, err := conn.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
				}
				if !bytes.HasPrefix(got, []byte("HTTP/1.1 "+tt.status+" ")) {
					t.Fatalf("response %q, want %s", got, tt.status)
				}
			})
		}
	})
}

// TestDeflateOfferWithDuplicateParameter: a permessage-deflate offer that
// names a parameter twice is declined (RFC 7692 section 5.1) on every
// engine, and the client talks uncompressed; before,
// client_max_window_bits given twice (once without a value) was accepted,
// since gobwas/ws's wsflate does not count a valueless one.
func TestDeflateOfferWithDuplicateParameter(t *testing.T) {
	req := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n" +
		"Sec-WebSocket-Extensions: %s\r\n\r\n"
	tests := []struct {
		offer  string
		accept bool
	}{
		{"permessage-deflate; client_max_window_bits; client_max_window_bits", false},
		{"permessage-deflate; client_max_window_bits=10; client_max_window_bits", false},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits=10", false},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits, permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits", true},
	}
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) { s.Deflate = true })
		for _, tt := range tests {
			conn := ts.dial(t)
			if _, err := fmt.Fprintf(conn, req, tt.offer); err != nil {
				t.Fatal(err)
			}
			got, err := readHead(conn)
			if err != nil {
				t.Fatalf("offer %q: %q, %v", tt.offer, got, err)
			}
			if !bytes.HasPrefix(got, []byte("HTTP/1.1 101 ")) {
				t.Fatalf("offer %q: response %q, want 101", tt.offer, got)
			}
			if accepted := bytes.Contains(got, []byte("permessage-deflate")); accepted != tt.accept {
				t.Errorf("offer %q: response %q, want permessage-deflate accepted: %v", tt.offer, got, tt.accept)
			}
		}
	})
}

// TestUpgradeRequestTooLarge: an upgrade request whose request line and
// headers pass the limit (16 KiB) is answered 431 Request Header Fields
// Too Large, and the connection closed, on every engine, with or without
// a Handler: whether the head never ends, ends past the limit, or its
// request line alone is too long. Before, the connection was closed (or
// reset) without an answer. The client is still sending when the answer
// comes: the server reads on until the client closes, so that its answer
// is not lost to a reset.
func TestUpgradeRequestTooLarge(t *testing.T) {
	big := strings.Repeat("b", maxUpgradeRequest)
	head := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n"
	tests := []struct{ name, req string }{
		{"head never ends", "GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n"},
		{"head ends past the limit", head + "Cookie: " + big + "\r\n\r\n"},
		{"request line", "GET /ws?" + big + " HTTP/1.1\r\n" + head[len("GET /ws HTTP/1.1\r\n"):] + "\r\n"},
	}
	for _, handler := range []bool{false, true} {
		name := "no handler"
		if handler {
			name = "handler"
		}
		t.Run(name, func(t *testing.T) {
			forModes(t, func(t *testing.T, m mode) {
				ts := m.start(t, func(s *Server) {
					if handler {
						s.Handler = testMux(nil)
					}
				})
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						conn := ts.dial(t)
						wrote := make(chan struct{})
						go func() {
							defer close(wrote)
							conn.Write([]byte(tt.req)) // fails once the server is gone: no matter
						}()
						defer func() {
							conn.Close()
							<-wrote
						}()
						got, err := readHead(conn)
						if err != nil {
							t.Fatalf("got %q, %v; want a 431 response", got, err)
						}
						const status = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
						if !bytes.HasPrefix(got, []byte(status)) || !bytes.Contains(got, []byte("\r\nConnection: close\r\n")) {
							t.Fatalf("response %q, want %q closing the connection", got, status)
						}
						// The server's end of stream, not a reset: it read
						// what the client sent after the answer.
						rest, err := io.ReadAll(conn)
						if err != nil {
							t.Fatalf("after the response: %v", err)
						}
						if got = append(got, rest...); !bytes.Contains(got, []byte(fmt.Sprint(maxUpgradeRequest))) {
							t.Fatalf("response %q does not say the limit", got)
						}
					})
				}
				if n := ts.Stats().Refused["too_large"]; n != uint64(len(tests)) {
					t.Errorf("too_large refusals %d, want %d", n, len(tests))
				}
			})
		})
	}
}

// TestAllowedOriginsDefaultPort: origins are compared as RFC 6454 compares
// them, scheme and host without regard to case and the default port (443
// for https and wss, 80 for http and ws) the same as none, on every
// engine: a pattern that names the default port allows a browser's origin,
// which never does, and an Origin header that names it is allowed by a
// pattern without it, wildcards included. Before, both were compared
// literally and such upgrades refused (403).
func TestAllowedOriginsDefaultPort(t *testing.T) {
	tests := []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},
		{"https://app.example.com:443", true},
		{"HTTPS://App.Example.COM:443", true},
		{"https://app.example.com:8443", false},
		{"http://app.example.com", false},
		{"http://a.example.org", true},
		{"http://a.example.org:80", true},
		{"http://a.example.org:8080", false},
		{"https://a.example.net:443", true},
		{"https://a.b.example.net", true},
		{"https://a.example.net:8443", false},
		{"https://example.net:443", false},
	}
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.AllowedOrigins = []string{"https://app.example.com:443", "http://*.example.org:80", "https://*.example.net"}
		})
		for _, tt := range tests {
			c, err := ts.tryWS(t, "wamp.2.json", "/ws", ws.HandshakeHeaderString("Origin: "+tt.origin+"\r\n"))
			var se ws.StatusError
			switch {
			case tt.ok && err != nil:
				t.Errorf("origin %q: %v, want it allowed", tt.origin, err)
			case tt.ok:
				join(t, c)
			case !errors.As(err, &se) || se != 403:
				t.Errorf("origin %q: %v, want 403", tt.origin, err)
			}
		}
	})
}
