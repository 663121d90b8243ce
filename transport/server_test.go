package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

var formats = []wamp.Format{wamp.FormatJSON, wamp.FormatMsgPack, wamp.FormatCBOR}

func TestHelloWelcome(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		for _, f := range formats {
			t.Run("websocket/"+f.String(), func(t *testing.T) {
				c := ts.dialWS(t, codec.ByFormat(f).Subprotocol())
				join(t, c)
				c.send(&wamp.Goodbye{Reason: wamp.CloseNormal})
				msgs, code := c.closed()
				if len(msgs) != 1 || msgs[0].Type() != wamp.TypeGoodbye || code != ws.StatusNormalClosure {
					t.Fatalf("after GOODBYE: %+v, close %d", msgs, code)
				}
			})
			t.Run("rawsocket/"+f.String(), func(t *testing.T) {
				c := ts.dialRS(t, f)
				if c.router.MaxLength != DefaultMaxMessageSize || c.router.Serializer != f {
					t.Fatalf("router announced %+v", c.router)
				}
				join(t, c)
				c.send(&wamp.Goodbye{Reason: wamp.CloseNormal})
				if msgs, _ := c.closed(); len(msgs) != 1 || msgs[0].Type() != wamp.TypeGoodbye {
					t.Fatalf("after GOODBYE: %+v", msgs)
				}
			})
		}
		eventually(t, "sessions to detach", func() bool { return ts.Router.Stats().Sessions == 0 })
	})
}

// pubSub has sub subscribe, pub publish a payload with binary in it, and
// checks what sub gets.
func pubSub(t *testing.T, pub, sub client) {
	t.Helper()
	sub.send(&wamp.Subscribe{Request: 1, Topic: "com.test.topic"})
	subscribed := expect[*wamp.Subscribed](t, sub)
	blob := []byte{0, 1, 2, 0xfe, 0xff}
	pub.send(&wamp.Publish{Request: 7, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.topic",
		Payload: wamp.Payload{Args: wamp.List{blob, "text", 42}, Kwargs: wamp.Dict{"blob": blob}}})
	expect[*wamp.Published](t, pub)
	ev := expect[*wamp.Event](t, sub)
	if ev.Subscription != subscribed.Subscription {
		t.Fatalf("EVENT for subscription %d, want %d", ev.Subscription, subscribed.Subscription)
	}
	args, kwargs, err := codec.DecodePayload(&ev.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 3 || !bytes.Equal(asBytes(args[0]), blob) || args[1] != "text" || fmt.Sprint(args[2]) != "42" ||
		!bytes.Equal(asBytes(kwargs["blob"]), blob) {
		t.Fatalf("EVENT payload %#v %#v", args, kwargs)
	}
}

func asBytes(v any) []byte {
	b, _ := v.([]byte)
	return b
}

func TestPubSubAcrossProtocols(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		wsJSON := ts.dialWS(t, "wamp.2.json")
		rsCBOR := ts.dialRS(t, wamp.FormatCBOR)
		wsMsgPack := ts.dialWS(t, "wamp.2.msgpack")
		rsJSON := ts.dialRS(t, wamp.FormatJSON)
		for _, c := range []client{wsJSON, rsCBOR, wsMsgPack, rsJSON} {
			join(t, c)
		}
		t.Run("rawsocket cbor to websocket json", func(t *testing.T) { pubSub(t, rsCBOR, wsJSON) })
		t.Run("websocket msgpack to rawsocket json", func(t *testing.T) { pubSub(t, wsMsgPack, rsJSON) })
	})
}

func TestCall(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		callee := ts.dialWS(t, "wamp.2.cbor")
		caller := ts.dialRS(t, wamp.FormatJSON)
		join(t, callee)
		join(t, caller)

		callee.send(&wamp.Register{Request: 1, Procedure: "com.test.add"})
		reg := expect[*wamp.Registered](t, callee)
		caller.send(&wamp.Call{Request: 5, Procedure: "com.test.add", Payload: wamp.Payload{Args: wamp.List{2, 3}}})
		inv := expect[*wamp.Invocation](t, callee)
		if inv.Registration != reg.Registration {
			t.Fatalf("INVOCATION for registration %d, want %d", inv.Registration, reg.Registration)
		}
		args, _, err := codec.DecodePayload(&inv.Payload)
		if err != nil || len(args) != 2 {
			t.Fatalf("INVOCATION args %v, %v", args, err)
		}
		callee.send(&wamp.Yield{Request: inv.Request, Payload: wamp.Payload{Args: wamp.List{5}}})
		res := expect[*wamp.Result](t, caller)
		args, _, err = codec.DecodePayload(&res.Payload)
		if res.Request != 5 || err != nil || len(args) != 1 || fmt.Sprint(args[0]) != "5" {
			t.Fatalf("RESULT %+v %v %v", res, args, err)
		}
	})
}

