package codec

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/junction-wamp/junction/wamp"
)

// The helpers below write dicts as they arrive on the wire, keys in the
// order given, repeated or not: what no encoder of a Go map writes.

// rawDict encodes a dict of keys and the encoded values vals. A JSON key
// is written between quotes as it is, so that it may hold escapes.
func rawDict(c Codec, keys []string, vals [][]byte) []byte {
	var b []byte
	switch c {
	case JSON:
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, k...)
			b = append(b, `":`...)
			b = append(b, vals[i]...)
		}
		return append(b, '}')
	case MsgPack:
		b = msgp.AppendMapHeader(b, uint32(len(keys)))
		for i, k := range keys {
			b = msgp.AppendString(b, k)
			b = append(b, vals[i]...)
		}
		return b
	}
	b = cborAppendHead(b, 5, uint64(len(keys)))
	for i, k := range keys {
		b = appendCBORString(b, k)
		b = append(b, vals[i]...)
	}
	return b
}

// dictOf encodes a dict of keys whose values are 0, 1, 2...
func dictOf(c Codec, keys ...string) []byte {
	vals := make([][]byte, len(keys))
	for i := range keys {
		vals[i] = c.(*codec).f.appendUint(nil, uint64(i))
	}
	return rawDict(c, keys, vals)
}

// rawList encodes a list of encoded items.
func rawList(c Codec, items ...[]byte) []byte {
	f := c.(*codec).f
	b := f.arrayStart(nil, len(items))
	for i, it := range items {
		if i > 0 {
			b = f.sep(b)
		}
		b = append(b, it...)
	}
	return f.arrayEnd(b)
}

// rawCall encodes CALL [48, 7, options, "p", rest...].
func rawCall(c Codec, options []byte, rest ...[]byte) []byte {
	f := c.(*codec).f
	return rawList(c, append([][]byte{f.appendUint(nil, 48), f.appendUint(nil, 7), options,
		f.appendString(nil, "p")}, rest...)...)
}

// rawEvent encodes EVENT [36, 1, 2, {}, args, kwargs...].
func rawEvent(c Codec, args []byte, kwargs ...[]byte) []byte {
	f := c.(*codec).f
	return rawList(c, append([][]byte{f.appendUint(nil, 36), f.appendUint(nil, 1), f.appendUint(nil, 2),
		dictOf(c), args}, kwargs...)...)
}

// keys returns n distinct keys.
func keys(n int) []string {
	k := make([]string, n)
	for i := range k {
		k[i] = fmt.Sprintf("key-%03d", i)
	}
	return k
}

// dupKeyCases are dicts that repeat a key (bad) or do not (good), in
// every serializer, at the places of a payload a dict can be.
func dupKeyCases(c Codec) (bad, good map[string][]byte) {
	empty := rawList(c)
	nested := rawDict(c, []string{"x"}, [][]byte{dictOf(c, "a", "b", "a")})
	bad = map[string][]byte{
		"kwargs":            dictOf(c, "a", "b", "a"),
		"kwargs, next keys": dictOf(c, "a", "a"),
		"kwargs, empty key": dictOf(c, "", "bb", ""),
		"dict in kwargs":    nested,
		"dict in args":      rawList(c, dictOf(c, "a", "a")),
		"dict in a list":    rawList(c, empty, rawList(c, dictOf(c, "a", "c", "b", "c"))),
		"dict in dict in args": rawList(c,
			rawDict(c, []string{"a", "b"}, [][]byte{dictOf(c, "k"), rawList(c, nested)})),
		"large, last repeats first":       dictOf(c, append(keys(40), "key-000")...),
		"large, last repeats middle":      dictOf(c, append(keys(100), "key-050")...),
		"large, repeat in the small part": dictOf(c, append([]string{"key-003"}, keys(40)...)...),
		"large nested":                    rawList(c, dictOf(c, append(keys(17), "key-016")...)),
	}
	good = map[string][]byte{
		"kwargs":                    dictOf(c, "a", "b", "ab", "ba", ""),
		"same key in sibling dicts": rawList(c, dictOf(c, "a"), dictOf(c, "a")),
		"same key nested":           rawDict(c, []string{"a"}, [][]byte{dictOf(c, "a")}),
		"large":                     dictOf(c, keys(100)...),
		"16 keys":                   dictOf(c, keys(16)...),
		"17 keys":                   dictOf(c, keys(17)...),
	}
	return bad, good
}

// TestDuplicateDictKeyRefused: a dict's keys MUST be unique (messages.md).
// A request whose payload repeats one is refused as any invalid payload
// is: converted for another serializer, the last value would win, and a
// receiver of the same one would get whatever its library keeps. The
// same dicts in an EVENT fail when the payload is read (a client drops the
// event).
func TestDuplicateDictKeyRefused(t *testing.T) {
	for _, c := range All {
		bad, good := dupKeyCases(c)
		for name, d := range bad {
			for _, in := range placed(c, d) {
				m, err := c.Decode(in)
				re, ok := errors.AsType[*RequestError](err)
				if !ok || !strings.Contains(err.Error(), "twice") {
					t.Errorf("%s %s: Decode = %T, %v; want a RequestError for a repeated key", c.Format(), name, m, err)
					continue
				}
				if call, ok := re.Message.(*wamp.Call); !ok || call.Request != 7 || call.Procedure != "p" {
					t.Errorf("%s %s: readable part %#v", c.Format(), name, re.Message)
				}
			}
			m, err := c.Decode(rawEvent(c, rawList(c, d)))
			if err != nil {
				t.Fatalf("%s %s: EVENT: %v", c.Format(), name, err)
			}
			if _, _, err := DecodePayload(payloadOf(m)); err == nil || !strings.Contains(err.Error(), "twice") {
				t.Errorf("%s %s: DecodePayload of the EVENT: %v, want a repeated key error", c.Format(), name, err)
			}
		}
		for name, d := range good {
			for _, in := range placed(c, d) {
				m, err := c.Decode(in)
				if err != nil {
					t.Errorf("%s %s: %v", c.Format(), name, err)
					continue
				}
				if _, _, err := DecodePayload(payloadOf(m)); err != nil {
					t.Errorf("%s %s: DecodePayload: %v", c.Format(), name, err)
				}
			}
		}
	}
}

