package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

// hx turns "95 30 07" into bytes; it lets the tests spell out wire bytes as
// the specifications draw them.
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// cat joins byte slices and strings.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case []byte:
			b = append(b, p...)
		case string:
			b = append(b, p...)
		default:
			panic(fmt.Sprintf("cat: %T", p))
		}
	}
	return b
}

// payloadOf returns a message's payload, or nil for types without one.
func payloadOf(m wamp.Message) *wamp.Payload {
	switch m := wamp.Unwrap(m).(type) {
	case *wamp.Abort:
		return &m.Payload
	case *wamp.Error:
		return &m.Payload
	case *wamp.Publish:
		return &m.Payload
	case *wamp.Event:
		return &m.Payload
	case *wamp.Call:
		return &m.Payload
	case *wamp.Result:
		return &m.Payload
	case *wamp.Invocation:
		return &m.Payload
	case *wamp.Yield:
		return &m.Payload
	}
	return nil
}

// plain decodes a message's raw payload in place into Args and Kwargs, so
// that a decoded message compares equal to one built in Go.
func plain(t testing.TB, m wamp.Message) wamp.Message {
	t.Helper()
	p := payloadOf(m)
	if p == nil || !p.IsRaw() {
		return m
	}
	args, kwargs, err := DecodePayload(p)
	if err != nil {
		t.Fatalf("DecodePayload(%x, %x): %v", p.RawArgs, p.RawKwargs, err)
	}
	*p = wamp.Payload{Args: args, Kwargs: kwargs}
	return m
}

// payloads are the shapes a payload takes on the wire.
var payloads = []struct {
	name string
	p    wamp.Payload
}{
	{"none", wamp.Payload{}},
	{"args", wamp.Payload{Args: wamp.List{int64(1), "x"}}},
	{"args+kwargs", wamp.Payload{Args: wamp.List{int64(-1), 2.5, nil, true, []byte{0, 0xff}}, Kwargs: wamp.Dict{"k": "v"}}},
	{"kwargs", wamp.Payload{Kwargs: wamp.Dict{"k": wamp.List{"v"}}}},
}

// sampleMessages returns one message of every type (two for the types with
// an optional Details), built in Go with values of the common model and
// dicts of at most one key so that encodings are deterministic.
func sampleMessages(p wamp.Payload) []wamp.Message {
	details := wamp.Dict{"roles": wamp.Dict{"caller": wamp.Dict{"features": wamp.Dict{"progressive_call_results": true}}}}
	return []wamp.Message{
		&wamp.Hello{Realm: "realm1", Details: details},
		&wamp.Welcome{Session: wamp.MaxID, Details: details},
		&wamp.Abort{Details: wamp.Dict{"message": "bye"}, Reason: wamp.ErrNoSuchRealm, Payload: p},
		&wamp.Challenge{AuthMethod: "wampcra", Extra: wamp.Dict{"challenge": "{\"nonce\":\"x\"}"}},
		&wamp.Authenticate{Signature: "c2lnbmF0dXJl", Extra: wamp.Dict{}},
		&wamp.Goodbye{Reason: wamp.CloseNormal},
		&wamp.Error{RequestType: wamp.TypeCall, Request: 1 << 40, Details: wamp.Dict{"x": int64(-7)}, Error: wamp.ErrInvalidArgument, Payload: p},
		&wamp.Publish{Request: 1, Options: wamp.Dict{"acknowledge": true}, Topic: "com.example.topic", Payload: p},
		&wamp.Published{Request: 1, Publication: wamp.MaxID},
		&wamp.Subscribe{Request: 2, Options: wamp.Dict{"match": "prefix"}, Topic: "com.example"},
		&wamp.Subscribed{Request: 2, Subscription: 300},
		&wamp.Unsubscribe{Request: 3, Subscription: 300},
		&wamp.Unsubscribed{Request: 3},
		&wamp.Unsubscribed{Details: wamp.Dict{"subscription": int64(300)}},
		&wamp.Event{Subscription: 300, Publication: 1<<53 - 1, Payload: p},
		&wamp.Call{Request: 70000, Options: wamp.Dict{"timeout": int64(1000)}, Procedure: "com.example.add", Payload: p},
		&wamp.Cancel{Request: 70000, Options: wamp.Dict{"mode": "kill"}},
		&wamp.Result{Request: 70000, Details: wamp.Dict{"progress": false}, Payload: p},
		&wamp.Register{Request: 4, Options: wamp.Dict{"invoke": "roundrobin"}, Procedure: "com.example.add"},
		&wamp.Registered{Request: 4, Registration: 1 << 32},
		&wamp.Unregister{Request: 5, Registration: 1 << 32},
		&wamp.Unregistered{Request: 5},
		&wamp.Unregistered{Details: wamp.Dict{"registration": int64(1 << 32)}},
		&wamp.Invocation{Request: 6, Registration: 1 << 32, Details: wamp.Dict{"caller": int64(12345)}, Payload: p},
		&wamp.Interrupt{Request: 6, Options: wamp.Dict{"mode": "killnowait"}},
		&wamp.Yield{Request: 6, Payload: p},
	}
}

