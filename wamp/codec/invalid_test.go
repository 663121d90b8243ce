package codec

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

// requestCase is a message whose request reads but whose options or
// payload are not valid: Decode must return a *RequestError holding the
// request without that part.
type requestCase struct {
	name string
	c    Codec
	in   []byte
	want wamp.Message // the readable part
	why  string       // in the error text
}

func requestCases() []requestCase {
	ack := wamp.Dict{"acknowledge": true}
	pub := &wamp.Publish{Request: 1, Options: ack, Topic: "t"}
	call := &wamp.Call{Request: 7, Procedure: "p"}
	yield := &wamp.Yield{Request: 5}
	invErr := &wamp.Error{RequestType: wamp.TypeInvocation, Request: 5, Error: "app.error"}
	return []requestCase{
		// JSON: the PUBLISH, and every place a string can hide.
		{"JSON invalid UTF-8 in args", JSON, []byte("[16,1,{\"acknowledge\":true},\"t\",[\"\xff\xfe\"]]"), pub, "UTF-8"},
		{"JSON truncated UTF-8 in args", JSON, []byte("[16,1,{\"acknowledge\":true},\"t\",[\"ok\xe2\x82\"]]"), pub, "UTF-8"},
		{"JSON surrogate half in UTF-8", JSON, []byte("[16,1,{\"acknowledge\":true},\"t\",[\"\xed\xa0\x80\"]]"), pub, "UTF-8"},
		{"JSON invalid UTF-8 in kwargs key", JSON, []byte("[16,1,{\"acknowledge\":true},\"t\",[],{\"k\xff\":1}]"), pub, "UTF-8"},
		{"JSON invalid UTF-8 deep in kwargs", JSON, []byte("[16,1,{\"acknowledge\":true},\"t\",[],{\"a\":[{\"b\":\"\xc0\xaf\"}]}]"), pub, "UTF-8"},
		{"JSON integer 2^64", JSON, []byte(`[48,7,{},"p",[18446744073709551616]]`), call, "64 bits"},
		{"JSON integer below -2^63", JSON, []byte(`[48,7,{},"p",[-9223372036854775809]]`), call, "64 bits"},
		{"JSON long integer", JSON, []byte(`[48,7,{},"p",[],{"n":` + strings.Repeat("7", 40) + `}]`), call, "64 bits"},
		{"JSON number beyond float64", JSON, []byte(`[48,7,{},"p",[1e400]]`), call, "range"},
		{"JSON long number beyond float64", JSON, []byte(`[48,7,{},"p",[` + strings.Repeat("9", 400) + `.5]]`), call, "range"},
		{"JSON bad base64", JSON, []byte(`[48,7,{},"p",["\u0000!!"]]`), call, "base64"},
		{"JSON YIELD", JSON, []byte("[70,5,{},[\"\xff\"]]"), yield, "UTF-8"},
		{"JSON ERROR for an INVOCATION", JSON, []byte("[8,68,5,{},\"app.error\",[\"\xff\"]]"), invErr, "UTF-8"},
		{"JSON invalid UTF-8 in options", JSON, []byte("[64,4,{\"match\":\"\xff\"},\"p\"]"), &wamp.Register{Request: 4, Procedure: "p"}, "UTF-8"},
		{"JSON number out of range in options", JSON, []byte(`[49,4,{"mode":1e400}]`), &wamp.Cancel{Request: 4}, "range"},

		// MessagePack
		{"MessagePack invalid UTF-8 in args", MsgPack, hx("95 10 01 81 ab 61636b6e6f776c65646765 c3 a1 74 91 a2 fffe"), pub, "UTF-8"},
		{"MessagePack invalid UTF-8 in kwargs key", MsgPack, hx("96 10 01 81 ab 61636b6e6f776c65646765 c3 a1 74 90 81 a1 ff 01"), pub, "UTF-8"},
		{"MessagePack invalid UTF-8 in bin key", MsgPack, hx("96 30 07 80 a1 70 90 81 c4 01 ff 01"), call, "UTF-8"},
		{"MessagePack non-string kwargs key", MsgPack, hx("96 30 07 80 a1 70 90 81 01 02"), call, "dict key"},
		{"MessagePack non-string nested key", MsgPack, hx("95 30 07 80 a1 70 91 81 c3 02"), call, "dict key"},
		{"MessagePack extension in args", MsgPack, hx("95 30 07 80 a1 70 91 d4 00 00"), call, "extension"},
		{"MessagePack complex in args", MsgPack, hx("95 30 07 80 a1 70 91 d8 03 0000000000000000 0000000000000000"), call, "extension"},
		{"MessagePack bad timestamp", MsgPack, hx("95 30 07 80 a1 70 91 d5 ff 0000"), call, "timestamp"},
		{"MessagePack YIELD", MsgPack, hx("94 46 05 80 91 a1 ff"), yield, "UTF-8"},
		{"MessagePack invalid UTF-8 in options", MsgPack, hx("94 30 07 81 a1 61 a1 ff a1 70"), call, "UTF-8"},
		{"MessagePack non-string option key", MsgPack, hx("94 30 07 81 01 02 a1 70"), call, "Options"},

		// CBOR
		{"CBOR invalid UTF-8 in args", CBOR, hx("85 10 01 a1 6b 61636b6e6f776c65646765 f5 61 74 81 62 fffe"), pub, "UTF-8"},
		{"CBOR invalid UTF-8 in kwargs key", CBOR, hx("86 10 01 a1 6b 61636b6e6f776c65646765 f5 61 74 80 a1 61 ff 01"), pub, "UTF-8"},
		{"CBOR invalid UTF-8 in indefinite text", CBOR, hx("85 18 30 07 a0 61 70 81 7f 61 c3 61 a9 ff"), call, "UTF-8"},
		{"CBOR invalid UTF-8 in tagged text", CBOR, hx("85 18 30 07 a0 61 70 81 d8 20 61 ff"), call, "UTF-8"},
		{"CBOR integer key", CBOR, hx("86 18 30 07 a0 61 70 80 a1 01 02"), call, "string"},
		// fxamacker/cbor reads a null or undefined key as "": forwarded
		// raw, CBOR receivers would get {null: 1}, the others {"": 1}.
		{"CBOR null kwargs key", CBOR, hx("86 18 30 07 a0 61 70 80 a1 f6 01"), call, "not a string"},
		{"CBOR undefined key in args", CBOR, hx("85 18 30 07 a0 61 70 81 a1 f7 01"), call, "not a string"},
		{"CBOR bignum beyond 64 bits", CBOR, hx("85 18 30 07 a0 61 70 81 c2 49 010000000000000000"), call, "64 bits"},
		{"CBOR negative integer beyond 64 bits", CBOR, hx("85 18 30 07 a0 61 70 81 3b 8000000000000000"), call, "64 bits"},
		{"CBOR simple value", CBOR, hx("85 18 30 07 a0 61 70 81 f0"), call, "simple value"},
		{"CBOR two-byte simple value", CBOR, hx("85 18 30 07 a0 61 70 81 f8 20"), call, "simple value"},
		{"CBOR epoch time of text", CBOR, hx("85 18 30 07 a0 61 70 81 c1 61 61"), call, "tag"},
		{"CBOR ERROR for an INVOCATION", CBOR, hx("86 08 18 44 05 a0 69 6170702e6572726f72 81 61 ff"), invErr, "UTF-8"},
		{"CBOR invalid UTF-8 in options", CBOR, hx("84 18 30 07 a1 61 61 61 ff 61 70"), call, "UTF-8"},
		{"CBOR bignum in options", CBOR, hx("84 18 30 07 a1 61 61 c2 49 010000000000000000 61 70"), call, "64 bits"},
	}
}

