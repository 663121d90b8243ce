package badinput

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/tinylib/msgp/msgp"

	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// A payload whose strings are not UTF-8 (the same goes for any value the
// other serializers cannot read) is the sender's problem alone: it gets
// ERROR wamp.error.invalid_argument, and the subscribers, callees and
// callers it was meant for, here Autobahn-like WebSocket JSON clients that
// drop a connection on a text frame that is not UTF-8, get nothing of it
// and stay connected.

// marker is a string a test message is encoded with, then replaced by
// bytes that are not UTF-8 (as many): the message stays well-formed in
// every serializer.
const marker = "@@BAD@@"

var notUTF8 = []byte("\xff\xfe\xfd\xc0\xaf\xed\xa0")

// poison encodes m with c and replaces every marker in the bytes.
func poison(t *testing.T, c codec.Codec, m wamp.Message) []byte {
	t.Helper()
	b := encode(t, c, m)
	if !bytes.Contains(b, []byte(marker)) {
		t.Fatalf("no marker in % x", b)
	}
	return bytes.ReplaceAll(b, []byte(marker), notUTF8)
}

// badPayloads put the marker where a payload can hold a string.
var badPayloads = []struct {
	name string
	p    wamp.Payload
}{
	{"string in args", wamp.Payload{Args: wamp.List{"ok", marker}}},
	{"kwargs key", wamp.Payload{Args: wamp.List{}, Kwargs: wamp.Dict{marker: int64(1)}}},
	{"nested string", wamp.Payload{Kwargs: wamp.Dict{"a": wamp.List{wamp.Dict{"b": marker}}}}},
}

// recvText reads the next message of a WebSocket JSON client and checks
// that it is UTF-8, as a browser or Autobahn does before anything else.
func recvText(t *testing.T, cn conn) wamp.Message {
	t.Helper()
	b, code, err := cn.read(t)
	if err != nil {
		t.Fatalf("bystander: %v (close code %d)", err, code)
	}
	if !utf8.Valid(b) {
		t.Fatalf("bystander got a text message that is not UTF-8: %q", b)
	}
	m, err := codec.JSON.Decode(b)
	if err != nil {
		t.Fatalf("bystander got %q: %v", b, err)
	}
	return m
}

func argsOf(t *testing.T, p *wamp.Payload) wamp.List {
	t.Helper()
	args, _, err := codec.DecodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	return args
}

// expectInvalid reads ERROR wamp.error.invalid_argument for request req of
// type rt, saying why.
func expectInvalid(t *testing.T, cn conn, c codec.Codec, rt wamp.MessageType, req wamp.ID) {
	t.Helper()
	m := recv(t, cn, c)
	e, ok := m.(*wamp.Error)
	if !ok || e.RequestType != rt || e.Request != req || e.Error != wamp.ErrInvalidArgument {
		t.Fatalf("want ERROR invalid_argument for %s %d, got %T %+v", rt, req, m, m)
	}
	if args := argsOf(t, &e.Payload); len(args) != 1 || !strings.Contains(fmt.Sprint(args[0]), "UTF-8") {
		t.Fatalf("ERROR does not say why: %v", args)
	}
}

func TestInvalidPayloadHarmsOnlyItsSender(t *testing.T) {
	for _, engine := range []string{transport.EngineAuto, transport.EngineGoroutine} {
		t.Run(engine, func(t *testing.T) { testInvalidPayload(t, startEngine(t, engine)) })
	}
}

