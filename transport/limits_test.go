package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// wsHeader is the masked header of a client frame of length n.
func wsHeader(op ws.OpCode, fin bool, n int) []byte {
	return websocket.AppendHeader(nil, ws.Header{Fin: fin, OpCode: op, Length: int64(n), Masked: true, Mask: ws.NewMask()})
}

// rsHeader is a RawSocket message header of length n (up to 2^24).
func rsHeader(n int) []byte { return rawsocket.AppendHeader(nil, rawsocket.TypeMessage, n) }

// TestPreWelcomeLimit: before WELCOME a client may send messages of up to
// MaxPreWelcomeMessageSize (64 KiB by default), and a larger one is refused
// as soon as its header says so, before any of it arrives; once joined,
// the session may send messages up to MaxMessageSize. Bystanders go on.
func TestPreWelcomeLimit(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		bystander := ts.dialRS(t, wamp.FormatMsgPack)
		join(t, bystander)

		t.Run("websocket header of 16 MiB", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json")
			c.conn.Write(wsHeader(ws.OpText, true, 16<<20)) // and not a byte of it
			expectAbort(t, c, "message of 16777216 bytes is larger than the 65536 bytes allowed before WELCOME", ws.StatusMessageTooBig)
		})
		t.Run("rawsocket header of 16 MiB", func(t *testing.T) {
			c := ts.dialRS(t, wamp.FormatJSON)
			c.conn.Write(rsHeader(16 << 20))
			expectAbort(t, c, "message of 16777216 bytes is larger than the 65536 bytes allowed before WELCOME", 0)
		})
		t.Run("websocket fragments adding up", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json")
			chunk := bytes.Repeat([]byte{' '}, 40<<10)
			c.writeFrame(ws.OpText, false, true, chunk)
			c.conn.Write(wsHeader(ws.OpContinuation, true, len(chunk)))
			expectAbort(t, c, "message of 81920 bytes is larger than the 65536 bytes allowed before WELCOME", ws.StatusMessageTooBig)
		})
		if n := ts.Stats().TooLargeBeforeWelcome; n != 3 {
			t.Errorf("TooLargeBeforeWelcome %d, want 3", n)
		}

		// A HELLO near the limit is fine, and a joined session may send
		// messages up to MaxMessageSize (16 MiB): 1 MiB here.
		big := &wamp.Publish{Request: 1, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.big",
			Payload: wamp.Payload{Args: wamp.List{strings.Repeat("b", 1<<20)}}}
		details := wamp.Dict{"roles": clientRoles["roles"], "agent": strings.Repeat("a", 60<<10)}
		for _, c := range []client{ts.dialWS(t, "wamp.2.json"), ts.dialRS(t, wamp.FormatCBOR)} {
			c.send(&wamp.Hello{Realm: "realm1", Details: details})
			expect[*wamp.Welcome](t, c)
			c.send(big)
			expect[*wamp.Published](t, c)
		}
		roundTrip(t, bystander, 1)
		if n := ts.Stats().TooLargeBeforeWelcome; n != 3 {
			t.Errorf("TooLargeBeforeWelcome %d, want 3", n)
		}
	})
}