// wantDecoded is what decoding m's encoding gives: an empty dict reads as
// nil and kwargs without args carry an empty args list.
func wantDecoded(m wamp.Message) wamp.Message {
	if p := payloadOf(m); p != nil && len(p.Kwargs) > 0 && len(p.Args) == 0 {
		p.Args = wamp.List{}
	}
	switch m := m.(type) {
	case *wamp.Authenticate:
		if len(m.Extra) == 0 {
			m.Extra = nil
		}
	case *wamp.Yield:
		if len(m.Options) == 0 {
			m.Options = nil
		}
	}
	return m
}

func TestMessageTypesCovered(t *testing.T) {
	seen := map[wamp.MessageType]bool{}
	for _, m := range sampleMessages(wamp.Payload{}) {
		seen[m.Type()] = true
	}
	for code := range 256 {
		if mt := wamp.MessageType(code); mt.Known() && !seen[mt] {
			t.Errorf("no sample message of type %s", mt)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range All {
		for _, pl := range payloads {
			for i, m := range sampleMessages(pl.p) {
				name := fmt.Sprintf("%s/%s/%s", c.Format(), pl.name, m.Type())
				if i > 0 && sampleMessages(pl.p)[i-1].Type() == m.Type() {
					name += "/details"
				}
				if payloadOf(m) == nil && pl.name != "none" {
					continue
				}
				t.Run(name, func(t *testing.T) {
					b, err := c.Encode(nil, m)
					if err != nil {
						t.Fatalf("Encode: %v", err)
					}
					got, err := c.Decode(b)
					if err != nil {
						t.Fatalf("Decode(%q): %v", b, err)
					}
					// Forwarding the raw payload gives the same bytes.
					again, err := c.Encode(nil, got)
					if err != nil {
						t.Fatalf("Encode of the decoded message: %v", err)
					}
					if !bytes.Equal(again, b) {
						t.Errorf("re-encoding differs:\n got %q\nwant %q", again, b)
					}
					if p := payloadOf(got); p != nil && !pl.p.Empty() {
						if p.Format != c.Format() || !p.IsRaw() {
							t.Errorf("decoded payload has Format %s, want %s", p.Format, c.Format())
						}
						if !bytes.Contains(b, p.RawArgs) || !bytes.Contains(b, p.RawKwargs) {
							t.Errorf("raw payload is not a slice of the input")
						}
					}
					want := wantDecoded(sampleMessages(pl.p)[i])
					if got := plain(t, got); !reflect.DeepEqual(got, want) {
						t.Errorf("decoded\n got %#v\nwant %#v", got, want)
					}
				})
			}
		}
	}
}

// TestWire checks exact encodings, worked out by hand from RFC 8259 (JSON),
// the MessagePack specification and RFC 8949 (CBOR), in both directions.
func TestWire(t *testing.T) {
	topic40 := "com.example.a_topic_name_of_40_chars_xxx" // 40 bytes
	if len(topic40) != 40 {
		t.Fatal("topic40 is not 40 bytes")
	}
	tests := []struct {
		name                string
		m                   wamp.Message
		json, msgpack, cbor []byte
	}{{
		name: "CALL args",
		m:    &wamp.Call{Request: 7, Procedure: "com.a", Payload: wamp.Payload{Args: wamp.List{int64(1), "x"}}},
		json: []byte(`[48,7,{},"com.a",[1,"x"]]`),
		// fixarray(5), fixint 48, fixint 7, fixmap(0), fixstr(5) "com.a", fixarray(2) 1 fixstr(1) "x"
		msgpack: cat(hx("95 30 07 80 a5"), "com.a", hx("92 01 a1"), "x"),
		// array(5), uint8 48 (two bytes: 48 >= 24), 7, map(0), text(5), array(2) 1 text(1)
		cbor: cat(hx("85 18 30 07 a0 65"), "com.a", hx("82 01 61"), "x"),
	}, {
		name:    "EVENT kwargs only, ID 2^53",
		m:       &wamp.Event{Subscription: 5, Publication: wamp.MaxID, Payload: wamp.Payload{Kwargs: wamp.Dict{"k": true}}},
		json:    []byte(`[36,5,9007199254740992,{},[],{"k":true}]`),
		msgpack: hx("96 24 05 cf 0020000000000000 80 90 81 a1 6b c3"),
		cbor:    hx("86 18 24 05 1b 0020000000000000 a0 80 a1 61 6b f5"),
	}, {
		name: "PUBLISH scalar values",
		m: &wamp.Publish{Request: 1, Topic: "t", Payload: wamp.Payload{Args: wamp.List{
			int64(-1), 1.5, nil, []byte{1, 2}, int64(300), int64(-200), 1.0, "é", false}}},
		json: []byte(`[16,1,{},"t",[-1,1.5,null,"\u0000AQI=",300,-200,1.0,"é",false]]`),
		// -1 negative fixint; 1.5 float64; nil; bin8(2); uint16 300 (as uint:
		// the encoder writes non-negative integers unsigned); int16 -200;
		// 1.0 float64; fixstr(2) c3a9; false.
		msgpack: hx("95 10 01 80 a1 74 99 ff cb 3ff8000000000000 c0 c4 02 01 02 cd 012c d1 ff38 cb 3ff0000000000000 a2 c3a9 c2"),
		// -1 is major 1 argument 0; floats as float64 (fb); null f6; bytes(2);
		// uint16 300; -200 is major 1 argument 199 in one byte (38 c7).
		cbor: hx("85 10 01 a0 61 74 89 20 fb 3ff8000000000000 f6 42 01 02 19 012c 38 c7 fb 3ff0000000000000 62 c3a9 f4"),
	}, {
		name:    "ERROR args and kwargs",
		m:       &wamp.Error{RequestType: wamp.TypeCall, Request: 123, Details: wamp.Dict{"x": "y"}, Error: "e", Payload: wamp.Payload{Args: wamp.List{"a"}, Kwargs: wamp.Dict{"b": int64(2)}}},
		json:    []byte(`[8,48,123,{"x":"y"},"e",["a"],{"b":2}]`),
		msgpack: hx("97 08 30 7b 81 a1 78 a1 79 a1 65 91 a1 61 81 a1 62 02"),
		cbor:    hx("87 08 18 30 18 7b a1 61 78 61 79 61 65 81 61 61 a1 61 62 02"),
	}, {
		name:    "HELLO nested details",
		m:       &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"caller": wamp.Dict{}}}},
		json:    []byte(`[1,"realm1",{"roles":{"caller":{}}}]`),
		msgpack: cat(hx("93 01 a6"), "realm1", hx("81 a5"), "roles", hx("81 a6"), "caller", hx("80")),
		cbor:    cat(hx("83 01 66"), "realm1", hx("a1 65"), "roles", hx("a1 66"), "caller", hx("a0")),
	}, {
		name: "SUBSCRIBE 32-bit ID, 40-byte topic",
		m:    &wamp.Subscribe{Request: 713845233, Topic: wamp.URI(topic40)},
		json: []byte(`[32,713845233,{},"` + topic40 + `"]`),
		// uint32 (ce), str8 (d9) since 40 > 31
		msgpack: cat(hx("94 20 ce 2a8c69f1 80 d9 28"), topic40),
		// uint32 (1a), text with one-byte length (78)
		cbor: cat(hx("84 18 20 1a 2a8c69f1 a0 78 28"), topic40),
	}, {
		name:    "UNSUBSCRIBED",
		m:       &wamp.Unsubscribed{Request: 256},
		json:    []byte(`[35,256]`),
		msgpack: hx("92 23 cd 0100"),
		cbor:    hx("82 18 23 19 0100"),
	}, {
		name:    "GOODBYE escapes",
		m:       &wamp.Goodbye{Reason: "a\"b\\c\nd\x01\u2028"},
		json:    []byte(`[6,{},"a\"b\\c\nd\u0001` + "\u2028" + `"]`),
		msgpack: cat(hx("93 06 80 ab"), "a\"b\\c\nd\x01\u2028"),
		cbor:    cat(hx("83 06 a0 6b"), "a\"b\\c\nd\x01\u2028"),
	}, {
		name: "RESULT uint64 and int64 extremes",
		m: &wamp.Result{Request: 1, Payload: wamp.Payload{Args: wamp.List{
			uint64(math.MaxUint64), int64(math.MinInt64), int64(math.MaxInt64)}}},
		json:    []byte(`[50,1,{},[18446744073709551615,-9223372036854775808,9223372036854775807]]`),
		msgpack: hx("94 32 01 80 93 cf ffffffffffffffff d3 8000000000000000 cf 7fffffffffffffff"),
		cbor:    hx("84 18 32 01 a0 83 1b ffffffffffffffff 3b 7fffffffffffffff 1b 7fffffffffffffff"),
	}}
	for _, tt := range tests {
		for _, c := range All {
			want := map[wamp.Format][]byte{wamp.FormatJSON: tt.json, wamp.FormatMsgPack: tt.msgpack, wamp.FormatCBOR: tt.cbor}[c.Format()]
			t.Run(tt.name+"/"+c.Format().String(), func(t *testing.T) {
				got, err := c.Encode(nil, tt.m)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("Encode\n got % x\nwant % x", got, want)
				}
				m, err := c.Decode(want)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if m := plain(t, m); !reflect.DeepEqual(m, wantDecoded(tt.m)) {
					t.Errorf("Decode\n got %#v\nwant %#v", m, tt.m)
				}
			})
		}
	}
}