func testInvalidPayload(t *testing.T, s *server) {
	// The bystanders: WebSocket JSON subscribers to the topic, exactly and
	// by prefix, a callee, and a caller.
	sub := s.dial(t, "websocket", codec.JSON)
	psub := s.dial(t, "websocket", codec.JSON)
	callee := s.dial(t, "websocket", codec.JSON)
	caller := s.dial(t, "websocket", codec.JSON)
	for _, cn := range []conn{sub, psub, callee, caller} {
		join(t, cn, codec.JSON)
	}
	sub.write(t, encode(t, codec.JSON, &wamp.Subscribe{Request: 1, Topic: "com.bad.topic"}))
	psub.write(t, encode(t, codec.JSON, &wamp.Subscribe{Request: 1, Options: wamp.Dict{"match": "prefix"}, Topic: "com.bad."}))
	callee.write(t, encode(t, codec.JSON, &wamp.Register{Request: 1, Procedure: "com.bad.echo"}))
	for _, cn := range []conn{sub, psub, callee} {
		if m := recvText(t, cn); m.Type() != wamp.TypeSubscribed && m.Type() != wamp.TypeRegistered {
			t.Fatalf("got %s", m.Type())
		}
	}

	for _, c := range codec.All {
		t.Run(c.Format().String(), func(t *testing.T) {
			offender := s.dial(t, "rawsocket", c)
			join(t, offender, c)
			req := wamp.ID(100)
			next := func() wamp.ID { req++; return req }
			good := wamp.Payload{Args: wamp.List{"good"}}

			for _, bad := range badPayloads {
				t.Run("PUBLISH "+bad.name, func(t *testing.T) {
					r := next()
					offender.write(t, poison(t, c, &wamp.Publish{Request: r, Options: wamp.Dict{"acknowledge": true}, Topic: "com.bad.topic", Payload: bad.p}))
					expectInvalid(t, offender, c, wamp.TypePublish, r)
					// Unacknowledged: no answer; refused all the same.
					before := s.router.Stats().InvalidRequests
					offender.write(t, poison(t, c, &wamp.Publish{Request: next(), Topic: "com.bad.topic", Payload: bad.p}))
					r = next()
					offender.write(t, encode(t, c, &wamp.Publish{Request: r, Options: wamp.Dict{"acknowledge": true}, Topic: "com.bad.topic", Payload: good}))
					if p, ok := recv(t, offender, c).(*wamp.Published); !ok || p.Request != r {
						t.Fatalf("want PUBLISHED %d, got %+v", r, p)
					}
					if got := s.router.Stats().InvalidRequests; got != before+1 {
						t.Errorf("InvalidRequests went from %d to %d, want one more", before, got)
					}
					// The subscribers' next EVENT is the good one.
					for _, cn := range []conn{sub, psub} {
						ev, ok := recvText(t, cn).(*wamp.Event)
						if !ok || !reflect.DeepEqual(argsOf(t, &ev.Payload), good.Args) {
							t.Fatalf("subscriber got %+v, want the good EVENT", ev)
						}
					}
				})

				t.Run("CALL "+bad.name, func(t *testing.T) {
					r := next()
					offender.write(t, poison(t, c, &wamp.Call{Request: r, Procedure: "com.bad.echo", Payload: bad.p}))
					expectInvalid(t, offender, c, wamp.TypeCall, r)
					r = next()
					offender.write(t, encode(t, c, &wamp.Call{Request: r, Procedure: "com.bad.echo", Payload: good}))
					inv, ok := recvText(t, callee).(*wamp.Invocation)
					if !ok || !reflect.DeepEqual(argsOf(t, &inv.Payload), good.Args) {
						t.Fatalf("callee got %+v, want the good INVOCATION", inv)
					}
					callee.write(t, encode(t, codec.JSON, &wamp.Yield{Request: inv.Request, Payload: inv.Payload}))
					if res, ok := recv(t, offender, c).(*wamp.Result); !ok || res.Request != r {
						t.Fatalf("want RESULT %d, got %+v", r, res)
					}
				})
			}

			// The offender as callee: its answers must not reach the caller.
			proc := wamp.URI("com.bad.rpc." + c.Format().String())
			offender.write(t, encode(t, c, &wamp.Register{Request: next(), Procedure: proc}))
			if m := recv(t, offender, c); m.Type() != wamp.TypeRegistered {
				t.Fatalf("want REGISTERED, got %+v", m)
			}
			callReq := wamp.ID(0)
			invoke := func(t *testing.T) *wamp.Invocation {
				t.Helper()
				callReq++
				caller.write(t, encode(t, codec.JSON, &wamp.Call{Request: callReq, Procedure: proc}))
				inv, ok := recv(t, offender, c).(*wamp.Invocation)
				if !ok {
					t.Fatalf("want INVOCATION, got %+v", inv)
				}
				return inv
			}
			expectCallRefused := func(t *testing.T) {
				t.Helper()
				e, ok := recvText(t, caller).(*wamp.Error)
				if !ok || e.Request != callReq || e.Error != wamp.ErrInvalidArgument {
					t.Fatalf("caller: want ERROR invalid_argument for CALL %d, got %+v", callReq, e)
				}
			}
			for _, bad := range badPayloads {
				t.Run("YIELD "+bad.name, func(t *testing.T) {
					inv := invoke(t)
					offender.write(t, poison(t, c, &wamp.Yield{Request: inv.Request, Payload: bad.p}))
					expectCallRefused(t)
					expectInvalid(t, offender, c, wamp.TypeYield, inv.Request)
				})
				t.Run("ERROR "+bad.name, func(t *testing.T) {
					inv := invoke(t)
					offender.write(t, poison(t, c, &wamp.Error{RequestType: wamp.TypeInvocation, Request: inv.Request,
						Error: "com.app.failed", Payload: bad.p}))
					expectCallRefused(t)
					expectInvalid(t, offender, c, wamp.TypeError, inv.Request)
				})
			}
			// Both still work.
			inv := invoke(t)
			offender.write(t, encode(t, c, &wamp.Yield{Request: inv.Request, Payload: good}))
			if res, ok := recvText(t, caller).(*wamp.Result); !ok || res.Request != callReq || !reflect.DeepEqual(argsOf(t, &res.Payload), good.Args) {
				t.Fatalf("caller: want the good RESULT, got %+v", res)
			}
		})
	}
}

