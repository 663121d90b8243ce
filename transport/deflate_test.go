package transport

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// TestDeflateRoundTrip: with Server.Deflate, gobwas/ws clients that offer
// permessage-deflate get it (no context takeover either way) and talk
// compressed both ways: PUBLISH and EVENT (one EVENT fanned out to three
// subscribers, compressed once per serializer), CALL, INVOCATION, YIELD
// and RESULT. Short messages go uncompressed, and a client that offers
// nothing on the same listener talks plainly.
func TestDeflateRoundTrip(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) { s.Deflate = true })
		text := strings.Repeat(`{"sensor":"t-17","celsius":21.5,"ok":true},`, 50) // 2 KiB of typical JSON

		pub := ts.dialWSDeflate(t, "wamp.2.json")
		if !pub.deflate {
			t.Fatal("permessage-deflate not negotiated")
		}
		var subs []*wsClient
		for _, proto := range []string{"wamp.2.json", "wamp.2.json", "wamp.2.msgpack"} {
			c := ts.dialWSDeflate(t, proto)
			join(t, c)
			c.send(&wamp.Subscribe{Request: 1, Options: wamp.Dict{}, Topic: "com.test.deflate"})
			expect[*wamp.Subscribed](t, c)
			subs = append(subs, c)
		}
		plain := ts.dialWS(t, "wamp.2.json")
		join(t, plain)
		plain.send(&wamp.Subscribe{Request: 1, Options: wamp.Dict{}, Topic: "com.test.deflate"})
		expect[*wamp.Subscribed](t, plain)
		join(t, pub)

		for _, c := range append(subs, pub) {
			c.compressed = 0
		}
		pub.send(&wamp.Publish{Request: 2, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.deflate",
			Payload: wamp.Payload{Args: wamp.List{text}}})
		expect[*wamp.Published](t, pub)
		if pub.compressed != 0 {
			t.Errorf("PUBLISHED (a few bytes) came compressed")
		}
		for i, c := range append(subs, plain) {
			ev := expect[*wamp.Event](t, c)
			if args := argsOf(t, &ev.Payload); len(args) != 1 || args[0] != text {
				t.Fatalf("subscriber %d: EVENT args %.60q", i, args)
			}
		}
		for i, c := range subs {
			if c.compressed != 1 {
				t.Errorf("subscriber %d (%s): %d compressed messages, want the EVENT", i, c.codec.Subprotocol(), c.compressed)
			}
		}

		// RPC: the callee's INVOCATION and the caller's RESULT come
		// compressed, the YIELD and the CALL go compressed.
		callee := subs[0]
		callee.send(&wamp.Register{Request: 3, Options: wamp.Dict{}, Procedure: "com.test.echo"})
		expect[*wamp.Registered](t, callee)
		callee.compressed, pub.compressed = 0, 0
		pub.send(&wamp.Call{Request: 4, Options: wamp.Dict{}, Procedure: "com.test.echo", Payload: wamp.Payload{Args: wamp.List{text}}})
		inv := expect[*wamp.Invocation](t, callee)
		if args := argsOf(t, &inv.Payload); len(args) != 1 || args[0] != text || callee.compressed != 1 {
			t.Fatalf("INVOCATION args %.60q, %d compressed", args, callee.compressed)
		}
		callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Payload: wamp.Payload{Args: wamp.List{text + text}}})
		res := expect[*wamp.Result](t, pub)
		if args := argsOf(t, &res.Payload); len(args) != 1 || args[0] != text+text || pub.compressed != 1 {
			t.Fatalf("RESULT args %.60q, %d compressed", args, pub.compressed)
		}
		if n := ts.Stats().DeflateConns; n != 4 {
			t.Errorf("DeflateConns %d, want 4", n)
		}
	})
}