func TestKeepAlive(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.PingInterval = 50 * time.Millisecond
			s.PingTimeout = 300 * time.Millisecond
			s.RawSocketPings = true
		})
		dial := map[string]func(t *testing.T) client{
			"websocket": func(t *testing.T) client { return ts.dialWS(t, "wamp.2.json") },
			"rawsocket": func(t *testing.T) client { return ts.dialRS(t, wamp.FormatMsgPack) },
		}
		for name, dial := range dial {
			t.Run(name, func(t *testing.T) {
				t.Parallel() // each waits for pings and the ping timeout
				c := dial(t)
				join(t, c)
				// The client's own ping is answered with its payload.
				switch c := c.(type) {
				case *wsClient:
					c.writeFrame(ws.OpPing, true, true, []byte("are you there"))
					h, p, err := c.readFrame()
					for err == nil && h.OpCode == ws.OpPing {
						c.writeFrame(ws.OpPong, true, true, p)
						h, p, err = c.readFrame()
					}
					if err != nil || h.OpCode != ws.OpPong || string(p) != "are you there" {
						t.Fatalf("got %v %q %v, want the pong", h.OpCode, p, err)
					}
				case *rsClient:
					c.writeFrame(rawsocket.TypePing, []byte("are you there"))
					h, p, err := c.readFrame()
					for err == nil && h.Type == rawsocket.TypePing {
						c.writeFrame(rawsocket.TypePong, p)
						h, p, err = c.readFrame()
					}
					if err != nil || h.Type != rawsocket.TypePong || string(p) != "are you there" {
						t.Fatalf("got %v %q %v, want the PONG", h.Type, p, err)
					}
				}
				// The server pings an idle client; a client that answers stays,
				// one that does not is dropped.
				pings := func() int {
					if c, ok := c.(*wsClient); ok {
						return len(c.pings)
					}
					return len(c.(*rsClient).pings)
				}
				for i := 1; pings() < 2; i++ {
					if i == 50 {
						t.Fatal("no keep-alive ping")
					}
					time.Sleep(100 * time.Millisecond)
					roundTrip(t, c, wamp.ID(i))
				}
				start := time.Now()
				msgs, code := c.closed()
				if len(msgs) != 0 {
					t.Fatalf("messages before the close: %+v", msgs)
				}
				if _, ok := c.(*wsClient); ok && code != ws.StatusGoingAway {
					t.Fatalf("close code %d, want 1001", code)
				}
				if d := time.Since(start); d < 100*time.Millisecond {
					t.Fatalf("dropped after %s, before the ping timeout", d)
				}
			})
		}
	})
}

func TestHelloTimeout(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) { s.HelloTimeout = 300 * time.Millisecond })
		live := ts.dialRS(t, wamp.FormatJSON)
		join(t, live)
		for _, c := range []client{ts.dialWS(t, "wamp.2.msgpack"), ts.dialRS(t, wamp.FormatCBOR)} {
			expectAbort(t, c, "no HELLO within 300ms", ws.StatusPolicyViolation)
		}
		time.Sleep(150 * time.Millisecond)
		roundTrip(t, live, 1)
	})
}

func TestGarbage(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		other := ts.dialWS(t, "wamp.2.json")
		join(t, other)

		t.Run("websocket frame garbage", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json")
			c.conn.Write([]byte("garbage!garbage!"))
			expectAbort(t, c, "websocket:", ws.StatusProtocolError)
		})
		t.Run("websocket message garbage", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json")
			join(t, c)
			c.writeFrame(ws.OpText, true, true, []byte(`[16, 1, {}, "com.topic"`))
			expectAbort(t, c, "cannot decode message: json", ws.StatusPolicyViolation)
		})
		t.Run("websocket cbor garbage", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.cbor")
			c.writeFrame(ws.OpBinary, true, true, []byte{0xff, 0x00, 0x13})
			expectAbort(t, c, "cannot decode message: cbor", ws.StatusPolicyViolation)
		})
		t.Run("rawsocket frame garbage", func(t *testing.T) {
			c := ts.dialRS(t, wamp.FormatMsgPack)
			c.conn.Write([]byte("garbage!garbage!"))
			expectAbort(t, c, "rawsocket:", 0)
		})
		t.Run("a lot of garbage", func(t *testing.T) {
			// More than the server reads at once: it must not reset the
			// connection under its ABORT.
			c := ts.dialWS(t, "wamp.2.json")
			junk := bytes.Repeat([]byte("garbage!"), 64<<10)
			go c.conn.Write(junk)
			expectAbort(t, c, "websocket:", ws.StatusProtocolError)
		})
		t.Run("rawsocket message garbage", func(t *testing.T) {
			c := ts.dialRS(t, wamp.FormatMsgPack)
			c.writeFrame(rawsocket.TypeMessage, []byte{0xc1, 0xc1})
			expectAbort(t, c, "cannot decode message: msgpack", 0)
		})
		roundTrip(t, other, 1)
	})
}