func TestRequestError(t *testing.T) {
	for _, tt := range requestCases() {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.c.Decode(tt.in)
			if m != nil {
				t.Fatalf("Decode returned %s message, want only an error", m.Type())
			}
			re, ok := errors.AsType[*RequestError](err)
			if !ok {
				t.Fatalf("Decode error %v (%T), want a *RequestError", err, err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not say %q", err, tt.why)
			}
			if !reflect.DeepEqual(re.Message, tt.want) {
				t.Errorf("readable part = %#v, want %#v", re.Message, tt.want)
			}
		})
	}
}

// TestNotRequestErrors: what the receiver cannot answer with ERROR, and
// what it does not forward, keeps its old treatment.
func TestNotRequestErrors(t *testing.T) {
	fatal := []badInput{
		{"invalid UTF-8 in URI", []byte("[16,1,{},\"t\xff\",[\"\xff\"]]")},
		{"string request id", []byte("[16,\"1\",{},\"t\",[\"\xff\"]]")},
		{"bad syntax after a bad string", []byte("[16,1,{},\"t\",[\"\xff\",]]")},
		{"ERROR for a CALL from a client", []byte("[8,48,5,{\"a\":\"\xff\"},\"app.error\"]")},
		{"HELLO with invalid UTF-8 in details", []byte("[1,\"realm1\",{\"authid\":\"\xff\"}]")},
		{"list for options", []byte(`[32,3,[],"t"]`)},
		{"string for args", []byte(`[48,7,{},"p","a"]`)},
		{"list for kwargs", []byte(`[48,7,{},"p",[],[]]`)},
	}
	for _, tt := range fatal {
		m, err := JSON.Decode(tt.in)
		if _, ok := errors.AsType[*RequestError](err); ok || err == nil {
			t.Errorf("%s: Decode = %v, %v; want a plain error", tt.name, m, err)
		}
	}
	// A router does not check what it receives in EVENT, RESULT,
	// INVOCATION or an ERROR for a CALL (it sends them); a client checks
	// the values as it reads them (DecodePayload).
	unchecked := []struct {
		c  Codec
		in []byte
	}{
		{JSON, []byte("[36,1,2,{},[\"\xff\"]]")},
		{JSON, []byte(`[50,1,{},[18446744073709551616]]`)},
		{JSON, []byte("[68,1,2,{},[\"\xff\"]]")},
		{JSON, []byte("[8,48,1,{},\"app.error\",[\"\xff\"]]")},
		{MsgPack, hx("95 24 01 02 80 91 a1 ff")},
		{CBOR, hx("85 18 24 01 02 a0 81 61 ff")},
	}
	for _, tt := range unchecked {
		m, err := tt.c.Decode(tt.in)
		if err != nil {
			t.Errorf("Decode(%q): %v", tt.in, err)
			continue
		}
		if _, _, err := DecodePayload(payloadOf(m)); err == nil {
			t.Errorf("DecodePayload of %q succeeded", tt.in)
		}
	}
}