// TestDeflateFragmented: a compressed message in fragments (RSV1 on the
// first only, a ping between them) is taken; RSV1 on a continuation
// frame, on a control frame, or on any frame of a connection that did not
// negotiate permessage-deflate is a protocol error (close 1002).
func TestDeflateFragmented(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) { s.Deflate = true })
		msg, _ := ts.dialWS(t, "wamp.2.json").codec.Encode(nil, &wamp.Publish{Request: 7, Options: wamp.Dict{"acknowledge": true},
			Topic: "com.test.frag", Payload: wamp.Payload{Args: wamp.List{strings.Repeat("fragment ", 300)}}})
		z, err := wsflate.DefaultHelper.Compress(msg)
		if err != nil {
			t.Fatal(err)
		}
		third := len(z) / 3
		first := func(c *wsClient, p []byte) {
			h := ws.Header{OpCode: ws.OpText, Rsv: ws.Rsv(true, false, false), Length: int64(len(p)), Masked: true, Mask: ws.NewMask()}
			p = append([]byte(nil), p...)
			ws.Cipher(p, h.Mask, 0)
			c.conn.Write(append(websocket.AppendHeader(nil, h), p...))
		}

		t.Run("taken", func(t *testing.T) {
			c := ts.dialWSDeflate(t, "wamp.2.json")
			join(t, c)
			first(c, z[:third])
			c.writeFrame(ws.OpPing, true, true, []byte("between"))
			c.writeFrame(ws.OpContinuation, false, true, z[third:2*third])
			c.writeFrame(ws.OpContinuation, true, true, z[2*third:])
			if p := expect[*wamp.Published](t, c); p.Request != 7 {
				t.Fatalf("PUBLISHED %+v", p)
			}
			if len(c.pings) != 1 || string(c.pings[0]) != "between" {
				t.Fatalf("pongs %q", c.pings)
			}
		})
		t.Run("RSV1 on a continuation", func(t *testing.T) {
			c := ts.dialWSDeflate(t, "wamp.2.json")
			join(t, c)
			first(c, z[:third])
			h := ws.Header{Fin: true, OpCode: ws.OpContinuation, Rsv: ws.Rsv(true, false, false), Length: int64(len(z) - third), Masked: true}
			c.conn.Write(append(websocket.AppendHeader(nil, h), z[third:]...))
			expectAbort(t, c, "compression bit", ws.StatusProtocolError)
		})
		t.Run("RSV1 on a ping", func(t *testing.T) {
			c := ts.dialWSDeflate(t, "wamp.2.json")
			join(t, c)
			c.conn.Write(websocket.AppendHeader(nil, ws.Header{Fin: true, OpCode: ws.OpPing, Rsv: ws.Rsv(true, false, false), Masked: true}))
			expectAbort(t, c, "compression bit", ws.StatusProtocolError)
		})
		t.Run("RSV1 not negotiated", func(t *testing.T) {
			c := ts.dialWS(t, "wamp.2.json") // offers nothing
			join(t, c)
			first(c, z)
			expectAbort(t, c, "rsv", ws.StatusProtocolError)
		})
	})
}

// TestDeflateOff: without Server.Deflate an offer is ignored, and a client
// that compresses anyway is failed (1002).
func TestDeflateOff(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, nil)
		c := ts.dialWSDeflate(t, "wamp.2.json")
		if c.deflate {
			t.Fatal("permessage-deflate negotiated on a server without Deflate")
		}
		join(t, c)
		roundTrip(t, c, 1)
		c.deflate = true // compress anyway
		c.send(&wamp.Publish{Request: 2, Options: wamp.Dict{}, Topic: "com.test.x"})
		c.deflate = false
		expectAbort(t, c, "rsv", ws.StatusProtocolError)
		if n := ts.Stats().DeflateConns; n != 0 {
			t.Errorf("DeflateConns %d, want 0", n)
		}
	})
}