func TestMessageTooBig(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) { s.MaxMessageSize = 1500 })
		big := &wamp.Publish{Request: 1, Topic: "com.test.big", Payload: wamp.Payload{Args: wamp.List{strings.Repeat("x", 2000)}}}
		t.Run("websocket", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json")
			join(t, c)
			c.send(big)
			expectAbort(t, c, "larger than the maximum", ws.StatusMessageTooBig)
		})
		t.Run("websocket fragments", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json")
			chunk := bytes.Repeat([]byte{' '}, 1000)
			c.writeFrame(ws.OpText, false, true, chunk)
			c.writeFrame(ws.OpContinuation, true, true, chunk)
			expectAbort(t, c, "larger than the maximum", ws.StatusMessageTooBig)
		})
		t.Run("rawsocket", func(t *testing.T) {
			c := ts.dialRS(t, wamp.FormatJSON)
			if c.router.MaxLength != 1024 {
				t.Fatalf("router announced %d, want 1024", c.router.MaxLength)
			}
			join(t, c)
			c.send(big)
			expectAbort(t, c, "exceeds the maximum length of 1024", 0)
		})
		t.Run("outbound over the client's limit", func(t *testing.T) {
			// 1 KiB, JSON: the smallest RawSocket limit WELCOME fits in
			// since the broker announces its advanced features. The router
			// also takes 1 KiB, so the EVENT is made larger than the
			// PUBLISH by disclosing the publisher (~130 bytes more).
			small, err := ts.tryRS(t, []byte{rawsocket.Magic, 0x11, 0, 0})
			if err != nil {
				t.Fatal(err)
			}
			join(t, small)
			small.send(&wamp.Subscribe{Request: 1, Topic: "com.test.t"})
			expect[*wamp.Subscribed](t, small)
			pub := ts.dialWS(t, "wamp.2.json")
			join(t, pub)
			dropped := ts.Router.Stats().EventsDropped
			pub.send(&wamp.Publish{Request: 2, Topic: "com.test.t", Options: wamp.Dict{"disclose_me": true},
				Payload: wamp.Payload{Args: wamp.List{strings.Repeat("y", 960)}}})
			pub.send(&wamp.Publish{Request: 3, Topic: "com.test.t", Payload: wamp.Payload{Args: wamp.List{"small"}}})
			ev := expect[*wamp.Event](t, small)
			args, _, _ := codec.DecodePayload(&ev.Payload)
			if len(args) != 1 || args[0] != "small" {
				t.Fatalf("got EVENT %v, want only the small one", args)
			}
			if ts.Router.Stats().EventsDropped != dropped+1 {
				t.Fatal("the large EVENT was not refused")
			}
		})
	})
}

func TestWebSocketViolations(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		t.Run("unmasked frame", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json")
			c.writeFrame(ws.OpText, true, false, []byte(`[1,"realm1",{}]`))
			expectAbort(t, c, "must be masked", ws.StatusProtocolError)
		})
		t.Run("binary on json", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json")
			c.writeFrame(ws.OpBinary, true, true, []byte(`[1,"realm1",{}]`))
			expectAbort(t, c, "binary message on a text", ws.StatusUnsupportedData)
		})
		t.Run("text on cbor", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.cbor")
			c.writeFrame(ws.OpText, true, true, []byte(`x`))
			expectAbort(t, c, "text message on a binary", ws.StatusUnsupportedData)
		})
		t.Run("invalid UTF-8", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json")
			c.writeFrame(ws.OpText, true, true, []byte("[1,\"\xff\",{}]"))
			expectAbort(t, c, "UTF-8", ws.StatusInvalidFramePayloadData)
		})
	})
}

