package codec

import (
	"bytes"
	"math"
	"reflect"
	"strconv"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

// convertValues exercise the value mapping between serializations.
var (
	convertArgs = wamp.List{
		[]byte{0, 1, 2, 0xff}, []byte{}, []byte("hello, binary"),
		wamp.List{int64(1), wamp.List{"nested", wamp.Dict{"deep": wamp.List{}, "deeper": wamp.Dict{"x": nil}}}},
		wamp.Dict{"a": wamp.Dict{"b": int64(-3)}, "list": wamp.List{wamp.Dict{}}},
		wamp.List{}, wamp.Dict{},
		int64(0), int64(-1), int64(-24), int64(-25), int64(-33), int64(-129), int64(-65537),
		int64(math.MinInt64), int64(math.MaxInt64), int64(1 << 53),
		uint64(math.MaxInt64) + 1, uint64(math.MaxUint64),
		1.0, 1.5, -0.25, 0.1, 1e300, -1e-300, math.SmallestNonzeroFloat64, math.MaxFloat64, 1e21, 123456789.0,
		"", "plain", "héllo wörld", "日本語", "emoji 😀 and 𝄞", "quote \" backslash \\ newline \n tab \t nul-free",
		"\u2028\u2029", "<script>&amp;",
		nil, true, false,
	}
	convertKwargs = wamp.Dict{
		"bin": []byte("hi"), "uni": "日本語", "neg": int64(-42), "big": uint64(math.MaxUint64),
		"f": 2.0, "nil": nil, "list": wamp.List{wamp.Dict{"k": wamp.List{int64(1), 2.5, "x"}}},
		"": "empty key", "ключ": "unicode key",
	}
)

// TestConvert converts a payload between every pair of serializations and
// checks that the values survive.
func TestConvert(t *testing.T) {
	m := &wamp.Event{Subscription: 1, Publication: 2, Details: wamp.Dict{"publisher": int64(7)},
		Payload: wamp.Payload{Args: convertArgs, Kwargs: convertKwargs}}
	want := &wamp.Event{Subscription: 1, Publication: 2, Details: wamp.Dict{"publisher": int64(7)},
		Payload: wamp.Payload{Args: convertArgs, Kwargs: convertKwargs}}
	for _, src := range All {
		b, err := src.Encode(nil, m)
		if err != nil {
			t.Fatalf("%s: Encode: %v", src.Format(), err)
		}
		raw, err := src.Decode(b)
		if err != nil {
			t.Fatalf("%s: Decode: %v", src.Format(), err)
		}
		for _, dst := range All {
			t.Run(src.Format().String()+"-"+dst.Format().String(), func(t *testing.T) {
				b2, err := dst.Encode(nil, raw)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				got, err := dst.Decode(b2)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				got = plain(t, got)
				if !reflect.DeepEqual(got, want) {
					g := got.(*wamp.Event)
					for i := range max(len(g.Args), len(want.Args)) {
						if i >= len(g.Args) || i >= len(want.Args) || !reflect.DeepEqual(g.Args[i], want.Args[i]) {
							t.Errorf("Args[%d]: got %#v, want %#v", i, at(g.Args, i), at(want.Args, i))
						}
					}
					for k := range want.Kwargs {
						if !reflect.DeepEqual(g.Kwargs[k], want.Kwargs[k]) {
							t.Errorf("Kwargs[%q]: got %#v, want %#v", k, g.Kwargs[k], want.Kwargs[k])
						}
					}
					if len(g.Kwargs) != len(want.Kwargs) {
						t.Errorf("got %d kwargs, want %d", len(g.Kwargs), len(want.Kwargs))
					}
				}
			})
		}
	}
}

func at(l wamp.List, i int) any {
	if i < len(l) {
		return l[i]
	}
	return "(missing)"
}

// TestConvertChain passes a payload through every serialization in turn,
// each hop converting the previous hop's raw payload.
func TestConvertChain(t *testing.T) {
	orders := [][]Codec{
		{JSON, MsgPack, CBOR, JSON},
		{JSON, CBOR, MsgPack, JSON},
		{MsgPack, JSON, CBOR, MsgPack},
		{CBOR, JSON, MsgPack, CBOR},
	}
	for _, order := range orders {
		var m wamp.Message = &wamp.Result{Request: 5, Payload: wamp.Payload{Args: convertArgs, Kwargs: convertKwargs}}
		name := ""
		for _, c := range order {
			name += "/" + c.Format().String()
			b, err := c.Encode(nil, m)
			if err != nil {
				t.Fatalf("%s: Encode: %v", name, err)
			}
			if m, err = c.Decode(b); err != nil {
				t.Fatalf("%s: Decode: %v", name, err)
			}
		}
		got := plain(t, m).(*wamp.Result)
		if !reflect.DeepEqual(got.Args, convertArgs) || !reflect.DeepEqual(got.Kwargs, convertKwargs) {
			t.Errorf("%s: values changed:\n got %#v %#v", name, got.Args, got.Kwargs)
		}
	}
}

// TestConvertWire checks conversion byte for byte: the same message in the
// three serializations, each converted to each.
func TestConvertWire(t *testing.T) {
	tests := []struct {
		name string
		enc  map[Codec][]byte
	}{{
		name: "binary, integers, float, unicode",
		enc: map[Codec][]byte{
			JSON: []byte(`[36,1,2,{},["\u0000AAEC/w==",-5,18446744073709551615,1.0,"ü",null,true],{"b":"\u0000aGk="}]`),
			// bin8(4); negative fixint -5; uint64; float64 1.0; fixstr(2); nil; true; fixmap(1) "b" bin8(2)
			MsgPack: hx("96 24 01 02 80 97 c4 04 000102ff fb cf ffffffffffffffff cb 3ff0000000000000 a2 c3bc c0 c3 81 a1 62 c4 02 6869"),
			// bytes(4); -5 is major 1 argument 4; uint64; float64; text(2); null; true; map(1) "b" bytes(2)
			CBOR: hx("86 18 24 01 02 a0 87 44 000102ff 24 1b ffffffffffffffff fb 3ff0000000000000 62 c3bc f6 f5 a1 61 62 42 6869"),
		},
	}, {
		name: "empty binary and containers",
		enc: map[Codec][]byte{
			JSON:    []byte(`[50,3,{},["\u0000",[],{}]]`),
			MsgPack: hx("94 32 03 80 93 c4 00 90 80"),
			CBOR:    hx("84 18 32 03 a0 83 40 80 a0"),
		},
	}, {
		name: "kwargs only",
		enc: map[Codec][]byte{
			JSON:    []byte(`[70,3,{},[],{"k":[-1,0.5]}]`),
			MsgPack: hx("95 46 03 80 90 81 a1 6b 92 ff cb 3fe0000000000000"),
			CBOR:    hx("85 18 46 03 a0 80 a1 61 6b 82 20 fb 3fe0000000000000"),
		},
	}, {
		name: "int64 extremes",
		enc: map[Codec][]byte{
			JSON:    []byte(`[50,3,{},[-9223372036854775808,9223372036854775807,-129]]`),
			MsgPack: hx("94 32 03 80 93 d3 8000000000000000 cf 7fffffffffffffff d1 ff7f"),
			CBOR:    hx("84 18 32 03 a0 83 3b 7fffffffffffffff 1b 7fffffffffffffff 38 80"),
		},
	}}
	for _, tt := range tests {
		for src, in := range tt.enc {
			raw, err := src.Decode(in)
			if err != nil {
				t.Fatalf("%s: %s Decode: %v", tt.name, src.Format(), err)
			}
			for dst, want := range tt.enc {
				got, err := dst.Encode(nil, raw)
				if err != nil {
					t.Errorf("%s: %s to %s: %v", tt.name, src.Format(), dst.Format(), err)
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %s to %s:\n got % x\nwant % x", tt.name, src.Format(), dst.Format(), got, want)
				}
			}
		}
	}
}

// TestConvertErrors checks payloads that a serialization can hold but
// another cannot: the conversion fails with an error.
func TestConvertErrors(t *testing.T) {
	tests := []struct {
		name     string
		src      Codec
		in       []byte
		failJSON bool // only JSON lacks the values below
	}{
		{"NaN", MsgPack, hx("94 32 01 80 91 cb 7ff8000000000001"), true},
		{"infinity", CBOR, hx("84 18 32 01 a0 81 f9 7c00"), true},
		{"float32 infinity", MsgPack, hx("94 32 01 80 91 ca 7f800000"), true},
		// JSON reads a string that starts with NUL as binary.
		{"string starting with NUL", MsgPack, hx("94 32 01 80 91 a2 00 61"), true},
		{"string starting with NUL in CBOR", CBOR, hx("84 18 32 01 a0 81 61 00"), true},
	}
	for _, tt := range tests {
		raw, err := tt.src.Decode(tt.in)
		if err != nil {
			t.Fatalf("%s: Decode: %v", tt.name, err)
		}
		for _, dst := range All {
			_, err := dst.Encode(nil, raw)
			if dst == JSON && err == nil {
				t.Errorf("%s: %s to JSON succeeded", tt.name, tt.src.Format())
			}
			if dst != JSON && err != nil {
				t.Errorf("%s: %s to %s: %v", tt.name, tt.src.Format(), dst.Format(), err)
			}
		}
	}
	// The payloads of what a router sends (RESULT here) are checked only
	// for well-formedness; what their values mean is checked when they are
	// converted (a request's are checked as they are decoded: invalid_test.go).
	raws := []struct {
		name string
		src  Codec
		in   []byte
	}{
		{"JSON bad base64", JSON, []byte(`[50,1,{},["\u0000!!"]]`)},
		{"JSON invalid UTF-8", JSON, []byte("[50,1,{},[\"\xff\"]]")},
		{"JSON number out of range", JSON, []byte(`[50,1,{},[1e400]]`)},
		{"MessagePack extension", MsgPack, hx("94 32 01 80 91 d4 05 00")},
		{"MessagePack invalid UTF-8", MsgPack, hx("94 32 01 80 91 a1 ff")},
		{"MessagePack non-string key", MsgPack, hx("95 32 01 80 90 81 01 02")},
		{"CBOR invalid UTF-8", CBOR, hx("84 18 32 01 a0 81 61 ff")},
		{"CBOR bignum", CBOR, hx("84 18 32 01 a0 81 c2 49 010000000000000000")},
		{"CBOR simple value", CBOR, hx("84 18 32 01 a0 81 f0")},
	}
	for _, tt := range raws {
		raw, err := tt.src.Decode(tt.in)
		if err != nil {
			t.Fatalf("%s: Decode: %v", tt.name, err)
		}
		for _, dst := range All {
			out, err := dst.Encode(nil, raw)
			if dst == tt.src {
				if err != nil || !bytes.Equal(out, tt.in) {
					t.Errorf("%s: forwarding gives % x, %v", tt.name, out, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s: %s to %s succeeded: % x", tt.name, tt.src.Format(), dst.Format(), out)
			}
		}
	}
}

// TestConvertTagsAndTime checks CBOR tags (dropped, their content kept),
// bignums that fit in 64 bits and MessagePack timestamps.
func TestConvertTagsAndTime(t *testing.T) {
	tests := []struct {
		name string
		src  Codec
		in   []byte
		want any
	}{
		{"CBOR tag 32 URI", CBOR, cat(hx("84 18 32 01 a0 81 d8 20 72"), "http://example.com"), "http://example.com"},
		{"CBOR tagged list", CBOR, hx("84 18 32 01 a0 81 d9 ffff 82 01 02"), wamp.List{int64(1), int64(2)}},
		{"CBOR bignum 2^64-1", CBOR, hx("84 18 32 01 a0 81 c2 48 ffffffffffffffff"), uint64(math.MaxUint64)},
		{"CBOR bignum 1", CBOR, hx("84 18 32 01 a0 81 c2 41 01"), int64(1)},
		{"CBOR negative bignum", CBOR, hx("84 18 32 01 a0 81 c3 41 01"), int64(-2)},
		{"CBOR epoch time", CBOR, hx("84 18 32 01 a0 81 c1 1a 5f5e1000"), "2020-09-13T12:26:40Z"},
		{"CBOR half float", CBOR, hx("84 18 32 01 a0 81 f9 3e00"), 1.5},
		{"CBOR single float", CBOR, hx("84 18 32 01 a0 81 fa 3fc00000"), 1.5},
		{"CBOR undefined", CBOR, hx("84 18 32 01 a0 81 f7"), nil},
		{"MessagePack float32", MsgPack, hx("94 32 01 80 91 ca 3fc00000"), 1.5},
		{"MessagePack timestamp", MsgPack, hx("94 32 01 80 91 d6 ff 5f5e1000"), "2020-09-13T12:26:40Z"},
		{"MessagePack str8 binary-looking", MsgPack, hx("94 32 01 80 91 d9 01 61"), "a"},
	}
	for _, tt := range tests {
		raw, err := tt.src.Decode(tt.in)
		if err != nil {
			t.Fatalf("%s: Decode: %v", tt.name, err)
		}
		for _, dst := range All {
			if dst == tt.src {
				continue
			}
			b, err := dst.Encode(nil, raw)
			if err != nil {
				t.Errorf("%s: to %s: %v", tt.name, dst.Format(), err)
				continue
			}
			m, err := dst.Decode(b)
			if err != nil {
				t.Errorf("%s: to %s, Decode: %v", tt.name, dst.Format(), err)
				continue
			}
			got := plain(t, m).(*wamp.Result).Args
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("%s: to %s: got %#v, want %#v", tt.name, dst.Format(), got, tt.want)
			}
		}
	}
}

// TestConvertLarge checks lists and dicts larger than fxamacker/cbor's
// default limits (131072 items), which the other codecs accept.
func TestConvertLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large payloads")
	}
	args := make(wamp.List, 140000)
	for i := range args {
		args[i] = int64(i % 100)
	}
	kw := make(wamp.Dict, 131100)
	for i := range 131100 {
		kw[strconv.Itoa(i)] = true
	}
	m := &wamp.Result{Request: 1, Payload: wamp.Payload{Args: args, Kwargs: kw}}
	for _, src := range All {
		b, err := src.Encode(nil, m)
		if err != nil {
			t.Fatalf("%s: Encode: %v", src.Format(), err)
		}
		raw, err := src.Decode(b)
		if err != nil {
			t.Fatalf("%s: Decode: %v", src.Format(), err)
		}
		for _, dst := range All {
			b2, err := dst.Encode(nil, raw)
			if err != nil {
				t.Fatalf("%s to %s: %v", src.Format(), dst.Format(), err)
			}
			got, err := dst.Decode(b2)
			if err != nil {
				t.Fatalf("%s to %s, Decode: %v", src.Format(), dst.Format(), err)
			}
			if r := plain(t, got).(*wamp.Result); len(r.Args) != len(args) || len(r.Kwargs) != len(kw) {
				t.Fatalf("%s to %s: %d args and %d kwargs", src.Format(), dst.Format(), len(r.Args), len(r.Kwargs))
			}
		}
	}
}

