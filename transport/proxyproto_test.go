package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/pires/go-proxyproto"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

func TestProxyHeaderSize(t *testing.T) {
	v1 := []byte("PROXY TCP4 203.0.113.5 127.0.0.1 4711 8080\r\n")
	v2, err := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP("203.0.113.5"), Port: 4711}, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}).Format()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range [][]byte{v1, v2} {
		for i := range len(h) {
			if n, err := proxyHeaderSize(h[:i]); n != 0 || err != nil {
				t.Fatalf("%q, %d of %d bytes: %d, %v; want more to come", h, i, len(h), n, err)
			}
		}
		if n, err := proxyHeaderSize(append(h, "\x16\x03\x01"...)); n != len(h) || err != nil {
			t.Fatalf("%q and more: %d, %v; want %d", h, n, err, len(h))
		}
	}
	for _, bad := range []string{"\x7f\xf1\x00\x00", "GET / HTTP/1.1\r\n", "PROXY TCP4 " + string(bytes.Repeat([]byte("1"), 100)),
		"\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff"} {
		if _, err := proxyHeaderSize([]byte(bad)); err == nil {
			t.Errorf("%q taken for a PROXY header", bad)
		}
	}
}

// proxyHeader is the header a load balancer sends for a client at
// 203.0.113.5:4711 (version 1 or 2; LOCAL for its own health check).
func proxyHeader(t *testing.T, version byte, local bool) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(version, &net.TCPAddr{IP: net.ParseIP("203.0.113.5"), Port: 4711}, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080})
	if local {
		h.Command = proxyproto.LOCAL
	}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Behind a TCP load balancer that sends the PROXY protocol, a session's
// address is the client's, over RawSocket and WebSocket, TLS or not, on
// both engines; the balancer's LOCAL connections (health checks) and
// those from an address not trusted keep their own.
func TestProxyProtocol(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		trusted, _ := ParseProxies([]string{"127.0.0.0/8"})
		ts := m.start(t, func(s *Server) {
			s.ProxyProtocol = true
			s.TrustedProxies = trusted
		})
		for _, v := range []byte{1, 2} {
			ts.prelude = proxyHeader(t, v, false)
			rc := ts.dialRS(t, wamp.FormatMsgPack)
			if got := peerOf(t, rc, join(t, rc)); got != "203.0.113.5:4711" {
				t.Fatalf("version %d, RawSocket: the session's address is %q, want 203.0.113.5:4711", v, got)
			}
			wc := ts.dialWS(t, codec.ByFormat(wamp.FormatJSON).Subprotocol())
			if got := peerOf(t, wc, join(t, wc)); got != "203.0.113.5:4711" {
				t.Fatalf("version %d, WebSocket: the session's address is %q, want 203.0.113.5:4711", v, got)
			}
		}
		ts.prelude = proxyHeader(t, 2, true)
		rc := ts.dialRS(t, wamp.FormatMsgPack)
		if got := peerOf(t, rc, join(t, rc)); hostAddr(got).String() != "127.0.0.1" {
			t.Fatalf("LOCAL: the session's address is %q, want the socket's", got)
		}
		// A client the balancer cannot name (version 1's UNKNOWN): not
		// the balancer, so what it writes in X-Forwarded-For is not
		// believed either.
		ts.prelude = []byte("PROXY UNKNOWN\r\n")
		xff := ws.HandshakeHeaderHTTP(http.Header{"X-Forwarded-For": {"6.6.6.6"}})
		wc, err := ts.tryWS(t, codec.ByFormat(wamp.FormatJSON).Subprotocol(), ts.wsPath(), xff)
		if err != nil {
			t.Fatal(err)
		}
		if got := peerOf(t, wc, join(t, wc)); got != "unknown-via-127.0.0.1" {
			t.Fatalf("UNKNOWN: the session's address is %q, want unknown-via-127.0.0.1", got)
		}
	})

	// From an address not trusted, the header is read and not believed.
	elsewhere, _ := ParseProxies([]string{"10.0.0.0/8"})
	ts := startServer(t, EngineAuto, func(s *Server) {
		s.ProxyProtocol = true
		s.TrustedProxies = elsewhere
	})
	ts.prelude = proxyHeader(t, 1, false)
	rc := ts.dialRS(t, wamp.FormatMsgPack)
	if got := peerOf(t, rc, join(t, rc)); hostAddr(got).String() != "127.0.0.1" {
		t.Fatalf("not trusted: the session's address is %q, want the socket's", got)
	}
}

