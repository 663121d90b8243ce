package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/junction-wamp/junction/wamp"
)

// The fuzz tests feed each decoder bytes from the network's point of view.
// Decode must never panic, and a message it accepts must encode in every
// serialization either to bytes that decode again, as the same message
// type, or to an error (a value one serialization cannot carry). Crashers
// found are kept under testdata/fuzz as regression seeds.

func FuzzDecodeJSON(f *testing.F)    { fuzzDecode(f, JSON) }
func FuzzDecodeMsgPack(f *testing.F) { fuzzDecode(f, MsgPack) }
func FuzzDecodeCBOR(f *testing.F)    { fuzzDecode(f, CBOR) }

func fuzzDecode(f *testing.F, c Codec) {
	for _, pl := range payloads {
		for _, m := range sampleMessages(pl.p) {
			b, err := c.Encode(nil, m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, m := range []wamp.Message{
		&wamp.Yield{Request: 1, Payload: wamp.Payload{Args: convertArgs, Kwargs: convertKwargs}},
		&wamp.Publish{Request: 1, Options: wamp.Dict{"a": wamp.List{1.5, []byte{1}, wamp.Dict{"b": nil}}}, Topic: "t",
			Payload: wamp.Payload{Args: wamp.List{"ü", int64(-1), uint64(1 << 63)}}},
	} {
		b, err := c.Encode(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if c == CBOR { // uint8 typed arrays, rewritten as byte strings (cborUntagBytes)
		f.Add(hx("86 10 01 a0 61 74 83 d8 40 43 010203 9f d8 40 41 ff ff d9 03e8 d8 40 41 07 a1 61 6b d8 40 42 0a0b"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		m, err := c.Decode(data)
		if !bytes.Equal(in, data) {
			t.Fatalf("Decode changed its input")
		}
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a %s message with the error %v", m.Type(), err)
			}
			if re, ok := errors.AsType[*RequestError](err); ok {
				if re.Message == nil {
					t.Fatalf("RequestError %v without the request", err)
				}
				if p := payloadOf(re.Message); p != nil && !p.Empty() {
					t.Fatalf("RequestError %v holds the payload that is not valid", err)
				}
			}
			return
		}
		if m == nil {
			t.Fatal("Decode returned neither a message nor an error")
		}
		// A request's payload passed the door: its values convert.
		if p := payloadOf(m); p != nil && isForwardedRequest(m) {
			if _, _, err := DecodePayload(p); err != nil {
				t.Fatalf("%s accepted with a payload that does not convert: %v", m.Type(), err)
			}
		}
		for _, dst := range All {
			b, err := dst.Encode(nil, m)
			if err != nil {
				continue // e.g. NaN for JSON, or a payload value with no WAMP meaning
			}
			m2, err := dst.Decode(b)
			if err != nil {
				t.Fatalf("%s message re-encoded as %s does not decode: %v\n%q", m.Type(), dst.Format(), err, b)
			}
			if m2.Type() != m.Type() {
				t.Fatalf("%s message re-encoded as %s decodes as %s", m.Type(), dst.Format(), m2.Type())
			}
			if dst == c {
				continue
			}
			// Converted and converted back, the message holds the same
			// values (the bytes may differ: integer widths, float32).
			b3, err := c.Encode(nil, m2)
			if err != nil {
				t.Fatalf("%s to %s and back does not encode: %v", c.Format(), dst.Format(), err)
			}
			want, err := decodePlain(c, data)
			if err != nil {
				continue // a payload value with no meaning; forwarded raw
			}
			got, err := decodePlain(c, b3)
			if err != nil {
				t.Fatalf("%s to %s and back does not decode: %v\n%q", c.Format(), dst.Format(), err, b3)
			}
			if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
				t.Fatalf("%s to %s and back changes the message:\n got %s\nwant %s", c.Format(), dst.Format(), g, w)
			}
		}
	})
}

// decodePlain decodes data and its payload; fmt prints dicts sorted by key,
// so two results compare by their %#v.
func decodePlain(c Codec, data []byte) (wamp.Message, error) {
	m, err := c.Decode(data)
	if err != nil {
		return nil, err
	}
	p := payloadOf(m)
	if p == nil || !p.IsRaw() {
		return m, nil
	}
	args, kwargs, err := DecodePayload(p)
	if err != nil {
		return nil, err
	}
	*p = wamp.Payload{Args: args, Kwargs: kwargs}
	return m, nil
}

// isForwardedRequest reports whether m is a request whose payload a router
// forwards, which Decode checks.
func isForwardedRequest(m wamp.Message) bool {
	switch m := m.(type) {
	case *wamp.Publish, *wamp.Call, *wamp.Yield:
		return true
	case *wamp.Error:
		return m.RequestType == wamp.TypeInvocation
	}
	return false
}

// FuzzJSONValue checks the JSON scanner and parser against encoding/json.
func FuzzJSONValue(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `0`, `-0`, `-0.0`, `1e5`, `1E+5`, `1.5e-3`, `18446744073709551615`, `18446744073709551616`,
		`-9223372036854775808`, `-9223372036854775809`, `"\u0000AQI="`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00\ud800x"`,
		`"a\"\\\/\b\f\n\r\t"`, `[1,"x",{"a":[true,false,null]}]`, ` [ 1 , 2 ] `, `{"a":1,"a":2}`, `[01]`, `[1,]`,
		`{"a"}`, `"\x"`, "\"\x01\"", `[1 2]`, `nul`, `[-]`, `1.`, `.5`, `1e`, `"\u12"`, `tru`, `[[[[]]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := skipSpace(data, 0)
		var bad error
		end, scanErr := scanValue(data, start, 0, &bad)
		scanned := scanErr == nil && skipSpace(data, end) == len(data)
		if errors.Is(scanErr, errJSONDeep) {
			return // encoding/json allows deeper nesting
		}
		if scanned != json.Valid(data) {
			t.Fatalf("scanValue accepts %q: %v, json.Valid: %v (%v)", data, scanned, json.Valid(data), scanErr)
		}
		got, err := jsonFormat{}.value(data)
		if !scanned {
			if err == nil {
				t.Fatalf("value(%q) = %#v for input that does not scan", data, got)
			}
			return
		}
		// What scanValue finds wrong inside is what value refuses: a
		// payload that passes at the door converts.
		if (bad == nil) != (err == nil) {
			t.Fatalf("value(%q): error %v, but scanValue found %v", data, err, bad)
		}
		if !utf8.Valid(data) {
			if err == nil {
				t.Fatalf("value(%q) accepts invalid UTF-8", data)
			}
			return // encoding/json replaces invalid UTF-8
		}
		if errors.Is(err, errRepeatedKey) {
			return // encoding/json keeps the last value
		}
		want, wantErr := referenceJSON(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("value(%q): error %v, encoding/json: %v", data, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("value(%q) = %#v, encoding/json gives %#v", data, got, want)
		}
	})
}

// referenceJSON decodes with encoding/json and maps the result onto the
// model as the codec did before it had its own parser.
func referenceJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	var conv func(any) (any, error)
	conv = func(v any) (any, error) {
		switch v := v.(type) {
		case json.Number:
			if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				return i, nil
			}
			if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
				return u, nil
			}
			if !strings.ContainsAny(string(v), ".eE") {
				return nil, errors.New("integer beyond 64 bits")
			}
			return strconv.ParseFloat(string(v), 64)
		case string:
			if len(v) > 0 && v[0] == 0 {
				return base64.StdEncoding.DecodeString(v[1:])
			}
			return v, nil
		case []any:
			for i, e := range v {
				c, err := conv(e)
				if err != nil {
					return nil, err
				}
				v[i] = c
			}
		case map[string]any:
			for k, e := range v {
				c, err := conv(e)
				if err != nil {
					return nil, err
				}
				v[k] = c
			}
		}
		return v, nil
	}
	return conv(v)
}

// FuzzValidBase64 checks the scan of an unescaped binary string against
// what base64.StdEncoding decodes, for strings without a line break (which
// an unescaped JSON string cannot hold and the decoder would skip).
func FuzzValidBase64(f *testing.F) {
	for _, s := range []string{"", "AQI=", "AQ==", "AQID", "A===", "====", "AQ=", "AQ=I", "A", "AB", "ABC",
		"AQ==AQ==", "+/+/", "-_-_", "AQI", "QUJD\x00", "QUJD\xff", "QR=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if bytes.ContainsAny(s, "\r\n") {
			return
		}
		_, err := base64.StdEncoding.DecodeString(string(s))
		if got := validBase64(s); got != (err == nil) {
			t.Fatalf("validBase64(%q) = %v, the decoder says %v", s, got, err)
		}
	})
}
