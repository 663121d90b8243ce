package codec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

type badInput struct {
	name string
	in   []byte
}

// decodeMustFail checks that Decode returns an error, not a panic and not
// a message.
func decodeMustFail(t *testing.T, c Codec, in []byte) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Decode(%.80q) panicked: %v", in, r)
		}
	}()
	m, err := c.Decode(in)
	if err == nil {
		t.Fatalf("Decode(%.80q) = %s message, want an error", in, m.Type())
	}
	if m != nil {
		t.Errorf("Decode(%.80q) returned a message with the error %v", in, err)
	}
}

func repeat(s string, n int) string { return strings.Repeat(s, n) }

func TestDecodeMalformedJSON(t *testing.T) {
	deep := repeat("[", 10000) + repeat("]", 10000)
	deepDict := repeat(`{"a":`, 10000) + "1" + repeat("}", 10000)
	tests := []badInput{
		{"empty", nil},
		{"space", []byte(" \n")},
		{"not an array: dict", []byte(`{}`)},
		{"not an array: number", []byte(`48`)},
		{"not an array: string", []byte(`"CALL"`)},
		{"empty array", []byte(`[]`)},
		{"empty array with space", []byte(` [ ] `)},
		{"unknown type", []byte(`[7,1]`)},
		{"unknown type 0", []byte(`[0]`)},
		{"type beyond a byte", []byte(`[304,1,{},"p"]`)},
		{"type 2^64", []byte(`[18446744073709551616,1,{},"p"]`)},
		{"negative type", []byte(`[-48,1,{},"p"]`)},
		{"float type", []byte(`[48.0,1,{},"p"]`)},
		{"string type", []byte(`["48",1,{},"p"]`)},
		{"too few elements", []byte(`[48,1,{}]`)},
		{"too many elements for CALL", []byte(`[48,1,{},"p",[],{},1]`)},
		{"more elements than any message", []byte(`[8,48,1,{},"e",[],{},1]`)},
		{"HELLO without details", []byte(`[1,"realm1"]`)},
		{"PUBLISHED extra", []byte(`[17,1,2,3]`)},
		{"string ID", []byte(`[48,"1",{},"p"]`)},
		{"negative ID", []byte(`[48,-1,{},"p"]`)},
		{"float ID", []byte(`[48,1.5,{},"p"]`)},
		{"exponent ID", []byte(`[48,1e3,{},"p"]`)},
		{"leading zero ID", []byte(`[48,01,{},"p"]`)},
		{"null ID", []byte(`[48,null,{},"p"]`)},
		{"ID 2^53+1", []byte(`[48,9007199254740993,{},"p"]`)},
		{"ID 2^64", []byte(`[48,18446744073709551616,{},"p"]`)},
		{"ID far too long", []byte(`[48,` + repeat("9", 400) + `,{},"p"]`)},
		{"list for options", []byte(`[48,1,[],"p"]`)},
		{"string for options", []byte(`[48,1,"",  "p"]`)},
		{"null for options", []byte(`[48,1,null,"p"]`)},
		{"number for URI", []byte(`[48,1,{},5]`)},
		{"dict for URI", []byte(`[48,1,{},{}]`)},
		{"dict for args", []byte(`[48,1,{},"p",{}]`)},
		{"string for args", []byte(`[48,1,{},"p","a"]`)},
		{"list for kwargs", []byte(`[48,1,{},"p",[],[]]`)},
		{"null for kwargs", []byte(`[48,1,{},"p",[],null]`)},
		{"ERROR type beyond a byte", []byte(`[8,256,1,{},"e"]`)},
		{"non-string dict key", []byte(`[48,1,{1:2},"p"]`)},
		{"bare word", []byte(`[48,1,{},"p",[tru]]`)},
		{"bad literal", []byte(`[48,1,{"a":nul},"p"]`)},
		{"bad number", []byte(`[48,1,{},"p",[-]]`)},
		{"bad fraction", []byte(`[48,1,{},"p",[1.]]`)},
		{"bad exponent", []byte(`[48,1,{},"p",[1e]]`)},
		{"leading zero in args", []byte(`[48,1,{},"p",[01]]`)},
		{"plus sign", []byte(`[48,1,{},"p",[+1]]`)},
		{"hex number", []byte(`[48,1,{},"p",[0x10]]`)},
		{"NaN", []byte(`[48,1,{},"p",[NaN]]`)},
		{"number out of range in options", []byte(`[48,1,{"a":1e400},"p"]`)},
		{"trailing comma in list", []byte(`[48,1,{},"p",[1,]]`)},
		{"trailing comma in dict", []byte(`[48,1,{"a":1,},"p"]`)},
		{"missing colon", []byte(`[48,1,{"a" 1},"p"]`)},
		{"missing comma", []byte(`[48 1,{},"p"]`)},
		{"missing value", []byte(`[48,1,{},"p",[1,,2]]`)},
		{"trailing comma in message", []byte(`[48,1,{},"p",]`)},
		{"single quotes", []byte(`[48,1,{},'p']`)},
		{"bad escape", []byte(`[48,1,{},"p\x"]`)},
		{"short unicode escape", []byte(`[48,1,{},"p\u12"]`)},
		{"bad unicode escape", []byte(`[48,1,{},"p\u12g4"]`)},
		{"bad escape in args", []byte(`[48,1,{},"p",["\q"]]`)},
		{"raw newline in URI", []byte("[48,1,{},\"p\nq\"]")},
		{"raw control in args", []byte("[48,1,{},\"p\",[\"\x01\"]]")},
		{"invalid UTF-8 in URI", []byte("[48,1,{},\"p\xff\"]")},
		{"truncated UTF-8 in URI", []byte("[48,1,{},\"p\xe2\x82\"]")},
		{"invalid UTF-8 in escaped URI", []byte("[48,1,{},\"p\\n\xc0\xaf\"]")},
		{"invalid UTF-8 in options", []byte("[48,1,{\"a\":\"\xff\"},\"p\"]")},
		{"bad base64 in options", []byte(`[48,1,{"a":"\u0000!!"},"p"]`)},
		{"trailing garbage", []byte(`[48,1,{},"p"]x`)},
		{"trailing array", []byte(`[48,1,{},"p"][]`)},
		{"trailing garbage after empty array", []byte(`[]]`)},
		{"two messages", []byte(`[6,{},"a"] [6,{},"a"]`)},
		{"truncated in element", []byte(`[48,1,{"a":`)},
		{"truncated string", []byte(`[48,1,{},"p`)},
		{"truncated escape", []byte(`[48,1,{},"p\`)},
		{"truncated after element", []byte(`[48,1,{},"p"`)},
		{"truncated after comma", []byte(`[48,1,{},"p",`)},
		{"unclosed args", []byte(`[48,1,{},"p",[1,2`)},
		{"mismatched brackets", []byte(`[48,1,{},"p",[1}]`)},
		{"deep args", []byte(`[48,1,{},"p",` + deep + `]`)},
		{"deep kwargs", []byte(`[48,1,{},"p",[],` + deepDict + `]`)},
		{"deep options", []byte(`[48,1,` + deepDict + `,"p"]`)},
		{"deep in ID position", []byte(`[48,` + deep + `,{},"p"]`)},
		{"deep unclosed", []byte(`[48,1,{},"p",` + repeat("[", 10000))},
		{"deep as message", []byte(deep)},
		{"args 129 deep", []byte(`[48,1,{},"p",` + repeat("[", 129) + repeat("]", 129) + `]`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { decodeMustFail(t, JSON, tt.in) })
	}
}

func TestDecodeMalformedMsgPack(t *testing.T) {
	call := func(rest ...any) []byte { // a CALL's elements after the type code
		return cat(append([]any{hx("94 30")}, rest...)...)
	}
	callArgs := func(args ...any) []byte { // [48, 1, {}, "p", args...]
		return cat(append([]any{hx("95 30 01 80 a1 70")}, args...)...)
	}
	tests := []badInput{
		{"empty", nil},
		{"not an array: map", hx("80")},
		{"not an array: int", hx("30")},
		{"not an array: str", hx("a4 43 41 4c 4c")},
		{"nil", hx("c0")},
		{"never-used byte", hx("c1")},
		{"empty array", hx("90")},
		{"empty array16", hx("dc 0000")},
		{"unknown type", hx("92 07 01")},
		{"unknown type 0", hx("91 00")},
		{"type beyond a byte", hx("94 cd 0130 01 80 a1 70")},
		{"negative type", hx("94 d0 d0 01 80 a1 70")},
		{"float type", hx("94 cb 4048000000000000 01 80 a1 70")},
		{"string type", hx("94 a2 34 38 01 80 a1 70")},
		{"too few elements", hx("93 30 01 80")},
		{"too many elements for CALL", hx("97 30 01 80 a1 70 90 80 01")},
		{"more elements than any message", hx("98 08 30 01 80 a1 65 90 80 01")},
		{"array16 of 8", hx("dc 0008 08 30 01 80 a1 65 90 80 01")},
		{"string ID", call(hx("a1 31 80 a1 70"))},
		{"negative ID", call(hx("ff 80 a1 70"))},
		{"float ID", call(hx("cb 3ff0000000000000 80 a1 70"))},
		{"nil ID", call(hx("c0 80 a1 70"))},
		{"bin ID", call(hx("c4 01 01 80 a1 70"))},
		{"ID 2^53+1", call(hx("cf 0020000000000001 80 a1 70"))},
		{"ID 2^64-1", call(hx("cf ffffffffffffffff 80 a1 70"))},
		{"ID 2^53+1 as int64", call(hx("d3 0020000000000001 80 a1 70"))},
		{"list for options", call(hx("01 90 a1 70"))},
		{"nil for options", call(hx("01 c0 a1 70"))},
		{"int for URI", call(hx("01 80 05"))},
		{"bin for URI", call(hx("01 80 c4 01 70"))},
		{"map for URI", call(hx("01 80 80"))},
		{"map for args", callArgs(hx("80"))},
		{"str for args", callArgs(hx("a1 61"))},
		{"list for kwargs", cat(hx("96 30 01 80 a1 70 90 90"))},
		{"non-string dict key", call(hx("01 81 01 02 a1 70"))},
		{"invalid UTF-8 in URI", call(hx("01 80 a2 70 ff"))},
		{"overlong UTF-8 in URI", call(hx("01 80 a3 70 c0 af"))},
		{"invalid UTF-8 in options", call(hx("01 81 a1 61 a1 ff a1 70"))},
		{"invalid UTF-8 in option key", call(hx("01 81 a1 ff 01 a1 70"))},
		{"trailing garbage", cat(call(hx("01 80 a1 70")), hx("00"))},
		{"trailing message", cat(call(hx("01 80 a1 70")), call(hx("01 80 a1 70")))},
		{"truncated header", hx("dc 00")},
		{"truncated str", call(hx("01 80 a5 70"))},
		{"truncated uint64", call(hx("cf 0000"))},
		{"truncated args", callArgs(hx("92 01"))},
		{"deep args", callArgs([]byte(repeat("\x91", 10000)), hx("c0"))},
		{"deep kwargs", cat(hx("96 30 01 80 a1 70 90"), repeat("\x81\xa1a", 10000), hx("c0"))},
		{"deep options", call(hx("01"), repeat("\x81\xa1a", 10000), hx("c0 a1 70"))},
		{"deep array16", callArgs([]byte(repeat("\xdc\x00\x01", 10000)), hx("c0"))},
		{"deep unclosed", callArgs([]byte(repeat("\x91", 10000)))},
		{"args 129 deep", callArgs([]byte(repeat("\x91", 129)), hx("90"))},
		{"message array32 of 4G", hx("dd ffffffff 30 01")},
		{"args array32 of 4G", callArgs(hx("dd ffffffff 01"))},
		{"args map32 of 4G", cat(hx("96 30 01 80 a1 70 90 df ffffffff 01"))},
		{"options map32 of 4G", call(hx("01 df ffffffff a1 70"))},
		{"URI str32 of 4G", call(hx("01 80 db ffffffff 70"))},
		{"args bin32 of 4G", callArgs(hx("91 c6 ffffffff 00"))},
		{"args ext32 of 4G", callArgs(hx("91 c9 ffffffff 05 00"))},
		{"nested array32 of 4G", callArgs(hx("91 91 91 dd ffffffff"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { decodeMustFail(t, MsgPack, tt.in) })
	}
}

func TestDecodeMalformedCBOR(t *testing.T) {
	call := func(rest ...any) []byte { // a CALL's elements after the type code
		return cat(append([]any{hx("84 18 30")}, rest...)...)
	}
	callArgs := func(args ...any) []byte { // [48, 1, {}, "p", args...]
		return cat(append([]any{hx("85 18 30 01 a0 61 70")}, args...)...)
	}
	tests := []badInput{
		{"empty", nil},
		{"not an array: map", hx("a0")},
		{"not an array: int", hx("01")},
		{"not an array: text", hx("64 43 41 4c 4c")},
		{"not an array: tagged array", hx("d8 20 82 18 30 01")},
		{"indefinite message array", cat(hx("9f 18 30 01 a0 61 70 ff"))},
		{"empty array", hx("80")},
		{"unknown type", hx("82 07 01")},
		{"unknown type 0", hx("81 00")},
		{"type beyond a byte", hx("84 19 0130 01 a0 61 70")},
		{"negative type", hx("84 38 2f 01 a0 61 70")},
		{"float type", hx("84 fb 4048000000000000 01 a0 61 70")},
		{"text type", hx("84 62 34 38 01 a0 61 70")},
		{"tagged type", hx("84 c1 18 30 01 a0 61 70")},
		{"too few elements", hx("83 18 30 01 a0")},
		{"too many elements for CALL", hx("87 18 30 01 a0 61 70 80 a0 01")},
		{"more elements than any message", hx("88 08 18 30 01 a0 61 65 80 a0 01")},
		{"text ID", call(hx("61 31 a0 61 70"))},
		{"negative ID", call(hx("20 a0 61 70"))},
		{"float ID", call(hx("f9 3c00 a0 61 70"))},
		{"null ID", call(hx("f6 a0 61 70"))},
		{"indefinite ID", call(hx("1f a0 61 70"))},
		{"ID 2^53+1", call(hx("1b 0020000000000001 a0 61 70"))},
		{"ID 2^64-1", call(hx("1b ffffffffffffffff a0 61 70"))},
		{"array for options", call(hx("01 80 61 70"))},
		{"null for options", call(hx("01 f6 61 70"))},
		{"int for URI", call(hx("01 a0 05"))},
		{"bytes for URI", call(hx("01 a0 41 70"))},
		{"map for URI", call(hx("01 a0 a0"))},
		{"map for args", callArgs(hx("a0"))},
		{"text for args", callArgs(hx("61 61"))},
		{"tagged args", callArgs(hx("d8 20 80"))},
		{"array for kwargs", cat(hx("86 18 30 01 a0 61 70 80 80"))},
		{"non-string dict key", call(hx("01 a1 01 02 61 70"))},
		{"bignum beyond 64 bits in options", call(hx("01 a1 61 61 c2 49 010000000000000000 61 70"))},
		{"negative beyond 64 bits in options", call(hx("01 a1 61 61 3b ffffffffffffffff 61 70"))},
		{"invalid UTF-8 in URI", call(hx("01 a0 62 70 ff"))},
		{"invalid UTF-8 in indefinite URI", call(hx("01 a0 7f 62 70 ff ff"))},
		{"invalid UTF-8 in options", call(hx("01 a1 61 61 61 ff 61 70"))},
		{"invalid UTF-8 in option key", call(hx("01 a1 61 ff 01 61 70"))},
		{"bytes chunk in indefinite text", call(hx("01 a0 7f 41 70 ff"))},
		{"indefinite chunk in indefinite text", call(hx("01 a0 7f 7f ff ff"))},
		{"odd indefinite map", call(hx("01 bf 61 61 ff 61 70"))},
		{"reserved head", call(hx("1c a0 61 70"))},
		{"stray break", callArgs(hx("81 ff"))},
		{"indefinite int", callArgs(hx("81 3f"))},
		{"two-byte simple value below 32", callArgs(hx("81 f8 10"))},
		{"trailing garbage", cat(call(hx("01 a0 61 70")), hx("00"))},
		{"trailing message", cat(call(hx("01 a0 61 70")), call(hx("01 a0 61 70")))},
		{"truncated head", hx("98")},
		{"truncated uint64 ID", call(hx("1b 0000"))},
		{"truncated text", call(hx("01 a0 65 70"))},
		{"truncated args", callArgs(hx("82 01"))},
		{"unterminated indefinite args", callArgs(hx("9f 01 02"))},
		{"deep args", callArgs([]byte(repeat("\x81", 10000)), hx("f6"))},
		{"deep indefinite args", callArgs([]byte(repeat("\x9f", 10000)), []byte(repeat("\xff", 10000)))},
		{"deep kwargs", cat(hx("86 18 30 01 a0 61 70 80"), repeat("\xa1\x61a", 10000), hx("f6"))},
		{"deep options", call(hx("01"), repeat("\xa1\x61a", 10000), hx("f6 61 70"))},
		{"deep tags", callArgs(hx("81"), repeat("\xc1", 10000), hx("00"))},
		{"deep unclosed", callArgs([]byte(repeat("\x81", 10000)))},
		{"args 129 deep", callArgs([]byte(repeat("\x81", 129)), hx("80"))},
		{"message array of 4G", hx("9a ffffffff 18 30 01")},
		{"message array of 2^64-1", hx("9b ffffffffffffffff 18 30 01")},
		{"args array of 4G", callArgs(hx("9a ffffffff 01"))},
		{"args array of 2^64-1", callArgs(hx("9b ffffffffffffffff 01"))},
		{"kwargs map of 4G", cat(hx("86 18 30 01 a0 61 70 80 ba ffffffff 01"))},
		{"kwargs map of 2^63", cat(hx("86 18 30 01 a0 61 70 80 bb 8000000000000000"))},
		{"options map of 2^63", call(hx("01 bb 8000000000000000 61 70"))},
		{"URI text of 4G", call(hx("01 a0 7a ffffffff 70"))},
		{"URI text of 2^64-1", call(hx("01 a0 7b ffffffffffffffff 70"))},
		{"args bytes of 4G", callArgs(hx("81 5a ffffffff 00"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { decodeMustFail(t, CBOR, tt.in) })
	}
}

// TestDecodeTruncated cuts every sample message short at every length, and
// appends a byte to each: all must fail.
func TestDecodeTruncated(t *testing.T) {
	for _, c := range All {
		for _, pl := range payloads {
			for _, m := range sampleMessages(pl.p) {
				b, err := c.Encode(nil, m)
				if err != nil {
					t.Fatal(err)
				}
				t.Run(fmt.Sprintf("%s/%s/%s", c.Format(), pl.name, m.Type()), func(t *testing.T) {
					for n := range len(b) {
						decodeMustFail(t, c, bytes.Clone(b[:n]))
					}
					decodeMustFail(t, c, cat(b, hx("01")))
				})
			}
		}
	}
}

// TestDepthLimit checks that the codecs agree on how deep a payload may
// nest: 128 lists inside one another pass, 129 do not, in every codec and
// in every direction.
func TestDepthLimit(t *testing.T) {
	nested := func(n int) any {
		var v any = wamp.List{}
		for range n - 1 {
			v = wamp.List{v}
		}
		return v
	}
	for _, n := range []int{127, 128} {
		args := nested(n).(wamp.List)
		m := &wamp.Result{Request: 1, Payload: wamp.Payload{Args: args}}
		for _, src := range All {
			b, err := src.Encode(nil, m)
			if err != nil {
				t.Fatalf("%d deep: %s Encode: %v", n, src.Format(), err)
			}
			raw, err := src.Decode(b)
			if err != nil {
				t.Fatalf("%d deep: %s Decode: %v", n, src.Format(), err)
			}
			for _, dst := range All {
				b2, err := dst.Encode(nil, raw)
				if err != nil {
					t.Fatalf("%d deep: %s to %s: %v", n, src.Format(), dst.Format(), err)
				}
				if _, err := dst.Decode(b2); err != nil {
					t.Fatalf("%d deep: %s to %s, Decode: %v", n, src.Format(), dst.Format(), err)
				}
			}
		}
	}
	for _, c := range All {
		m := &wamp.Result{Request: 1, Payload: wamp.Payload{Args: nested(129).(wamp.List)}}
		if b, err := c.Encode(nil, m); err == nil {
			t.Errorf("%s: Encode of 129 nested lists succeeded: %x", c.Format(), b)
		}
		m2 := &wamp.Result{Request: 1, Payload: wamp.Payload{Kwargs: wamp.Dict{"a": nested(128)}}}
		if b, err := c.Encode(nil, m2); err == nil {
			t.Errorf("%s: Encode of 129 nested containers in kwargs succeeded: %x", c.Format(), b)
		}
	}
}