// TestPartialBudget: connections that hold partial messages share the
// Server's PartialBudget. Here 17 clients that never said HELLO each hold
// most of a 60,000-byte message; the 18th does not fit in the 1 MiB budget
// and is refused (ABORT, close 1013), while bystanders, small messages and
// the connections already holding go on. Once the holders are gone, so is
// their reservation.
func TestPartialBudget(t *testing.T) {
	const (
		budget  = 1 << 20
		msgSize = 60000
		fit     = budget / msgSize // 17
	)
	forModes(t, func(t *testing.T, m mode) {
		b := NewPartialBudget(budget)
		ts := m.start(t, func(s *Server) {
			s.MaxMessageSize = 512 << 10
			s.PartialBudget = b
		})
		bystander := ts.dialWS(t, "wamp.2.json")
		join(t, bystander)

		var holders []client
		for i := range fit {
			if i%2 == 0 {
				c := ts.dialWS(t, "wamp.2.json")
				c.conn.Write(append(wsHeader(ws.OpText, true, msgSize), make([]byte, msgSize/2)...))
				holders = append(holders, c)
			} else {
				c := ts.dialRS(t, wamp.FormatJSON)
				c.conn.Write(append(rsHeader(msgSize), make([]byte, msgSize/2)...))
				holders = append(holders, c)
			}
		}
		eventually(t, "the holders' reservations", func() bool { return b.Held() == fit*msgSize })

		for _, c := range []client{ts.dialWS(t, "wamp.2.json"), ts.dialRS(t, wamp.FormatJSON)} {
			if wc, ok := c.(*wsClient); ok {
				wc.conn.Write(wsHeader(ws.OpText, true, msgSize))
			} else {
				c.netConn().Write(rsHeader(msgSize))
			}
			expectAbort(t, c, "router busy", statusTryAgainLater)
		}
		if n := b.Refused(); n != 2 {
			t.Errorf("Refused %d, want 2", n)
		}
		roundTrip(t, bystander, 1)
		small := ts.dialRS(t, wamp.FormatMsgPack)
		join(t, small)
		roundTrip(t, small, 1)
		if got := b.Held(); got != fit*msgSize {
			t.Errorf("Held %d, want %d: the refused ones and the small messages hold nothing", got, fit*msgSize)
		}

		for _, c := range holders {
			c.netConn().Close()
		}
		eventually(t, "the holders' reservations to be given back", func() bool { return b.Held() == 0 })
	})
}

// TestPartialBudgetGivenBack: a joined session's large message holds the
// budget while it arrives, fragments included, and gives it back once it
// is delivered; a message in progress over the budget's room is refused,
// the same message fits once the room is back.
func TestPartialBudgetGivenBack(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		b := NewPartialBudget(1 << 20)
		ts := m.start(t, func(s *Server) {
			s.MaxMessageSize = 1 << 20
			s.PartialBudget = b
		})
		pub := func(n int) []byte {
			p, err := codec.JSON.Encode(nil, &wamp.Publish{Request: 1, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.big",
				Payload: wamp.Payload{Args: wamp.List{strings.Repeat("p", n)}}})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		// A WebSocket message in three fragments, the last one arriving
		// in two parts.
		c := ts.dialWS(t, "wamp.2.json")
		join(t, c)
		msg := pub(600 << 10)
		third := len(msg) / 3
		c.writeFrame(ws.OpText, false, true, msg[:third])
		c.writeFrame(ws.OpContinuation, false, true, msg[third:2*third])
		eventually(t, "two fragments held", func() bool { return b.Held() == int64(2*third) })
		last := msg[2*third:]
		h := ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: int64(len(last)), Masked: true, Mask: ws.NewMask()}
		masked := append([]byte(nil), last...)
		ws.Cipher(masked, h.Mask, 0)
		c.conn.Write(append(websocket.AppendHeader(nil, h), masked[:10]...))
		eventually(t, "the whole message held", func() bool { return b.Held() == int64(len(msg)) })

		// Meanwhile a RawSocket message of 600 KiB does not fit.
		r := ts.dialRS(t, wamp.FormatJSON)
		join(t, r)
		r.conn.Write(rsHeader(len(msg)))
		expectAbort(t, r, "router busy", 0)

		// Nor do WebSocket fragments that each arrive whole but add up.
		f := ts.dialWS(t, "wamp.2.json")
		join(t, f)
		f.writeFrame(ws.OpText, false, true, bytes.Repeat([]byte{' '}, 16<<10))
		for range 30 {
			f.writeFrame(ws.OpContinuation, false, true, bytes.Repeat([]byte{' '}, 16<<10))
		}
		expectAbort(t, f, "router busy", statusTryAgainLater)

		c.conn.Write(masked[10:])
		expect[*wamp.Published](t, c)
		eventually(t, "the message's reservation given back", func() bool { return b.Held() == 0 })

		// Now it fits.
		r = ts.dialRS(t, wamp.FormatJSON)
		join(t, r)
		r.conn.Write(rsHeader(len(msg)))
		r.conn.Write(msg)
		expect[*wamp.Published](t, r)
		eventually(t, "the reservation given back", func() bool { return b.Held() == 0 })
		if n := b.Refused(); n != 2 {
			t.Errorf("Refused %d, want 2", n)
		}
	})
}