// TestHeaderValuesWithoutMeaning: a MessagePack extension or a CBOR
// simple value (undefined, which JavaScript clients write for an unset
// option) in Options or Details reads as absent, at any depth; in a
// payload it stays an error.
func TestHeaderValuesWithoutMeaning(t *testing.T) {
	tests := []struct {
		name string
		c    Codec
		in   []byte
		want wamp.Message
	}{
		{"MessagePack ext 0 options", MsgPack,
			hx("94 20 01 82 a5 6d61746368 d4 00 00 ac 6765745f72657461696e6564 d4 00 00 a1 74"),
			&wamp.Subscribe{Request: 1, Topic: "t"}},
		{"MessagePack ext 0 beside a real option", MsgPack,
			hx("94 20 01 82 a5 6d61746368 a6 707265666978 a1 78 c7 00 00 a1 74"),
			&wamp.Subscribe{Request: 1, Options: wamp.Dict{"match": "prefix"}, Topic: "t"}},
		{"MessagePack ext in a nested dict and list", MsgPack,
			hx("94 30 01 81 a1 61 82 a1 62 d4 01 00 a1 63 92 01 d4 00 00 a1 70"),
			&wamp.Call{Request: 1, Options: wamp.Dict{"a": wamp.Dict{"c": wamp.List{int64(1), nil}}}, Procedure: "p"}},
		{"MessagePack complex in options", MsgPack,
			hx("94 30 01 81 a1 61 d8 03 0000000000000000 0000000000000000 a1 70"),
			&wamp.Call{Request: 1, Procedure: "p"}},
		{"MessagePack ext 0 in HELLO details", MsgPack,
			hx("93 01 a6 7265616c6d31 82 a6 617574686964 d4 00 00 a5 726f6c6573 80"),
			&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{}}}},
		{"CBOR undefined options", CBOR,
			hx("84 18 20 01 a2 65 6d61746368 f7 6c 6765745f72657461696e6564 f7 61 74"),
			&wamp.Subscribe{Request: 1, Options: wamp.Dict{"match": nil, "get_retained": nil}, Topic: "t"}},
		{"CBOR simple value in options", CBOR,
			hx("84 18 30 01 a2 61 61 f0 61 62 d8 20 f8 20 61 70"),
			&wamp.Call{Request: 1, Procedure: "p"}},
	}
	for _, tt := range tests {
		m, err := tt.c.Decode(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(m, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, m, tt.want)
		}
	}
	// The same values in a payload: no WAMP meaning (value.go).
	for _, in := range [][]byte{
		hx("95 10 01 80 a1 74 91 d4 00 00"),
		hx("85 10 01 a0 61 74 81 f0"),
	} {
		c := MsgPack
		if in[0] == 0x85 {
			c = CBOR
		}
		if _, err := c.Decode(in); err == nil || !strings.Contains(err.Error(), "no WAMP meaning") {
			t.Errorf("%s PUBLISH % x: %v, want no WAMP meaning", c.Format(), in, err)
		}
	}
}