func TestFragmentedMessage(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		c := ts.dialWS(t, "wamp.2.json")
		hello, err := codec.JSON.Encode(nil, &wamp.Hello{Realm: "realm1", Details: clientRoles})
		if err != nil {
			t.Fatal(err)
		}
		third := len(hello) / 3
		c.writeFrame(ws.OpText, false, true, hello[:third])
		c.writeFrame(ws.OpPing, true, true, []byte("mid-message"))
		c.writeFrame(ws.OpContinuation, false, true, hello[third:2*third])
		c.writeFrame(ws.OpContinuation, true, true, hello[2*third:])
		expect[*wamp.Welcome](t, c)
		if len(c.pings) != 1 || string(c.pings[0]) != "mid-message" {
			t.Fatalf("pongs %q", c.pings)
		}
	})
}

func TestWebSocketHandshakeRefused(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.AllowedOrigins = []string{"https://app.example.com", "https://*.example.org"}
			s.WebSocketPath = "/wamp"
		})
		status := func(err error) int {
			var se ws.StatusError
			if errors.As(err, &se) {
				return int(se)
			}
			t.Fatalf("handshake error %v is not a status", err)
			return 0
		}
		if _, err := ts.tryWS(t, "mqtt", "/wamp", nil); status(err) != 400 {
			t.Fatalf("wrong subprotocol: %v", err)
		}
		if _, err := ts.tryWS(t, "", "/wamp", nil); status(err) != 400 {
			t.Fatalf("no subprotocol: %v", err)
		}
		if _, err := ts.tryWS(t, "wamp.2.json", "/ws", nil); status(err) != 404 {
			t.Fatalf("wrong path: %v", err)
		}
		if _, err := ts.tryWS(t, "wamp.2.json", "/wamp", ws.HandshakeHeaderString("Origin: https://evil.example.com\r\n")); status(err) != 403 {
			t.Fatalf("bad origin: %v", err)
		}
		c, err := ts.tryWS(t, "wamp.2.json", "/wamp", ws.HandshakeHeaderString("Origin: https://a.example.org\r\n"))
		if err != nil {
			t.Fatalf("good origin: %v", err)
		}
		join(t, c)

		// The body says what is wrong.
		conn := ts.dial(t)
		fmt.Fprintf(conn, "GET /wamp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.ubjson\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(ioTimeout))
		resp, _ := io.ReadAll(conn)
		if !bytes.HasPrefix(resp, []byte("HTTP/1.1 400 ")) || !bytes.Contains(resp, []byte("wamp.2.json, wamp.2.msgpack, wamp.2.cbor")) {
			t.Fatalf("response %q", resp)
		}
	})
}

func TestRawSocketHandshakeRefused(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		for _, tt := range []struct {
			name string
			req  []byte
			want error
		}{
			{name: "unsupported serializer", req: []byte{0x7f, 0xf5, 0, 0}, want: rawsocket.ErrorSerializerUnsupported},
			{name: "serializer 0", req: []byte{0x7f, 0xf0, 0, 0}, want: rawsocket.ErrorSerializerUnsupported},
			{name: "reserved bits", req: []byte{0x7f, 0xf1, 0, 1}, want: rawsocket.ErrorReservedBits},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := ts.tryRS(t, tt.req); err != tt.want {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			})
		}
		t.Run("bad magic", func(t *testing.T) {
			// Not 0x7F: read as HTTP, which it is not either; the connection
			// is failed.
			conn := ts.dial(t)
			conn.Write([]byte{0x7e, 0xf1, 0, 0, '\r', '\n'})
			conn.SetReadDeadline(time.Now().Add(ioTimeout))
			if resp, err := io.ReadAll(conn); len(resp) != 0 || err != nil && !isReset(err) {
				t.Fatalf("got %q, %v; want the connection closed", resp, err)
			}
		})
		t.Run("bad magic, rawsocket only", func(t *testing.T) {
			ro := m.start(t, func(s *Server) { s.RawSocket = true })
			conn := ro.dial(t)
			conn.Write([]byte{0x7e, 0xf1, 0, 0})
			conn.SetReadDeadline(time.Now().Add(ioTimeout))
			if resp, err := io.ReadAll(conn); len(resp) != 0 || err != nil && !isReset(err) {
				t.Fatalf("got %q, %v; want the connection closed", resp, err)
			}
		})
		t.Run("websocket only", func(t *testing.T) {
			wo := m.start(t, func(s *Server) { s.WebSocket = true })
			if _, err := wo.tryRS(t, []byte{0x7f, 0xf1, 0, 0}); !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("err = %v, want the connection closed", err)
			}
			join(t, wo.dialWS(t, "wamp.2.json"))
		})
	})
}