// A connection without a valid PROXY header is closed and counted
// (proxy_header): no header, a bad one, one that never ends (at
// HandshakeTimeout); a header that arrives in pieces is waited for; and
// Close ends the reads in progress (serveOn checks that no goroutine is
// left).
func TestProxyProtocolRefused(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		trusted, _ := ParseProxies([]string{"127.0.0.0/8"})
		// A read in progress when the server closes (at the end of the
		// subtest, before the server below starts: each checks that no
		// goroutine of its own is left).
		t.Run("close while reading", func(t *testing.T) {
			quiet := startServer(t, engine, func(s *Server) {
				s.ProxyProtocol = true
				s.TrustedProxies = trusted
			})
			qc := quiet.dial(t)
			qc.Write([]byte("PROXY "))
			quiet.init() // (Serve's, done or not: the test reads what it set up)
			eventually(t, "the header's read to begin", func() bool {
				quiet.mu.Lock()
				defer quiet.mu.Unlock()
				return len(quiet.held) == 1
			})
		})
		ts := startServer(t, engine, func(s *Server) {
			s.ProxyProtocol = true
			s.TrustedProxies = trusted
			s.HandshakeTimeout = 300 * time.Millisecond
		})
		closedUnanswered := func(first []byte) {
			t.Helper()
			c := ts.dial(t)
			if first != nil {
				c.Write(first)
			}
			c.SetReadDeadline(time.Now().Add(ioTimeout))
			// Closed with the client's bytes unread: a reset, or an end.
			if b, err := io.ReadAll(c); len(b) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
				t.Fatalf("after %q: read %q, %v; want the connection closed", first, b, err)
			}
		}
		closedUnanswered([]byte{0x7f, 0xf1, 0, 0})                             // RawSocket with no header
		closedUnanswered([]byte("PROXY TCP4 203.0.113.5\r\n\x7f\xf1\x00\x00")) // not a valid one
		closedUnanswered([]byte("PROXY TCP4 203.0.113.5 127.0.0.1 4711"))      // never ends
		closedUnanswered(nil)                                                  // silent
		eventually(t, "the refusals counted", func() bool { return ts.Stats().Refused["proxy_header"] == 4 })

		// In pieces, before and after the read begins.
		h := proxyHeader(t, 2, false)
		c := ts.dial(t)
		c.Write(h[:7])
		time.Sleep(20 * time.Millisecond) // not needed to pass: lets the server see the first piece alone
		c.Write(h[7:])
		c.Write([]byte{0x7f, 0xf1, 0, 0})
		var reply [4]byte
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := io.ReadFull(c, reply[:]); err != nil || reply[0] != 0x7f {
			t.Fatalf("after a header in pieces: %x, %v; want the RawSocket handshake's reply", reply, err)
		}
	})
}

// Behind a TCP load balancer that sends the PROXY protocol, a plain HTTP
// request (long-poll, the bridge) reaches the Handler with the client's
// address from the header on every mode, and the X-Forwarded-For the
// client wrote itself (a TCP balancer passes its bytes untouched) is not
// believed: the client is no trusted proxy.
func TestProxyProtocolHTTP(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		trusted, _ := ParseProxies([]string{"127.0.0.0/8"})
		handler, seen := remoteAddrs()
		ts := m.start(t, func(s *Server) {
			s.ProxyProtocol = true
			s.TrustedProxies = trusted
			s.Handler = handler
		})
		ts.prelude = proxyHeader(t, 2, false)
		if got := handlerSaw(t, ts, seen, "6.6.6.6"); got != "203.0.113.5:4711" {
			t.Fatalf("the Handler saw %q, want the PROXY header's 203.0.113.5:4711", got)
		}
	})
}

// The PROXY header counts in HandshakeTimeout, which bounds a
// connection's TLS and transport handshakes together: a client that
// sends its header late has only the rest of the timeout for the rest,
// on every mode, not a whole timeout again (a pending connection held
// twice as long).
func TestProxyHeaderInHandshakeTimeout(t *testing.T) {
	const timeout = 600 * time.Millisecond
	forModes(t, func(t *testing.T, m mode) {
		trusted, _ := ParseProxies([]string{"127.0.0.0/8"})
		ts := m.start(t, func(s *Server) {
			s.ProxyProtocol = true
			s.TrustedProxies = trusted
			s.HandshakeTimeout = timeout
		})
		c, err := net.Dial(ts.network, ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		h := proxyHeader(t, 2, false)
		c.Write(h[:7])
		time.Sleep(timeout * 2 / 3) // the header's end comes late, and then nothing
		c.Write(h[7:])
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		if b, err := io.ReadAll(c); len(b) != 0 || (err != nil && !isReset(err)) {
			t.Fatalf("read %q, %v; want the connection closed", b, err)
		}
		if held := time.Since(start); held > timeout*4/3 {
			t.Fatalf("the connection was closed %v after it began, want about the handshake timeout (%v)", held, timeout)
		}
	})
}

// FuzzProxyHeader: whatever a connection begins with, the header's length
// is found or refused without a panic and within bounds, and what
// go-proxyproto makes of a whole header does not panic either (a panic on
// the goroutine that reads it would take the process down).
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.5 127.0.0.1 4711 8080\r\n\x7f"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 ::1 4711 8080\r\n"))
	if v2, err := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP("203.0.113.5"), Port: 4711}, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}).Format(); err == nil {
		f.Add(v2)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		size, err := proxyHeaderSize(b)
		if err != nil || size == 0 {
			return
		}
		if size > len(b) || size > proxyHeaderMax {
			t.Fatalf("header size %d of %d bytes", size, len(b))
		}
		proxyproto.Read(bufio.NewReader(bytes.NewReader(b[:size])))
	})
}