// validItems are payload elements, valid or not, for checking valid
// against value.
var validItems = map[Codec][][]byte{
	MsgPack: {
		hx("90"), hx("80"), hx("91 a1 ff"), hx("91 a2 c3a9"), hx("81 c4 01 61 01"), hx("81 c4 01 ff 01"),
		hx("81 01 02"), hx("91 d4 00 00"), hx("91 d6 ff 00000001"), hx("91 d5 ff 0000"),
		hx("91 d7 ff 0000000000000001"), hx("91 c7 0c ff 000000000000000000000001"), hx("91 d8 04 00000000000000000000000000000000"),
		hx("91 cb 7ff8000000000000"), hx("91 cf ffffffffffffffff"), hx("91 d3 8000000000000000"), hx("82 a0 01 a0 02"),
		hx("83 a0 01 a1 61 02 a1 62 03"), hx("91 c4 00"), hx("92 81 a1 61 91 a1 ff 01"), hx("91 d4 05 00"),
		hx("82 a1 61 01 c4 01 61 02"), hx("91 82 a1 61 01 a1 62 02"), hx("91 82 a1 61 01 a1 61 02"),
	},
	CBOR: {
		hx("80"), hx("a0"), hx("81 61 ff"), hx("81 62 c3a9"), hx("a1 41 61 01"), hx("a1 01 02"), hx("a1 f6 01"),
		hx("a1 f7 01"), hx("81 f0"), hx("81 f7"), hx("81 f8 20"), hx("81 f9 7e00"), hx("81 3b 7fffffffffffffff"),
		hx("81 3b 8000000000000000"), hx("81 1b ffffffffffffffff"), hx("81 c2 49 010000000000000000"),
		hx("81 c2 48 ffffffffffffffff"), hx("81 c3 48 7fffffffffffffff"), hx("81 c3 48 8000000000000000"),
		hx("81 c1 61 61"), hx("81 c0 61 61"), hx("81 c0 74 323032302d30392d31335431323a32363a34305a"),
		hx("81 7f 61 61 61 62 ff"), hx("81 7f 61 c3 61 a9 ff"), hx("bf 61 61 01 ff"), hx("bf 01 01 ff"),
		hx("a1 d8 20 61 61 01"), hx("a1 7f 61 61 ff 01"), hx("9f 61 ff ff"), hx("81 d9 d9f7 80"), hx("81 40"),
		hx("bf f6 01 ff"), hx("81 d8 20 a1 f7 01"), hx("a1 61 61 a1 f6 01"),
		hx("a2 61 61 01 61 61 02"), hx("a2 61 61 01 7f 61 61 ff 02"), hx("a2 61 61 01 61 62 02"),
		hx("81 a2 41 61 01 61 61 02"), hx("bf 61 61 01 61 61 02 ff"),
	},
}

// TestValidAgreesWithValue: a payload element passes valid exactly when
// value converts it, so that what the router forwards reaches receivers
// of every serialization (FuzzPayloadValid explores further).
func TestValidAgreesWithValue(t *testing.T) {
	for c, items := range validItems {
		for _, b := range items {
			checkValidAgrees(t, c.(*codec).f, b)
		}
	}
}

// valid is what split checks of a request's payload element.
func valid(f format, b []byte) error {
	switch f.(type) {
	case jsonFormat:
		return jsonValid(b)
	case msgpackFormat:
		return msgpackValid(b)
	}
	return cborValid(b)
}