// TestMemoryReleasedAfterSpike: once large messages have come and gone,
// the Server gives the memory back to the operating system (counted in
// ServerStats.MemoryReleases; what that does to the RSS is measured by
// scripts/memspike, not here).
func TestMemoryReleasedAfterSpike(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.MaxMessageSize = 1 << 20
			// A spike is 1 MiB here, not 32 MiB, and it is over
			// after 100ms of quiet.
			s.rel.threshold, s.rel.minimum, s.rel.delay, s.rel.live = 1<<20, 256<<10, 100*time.Millisecond, noHeap
		})
		big := &wamp.Publish{Request: 1, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.big",
			Payload: wamp.Payload{Args: wamp.List{strings.Repeat("s", 600<<10)}}}
		for _, c := range []client{ts.dialWS(t, "wamp.2.json"), ts.dialRS(t, wamp.FormatJSON)} {
			join(t, c)
			c.send(big)
			expect[*wamp.Published](t, c)
		}
		eventually(t, "the memory to be released", func() bool { return ts.Stats().MemoryReleases == 1 })
	})
}

// TestPartialBudgetCountsInflated: a compressed message is held, once
// decompressed, in the PartialBudget like a message arriving. 17 holders
// leave some 28 KB of the 1 MiB budget; a HELLO that is a few hundred
// bytes on the wire and 60 KB decompressed does not fit, before WELCOME
// as after, and is refused (ABORT, close 1013) rather than held past the
// budget. With the room back it is taken, and its decompressed buffer is
// given back once it is delivered, even while the client leaves its next
// frame half sent.
func TestPartialBudgetCountsInflated(t *testing.T) {
	const (
		budget  = 1 << 20
		msgSize = 60000
		fit     = budget / msgSize // 17
	)
	forModes(t, func(t *testing.T, m mode) {
		b := NewPartialBudget(budget)
		ts := m.start(t, func(s *Server) {
			s.Deflate = true
			s.MaxMessageSize = 512 << 10
			s.PartialBudget = b
		})
		var holders []client
		for range fit {
			c := ts.dialRS(t, wamp.FormatJSON)
			c.conn.Write(append(rsHeader(msgSize), make([]byte, msgSize/2)...))
			holders = append(holders, c)
		}
		eventually(t, "the holders' reservations", func() bool { return b.Held() == fit*msgSize })

		hello := &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles["roles"], "agent": strings.Repeat("a", msgSize)}}
		c := ts.dialWSDeflate(t, "wamp.2.json")
		c.send(hello)
		expectAbort(t, c, "router busy", statusTryAgainLater)
		if n := b.Refused(); n != 1 {
			t.Errorf("Refused %d, want 1", n)
		}
		// After WELCOME too.
		c = ts.dialWSDeflate(t, "wamp.2.json")
		join(t, c)
		c.send(&wamp.Publish{Request: 1, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.big",
			Payload: wamp.Payload{Args: wamp.List{strings.Repeat("p", msgSize)}}})
		expectAbort(t, c, "router busy", statusTryAgainLater)

		for _, c := range holders {
			c.netConn().Close()
		}
		eventually(t, "the holders' reservations to be given back", func() bool { return b.Held() == 0 })
		c = ts.dialWSDeflate(t, "wamp.2.json")
		c.send(hello)
		c.conn.Write(wsHeader(ws.OpText, true, 100)[:2]) // and no more
		expect[*wamp.Welcome](t, c)
		eventually(t, "the decompressed HELLO to be given back", func() bool { return b.Held() == 0 })
	})
}