// TestDecodeVariants checks encodings that other implementations may send:
// whitespace, non-minimal integer widths, indefinite lengths.
func TestDecodeVariants(t *testing.T) {
	want := &wamp.Call{Request: 7, Procedure: "com.a", Payload: wamp.Payload{Args: wamp.List{int64(1), "x"}}}
	tests := []struct {
		name string
		c    Codec
		in   []byte
	}{
		{"whitespace", JSON, []byte(" \r\n\t[ 48 ,\n7 , { } ,\"com.a\" , [ 1 , \"x\" ] ] \n")},
		{"escaped URI", JSON, []byte(`[48,7,{},"com\u002ea",[1,"x"]]`)},
		{"uint8 type code", MsgPack, cat(hx("95 cc 30 cd 0007 80 a5"), "com.a", hx("92 01 a1"), "x")},
		{"signed ints", MsgPack, cat(hx("95 d0 30 d3 0000000000000007 80 a5"), "com.a", hx("92 d1 0001 a1"), "x")},
		{"str8 URI", MsgPack, cat(hx("95 30 07 80 d9 05"), "com.a", hx("92 01 a1"), "x")},
		{"map16 and array16", MsgPack, cat(hx("95 30 07 de 0000 a5"), "com.a", hx("dc 0002 01 a1"), "x")},
		{"wide ints", CBOR, cat(hx("85 19 0030 1b 0000000000000007 a0 65"), "com.a", hx("82 01 61"), "x")},
		{"indefinite args", CBOR, cat(hx("85 18 30 07 a0 65"), "com.a", hx("9f 01 61"), "x", hx("ff"))},
		{"indefinite URI", CBOR, cat(hx("85 18 30 07 a0 7f 63"), "com", hx("62"), ".a", hx("ff 82 01 61"), "x")},
		{"indefinite options", CBOR, cat(hx("85 18 30 07 bf ff 65"), "com.a", hx("82 01 61"), "x")},
	}
	for _, tt := range tests {
		t.Run(tt.c.Format().String()+"/"+tt.name, func(t *testing.T) {
			m, err := tt.c.Decode(tt.in)
			if err != nil {
				t.Fatalf("Decode(% x): %v", tt.in, err)
			}
			if m := plain(t, m); !reflect.DeepEqual(m, want) {
				t.Errorf("Decode\n got %#v\nwant %#v", m, want)
			}
		})
	}
}

