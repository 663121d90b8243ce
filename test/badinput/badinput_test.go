// Package badinput checks, end to end over real sockets, that every kind of
// malformed or out-of-order input gets the answer the WAMP specification
// gives, costs only its own connection, and leaves the router and every
// other session working. It runs against the transport server as `junction
// serve` configures it by default (the engine included).
package badinput

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

const (
	maxMessage   = 64 << 10
	helloTimeout = 300 * time.Millisecond
)

// conn is a client connection that speaks frames of one protocol.
type conn interface {
	write(t *testing.T, b []byte)
	// read returns the next message, or io.EOF once the router has closed
	// the connection (and the WebSocket close code, if any).
	read(t *testing.T) ([]byte, ws.StatusCode, error)
	close()
}

type wsConn struct {
	c      net.Conn
	binary bool
}

func (w *wsConn) write(t *testing.T, b []byte) {
	op := ws.OpText
	if w.binary {
		op = ws.OpBinary
	}
	if err := wsutil.WriteClientMessage(w.c, op, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (w *wsConn) read(t *testing.T) ([]byte, ws.StatusCode, error) {
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		msgs, err := wsutil.ReadServerMessage(w.c, nil)
		if err != nil {
			var ce wsutil.ClosedError
			if errors.As(err, &ce) {
				return nil, ce.Code, io.EOF
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
				return nil, 0, io.EOF
			}
			return nil, 0, err
		}
		for _, m := range msgs {
			switch m.OpCode {
			case ws.OpText, ws.OpBinary:
				return m.Payload, 0, nil
			case ws.OpClose:
				code, _ := ws.ParseCloseFrameData(m.Payload)
				return nil, code, io.EOF
			}
		}
	}
}

func (w *wsConn) close() { w.c.Close() }

type rsConn struct{ c net.Conn }

func (r *rsConn) write(t *testing.T, b []byte) {
	if _, err := r.c.Write(rawsocket.AppendFrame(nil, rawsocket.TypeMessage, b)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (r *rsConn) read(t *testing.T) ([]byte, ws.StatusCode, error) {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r.c, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset") {
				return nil, 0, io.EOF
			}
			return nil, 0, err
		}
		n := int(binary.BigEndian.Uint32(hdr[:]) & 0xffffff)
		b := make([]byte, n)
		if _, err := io.ReadFull(r.c, b); err != nil {
			return nil, 0, io.EOF
		}
		switch rawsocket.FrameType(hdr[0] & 0x7) {
		case rawsocket.TypeMessage:
			return b, 0, nil
		case rawsocket.TypePing:
			r.c.Write(rawsocket.AppendFrame(nil, rawsocket.TypePong, b))
		}
	}
}

func (r *rsConn) close() { r.c.Close() }

type server struct {
	addr   string
	router *router.Router
}

func start(t *testing.T) *server {
	t.Helper()
	return startEngine(t, transport.EngineAuto)
}

// startEngine starts a server whose connections the given engine serves.
func startEngine(t *testing.T, engine string) *server {
	t.Helper()
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: rt, MaxMessageSize: maxMessage, HelloTimeout: helloTimeout, Engine: engine}
	ln, err := transport.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
		srv.Shutdown(ctx)
		<-done
	})
	return &server{addr: ln.Addr().String(), router: rt}
}

func (s *server) dial(t *testing.T, proto string, c codec.Codec) conn {
	t.Helper()
	if proto == "websocket" {
		d := ws.Dialer{Protocols: []string{c.Subprotocol()}, Timeout: 5 * time.Second}
		nc, _, _, err := d.Dial(context.Background(), "ws://"+s.addr+"/ws")
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { nc.Close() })
		return &wsConn{c: nc, binary: c.Binary()}
	}
	nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.Write(rawsocket.AppendHandshake(nil, rawsocket.Handshake{MaxLength: rawsocket.MaxLength, Serializer: c.Format()}))
	var reply [4]byte
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(nc, reply[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := rawsocket.ParseReply(reply[:]); err != nil {
		t.Fatal(err)
	}
	return &rsConn{nc}
}

func encode(t *testing.T, c codec.Codec, m wamp.Message) []byte {
	t.Helper()
	b, err := c.Encode(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func recv(t *testing.T, cn conn, c codec.Codec) wamp.Message {
	t.Helper()
	b, code, err := cn.read(t)
	if err != nil {
		t.Fatalf("read: %v (close code %d)", err, code)
	}
	m, err := c.Decode(b)
	if err != nil {
		t.Fatalf("router sent %q: %v", b, err)
	}
	return m
}

var hello = &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"caller": wamp.Dict{}, "callee": wamp.Dict{}, "publisher": wamp.Dict{}, "subscriber": wamp.Dict{}}}}

