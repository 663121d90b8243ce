package transport

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
)

// TestKeepAliveSchedule checks the keep-alive schedule the README
// documents, on both engines and both protocols: a client that goes silent
// is pinged PingInterval after the last bytes it sent, and dropped
// (WebSocket 1001) when nothing arrives within PingTimeout of that ping.
//
// The lower bounds are exact: the server cannot ping or drop sooner. The
// upper bounds have slack for a loaded machine (0.7 of the interval) but
// not enough for a ping after two intervals, which is what a silent session
// got when the first interval was spent noticing its HELLO.
func TestKeepAliveSchedule(t *testing.T) {
	const (
		interval = time.Second
		timeout  = 300 * time.Millisecond
		slack    = interval * 7 / 10
	)
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.PingInterval = interval
			s.PingTimeout = timeout
			s.RawSocketPings = true
		})
		// silent joins, then reads without answering: it returns when the
		// client sent its last bytes (HELLO), saw the ping and saw the end.
		type schedule struct{ lastSent, ping, end time.Time }
		check := func(t *testing.T, s schedule) {
			t.Helper()
			if d := s.ping.Sub(s.lastSent); d < interval || d > interval+slack {
				t.Errorf("pinged %v after the client's last message, want %v (up to %v later on a busy machine)", d, interval, slack)
			}
			if d := s.end.Sub(s.lastSent); d < interval+timeout || d > interval+timeout+slack {
				t.Errorf("dropped %v after the client's last message, want %v (up to %v later on a busy machine)", d, interval+timeout, slack)
			}
		}
		t.Run("websocket", func(t *testing.T) {
			t.Parallel()
			c := ts.dialWS(t, "wamp.2.json")
			var s schedule
			s.lastSent = time.Now()
			join(t, c)
			h, p, err := c.readFrame()
			if err != nil || h.OpCode != ws.OpPing {
				t.Fatalf("got %v %q %v, want a ping", h.OpCode, p, err)
			}
			s.ping = time.Now()
			h, p, err = c.readFrame()
			if err != nil || h.OpCode != ws.OpClose {
				t.Fatalf("got %v %q %v, want the close frame", h.OpCode, p, err)
			}
			s.end = time.Now()
			code, reason := ws.ParseCloseFrameData(p)
			if code != ws.StatusGoingAway || !containsFold(reason, "ping timeout") {
				t.Errorf("closed with %d %q, want 1001 ping timeout", code, reason)
			}
			check(t, s)
		})
		t.Run("rawsocket", func(t *testing.T) {
			t.Parallel()
			c := ts.dialRS(t, wamp.FormatJSON)
			var s schedule
			s.lastSent = time.Now()
			join(t, c)
			h, p, err := c.readFrame()
			if err != nil || h.Type != rawsocket.TypePing {
				t.Fatalf("got %v %q %v, want a PING", h.Type, p, err)
			}
			s.ping = time.Now()
			h, p, err = c.readFrame()
			if !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("got %v %q %v, want the end of the connection", h.Type, p, err)
			}
			s.end = time.Now()
			check(t, s)
		})
	})
}