func checkValidAgrees(t *testing.T, f format, b []byte) {
	t.Helper()
	if f.wellFormed(b) != nil {
		return
	}
	_, verr := f.value(b)
	if err := valid(f, b); (err == nil) != (verr == nil) {
		t.Errorf("%T % x: valid says %v, value says %v", f, b, err, verr)
	}
}

// checkValidConverts: what valid accepts, value converts. (Were valid
// stricter, a payload that would convert is refused: no receiver suffers.)
func checkValidConverts(t *testing.T, f format, b []byte) {
	t.Helper()
	if valid(f, b) != nil {
		return
	}
	if _, err := f.value(b); err != nil {
		t.Errorf("%T % x: valid accepts what value refuses: %v", f, b, err)
	}
}

func FuzzPayloadValidMsgPack(f *testing.F) { fuzzPayloadValid(f, MsgPack) }
func FuzzPayloadValidCBOR(f *testing.F)    { fuzzPayloadValid(f, CBOR) }

func fuzzPayloadValid(f *testing.F, c Codec) {
	for _, b := range validItems[c] {
		f.Add(b)
	}
	for _, pl := range []wamp.List{convertArgs, {convertKwargs}, {math.NaN(), "\x00x"}} {
		b, err := c.(*codec).f.appendList(nil, pl)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Only what split lets through reaches valid: one item, walked.
		var n int
		var err error
		if c == MsgPack {
			n, err = msgpackSkip(b, 0, nil)
		} else {
			n, err = cborSkip(b, 0, nil)
		}
		if err != nil || n != len(b) {
			return
		}
		checkValidConverts(t, c.(*codec).f, b)
	})
}

// TestSharedEncodeError: a fanned-out message one serializer cannot carry
// fails once for it, and its receivers get the same error from the cache.
func TestSharedEncodeError(t *testing.T) {
	m, err := MsgPack.Decode(hx("95 24 01 02 80 91 cb 7ff8000000000000")) // EVENT [NaN]
	if err != nil {
		t.Fatal(err)
	}
	sh := wamp.NewShared(m)
	if _, err := JSON.Encode(nil, sh); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("JSON encoding of NaN: %v", err)
	}
	cached := sh.EncodeError(wamp.FormatJSON)
	if cached == nil {
		t.Fatal("the failure is not kept")
	}
	if _, err := JSON.Encode(nil, sh); err != cached {
		t.Errorf("second encoding: %v, want the kept %v", err, cached)
	}
	if b, err := CBOR.Encode(nil, sh); err != nil || sh.Encoded(wamp.FormatCBOR) == nil {
		t.Errorf("CBOR encoding: % x, %v", b, err)
	}
}

// TestDictKeyNotAString: a dict key must be a string (messages.md), in an
// EVENT's payload (which Decode only checks to be well-formed) as in a
// request's: a CBOR null or undefined key is refused when the payload is
// read, as MessagePack's nil key is, rather than read as "".
func TestDictKeyNotAString(t *testing.T) {
	for _, tc := range []struct {
		c  Codec
		in []byte
	}{
		{CBOR, hx("86 18 24 01 02 a0 80 a1 f6 01")},          // EVENT kwargs {null: 1}
		{CBOR, hx("85 18 24 01 02 a0 81 a2 61 61 01 f7 02")}, // EVENT args [{"a": 1, undefined: 2}]
		{CBOR, hx("85 18 24 01 02 a0 81 bf f6 01 ff")},       // indefinite map
		{CBOR, hx("85 18 24 01 02 a0 81 d8 20 a1 f6 01")},    // in a tag
		{CBOR, hx("85 18 24 01 02 a0 81 a1 01 a1 f6 01")},    // under an integer key
		{MsgPack, hx("96 24 01 02 80 90 81 c0 01")},
	} {
		m, err := tc.c.Decode(tc.in)
		if err != nil {
			t.Fatalf("% x: %v", tc.in, err)
		}
		if args, kwargs, err := DecodePayload(&m.(*wamp.Event).Payload); err == nil {
			t.Errorf("%s % x: DecodePayload = %#v %#v, %v; want a dict key error", tc.c.Format(), tc.in, args, kwargs, err)
		}
		for _, dst := range All {
			if dst == tc.c {
				continue
			}
			if b, err := dst.Encode(nil, m); err == nil {
				t.Errorf("%s % x converts to %s: %q", tc.c.Format(), tc.in, dst.Format(), b)
			}
		}
	}
}
