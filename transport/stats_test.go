package transport

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/internal/testwait"
	"github.com/junction-wamp/junction/wamp"
)

func connStats(st ServerStats, engine, transport string) ConnStats {
	for _, c := range st.Conns {
		if c.Engine == engine && c.Transport == transport {
			return c
		}
	}
	return ConnStats{}
}

// TestServerStats counts connections by transport, refused handshakes by
// reason (each logged once, at info level) and bytes, on both engines.
func TestServerStats(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		var logs testwait.Buffer
		ts := m.start(t, func(s *Server) {
			s.AllowedOrigins = []string{"https://app.example.com"}
			s.HandshakeTimeout = 200 * time.Millisecond
			s.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		wsc := ts.dialWS(t, "wamp.2.json")
		rsc := ts.dialRS(t, wamp.FormatMsgPack)
		join(t, wsc)
		join(t, rsc)
		st := ts.Stats()
		if c := connStats(st, m.engine, "websocket"); c.Open != 1 || c.Total != 1 {
			t.Fatalf("websocket connections %+v", c)
		}
		if c := connStats(st, m.engine, "rawsocket"); c.Open != 1 || c.Total != 1 {
			t.Fatalf("rawsocket connections %+v", c)
		}
		if st.BytesRead[m.engine] == 0 || st.BytesWritten[m.engine] == 0 {
			t.Fatalf("bytes read %v, written %v", st.BytesRead, st.BytesWritten)
		}

		ts.tryWS(t, "mqtt", "/ws", nil)
		ts.tryWS(t, "wamp.2.json", "/elsewhere", nil)
		ts.tryWS(t, "wamp.2.json", "/ws", ws.HandshakeHeaderString("Origin: https://evil.example.com\r\n"))
		ts.tryRS(t, []byte{0x7f, 0xf5, 0, 0})
		silent := ts.dial(t) // says nothing: the handshake times out
		silent.SetReadDeadline(time.Now().Add(ioTimeout))
		io.ReadAll(silent)
		quitter := ts.dial(t) // leaves at once (over TLS, once that is set up)
		want := map[string]uint64{"subprotocol": 1, "not_found": 1, "origin": 1, "rawsocket": 1, "timeout": 1, "closed": 1}
		if tc, ok := quitter.(*tls.Conn); ok {
			tc.SetDeadline(time.Now().Add(ioTimeout))
			if err := tc.Handshake(); err != nil {
				t.Fatalf("TLS handshake: %v", err)
			}
			// One that leaves in the middle of the TLS handshake is
			// refused for TLS.
			raw, err := net.DialTimeout(ts.network, ts.addr, ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			raw.Write([]byte{22, 3, 1, 0, 200, 1}) // a ClientHello's first bytes
			raw.Close()
			want["tls"] = 1
		}
		quitter.Close()
		eventually(t, "the refusals to be counted and logged", func() bool {
			for reason, n := range ts.Stats().Refused {
				if n != want[reason] {
					return false
				}
			}
			for reason := range want {
				if !strings.Contains(logs.String(), "msg=\"handshake refused\" reason="+reason) {
					return false
				}
			}
			return true
		})

		// The clients close their side once the server has closed its
		// own: the server waits up to closeGrace for that before it counts
		// the connection closed.
		wsc.send(&wamp.Goodbye{Reason: wamp.CloseNormal})
		wsc.closed()
		wsc.conn.Close()
		rsc.send(&wamp.Goodbye{Reason: wamp.CloseNormal})
		rsc.closed()
		rsc.conn.Close()
		eventually(t, "the connections to be counted closed", func() bool {
			st := ts.Stats()
			return connStats(st, m.engine, "websocket").Open == 0 && connStats(st, m.engine, "rawsocket").Open == 0
		})
	})
}

// TestServerStatsHTTP counts the connections handed to the Handler, and
// a refusal for HTTP.MaxConns.
func TestServerStatsHTTP(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.Handler = testMux(nil)
			s.HTTP.MaxConns = 1
		})
		c, base := ts.httpClient(t)
		get(t, c, base+"/hello")
		if h := connStats(ts.Stats(), m.engine, "http"); h.Open != 1 || h.Total != 1 {
			t.Fatalf("http connections %+v", h)
		}
		busy := ts.dial(t)
		fmt.Fprintf(busy, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		busy.SetReadDeadline(time.Now().Add(ioTimeout))
		io.ReadAll(busy)
		if n := ts.Stats().Refused["http_busy"]; n != 1 {
			t.Fatalf("http_busy refusals %d", n)
		}
		c.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		eventually(t, "the HTTP connection to be counted closed", func() bool {
			return connStats(ts.Stats(), m.engine, "http").Open == 0
		})
	})
}
