package transport

import (
	"bytes"
	"crypto/tls"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Tests of what an engine must get right beyond the protocol: input that
// arrives in pieces or all at once, slow clients, timeouts and closing
// races. Each runs on every engine.

func TestEngineSelection(t *testing.T) {
	ts := startServer(t, EngineAuto, nil)
	join(t, ts.dialRS(t, wamp.FormatJSON))
	ts.mu.Lock()
	usesEpoll := ts.eng != nil
	ts.mu.Unlock()
	if usesEpoll != epollSupported {
		t.Fatalf("auto on a TCP listener: epoll engine started %v, want %v", usesEpoll, epollSupported)
	}
	tlsServer := startServer(t, EngineAuto, func(s *Server) { s.TLSConfig = serverTLS })
	join(t, tlsServer.dialWS(t, "wamp.2.json"))
	tlsServer.mu.Lock()
	usesEpoll = tlsServer.eng != nil
	tlsServer.mu.Unlock()
	if usesEpoll != epollSupported {
		t.Fatalf("auto with TLS: epoll engine started %v, want %v", usesEpoll, epollSupported)
	}
	// A TLSConfig the record layer cannot carry (TLS 1.2 with CBC
	// suites only) is served in goroutine mode.
	cbc := serverTLS.Clone()
	cbc.MaxVersion = tls.VersionTLS12
	cbc.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	cbcServer := startServer(t, EngineAuto, func(s *Server) { s.TLSConfig = cbc })
	join(t, cbcServer.dialWS(t, "wamp.2.json"))
	cbcServer.mu.Lock()
	usesEpoll = cbcServer.eng != nil
	cbcServer.mu.Unlock()
	if usesEpoll {
		t.Fatal("auto with CBC-only TLS started the epoll engine")
	}
}

// wsFrame is a masked client frame carrying m.
func wsFrame(t *testing.T, c codec.Codec, m wamp.Message) []byte {
	t.Helper()
	p, err := c.Encode(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	op := ws.OpText
	if c.Binary() {
		op = ws.OpBinary
	}
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(p)), Masked: true, Mask: ws.NewMask()}
	ws.Cipher(p, h.Mask, 0)
	return append(websocket.AppendHeader(nil, h), p...)
}

func rsFrame(t *testing.T, c codec.Codec, m wamp.Message) []byte {
	t.Helper()
	p, err := c.Encode(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return rawsocket.AppendFrame(nil, rawsocket.TypeMessage, p)
}

// TestSplitMessages sends HELLO and an acknowledged PUBLISH in two writes,
// split at every byte boundary, a pause between them. Over TLS each write
// is a record of its own, and the split is at every third boundary: the
// framing behind the record layer is the plain one, split everywhere in
// the plain modes, and a TLS handshake per split is what the test costs.
func TestSplitMessages(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		step := 1
		if m.tls {
			step = 3
		}
		hello := &wamp.Hello{Realm: "realm1", Details: clientRoles}
		publish := &wamp.Publish{Request: 9, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.split"}
		t.Run("rawsocket", func(t *testing.T) {
			stream := append(rsFrame(t, codec.MsgPack, hello), rsFrame(t, codec.MsgPack, publish)...)
			for k := 1; k < len(stream); k += step {
				c := ts.dialRS(t, wamp.FormatMsgPack)
				c.conn.Write(stream[:k])
				time.Sleep(time.Millisecond)
				c.conn.Write(stream[k:])
				expect[*wamp.Welcome](t, c)
				expect[*wamp.Published](t, c)
				c.conn.Close()
			}
		})
		t.Run("websocket", func(t *testing.T) {
			stream := append(wsFrame(t, codec.JSON, hello), wsFrame(t, codec.JSON, publish)...)
			for k := 1; k < len(stream); k += step {
				c := ts.dialWS(t, "wamp.2.json")
				c.conn.Write(stream[:k])
				time.Sleep(time.Millisecond)
				c.conn.Write(stream[k:])
				expect[*wamp.Welcome](t, c)
				expect[*wamp.Published](t, c)
				c.conn.Close()
			}
		})
	})
}