// TestMaxPendingConnections: the connections whose session is not
// established (a bare socket or one in its TLS handshake, a WebSocket and
// a RawSocket client that have not said HELLO) count against
// MaxPendingConnections; one more is closed at its accept, unread, and
// counted, while established sessions go on. WELCOME, or the end of a
// pending connection, makes room again.
func TestMaxPendingConnections(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) { s.MaxPendingConnections = 3 })
		joined := ts.dialRS(t, wamp.FormatJSON)
		join(t, joined)

		bare := ts.dial(t) // over TLS: its handshake waits for its first write
		ws := ts.dialWS(t, "wamp.2.json")
		rs := ts.dialRS(t, wamp.FormatMsgPack)
		eventually(t, "3 pending connections", func() bool { return ts.Stats().Pending == 3 })

		refusedClosed := func() {
			t.Helper()
			c, err := net.DialTimeout(ts.network, ts.addr, ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(ioTimeout))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("a connection past the limit: read %d bytes, %v; want it closed", n, err)
			}
		}
		refusedClosed()
		if n := ts.Stats().Refused["pending_full"]; n != 1 {
			t.Errorf("pending_full refusals %d, want 1", n)
		}
		roundTrip(t, joined, 1)

		join(t, ws)
		eventually(t, "2 pending connections", func() bool { return ts.Stats().Pending == 2 })
		late := ts.dialWS(t, "wamp.2.json")
		join(t, late)
		if n := ts.Stats().Pending; n != 2 {
			t.Errorf("Pending %d after a join, want 2", n)
		}
		bare.Close()
		rs.netConn().Close()
		eventually(t, "no pending connection", func() bool { return ts.Stats().Pending == 0 })
		for range 3 {
			ts.dial(t)
		}
		eventually(t, "3 pending connections again", func() bool { return ts.Stats().Pending == 3 })
		refusedClosed()
		if n := ts.Stats().Refused["pending_full"]; n != 2 {
			t.Errorf("pending_full refusals %d, want 2", n)
		}
	})
}

// TestRawSocketPingOverClientLimit: a RawSocket client that announced it
// accepts messages of up to 512 bytes gets a PONG for a PING of 512 bytes,
// but a PING of 513 bytes asks for a PONG the router must not send (a PONG
// echoes its PING exactly; the router sends nothing longer than the
// client's announced maximum): the connection is failed, with ABORT
// protocol_violation, and no frame over 512 bytes is sent. Before and
// after WELCOME.
func TestRawSocketPingOverClientLimit(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		dial := func(t *testing.T) *rsClient {
			c, err := ts.tryRS(t, []byte{rawsocket.Magic, 0x00 | byte(wamp.FormatJSON), 0, 0}) // 2^9 bytes
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		// readOne reads a frame, checking that it is no longer than the
		// client accepts.
		readOne := func(t *testing.T, c *rsClient) (rawsocket.Header, []byte, error) {
			t.Helper()
			h, p, err := c.readFrame()
			if err == nil && h.Length > rawsocket.MinLength {
				t.Fatalf("the router sent a %v frame of %d bytes to a client that accepts %d", h.Type, h.Length, rawsocket.MinLength)
			}
			return h, p, err
		}
		for _, joined := range []bool{false, true} {
			name := "before WELCOME"
			if joined {
				name = "after WELCOME"
			}
			t.Run(name, func(t *testing.T) {
				c := dial(t)
				if joined {
					join(t, c)
				}
				ping := bytes.Repeat([]byte{'p'}, rawsocket.MinLength)
				c.writeFrame(rawsocket.TypePing, ping)
				h, p, err := readOne(t, c)
				if err != nil || h.Type != rawsocket.TypePong || !bytes.Equal(p, ping) {
					t.Fatalf("got %v of %d bytes, %v; want the PONG of %d bytes", h.Type, len(p), err, len(ping))
				}

				c.writeFrame(rawsocket.TypePing, append(ping, 'p'))
				var msgs []wamp.Message
				for {
					h, p, err := readOne(t, c)
					if err != nil {
						if !errors.Is(err, io.EOF) && !isReset(err) {
							t.Fatalf("waiting for the end of the connection: %v", err)
						}
						break
					}
					if h.Type != rawsocket.TypeMessage {
						t.Fatalf("got a %v of %d bytes, want no PONG", h.Type, h.Length)
					}
					m, err := c.codec.Decode(p)
					if err != nil {
						t.Fatalf("decoding %q: %v", p, err)
					}
					msgs = append(msgs, m)
				}
				if len(msgs) != 1 {
					t.Fatalf("got %+v, want one ABORT", msgs)
				}
				a, ok := msgs[0].(*wamp.Abort)
				if !ok || a.Reason != wamp.ErrProtocolViolation ||
					!strings.Contains(wamp.String(a.Details, "message"), "PING of 513 bytes") {
					t.Fatalf("got %+v, want ABORT protocol_violation about the PING of 513 bytes", msgs[0])
				}
			})
		}
	})
}