func TestShared(t *testing.T) {
	for _, c := range All {
		t.Run(c.Format().String(), func(t *testing.T) {
			ev := &wamp.Event{Subscription: 1, Publication: 2, Payload: wamp.Payload{Args: wamp.List{"x"}}}
			s := wamp.NewShared(ev)
			first, err := c.Encode(nil, s)
			if err != nil {
				t.Fatal(err)
			}
			plainEnc, _ := c.Encode(nil, ev)
			if !bytes.Equal(first, plainEnc) {
				t.Fatalf("Shared encodes as % x, the message itself as % x", first, plainEnc)
			}
			cached := s.Encoded(c.Format())
			if !bytes.Equal(cached, first) {
				t.Fatalf("cached % x, want % x", cached, first)
			}
			// Changing the message shows whether it is encoded again.
			ev.Publication = 99
			second, err := c.Encode([]byte("prefix"), s)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(second, cat("prefix", first)) {
				t.Errorf("second Encode = % x, want the cached % x after the prefix", second, first)
			}
			if got := s.Encoded(c.Format()); &got[0] != &cached[0] {
				t.Error("the cached encoding was replaced")
			}
			for _, other := range All {
				if other != c && s.Encoded(other.Format()) != nil {
					t.Errorf("encoding as %s cached an encoding for %s", c.Format(), other.Format())
				}
			}
			// The cache must not alias the caller's buffer.
			buf := make([]byte, 0, 256)
			s2 := wamp.NewShared(&wamp.Event{Subscription: 1, Publication: 2})
			out, _ := c.Encode(buf, s2)
			for i := range out {
				out[i] = 0
			}
			if b := s2.Encoded(c.Format()); b == nil || b[0] == 0 {
				t.Error("the cached encoding aliases the destination buffer")
			}
			allocs := testing.AllocsPerRun(100, func() { buf, _ = c.Encode(buf[:0], s) })
			if allocs != 0 {
				t.Errorf("cached Encode allocates %.0f times", allocs)
			}
		})
	}
}