// TestRequestOptionsNotValid: an option of the wrong type, or one whose
// value does not decode, costs an ERROR for that request; the session goes
// on.
func TestRequestOptionsNotValid(t *testing.T) {
	s := start(t)
	for _, c := range codec.All {
		t.Run(c.Format().String(), func(t *testing.T) {
			cn := s.dial(t, "rawsocket", c)
			join(t, cn, c)
			for i, tc := range []struct {
				name string
				msg  []byte
				rt   wamp.MessageType
			}{
				{"wrong type", encode(t, c, &wamp.Subscribe{Request: 1, Options: wamp.Dict{"match": int64(5)}, Topic: "com.t"}), wamp.TypeSubscribe},
				{"not UTF-8", poison(t, c, &wamp.Subscribe{Request: 2, Options: wamp.Dict{"match": marker}, Topic: "com.t"}), wamp.TypeSubscribe},
				{"key not UTF-8", poison(t, c, &wamp.Register{Request: 3, Options: wamp.Dict{marker: true}, Procedure: "com.p"}), wamp.TypeRegister},
				{"CALL option not UTF-8", poison(t, c, &wamp.Call{Request: 4, Options: wamp.Dict{"x": wamp.List{marker}}, Procedure: "com.p"}), wamp.TypeCall},
			} {
				cn.write(t, tc.msg)
				m := recv(t, cn, c)
				if e, ok := m.(*wamp.Error); !ok || e.RequestType != tc.rt || e.Request != wamp.ID(i+1) || e.Error != wamp.ErrInvalidArgument {
					t.Fatalf("%s: want ERROR invalid_argument for %s %d, got %T %+v", tc.name, tc.rt, i+1, m, m)
				}
			}
			cn.write(t, encode(t, c, &wamp.Subscribe{Request: 9, Topic: "com.t"}))
			if m := recv(t, cn, c); m.Type() != wamp.TypeSubscribed {
				t.Fatalf("want SUBSCRIBED, got %+v", m)
			}
		})
	}
}

// TestUndefinedOptions: wampy.js writes an unset option as MessagePack
// extension type 0 ("undefined"), and a CBOR encoder writes JavaScript's
// undefined as simple value 23: as options they read as absent.
func TestUndefinedOptions(t *testing.T) {
	s := start(t)
	undefined := []byte{0xd4, 0x00, 0x00} // fixext 1, type 0, as msgpack-lite writes undefined

	mp := s.dial(t, "websocket", codec.MsgPack)
	join(t, mp, codec.MsgPack)
	b := msgp.AppendArrayHeader(nil, 4)
	b = msgp.AppendUint64(b, uint64(wamp.TypeSubscribe))
	b = msgp.AppendUint64(b, 1)
	b = msgp.AppendMapHeader(b, 3)
	b = msgp.AppendString(b, "match")
	b = append(b, undefined...)
	b = msgp.AppendString(b, "get_retained")
	b = append(b, undefined...)
	b = msgp.AppendString(b, "nkey")
	b = append(b, 0xc7, 0x01, 0x00, 0x00) // ext 8 of one byte, type 0
	b = msgp.AppendString(b, "com.undefined")
	mp.write(t, b)
	if m := recv(t, mp, codec.MsgPack); m.Type() != wamp.TypeSubscribed {
		t.Fatalf("MessagePack: want SUBSCRIBED, got %+v", m)
	}

	cb := s.dial(t, "websocket", codec.CBOR)
	join(t, cb, codec.CBOR)
	// [32, 1, {"match": undefined, "get_retained": undefined}, "com.undefined"]
	msg := append([]byte{0x84, 0x18, 0x20, 0x01, 0xa2, 0x65}, "match"...)
	msg = append(msg, 0xf7, 0x6c)
	msg = append(msg, "get_retained"...)
	msg = append(msg, 0xf7, 0x6d)
	msg = append(msg, "com.undefined"...)
	cb.write(t, msg)
	if m := recv(t, cb, codec.CBOR); m.Type() != wamp.TypeSubscribed {
		t.Fatalf("CBOR: want SUBSCRIBED, got %+v", m)
	}

	// Both sessions subscribed to the exact topic: an event reaches them.
	pub := s.dial(t, "websocket", codec.JSON)
	join(t, pub, codec.JSON)
	pub.write(t, encode(t, codec.JSON, &wamp.Publish{Request: 1, Topic: "com.undefined"}))
	for c, cn := range map[codec.Codec]conn{codec.MsgPack: mp, codec.CBOR: cb} {
		if m := recv(t, cn, c); m.Type() != wamp.TypeEvent {
			t.Fatalf("%s: want EVENT, got %+v", c.Format(), m)
		}
	}
}

// TestFragmentNotUTF8: a fragmented WebSocket text message is failed with
// close code 1007 at its first fragment that cannot be UTF-8, without
// waiting for the rest (which never comes here).
func TestFragmentNotUTF8(t *testing.T) {
	s := start(t)
	cn := s.dial(t, "websocket", codec.JSON).(*wsConn)
	join(t, cn, codec.JSON)
	first := ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, false, []byte("[16,1,{},\"com.t\",[\"\xff")))
	if err := ws.WriteFrame(cn.c, first); err != nil {
		t.Fatal(err)
	}
	if code := expectClosed(t, cn); code != ws.StatusInvalidFramePayloadData {
		t.Fatalf("close code %d, want 1007", code)
	}
}