func join(t *testing.T, cn conn, c codec.Codec) {
	t.Helper()
	cn.write(t, encode(t, c, hello))
	if m := recv(t, cn, c); m.Type() != wamp.TypeWelcome {
		t.Fatalf("want WELCOME, got %s", m.Type())
	}
}

// expectAbort reads an ABORT with reason and a readable message, then the
// end of the connection.
func expectAbort(t *testing.T, cn conn, c codec.Codec, reason wamp.URI, says string) {
	t.Helper()
	m := recv(t, cn, c)
	a, ok := m.(*wamp.Abort)
	if !ok || a.Reason != reason {
		t.Fatalf("want ABORT %s, got %T %+v", reason, m, m)
	}
	msg := wamp.String(a.Details, "message")
	if !strings.Contains(msg, says) {
		t.Fatalf("ABORT message %q does not say %q", msg, says)
	}
	expectClosed(t, cn)
}

// expectClosed reads until the router closes the connection (skipping an
// ABORT or anything else before it) and returns the WebSocket close code.
func expectClosed(t *testing.T, cn conn) ws.StatusCode {
	t.Helper()
	for i := 0; i < 10; i++ {
		_, code, err := cn.read(t)
		if errors.Is(err, io.EOF) {
			return code
		}
		if err != nil {
			t.Fatalf("want the connection closed, got %v", err)
		}
	}
	t.Fatal("connection not closed")
	return 0
}

