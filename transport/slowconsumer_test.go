package transport

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
)

// TestPongFlood: a client that sends pings and never reads the pongs fills
// its outbound queue. It is dropped as a slow consumer, told why (ABORT,
// and for WebSocket the close reason) and counted, whether its pings are
// large (RawSocket, up to the message size) or small (WebSocket control
// frames, which once were queued without a bound). Bystanders are not
// affected.
func TestPongFlood(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.OutboundQueue = 64 << 10
			s.RawSocketPings = true
		})
		bystander := ts.dialWS(t, "wamp.2.json")
		join(t, bystander)

		// flood pings c until stop is closed or the connection fails.
		flood := func(c net.Conn, ping []byte, stop <-chan struct{}) *sync.WaitGroup {
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := c.Write(ping); err != nil {
						return
					}
				}
			})
			return &wg
		}
		// dropped waits until the server has counted one more slow
		// consumer, then stops the flood.
		dropped := func(t *testing.T, before uint64, stop chan struct{}, wg *sync.WaitGroup) {
			t.Helper()
			eventually(t, "the flooder to be dropped as a slow consumer", func() bool {
				return ts.Router.Stats().SlowConsumers > before
			})
			close(stop)
			wg.Wait()
		}
		// lastAbort checks that the last message of msgs is an ABORT
		// that says why.
		lastAbort := func(t *testing.T, msgs []wamp.Message) {
			t.Helper()
			if len(msgs) == 0 {
				t.Fatal("no message before the end of the connection, want ABORT")
			}
			a, ok := msgs[len(msgs)-1].(*wamp.Abort)
			if !ok {
				t.Fatalf("last message %+v, want ABORT", msgs[len(msgs)-1])
			}
			if msg := wamp.String(a.Details, "message"); a.Reason != wamp.ErrLimitExceeded || !containsFold(msg, "slow consumer") {
				t.Fatalf("ABORT %s %q, want %s saying slow consumer", a.Reason, msg, wamp.ErrLimitExceeded)
			}
		}

		t.Run("rawsocket", func(t *testing.T) {
			c := ts.dialRS(t, wamp.FormatJSON)
			join(t, c)
			ts.serverConn(t, c.conn.LocalAddr()).setSendBuffer(8 << 10)
			before := ts.Router.Stats().SlowConsumers
			stop := make(chan struct{})
			dropped(t, before, stop, flood(c.conn, rawsocket.AppendFrame(nil, rawsocket.TypePing, make([]byte, 16<<10)), stop))
			var msgs []wamp.Message
			for {
				h, p, err := c.readFrame()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("reading what was queued: %v", err)
				}
				if h.Type == rawsocket.TypeMessage {
					m, err := c.codec.Decode(p)
					if err != nil {
						t.Fatal(err)
					}
					msgs = append(msgs, m)
				}
			}
			lastAbort(t, msgs)
		})
		t.Run("websocket", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json")
			join(t, c)
			ts.serverConn(t, c.conn.LocalAddr()).setSendBuffer(8 << 10)
			before := ts.Router.Stats().SlowConsumers
			h := ws.Header{Fin: true, OpCode: ws.OpPing, Length: ws.MaxControlFramePayloadSize, Masked: true, Mask: ws.NewMask()}
			ping := append(websocket.AppendHeader(nil, h), make([]byte, ws.MaxControlFramePayloadSize)...)
			stop := make(chan struct{})
			dropped(t, before, stop, flood(c.conn, ping, stop))
			var msgs []wamp.Message
			for {
				h, p, err := c.readFrame()
				if err != nil {
					t.Fatalf("reading what was queued: %v", err)
				}
				if h.OpCode == ws.OpText {
					m, err := c.codec.Decode(p)
					if err != nil {
						t.Fatal(err)
					}
					msgs = append(msgs, m)
				}
				if h.OpCode == ws.OpClose {
					code, reason := ws.ParseCloseFrameData(p)
					if code != ws.StatusPolicyViolation || !containsFold(reason, "slow consumer") {
						t.Fatalf("closed with %d %q, want 1008 slow consumer", code, reason)
					}
					break
				}
			}
			lastAbort(t, msgs)
		})
		roundTrip(t, bystander, 1)
	})
}

// TestSlowSubscriberToldWhy: with slow_consumer: disconnect, a subscriber
// whose queue is full is dropped, and the last message it finds queued is
// an ABORT that says why (an ABORT is never refused for a full queue), so
// a client that catches up learns what happened instead of seeing its
// connection vanish. Bystanders are not affected.
func TestSlowSubscriberToldWhy(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}, Logger: testLogger(), SlowConsumer: router.Disconnect})
			if err != nil {
				t.Fatal(err)
			}
			s.Router = rt
			s.OutboundQueue = 64 << 10
		})
		slow := ts.dialRS(t, wamp.FormatJSON)
		// Small socket buffers fill fast; not so small that TCP's zero-window
		// probing makes the drain below slower than the close grace.
		tcpConn(t, slow.conn).SetReadBuffer(64 << 10)
		join(t, slow)
		slow.send(&wamp.Subscribe{Request: 1, Topic: "com.test.flood"})
		expect[*wamp.Subscribed](t, slow)
		// From here on slow reads nothing until it is dropped.
		ts.serverConn(t, slow.conn.LocalAddr()).setSendBuffer(8 << 10)

		pub := ts.dialWS(t, "wamp.2.msgpack")
		join(t, pub)
		payload := wamp.Payload{Args: wamp.List{strings.Repeat("z", 8<<10)}}
		for i := 0; ts.Router.Stats().SlowConsumers == 0; i++ {
			if i == 5000 {
				t.Fatal("the slow subscriber was never dropped")
			}
			pub.send(&wamp.Publish{Request: wamp.ID(i + 1), Topic: "com.test.flood", Payload: payload})
			if i%20 == 0 {
				roundTrip(t, pub, wamp.ID(i+1))
			}
		}
		roundTrip(t, pub, 99999)

		var last wamp.Message
		for {
			h, p, err := slow.readFrame()
			if errors.Is(err, io.EOF) || isReset(err) {
				break
			}
			if err != nil {
				t.Fatalf("reading what was queued: %v", err)
			}
			if h.Type == rawsocket.TypeMessage {
				if last, err = slow.codec.Decode(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		a, ok := last.(*wamp.Abort)
		if !ok {
			t.Fatalf("last message %+v, want ABORT", last)
		}
		if msg := wamp.String(a.Details, "message"); a.Reason != wamp.ErrLimitExceeded || !containsFold(msg, "slow consumer") {
			t.Fatalf("ABORT %s %q, want %s saying slow consumer", a.Reason, msg, wamp.ErrLimitExceeded)
		}
	})
}