// TestDeflateBomb: a compressed message that decompresses to more than
// the limit is refused (ABORT, close 1009) as soon as the output passes
// it, and counted: before WELCOME at MaxPreWelcomeMessageSize, after at
// MaxMessageSize. 16 MiB of zeros travel as about 16 KiB.
func TestDeflateBomb(t *testing.T) {
	bomb, err := wsflate.DefaultHelper.Compress(bytes.Repeat([]byte{' '}, 16<<20))
	if err != nil {
		t.Fatal(err)
	}
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) {
			s.Deflate = true
			s.MaxMessageSize = 1 << 20
		})
		bystander := ts.dialWSDeflate(t, "wamp.2.json")
		join(t, bystander)

		c := ts.dialWSDeflate(t, "wamp.2.json")
		c.writeCompressedRaw(ws.OpText, bomb)
		expectAbort(t, c, "decompresses to more than the 65536 bytes allowed before WELCOME", ws.StatusMessageTooBig)

		c = ts.dialWSDeflate(t, "wamp.2.json")
		join(t, c)
		c.writeCompressedRaw(ws.OpText, bomb)
		expectAbort(t, c, "decompresses to more than the maximum message size of 1048576", ws.StatusMessageTooBig)

		st := ts.Stats()
		if st.InflatedTooLarge != 2 || st.TooLargeBeforeWelcome != 1 {
			t.Errorf("InflatedTooLarge %d, TooLargeBeforeWelcome %d; want 2 and 1", st.InflatedTooLarge, st.TooLargeBeforeWelcome)
		}
		// Within the limit, compressed, is fine.
		big := &wamp.Publish{Request: 9, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.big",
			Payload: wamp.Payload{Args: wamp.List{strings.Repeat("b", 1<<19)}}}
		bystander.send(big)
		expect[*wamp.Published](t, bystander)
	})
}

// argsOf decodes a received payload's arguments.
func argsOf(t *testing.T, p *wamp.Payload) wamp.List {
	t.Helper()
	args, _, err := codec.DecodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	return args
}

// writeCompressedRaw sends z, already compressed, as one RSV1 frame.
func (c *wsClient) writeCompressedRaw(op ws.OpCode, z []byte) {
	c.t.Helper()
	h := ws.Header{Fin: true, OpCode: op, Rsv: ws.Rsv(true, false, false), Length: int64(len(z)), Masked: true, Mask: ws.NewMask()}
	p := append([]byte(nil), z...)
	ws.Cipher(p, h.Mask, 0)
	if _, err := c.conn.Write(append(websocket.AppendHeader(nil, h), p...)); err != nil {
		c.t.Fatalf("writing a frame: %v", err)
	}
}

// TestDeflateSendOrder: Send compresses before it takes the connection's
// lock, and still queues each sender's messages in the order it sent
// them. Two goroutines send to one client, each in turn a large message
// (compressed) and a small one (not), shared ones (compressed once for
// all) among them; the client gets each sender's messages in order.
func TestDeflateSendOrder(t *testing.T) {
	const each = 200
	forModes(t, func(t *testing.T, m mode) {
		ts := m.start(t, func(s *Server) { s.Deflate = true })
		c := ts.dialWSDeflate(t, "wamp.2.json")
		join(t, c)
		sc := ts.serverConn(t, c.conn.LocalAddr())
		large := strings.Repeat(`{"sensor":"t-17","celsius":21.5,"ok":true},`, 200)
		send := func(first wamp.ID) {
			for i := range wamp.ID(each) {
				var msg wamp.Message = &wamp.Result{Request: first + i, Details: wamp.Dict{}}
				switch i % 3 {
				case 0:
					msg = &wamp.Result{Request: first + i, Details: wamp.Dict{}, Payload: wamp.Payload{Args: wamp.List{large}}}
				case 1:
					msg = wamp.NewShared(&wamp.Event{Subscription: first + i, Publication: 1, Details: wamp.Dict{}, Payload: wamp.Payload{Args: wamp.List{large}}})
				}
				if err := sc.Send(msg); err != nil {
					t.Errorf("Send: %v", err)
					return
				}
			}
		}
		var wg sync.WaitGroup
		for _, first := range []wamp.ID{1000, 2000} {
			wg.Go(func() { send(first) })
		}
		defer wg.Wait()
		next := map[wamp.ID]wamp.ID{1000: 1000, 2000: 2000}
		c.compressed = 0
		for range 2 * each {
			var id wamp.ID
			switch msg := c.recv().(type) {
			case *wamp.Result:
				id = msg.Request
			case *wamp.Event:
				id = msg.Subscription
			default:
				t.Fatalf("got %s", msg.Type())
			}
			first := id / 1000 * 1000
			if id != next[first] {
				t.Fatalf("message %d came when %d was next", id, next[first])
			}
			next[first]++
		}
		if want := 2 * (2*each/3 + 1); c.compressed != want {
			t.Errorf("%d messages came compressed, want %d", c.compressed, want)
		}
	})
}