// TestDribbledHandshake sends the WebSocket upgrade request a byte at a
// time.
func TestDribbledHandshake(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		conn := ts.dial(t)
		req := "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
		for i := range len(req) {
			conn.Write([]byte{req[i]})
			if i%16 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		resp, err := readHead(conn)
		if err != nil {
			t.Fatalf("reading the response: %v (got %q)", err, resp)
		}
		if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101 ")) {
			t.Fatalf("response %q", resp)
		}
		c := &wsClient{t: t, conn: conn, r: conn, codec: codec.JSON}
		join(t, c)
	})
}

// TestHandshakeSlowLoris: a client that dribbles its handshake, or starts
// one and stalls, is dropped at the handshake deadline counted from the
// connection, however it dribbles.
func TestHandshakeSlowLoris(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		const timeout = 300 * time.Millisecond
		ts := m.start(t, func(s *Server) { s.HandshakeTimeout = timeout })
		for _, tt := range []struct {
			name    string
			dribble string
			forever bool
		}{
			{name: "websocket stalled", dribble: "GET /ws HTTP/1.1\r\nHost: x\r\n"},
			{name: "websocket dribbling", dribble: "GET /ws HTTP/1.1\r\nX-Slow: " + strings.Repeat("a", 200), forever: true},
			{name: "rawsocket stalled", dribble: "\x7f\xf1"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel() // each waits out the timeout
				conn := ts.dial(t)
				start := time.Now()
				done := make(chan struct{})
				go func() {
					defer close(done)
					for i := 0; i < len(tt.dribble) && (i < 8 || tt.forever); i++ {
						if _, err := conn.Write([]byte{tt.dribble[i]}); err != nil {
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
				conn.SetReadDeadline(time.Now().Add(ioTimeout))
				n, err := conn.Read(make([]byte, 64))
				d := time.Since(start)
				if n != 0 || err == nil {
					t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
				}
				if d < timeout*9/10 || d > timeout+2*time.Second {
					t.Fatalf("closed after %s, want about %s", d, timeout)
				}
				conn.Close()
				<-done
			})
		}
	})
}

// TestManyMessagesInOneWrite: every frame of a segment is handled, in
// order.
func TestManyMessagesInOneWrite(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		for _, c := range []client{ts.dialWS(t, "wamp.2.cbor"), ts.dialRS(t, wamp.FormatJSON)} {
			join(t, c)
			var batch []byte
			for i := range 300 {
				m := &wamp.Publish{Request: wamp.ID(i + 1), Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.batch"}
				switch c := c.(type) {
				case *wsClient:
					batch = append(batch, wsFrame(t, c.codec, m)...)
				case *rsClient:
					batch = append(batch, rsFrame(t, c.codec, m)...)
				}
			}
			c.netConn().Write(batch)
			for i := range 300 {
				if p := expect[*wamp.Published](t, c); p.Request != wamp.ID(i+1) {
					t.Fatalf("PUBLISHED %d, want %d", p.Request, i+1)
				}
			}
		}
	})
}

// TestLargeMessage sends a message of several megabytes each way.
func TestLargeMessage(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		sub := ts.dialRS(t, wamp.FormatMsgPack)
		pub := ts.dialWS(t, "wamp.2.json")
		join(t, sub)
		join(t, pub)
		sub.send(&wamp.Subscribe{Request: 1, Topic: "com.test.large"})
		expect[*wamp.Subscribed](t, sub)
		big := strings.Repeat("large message ", 300<<10) // 4.2 MB
		pub.send(&wamp.Publish{Request: 2, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.large",
			Payload: wamp.Payload{Args: wamp.List{big}}})
		expect[*wamp.Published](t, pub)
		ev := expect[*wamp.Event](t, sub)
		args, _, err := codec.DecodePayload(&ev.Payload)
		if err != nil || len(args) != 1 || args[0] != big {
			t.Fatalf("EVENT of %d args, %v", len(args), err)
		}
		roundTrip(t, pub, 3)
	})
}

