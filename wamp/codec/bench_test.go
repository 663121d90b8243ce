package codec

import (
	"fmt"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

// The benchmarks measure the router's hot path: decoding CALL, YIELD and
// PUBLISH with their payload kept raw, and encoding INVOCATION, RESULT and
// EVENT with a raw payload of the same serialization (a copy). Encoders
// append to a reused buffer, as a transport does.

func benchCall() *wamp.Call {
	return &wamp.Call{Request: 42, Options: wamp.Dict{}, Procedure: "com.example.add",
		Payload: wamp.Payload{Args: wamp.List{int64(1), "hello", true}, Kwargs: wamp.Dict{"k": "v"}}}
}

// benchEvent has a 64-byte payload: one 60-character string in a list
// (args only, as most events are).
func benchEvent() *wamp.Event {
	return &wamp.Event{Subscription: 1234567, Publication: 7654321987654, Details: wamp.Dict{},
		Payload: wamp.Payload{Args: wamp.List{strings.Repeat("x", 60)}}}
}

// benchKiB has a payload of about 1 KiB of mixed values, binary included.
func benchKiB() *wamp.Event {
	args := wamp.List{}
	for i := range 16 {
		args = append(args, wamp.Dict{"id": int64(i * 1000), "name": "sensor-" + strings.Repeat("a", 8),
			"value": float64(i) + 0.25, "ok": i%2 == 0, "raw": []byte{1, 2, 3, 4, 5, 6, 7, 8}})
	}
	return &wamp.Event{Subscription: 1, Publication: 2, Details: wamp.Dict{},
		Payload: wamp.Payload{Args: args, Kwargs: wamp.Dict{"count": int64(16), "tags": wamp.List{"a", "b", "c"}}}}
}

// benchCallOptions is a CALL with a few options, which Decode reads into a
// dict (most requests have none).
func benchCallOptions() *wamp.Call {
	c := benchCall()
	c.Options = wamp.Dict{"receive_progress": true, "timeout": int64(1000), "disclose_me": true}
	return c
}

// benchDict64 is an EVENT whose ArgumentsKw is one dict of 64 keys.
func benchDict64() *wamp.Event {
	kw := wamp.Dict{}
	for i := range 64 {
		kw[fmt.Sprintf("key-%02d", i)] = int64(i)
	}
	return &wamp.Event{Subscription: 1, Publication: 2, Details: wamp.Dict{},
		Payload: wamp.Payload{Args: wamp.List{}, Kwargs: kw}}
}

// benchPublish is the PUBLISH that gives ev.
func benchPublish(ev *wamp.Event) *wamp.Publish {
	return &wamp.Publish{Request: 42, Options: wamp.Dict{}, Topic: "com.example.topic", Payload: ev.Payload}
}

func mustEncode(b *testing.B, c Codec, m wamp.Message) []byte {
	out, err := c.Encode(nil, m)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func mustDecode(b *testing.B, c Codec, data []byte) wamp.Message {
	m, err := c.Decode(data)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkDecode(b *testing.B) {
	msgs := []struct {
		name string
		m    wamp.Message
	}{
		{"CALL", benchCall()},
		{"EVENT64", benchEvent()},
		{"PUBLISH64", benchPublish(benchEvent())},
		{"PUBLISH1K", benchPublish(benchKiB())},
		{"CALLoptions", benchCallOptions()},
		{"PUBLISHdict64", benchPublish(benchDict64())},
	}
	for _, c := range All {
		for _, tc := range msgs {
			data := mustEncode(b, c, tc.m)
			b.Run(c.Format().String()+"/"+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := c.Decode(data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEncode encodes messages whose payload is raw in the same
// serialization (what a router forwards), plus a payload built in Go.
func BenchmarkEncode(b *testing.B) {
	for _, c := range All {
		call := mustDecode(b, c, mustEncode(b, c, benchCall())).(*wamp.Call)
		event := mustDecode(b, c, mustEncode(b, c, benchEvent())).(*wamp.Event)
		msgs := []struct {
			name string
			m    wamp.Message
		}{
			{"CALL", benchCall()},
			{"EVENT64", benchEvent()},
			{"INVOCATION/raw", &wamp.Invocation{Request: 9, Registration: 77, Details: wamp.Dict{}, Payload: call.Payload}},
			{"RESULT/raw", &wamp.Result{Request: 9, Details: wamp.Dict{}, Payload: call.Payload}},
			{"EVENT64/raw", event},
			{"EVENT64/shared", wamp.NewShared(event)},
		}
		for _, tc := range msgs {
			b.Run(c.Format().String()+"/"+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				buf := mustEncode(b, c, tc.m)
				b.SetBytes(int64(len(buf)))
				for b.Loop() {
					var err error
					if buf, err = c.Encode(buf[:0], tc.m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkConvert re-encodes a raw ~1 KiB payload for another
// serialization.
func BenchmarkConvert(b *testing.B) {
	pairs := []struct{ from, to Codec }{{JSON, MsgPack}, {MsgPack, CBOR}, {CBOR, JSON}}
	for _, p := range pairs {
		m := mustDecode(b, p.from, mustEncode(b, p.from, benchKiB()))
		b.Run(p.from.Format().String()+"-"+p.to.Format().String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(m.(*wamp.Event).Size()))
			buf := mustEncode(b, p.to, m)
			for b.Loop() {
				var err error
				if buf, err = p.to.Encode(buf[:0], m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