func TestSlowReader(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) { s.OutboundQueue = 64 << 10 })
		slow := ts.dialRS(t, wamp.FormatJSON)
		tcpConn(t, slow.conn).SetReadBuffer(4 << 10)
		join(t, slow)
		slow.send(&wamp.Subscribe{Request: 1, Topic: "com.test.flood"})
		expect[*wamp.Subscribed](t, slow)
		// From here on slow reads nothing.
		sc := ts.serverConn(t, slow.conn.LocalAddr())
		sc.setSendBuffer(8 << 10)

		pub := ts.dialWS(t, "wamp.2.msgpack")
		other := ts.dialWS(t, "wamp.2.json")
		join(t, pub)
		join(t, other)
		payload := wamp.Payload{Args: wamp.List{strings.Repeat("z", 8<<10)}}
		ev := &wamp.Event{Subscription: 1, Publication: 1, Payload: payload}
		for i := 0; ; i++ {
			if i == 5000 {
				t.Fatal("the slow reader's queue never filled")
			}
			pub.send(&wamp.Publish{Request: wamp.ID(i + 1), Topic: "com.test.flood", Payload: payload})
			if i%20 == 0 {
				roundTrip(t, other, wamp.ID(i+1))
			}
			// Once the socket is stuck, Send itself says so.
			if ts.Router.Stats().EventsDropped > 0 && sc.Send(ev) == router.ErrQueueFull {
				break
			}
		}
		// Everyone else is unaffected.
		roundTrip(t, other, 99999)
		roundTrip(t, pub, 99999)
		if sc.isClosing() {
			t.Fatal("the slow reader was disconnected; the default policy drops events")
		}
	})
}

func TestUnixSocket(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "junction.sock")
		// A socket file left by a server that is gone.
		stale, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		stale.(*net.UnixListener).SetUnlinkOnClose(false)
		stale.Close()

		ln, err := Listen("unix:" + path)
		if err != nil {
			t.Fatalf("over a stale socket: %v", err)
		}
		ts := serveOn(t, ln, m.engine, func(s *Server) { s.TLSConfig = m.tlsConfig() })
		if _, err := Listen("unix:" + path); err == nil {
			t.Fatal("a second listener on a live socket")
		}
		wsc := ts.dialWS(t, "wamp.2.cbor")
		rs := ts.dialRS(t, wamp.FormatMsgPack)
		join(t, wsc)
		join(t, rs)
		pubSub(t, wsc, rs)
	})
}

func TestClientClose(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		c := ts.dialWS(t, "wamp.2.json")
		join(t, c)
		c.writeFrame(ws.OpClose, true, true, []byte{0x0f, 0xa0, 'b', 'y', 'e'}) // 4000
		h, p, err := c.readFrame()
		if err != nil || h.OpCode != ws.OpClose {
			t.Fatalf("got %v %v, want the close frame echoed", h.OpCode, err)
		}
		if code, _ := ws.ParseCloseFrameData(p); code != 4000 {
			t.Fatalf("close code %d, want 4000 echoed", code)
		}
		if _, _, err := c.readFrame(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the close: %v", err)
		}
		eventually(t, "the session to detach", func() bool { return ts.Router.Stats().Sessions == 0 })
	})
}

func TestIdleTimeout(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
		c := ts.dialWS(t, "wamp.2.json")
		join(t, c)
		start := time.Now()
		msgs, code := c.closed()
		if len(msgs) != 0 || code != ws.StatusGoingAway {
			t.Fatalf("got %+v, close %d", msgs, code)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("closed after %s", d)
		}
	})
}