// TestBadInput sends each kind of bad input on its own connection, over
// both protocols and every serializer where it applies, and checks that a
// session joined beforehand still works afterwards.
func TestBadInput(t *testing.T) {
	s := start(t)
	for _, proto := range []string{"websocket", "rawsocket"} {
		t.Run(proto, func(t *testing.T) {
			// Each protocol's bystander registers its own procedure: the
			// previous one's session ends only once the router has seen its
			// connection close, which may come after this REGISTER.
			echo := wamp.URI("com.echo." + proto)
			bystander := s.dial(t, proto, codec.CBOR)
			join(t, bystander, codec.CBOR)
			bystander.write(t, encode(t, codec.CBOR, &wamp.Register{Request: 1, Procedure: echo}))
			if m := recv(t, bystander, codec.CBOR); m.Type() != wamp.TypeRegistered {
				t.Fatalf("want REGISTERED, got %s %+v", m.Type(), m)
			}

			cases := []struct {
				name   string
				codec  codec.Codec
				joined bool   // send HELLO first
				send   []byte // raw message bytes
				reason wamp.URI
				says   string
			}{
				{"json garbage", codec.JSON, false, []byte("#!garbage"), wamp.ErrProtocolViolation, "cannot decode"},
				{"json not an array", codec.JSON, false, []byte(`{"a":1}`), wamp.ErrProtocolViolation, "cannot decode"},
				{"json empty array", codec.JSON, false, []byte(`[]`), wamp.ErrProtocolViolation, "non-empty array"},
				{"json unknown message type", codec.JSON, false, []byte(`[999,{}]`), wamp.ErrProtocolViolation, "unknown message type"},
				{"json realm of the wrong type", codec.JSON, false, []byte(`[1,5,{}]`), wamp.ErrProtocolViolation, "Realm"},
				{"json details of the wrong type", codec.JSON, false, []byte(`[1,"realm1",[]]`), wamp.ErrProtocolViolation, "Details must be a dict"},
				{"json wrong arity", codec.JSON, true, []byte(`[48,1,{}]`), wamp.ErrProtocolViolation, "CALL must have"},
				{"json id of the wrong type", codec.JSON, true, []byte(`[32,"one",{},"com.t"]`), wamp.ErrProtocolViolation, "Request"},
				{"json id above 2^53", codec.JSON, true, []byte(`[32,9007199254740993,{},"com.t"]`), wamp.ErrProtocolViolation, "2^53"},
				{"json arguments not a list", codec.JSON, true, []byte(`[16,1,{},"com.t",{"a":1}]`), wamp.ErrProtocolViolation, "Arguments must be a list"},
				{"json publish before hello", codec.JSON, false, []byte(`[16,1,{},"com.t"]`), wamp.ErrProtocolViolation, "before HELLO"},
				{"json second hello", codec.JSON, true, encode(t, codec.JSON, hello), wamp.ErrProtocolViolation, "HELLO"},
				{"json welcome from a client", codec.JSON, true, []byte(`[2,1,{}]`), wamp.ErrProtocolViolation, "WELCOME"},
				{"json yield never invoked", codec.JSON, true, []byte(`[70,77,{}]`), wamp.ErrProtocolViolation, "never sent"},
				{"msgpack garbage", codec.MsgPack, false, []byte{0xc1, 0xc1, 0xc1}, wamp.ErrProtocolViolation, "cannot decode"},
				{"msgpack string where an id belongs", codec.MsgPack, true, []byte{0x94, 0x20, 0xa1, 'x', 0x80, 0xa1, 't'}, wamp.ErrProtocolViolation, "Request"},
				{"msgpack truncated", codec.MsgPack, false, []byte{0x93, 0x01, 0xa6, 'r'}, wamp.ErrProtocolViolation, "cannot decode"},
				{"cbor garbage", codec.CBOR, false, []byte{0xff, 0x00, 0x13}, wamp.ErrProtocolViolation, "cannot decode"},
				{"cbor unknown message type", codec.CBOR, false, []byte{0x82, 0x18, 0x63, 0xa0}, wamp.ErrProtocolViolation, "unknown message type"},
				{"cbor claims 4 GB", codec.CBOR, false, []byte{0x83, 0x01, 0x7a, 0xff, 0xff, 0xff, 0xff, 'x'}, wamp.ErrProtocolViolation, "cannot decode"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					cn := s.dial(t, proto, tc.codec)
					if tc.joined {
						join(t, cn, tc.codec)
					}
					cn.write(t, tc.send)
					expectAbort(t, cn, tc.codec, tc.reason, tc.says)
				})
			}

			t.Run("invalid URI gets an ERROR and the session goes on", func(t *testing.T) {
				cn := s.dial(t, proto, codec.JSON)
				join(t, cn, codec.JSON)
				for i, uri := range []string{"bad uri", "com..a", "com.#", ""} {
					req := wamp.ID(i + 1)
					cn.write(t, encode(t, codec.JSON, &wamp.Subscribe{Request: req, Topic: wamp.URI(uri)}))
					e, ok := recv(t, cn, codec.JSON).(*wamp.Error)
					if !ok || e.Error != wamp.ErrInvalidURI || e.Request != req {
						t.Fatalf("%q: want ERROR invalid_uri, got %+v", uri, e)
					}
				}
				cn.write(t, encode(t, codec.JSON, &wamp.Call{Request: 9, Procedure: echo}))
				// The bystander is the callee: it answers, proving both live.
				inv := recv(t, bystander, codec.CBOR).(*wamp.Invocation)
				bystander.write(t, encode(t, codec.CBOR, &wamp.Yield{Request: inv.Request}))
				if r, ok := recv(t, cn, codec.JSON).(*wamp.Result); !ok || r.Request != 9 {
					t.Fatalf("want RESULT 9, got %+v", r)
				}
			})

			t.Run("message over the size limit", func(t *testing.T) {
				cn := s.dial(t, proto, codec.JSON)
				join(t, cn, codec.JSON)
				big := []byte(`[16,1,{},"com.t",["` + strings.Repeat("x", maxMessage) + `"]]`)
				if proto == "rawsocket" {
					// RawSocket's limit is announced in the handshake: a frame
					// over it is a protocol error that closes the connection.
					cn.write(t, big)
					expectClosed(t, cn)
					return
				}
				cn.write(t, big)
				if code := expectClosed(t, cn); code != ws.StatusMessageTooBig {
					t.Fatalf("close code %d, want 1009", code)
				}
			})

			t.Run("no HELLO", func(t *testing.T) {
				cn := s.dial(t, proto, codec.MsgPack)
				start := time.Now()
				expectAbort(t, cn, codec.MsgPack, wamp.ErrProtocolViolation, "HELLO")
				if time.Since(start) < helloTimeout/2 {
					t.Fatal("aborted before the HELLO timeout")
				}
			})

			// After all of that, the bystander still routes.
			caller := s.dial(t, proto, codec.MsgPack)
			join(t, caller, codec.MsgPack)
			caller.write(t, encode(t, codec.MsgPack, &wamp.Call{Request: 1, Procedure: echo, Payload: wamp.Payload{Args: wamp.List{[]byte("ok")}}}))
			inv := recv(t, bystander, codec.CBOR).(*wamp.Invocation)
			bystander.write(t, encode(t, codec.CBOR, &wamp.Yield{Request: inv.Request, Payload: inv.Payload}))
			res := recv(t, caller, codec.MsgPack).(*wamp.Result)
			args, _, err := codec.DecodePayload(&res.Payload)
			if err != nil || len(args) != 1 || !bytes.Equal(args[0].([]byte), []byte("ok")) {
				t.Fatalf("RESULT args %v %v", args, err)
			}
		})
	}
}