// TestStalledSubscriber: a subscriber that stops reading costs no more
// than its outbound queue, and the others do not notice.
func TestStalledSubscriber(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		const queue = 256 << 10
		ts := m.start(t, func(s *Server) { s.OutboundQueue = queue })
		stalled := ts.dialRS(t, wamp.FormatJSON)
		tcpConn(t, stalled.conn).SetReadBuffer(4 << 10)
		join(t, stalled)
		stalled.send(&wamp.Subscribe{Request: 1, Topic: "com.test.flood"})
		expect[*wamp.Subscribed](t, stalled)
		sc := ts.serverConn(t, stalled.conn.LocalAddr())
		sc.setSendBuffer(8 << 10)

		reader := ts.dialWS(t, "wamp.2.json")
		join(t, reader)
		reader.send(&wamp.Subscribe{Request: 1, Topic: "com.test.flood"})
		expect[*wamp.Subscribed](t, reader)
		pub := ts.dialRS(t, wamp.FormatMsgPack)
		join(t, pub)
		payload := wamp.Payload{Args: wamp.List{strings.Repeat("p", 4<<10)}}
		const events = 2000 // 8 MB: far more than the queue and the socket hold
		var got atomic.Int64
		go func() {
			for {
				h, _, err := reader.readFrame()
				if err != nil {
					return
				}
				if h.OpCode == ws.OpText {
					got.Add(1)
				}
			}
		}()
		for i := range events {
			pub.send(&wamp.Publish{Request: wamp.ID(i + 1), Topic: "com.test.flood", Payload: payload})
			if i%25 == 24 {
				// The reader keeps up (its queue is as small as the
				// stalled one's); the stalled one's queue stays bounded.
				eventually(t, "the reader's events", func() bool { return got.Load() == int64(i+1) })
				if q := sc.queued(); q > queue+8<<10 {
					t.Fatalf("%d bytes queued for the stalled subscriber, over the limit of %d", q, queue)
				}
			}
		}
		if ts.Router.Stats().EventsDropped == 0 {
			t.Fatal("nothing was dropped for the stalled subscriber")
		}
		if sc.isClosing() {
			t.Fatal("the stalled subscriber was disconnected; the default policy drops events")
		}
	})
}

// TestCloseWhileWritesPending closes a session whose client reads nothing
// while a lot is queued: the connection goes within the close grace
// periods, and the session with it.
func TestCloseWhileWritesPending(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		c := ts.dialWS(t, "wamp.2.json")
		tcpConn(t, c.conn).SetReadBuffer(4 << 10)
		join(t, c)
		sc := ts.serverConn(t, c.conn.LocalAddr())
		sc.setSendBuffer(8 << 10)
		ev := &wamp.Event{Subscription: 1, Publication: 1, Payload: wamp.Payload{Args: wamp.List{strings.Repeat("q", 8<<10)}}}
		for range 100 {
			if err := sc.Send(ev); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		start := time.Now()
		sc.Close()
		if err := sc.Send(ev); err != router.ErrClosed {
			t.Fatalf("Send after Close: %v", err)
		}
		eventually(t, "the session to detach", func() bool { return ts.Router.Stats().Sessions == 0 })
		if d := time.Since(start); d > 2*closeGrace+time.Second {
			t.Fatalf("closed after %s", d)
		}
	})
}

// TestSendCloseRace sends from many goroutines while the connection is
// closed from both ends.
func TestSendCloseRace(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) { s.OutboundQueue = 32 << 10 })
		ev := wamp.NewShared(&wamp.Event{Subscription: 1, Publication: 2, Payload: wamp.Payload{Args: wamp.List{"race"}}})
		for i := range 20 {
			var c client
			if i%2 == 0 {
				c = ts.dialWS(t, "wamp.2.msgpack")
			} else {
				c = ts.dialRS(t, wamp.FormatCBOR)
			}
			join(t, c)
			sc := ts.serverConn(t, c.netConn().LocalAddr())
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 300 {
						switch err := sc.Send(ev); err {
						case nil, router.ErrClosed, router.ErrQueueFull:
						default:
							t.Errorf("Send: %v", err)
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				go io.Copy(io.Discard, c.netConn())
				time.Sleep(time.Duration(i%5) * time.Millisecond)
				if i%3 == 0 {
					c.netConn().Close()
				}
				sc.Close()
			}()
			wg.Wait()
			c.netConn().Close()
		}
		eventually(t, "the sessions to detach", func() bool { return ts.Router.Stats().Sessions == 0 })
	})
}