func TestShutdown(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		defer goleak.VerifyNone(t)
		rt := newRouter(t)
		ln, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Router: rt, Logger: testLogger(), Engine: m.engine, TLSConfig: m.tlsConfig()}
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		ts := &testServer{Server: s, ln: ln, network: "tcp", addr: ln.Addr().String()}

		polite := ts.dialWS(t, "wamp.2.json")
		rude := ts.dialRS(t, wamp.FormatJSON)
		join(t, polite)
		join(t, rude)
		idle := ts.dial(t) // never finishes a handshake

		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		routerDone := make(chan error, 1)
		go func() { routerDone <- rt.Shutdown(ctx) }()
		srvDone := make(chan error, 1)
		go func() { srvDone <- s.Shutdown(ctx) }()

		// The polite client answers GOODBYE and gets close 1001.
		g := expect[*wamp.Goodbye](t, polite)
		if g.Reason != wamp.CloseSystemShutdown {
			t.Fatalf("GOODBYE %s", g.Reason)
		}
		polite.send(&wamp.Goodbye{Reason: wamp.CloseGoodbyeAndOut})
		if msgs, code := polite.closed(); len(msgs) != 0 || code != ws.StatusGoingAway {
			t.Fatalf("polite: %+v, close %d", msgs, code)
		}
		// The one that never answers is cut off when the time is up.
		expect[*wamp.Goodbye](t, rude)
		if _, err := rude.r.ReadByte(); err == nil {
			t.Fatal("rude client still served")
		}
		rude.conn.Close()
		idle.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := idle.Read(make([]byte, 1)); err == nil {
			t.Fatal("connection in handshake still open")
		}
		if err := <-srvDone; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want the deadline", err)
		}
		<-routerDone
		if err := <-served; err != nil {
			t.Fatalf("Serve = %v", err)
		}
		if err := s.Serve(ln); err != ErrServerClosed {
			t.Fatalf("Serve after Shutdown = %v", err)
		}
		polite.conn.Close()
		rude.conn.Close()
		idle.Close()
	})
}

func TestCloseDropsConnections(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		defer goleak.VerifyNone(t)
		ln, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Router: newRouter(t), Logger: testLogger(), Engine: m.engine, TLSConfig: m.tlsConfig()}
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		ts := &testServer{Server: s, ln: ln, network: "tcp", addr: ln.Addr().String()}
		a := ts.dialWS(t, "wamp.2.json")
		b := ts.dialRS(t, wamp.FormatJSON)
		join(t, a)
		join(t, b)
		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Close took %s", d)
		}
		if err := <-served; err != nil {
			t.Fatalf("Serve = %v", err)
		}
		if _, _, err := a.readFrame(); err == nil {
			t.Fatal("websocket client still served")
		}
		if _, _, err := b.readFrame(); err == nil {
			t.Fatal("rawsocket client still served")
		}
		if n := s.Router.Stats().Sessions; n != 0 {
			t.Fatalf("%d sessions still attached", n)
		}
		a.conn.Close()
		b.conn.Close()
	})
}

func TestServerConfigErrors(t *testing.T) {
	for _, s := range []*Server{
		{},
		{Router: newRouter(t), MaxMessageSize: -1},
		{Router: newRouter(t), AllowedOrigins: []string{"https://*.*.com"}},
		{Router: newRouter(t), WebSocketPath: "ws"},
		{Router: newRouter(t), Engine: "fast"},
		{Router: newRouter(t), Engine: EngineEpoll, TLSConfig: &tls.Config{MaxVersion: tls.VersionTLS11}},
		{Router: newRouter(t), MaxTLSHandshakes: -1},
		{Router: newRouter(t), MaxPreWelcomeMessageSize: -1},
		{Router: newRouter(t), MaxMessageSize: 2 << 20, PartialBudget: NewPartialBudget(1 << 20)},
	} {
		ln, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Serve(ln); err == nil {
			t.Errorf("Serve with %+v: no error", s)
		}
		ln.Close()
	}
}

// TestNoRawSocketPingsByDefault: RawSocket clients are not pinged unless
// RawSocketPings is set (Autobahn|Python drops the connection on a PING),
// and our pings are never empty (Autobahn|JS ignores an empty frame).
func TestNoRawSocketPingsByDefault(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.PingInterval = 30 * time.Millisecond
			s.PingTimeout = 5 * time.Second
		})
		rs := ts.dialRS(t, wamp.FormatJSON)
		join(t, rs)
		wsc := ts.dialWS(t, "wamp.2.json")
		join(t, wsc)
		for i := 1; i <= 10; i++ {
			time.Sleep(70 * time.Millisecond) // over two ping intervals of quiet
			roundTrip(t, rs, wamp.ID(i))
			roundTrip(t, wsc, wamp.ID(i))
		}
		if n := len(rs.pings); n != 0 {
			t.Fatalf("RawSocket client got %d pings", n)
		}
		if len(wsc.pings) == 0 {
			t.Fatal("WebSocket client got no ping")
		}
		for _, p := range wsc.pings {
			if len(p) == 0 {
				t.Fatal("empty ping payload")
			}
		}
	})
}