func TestSharedConcurrent(t *testing.T) {
	s := wamp.NewShared(&wamp.Event{Subscription: 1, Publication: 2, Details: wamp.Dict{"a": "b"},
		Payload: wamp.Payload{Args: wamp.List{"x", int64(1)}, Kwargs: wamp.Dict{"k": 1.5}}})
	want := map[wamp.Format][]byte{}
	for _, c := range All {
		b, err := c.Encode(nil, wamp.Unwrap(s))
		if err != nil {
			t.Fatal(err)
		}
		want[c.Format()] = b
	}
	var wg sync.WaitGroup
	for range 8 {
		for _, c := range All {
			wg.Go(func() {
				for range 100 {
					b, err := c.Encode(nil, s)
					if err != nil || !bytes.Equal(b, want[c.Format()]) {
						t.Errorf("%s: Encode = % x, %v", c.Format(), b, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}

func TestEncodeErrors(t *testing.T) {
	deep := any(wamp.List{})
	for range 200 {
		deep = wamp.List{deep}
	}
	tests := []struct {
		name string
		m    wamp.Message
		json bool // whether JSON fails (only JSON lacks NaN and infinities)
	}{
		{"nil message", nil, true},
		{"shared nil", wamp.NewShared(nil), true},
		{"unknown message", unknownMessage{}, true},
		{"channel in args", &wamp.Call{Request: 1, Procedure: "p", Payload: wamp.Payload{Args: wamp.List{make(chan int)}}}, true},
		{"func in details", &wamp.Hello{Realm: "r", Details: wamp.Dict{"f": func() {}}}, true},
		{"int keys", &wamp.Yield{Request: 1, Payload: wamp.Payload{Args: wamp.List{map[int]string{1: "a"}}}}, true},
		{"deep args", &wamp.Yield{Request: 1, Payload: wamp.Payload{Args: wamp.List{deep}}}, true},
		{"deep kwargs", &wamp.Yield{Request: 1, Payload: wamp.Payload{Kwargs: wamp.Dict{"d": deep}}}, true},
		{"ID above 2^53", &wamp.Published{Request: 1, Publication: wamp.MaxID + 1}, true},
		{"raw in unknown format", &wamp.Yield{Request: 1, Payload: wamp.Payload{Format: 9, RawArgs: []byte("[]")}}, true},
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		tests = append(tests, struct {
			name string
			m    wamp.Message
			json bool
		}{fmt.Sprint(f), &wamp.Yield{Request: 1, Payload: wamp.Payload{Args: wamp.List{f}}}, true})
	}
	for _, tt := range tests {
		for _, c := range All {
			t.Run(c.Format().String()+"/"+tt.name, func(t *testing.T) {
				nonFinite := strings.Contains(tt.name, "Inf") || tt.name == "NaN"
				dst := []byte("keep")
				out, err := c.Encode(dst, tt.m)
				if nonFinite && c != JSON {
					if err != nil {
						t.Fatalf("Encode: %v", err)
					}
					return
				}
				if err == nil {
					t.Fatalf("Encode succeeded: %q", out)
				}
				if string(out) != "keep" {
					t.Errorf("a failed Encode returned %q, want dst unchanged", out)
				}
			})
		}
	}
}

type unknownMessage struct{}

func (unknownMessage) Type() wamp.MessageType { return 99 }

// TestEncodeGoValues checks that values outside the common model (a Go
// client's own types) encode as their model equivalents in every codec.
func TestEncodeGoValues(t *testing.T) {
	type point struct {
		X, Y   int
		hidden int
	}
	var nilPtr *int
	seven := 7
	in := wamp.List{
		int8(-8), int16(-16), int32(-32), int(-64), uint8(8), uint16(16), uint32(32), uint(64), uintptr(1),
		float32(0.5), []string{"a", "b"}, [2]int{1, 2}, map[string]int{"a": 1}, point{X: 1, Y: 2},
		&seven, nilPtr, []int(nil), stringer("txt"), uint64(5),
	}
	want := wamp.List{
		int64(-8), int64(-16), int64(-32), int64(-64), int64(8), int64(16), int64(32), int64(64), int64(1),
		0.5, wamp.List{"a", "b"}, wamp.List{int64(1), int64(2)}, wamp.Dict{"a": int64(1)}, wamp.Dict{"X": int64(1), "Y": int64(2)},
		int64(7), nil, wamp.List{}, "TXT", int64(5),
	}
	for _, c := range All {
		t.Run(c.Format().String(), func(t *testing.T) {
			b, err := c.Encode(nil, &wamp.Yield{Request: 1, Payload: wamp.Payload{Args: in}})
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			m, err := c.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := plain(t, m).(*wamp.Yield).Args; !reflect.DeepEqual(got, want) {
				t.Errorf("got  %#v\nwant %#v", got, want)
			}
		})
	}
}

type stringer string

func (s stringer) MarshalText() ([]byte, error) { return []byte(strings.ToUpper(string(s))), nil }

// TestEncodeKeepsInput checks that encoding does not change the caller's
// values, which a Shared message hands to several encoders at once.
func TestEncodeKeepsInput(t *testing.T) {
	mk := func() wamp.List {
		return wamp.List{map[any]any{"a": wamp.List{int32(1), float32(2)}}, map[any]any{"b": wamp.Dict{"c": int8(3)}}}
	}
	for _, c := range All {
		in := mk()
		b, err := c.Encode(nil, &wamp.Yield{Request: 1, Payload: wamp.Payload{Args: in}})
		if err != nil {
			t.Fatalf("%s: Encode: %v", c.Format(), err)
		}
		if !reflect.DeepEqual(in, mk()) {
			t.Errorf("%s: Encode changed its input to %#v", c.Format(), in)
		}
		m, err := c.Decode(b)
		if err != nil {
			t.Fatalf("%s: Decode: %v", c.Format(), err)
		}
		want := wamp.List{wamp.Dict{"a": wamp.List{int64(1), 2.0}}, wamp.Dict{"b": wamp.Dict{"c": int64(3)}}}
		if got := plain(t, m).(*wamp.Yield).Args; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", c.Format(), got, want)
		}
	}
}

func TestDecodePayload(t *testing.T) {
	for _, c := range All {
		in := &wamp.Result{Request: 1, Payload: wamp.Payload{Args: wamp.List{"text", []byte{1, 2}}, Kwargs: wamp.Dict{"k": "v"}}}
		b, err := c.Encode(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		args, kwargs, err := DecodePayload(&m.(*wamp.Result).Payload)
		if err != nil {
			t.Fatalf("%s: %v", c.Format(), err)
		}
		// The values must not alias the buffer the message came in.
		for i := range b {
			b[i] = '#'
		}
		if !reflect.DeepEqual(args, in.Args) || !reflect.DeepEqual(kwargs, in.Kwargs) {
			t.Errorf("%s: got %#v %#v after the buffer changed", c.Format(), args, kwargs)
		}
	}
	p := &wamp.Payload{Args: wamp.List{int64(1)}}
	if args, kwargs, err := DecodePayload(p); err != nil || !reflect.DeepEqual(args, p.Args) || kwargs != nil {
		t.Errorf("decoded payload: %v %v %v", args, kwargs, err)
	}
	if _, _, err := DecodePayload(&wamp.Payload{Format: 9, RawArgs: []byte("[]")}); err == nil {
		t.Error("payload in an unknown format decoded")
	}
	if _, _, err := DecodePayload(&wamp.Payload{Format: wamp.FormatJSON, RawArgs: []byte("{}")}); err == nil {
		t.Error("a dict decoded as Arguments")
	}
}

func TestByName(t *testing.T) {
	for _, c := range All {
		if ByFormat(c.Format()) != c || BySubprotocol(c.Subprotocol()) != c {
			t.Errorf("%s: ByFormat or BySubprotocol does not find the codec", c.Format())
		}
	}
	if ByFormat(wamp.FormatNone) != nil || ByFormat(9) != nil || BySubprotocol("wamp.2.ubjson") != nil {
		t.Error("lookup of an unknown serialization succeeded")
	}
	if JSON.Binary() || !MsgPack.Binary() || !CBOR.Binary() {
		t.Error("Binary")
	}
	if JSON.Subprotocol() != "wamp.2.json" || MsgPack.Subprotocol() != "wamp.2.msgpack" || CBOR.Subprotocol() != "wamp.2.cbor" {
		t.Error("Subprotocol")
	}
}

// TestDecodeUnknownType checks that the error can be told apart.
func TestDecodeUnknownType(t *testing.T) {
	for _, tt := range []struct {
		c  Codec
		in []byte
	}{
		{JSON, []byte(`[7,1]`)},
		{MsgPack, hx("92 07 01")},
		{CBOR, hx("82 07 01")},
	} {
		_, err := tt.c.Decode(tt.in)
		if !errors.Is(err, ErrUnknownType) {
			t.Errorf("%s: Decode error %v, want ErrUnknownType", tt.c.Format(), err)
		}
	}
}