// TestCBORUint8ArraysForwardAsBytes: a uint8 typed array (RFC 8746 tag
// 64 over a byte string, what cbor-x writes for a Uint8Array) in a
// request's payload is forwarded as the plain byte string, wherever it is
// nested; other tags, and tag 64 over anything else, stay as they are.
func TestCBORUint8ArraysForwardAsBytes(t *testing.T) {
	args := hx("87" +
		"d8 40 43 010203" + // tag 64, bytes
		"d8 20 61 61" + // tag 32 (URI), "a": kept
		"9f d8 40 41 ff ff" + // indefinite array of tag 64, bytes
		"d9 03e8 d8 40 41 07" + // tag 1000 around tag 64, bytes
		"d8 40 61 78" + // tag 64 over text: kept
		"42 d840" + // bytes that look like the tag
		"d9 0040 41 09") // tag 64 in a longer head
	kwargs := hx("a2 61 6b d8 40 42 0a0b 61 6c 5f 41 01 41 02 ff") // {"k": tag 64 bytes, "l": indefinite bytes}
	wantArgs := hx("87 43 010203 d8 20 61 61 9f 41 ff ff d9 03e8 41 07 d8 40 61 78 42 d840 41 09")
	wantKwargs := hx("a2 61 6b 42 0a0b 61 6c 5f 41 01 41 02 ff")
	for _, tt := range []struct {
		name string
		msg  []byte
	}{
		{"PUBLISH", cat(hx("86 10 01 a0 61 74"), args, kwargs)},
		{"CALL", cat(hx("86 18 30 01 a0 61 70"), args, kwargs)},
		{"YIELD", cat(hx("85 18 46 01 a0"), args, kwargs)},
		{"ERROR for an INVOCATION", cat(hx("87 08 18 44 01 a0 61 65"), args, kwargs)},
	} {
		m, err := CBOR.Decode(tt.msg)
		if err != nil {
			t.Fatalf("%s: Decode: %v", tt.name, err)
		}
		p := payloadOf(m)
		if !bytes.Equal(p.RawArgs, wantArgs) || !bytes.Equal(p.RawKwargs, wantKwargs) {
			t.Errorf("%s: forwarded args % x kwargs % x, want % x and % x", tt.name, p.RawArgs, p.RawKwargs, wantArgs, wantKwargs)
		}
		out, err := CBOR.Encode(nil, m)
		if err != nil || !bytes.Contains(out, wantArgs) {
			t.Errorf("%s: re-encoded % x (%v), want the args % x in it", tt.name, out, err, wantArgs)
		}
		got := plain(t, m)
		if a := payloadOf(got).Args; !reflect.DeepEqual(a[0], []byte{1, 2, 3}) || !reflect.DeepEqual(a[6], []byte{9}) {
			t.Errorf("%s: decoded args %#v", tt.name, a)
		}
	}

	// Without a uint8 typed array the payload is the message's own bytes.
	msg := cat(hx("86 10 01 a0 61 74"), hx("82 d8 20 61 61 43 010203"), hx("a0"))
	m, err := CBOR.Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if p := payloadOf(m); &p.RawArgs[0] != &msg[6] {
		t.Errorf("a payload with no uint8 typed array was copied")
	}
}