// placed returns CALLs with the encoded value d in Arguments and, if it
// is a dict, as ArgumentsKw.
func placed(c Codec, d []byte) [][]byte {
	calls := [][]byte{rawCall(c, dictOf(c), rawList(c, d))}
	if c.(*codec).f.kind(d) == kindDict {
		calls = append(calls, rawCall(c, dictOf(c), rawList(c), d))
	}
	return calls
}

// TestDuplicateOptionRefused: Options or Details that repeat a key are
// not valid either: the router would read one value of the option, and a
// receiver of a forwarded detail another.
func TestDuplicateOptionRefused(t *testing.T) {
	for _, c := range All {
		for _, opts := range [][]byte{
			dictOf(c, "timeout", "timeout"),
			rawDict(c, []string{"a"}, [][]byte{dictOf(c, "b", "b")}),
			dictOf(c, append(keys(30), "key-000")...),
		} {
			m, err := c.Decode(rawCall(c, opts))
			if re, ok := errors.AsType[*RequestError](err); !ok || !strings.Contains(err.Error(), "twice") {
				t.Errorf("%s options % x: Decode = %T, %v; want a RequestError for a repeated key", c.Format(), opts, m, err)
			} else if call := re.Message.(*wamp.Call); call.Options != nil {
				t.Errorf("%s: options read as %v", c.Format(), call.Options)
			}
		}
	}
}

// TestDuplicateKeyAfterDecoding: keys are the same when they decode to
// the same string, whatever their encoding: a JSON key with escapes, a
// MessagePack bin key beside a str, a CBOR text string in chunks.
func TestDuplicateKeyAfterDecoding(t *testing.T) {
	bad := []struct {
		c  Codec
		kw []byte
	}{
		{JSON, []byte(`{"a":1,"\u0061":2}`)},
		{JSON, []byte(`{"\u0061":1,"a":2}`)},
		{JSON, []byte(`{"\u0061":1,"\u0061":2}`)},
		{JSON, []byte(`{"\u0061b":1,"a\u0062":2}`)},
		{JSON, []byte(`{"a/b":1,"a\/b":2}`)},
		{JSON, []byte(`{"é":1,"\u00e9":2}`)},
		{JSON, []byte(`{"😀":1,"\ud83d\ude00":2}`)},
		{JSON, []byte(`{ "a" : 1 , "a" : 2 }`)},
		{JSON, []byte(`{"k00":0,"k01":0,"k02":0,"k03":0,"k04":0,"k05":0,"k06":0,"k07":0,"k08":0,"k09":0,` +
			`"k10":0,"k11":0,"k12":0,"k13":0,"k14":0,"k15":0,"k16":0,"k17":0,"k\u0030\u0030":0}`)},
		{MsgPack, hx("82 a1 61 01 c4 01 61 02")},       // str "a", bin "a"
		{MsgPack, hx("82 c4 01 61 01 d9 01 61 02")},    // bin "a", str 8 "a"
		{MsgPack, hx("82 a1 61 01 da 0001 61 02")},     // str "a", str 16 "a"
		{CBOR, hx("a2 61 61 01 7f 61 61 ff 02")},       // "a", then "a" in chunks
		{CBOR, hx("a2 7f 60 61 61 ff 01 78 01 61 02")}, // chunks, then a text 8
		{CBOR, hx("bf 61 61 01 61 61 02 ff")},          // indefinite map
		{CBOR, hx("a2 d8 20 61 61 01 61 61 02")},       // tagged key
	}
	for _, tc := range bad {
		m, err := tc.c.Decode(rawCall(tc.c, dictOf(tc.c), rawList(tc.c), tc.kw))
		if _, ok := errors.AsType[*RequestError](err); !ok || !strings.Contains(err.Error(), "twice") {
			t.Errorf("%s %q: Decode = %T, %v; want a RequestError for a repeated key", tc.c.Format(), tc.kw, m, err)
		}
		m, err = tc.c.Decode(rawEvent(tc.c, rawList(tc.c), tc.kw))
		if err != nil {
			t.Fatalf("%s %q: EVENT: %v", tc.c.Format(), tc.kw, err)
		}
		if _, _, err := DecodePayload(payloadOf(m)); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("%s %q: DecodePayload of the EVENT: %v, want a repeated key error", tc.c.Format(), tc.kw, err)
		}
	}
	good := []struct {
		c  Codec
		kw []byte
	}{
		{JSON, []byte(`{"a":1,"\u0062":2,"\\u0061":3,"\"":4,"\\":5}`)},
		{JSON, []byte(`{"a":1,"A":2,"\u0041a":3}`)},
		{MsgPack, hx("82 a1 61 01 c4 01 62 02")},
		{CBOR, hx("a2 61 61 01 7f 61 62 ff 02")},
	}
	for _, tc := range good {
		m, err := tc.c.Decode(rawCall(tc.c, dictOf(tc.c), rawList(tc.c), tc.kw))
		if err != nil {
			t.Errorf("%s %q: %v", tc.c.Format(), tc.kw, err)
			continue
		}
		if _, _, err := DecodePayload(payloadOf(m)); err != nil {
			t.Errorf("%s %q: DecodePayload: %v", tc.c.Format(), tc.kw, err)
		}
	}
}
