package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// compressedFrame builds a masked client frame with RSV1 set when rsv1.
func compressedFrame(op ws.OpCode, fin, rsv1 bool, payload []byte) []byte {
	h := ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: [4]byte{5, 6, 7, 8}, Length: int64(len(payload))}
	if rsv1 {
		h.Rsv = ws.Rsv(true, false, false)
	}
	p := append([]byte(nil), payload...)
	ws.Cipher(p, h.Mask, 0)
	return append(AppendHeader(nil, h), p...)
}

// deflated compresses p as a client would (gobwas/ws's own helper).
func deflated(t testing.TB, p []byte) []byte {
	t.Helper()
	b, err := wsflate.DefaultHelper.Compress(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upgradeOffer sends a WebSocket upgrade request with the extension header
// ext (none when "") to Upgrader u and returns the server's result and
// its response's Sec-WebSocket-Extensions.
func upgradeOffer(t *testing.T, u *Upgrader, ext string) (Upgraded, string) {
	t.Helper()
	cli, srv := net.Pipe()
	defer cli.Close()
	type result struct {
		up  Upgraded
		err error
	}
	done := make(chan result, 1)
	go func() {
		up, err := u.Accept(srv)
		srv.Close()
		done <- result{up, err}
	}()
	req := "GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Protocol: wamp.2.json\r\n"
	if ext != "" {
		req += "Sec-WebSocket-Extensions: " + ext + "\r\n"
	}
	go cli.Write([]byte(req + "\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(cli), nil)
	if err != nil {
		t.Fatalf("offer %q: reading the response: %v", ext, err)
	}
	r := <-done
	if r.err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("offer %q: %v, status %d", ext, r.err, resp.StatusCode)
	}
	return r.up, resp.Header.Get("Sec-WebSocket-Extensions")
}

func TestDeflateNegotiation(t *testing.T) {
	const accept = "permessage-deflate;server_no_context_takeover;client_no_context_takeover"
	for _, tc := range []struct {
		offer, want string
	}{
		{"", ""},
		{"permessage-deflate", accept},
		// Chromium's and Firefox's offer.
		{"permessage-deflate; client_max_window_bits", accept},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", accept},
		{"permessage-deflate; client_max_window_bits=10", accept},
		{"permessage-deflate; server_max_window_bits=15", accept + ";server_max_window_bits=15"},
		// A smaller server window is declined; the next offer is taken.
		{"permessage-deflate; server_max_window_bits=10, permessage-deflate", accept},
		{"permessage-deflate; server_max_window_bits=10", ""},
		// Malformed offers are declined (RFC 7692 section 5), not refused.
		{"permessage-deflate; foo=1", ""},
		{"permessage-deflate; client_max_window_bits=20", ""},
		{"permessage-deflate; server_no_context_takeover; server_no_context_takeover", ""},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits=10", ""},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits", ""},
		{"x-webkit-deflate-frame", ""},
		{"x-webkit-deflate-frame, permessage-deflate", accept},
	} {
		up, got := upgradeOffer(t, &Upgrader{Deflate: true}, tc.offer)
		if got != tc.want || up.Deflate != (tc.want != "") {
			t.Errorf("offer %q: answered %q (Deflate %v), want %q", tc.offer, got, up.Deflate, tc.want)
		}
	}
	// Off: an offer is ignored.
	if up, got := upgradeOffer(t, &Upgrader{}, "permessage-deflate"); got != "" || up.Deflate {
		t.Errorf("Deflate off: answered %q (Deflate %v)", got, up.Deflate)
	}
}

func TestDeflateRoundTrip(t *testing.T) {
	random := make([]byte, 100_000)
	rand.Read(random)
	for _, p := range [][]byte{
		nil,
		[]byte("x"),
		[]byte(`[36,5512315355,4429313566,{},["` + strings.Repeat("hello world ", 20) + `"]]`),
		bytes.Repeat([]byte(`{"sensor":"t1","value":21.5},`), 5000),
		random,
	} {
		c := AppendDeflate([]byte("head"), p)
		if string(c[:4]) != "head" {
			t.Fatal("AppendDeflate overwrote dst")
		}
		if bytes.HasSuffix(c, []byte{0, 0, 0xff, 0xff}) {
			t.Fatalf("%d bytes: the 0x00 0x00 0xff 0xff tail was not removed", len(p))
		}
		got, err := Inflate([]byte("x"), c[4:], len(p))
		if err != nil || !bytes.Equal(got[1:], p) || got[0] != 'x' {
			t.Fatalf("%d bytes: Inflate = %d bytes, %v", len(p), len(got)-1, err)
		}
		// A client's decompressor (gobwas/ws's helper) reads it too.
		if back, err := wsflate.DefaultHelper.Decompress(c[4:]); err != nil || !bytes.Equal(back, p) {
			t.Fatalf("%d bytes: wsflate decompresses %d bytes, %v", len(p), len(back), err)
		}
		// One byte less than its length is over the limit.
		if len(p) > 0 {
			if _, err := Inflate(nil, c[4:], len(p)-1); err != ErrInflatedTooBig {
				t.Fatalf("%d bytes with limit %d: %v", len(p), len(p)-1, err)
			}
		}
	}
}

// TestInflateBomb: 16 MiB of zeros compress to about 16 KiB; Inflate stops
// at the limit, holding no more than it.
func TestInflateBomb(t *testing.T) {
	bomb := AppendDeflate(nil, make([]byte, 16<<20))
	if len(bomb) > 32<<10 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	const limit = 1 << 20
	out, err := Inflate(nil, bomb, limit)
	if err != ErrInflatedTooBig {
		t.Fatalf("Inflate: %v", err)
	}
	if cap(out) > limit+1 {
		t.Fatalf("Inflate grew its output to %d bytes for a limit of %d", cap(out), limit)
	}

	// Through a Reader: close 1009.
	r := Reader{MaxMessageSize: limit, Expect: ws.OpText, Deflate: true}
	_, _, err = r.Next(compressedFrame(ws.OpText, true, true, bomb))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != ws.StatusMessageTooBig {
		t.Fatalf("Reader: %v, want close 1009", err)
	}
}

func TestInflateCorrupt(t *testing.T) {
	for _, bad := range [][]byte{
		{0xff, 0xff, 0xff},
		{0x07}, // reserved block type
		[]byte("not deflate at all"),
	} {
		_, err := Inflate(nil, bad, 1<<20)
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != ws.StatusInvalidFramePayloadData {
			t.Errorf("Inflate(%x): %v, want close 1007", bad, err)
		}
	}
}

// TestDeflateNoContextTakeover: every message is compressed on its own
// (the same message twice gives the same bytes, never a reference to the
// one before), and a client that keeps its window across messages,
// against the client_no_context_takeover it agreed to, fails.
func TestDeflateNoContextTakeover(t *testing.T) {
	msg := []byte(`[36,1,2,{},["` + strings.Repeat("temperature ", 30) + `"]]`)
	a, b := AppendDeflate(nil, msg), AppendDeflate(nil, msg)
	if !bytes.Equal(a, b) {
		t.Fatalf("the second compression differs: %x vs %x", a, b)
	}

	// A client with context takeover: one stream, flushed per message.
	var stream bytes.Buffer
	fw, _ := flate.NewWriter(&stream, flate.BestCompression)
	fw.Write(msg)
	fw.Flush()
	first := bytes.TrimSuffix(append([]byte(nil), stream.Bytes()...), []byte{0, 0, 0xff, 0xff})
	stream.Reset()
	fw.Write(msg)
	fw.Flush()
	second := bytes.TrimSuffix(append([]byte(nil), stream.Bytes()...), []byte{0, 0, 0xff, 0xff})
	if len(second) >= len(first) {
		t.Fatalf("the client's second message (%d bytes) does not use its window (first %d)", len(second), len(first))
	}

	r := Reader{MaxMessageSize: 1 << 20, Expect: ws.OpText, Deflate: true}
	ev, _, err := r.Next(compressedFrame(ws.OpText, true, true, first))
	if err != nil || string(ev.Payload) != string(msg) {
		t.Fatalf("first message: %q, %v", ev.Payload, err)
	}
	_, _, err = r.Next(compressedFrame(ws.OpText, true, true, second))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != ws.StatusInvalidFramePayloadData {
		t.Fatalf("second message, compressed against the first: %v, want close 1007", err)
	}
}

func TestReaderDeflate(t *testing.T) {
	msg := []byte(`[16,1,{},"com.example.topic",["` + strings.Repeat("ab", 200) + `"]]`)
	c := deflated(t, msg)
	third := len(c) / 3
	code := func(err error) ws.StatusCode {
		var ce *CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		return 0
	}

	t.Run("one frame", func(t *testing.T) {
		r := Reader{Expect: ws.OpText, Deflate: true}
		ev, n, err := r.Next(compressedFrame(ws.OpText, true, true, c))
		if err != nil || n == 0 || ev.Kind != EventMessage || !bytes.Equal(ev.Payload, msg) {
			t.Fatalf("%+v %d %v", ev, n, err)
		}
		// The next call gives the buffer back; an uncompressed message
		// still works.
		ev, _, err = r.Next(clientFrame(ws.OpText, true, "[1]"))
		if err != nil || string(ev.Payload) != "[1]" || r.out != nil {
			t.Fatalf("uncompressed after compressed: %q %v (buffer held: %v)", ev.Payload, err, r.out != nil)
		}
	})

	t.Run("fragmented", func(t *testing.T) {
		r := Reader{Expect: ws.OpText, Deflate: true}
		frames := [][]byte{
			compressedFrame(ws.OpText, false, true, c[:third]),
			compressedFrame(ws.OpPing, true, false, []byte("p")),
			compressedFrame(ws.OpContinuation, false, false, c[third:2*third]),
			compressedFrame(ws.OpContinuation, true, false, c[2*third:]),
		}
		var got []Event
		for _, f := range frames {
			ev, n, err := r.Next(f)
			if err != nil || n != len(f) {
				t.Fatalf("frame: %d %v", n, err)
			}
			if ev.Kind != EventNone {
				ev.Payload = append([]byte(nil), ev.Payload...)
				got = append(got, ev)
			}
		}
		if len(got) != 2 || got[0].Kind != EventPing || got[1].Kind != EventMessage || !bytes.Equal(got[1].Payload, msg) {
			t.Fatalf("events %+v", got)
		}
	})

	t.Run("fragments over the compressed limit", func(t *testing.T) {
		r := Reader{MaxMessageSize: 100, Expect: ws.OpText, Deflate: true}
		limit := int(CompressedLimit(100))
		if _, _, err := r.Next(compressedFrame(ws.OpText, false, true, make([]byte, limit-10))); err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.Next(compressedFrame(ws.OpContinuation, true, false, make([]byte, 11))); code(err) != ws.StatusMessageTooBig {
			t.Fatalf("%v, want 1009", err)
		}
	})

	for _, tc := range []struct {
		name    string
		deflate bool
		frames  [][]byte
		code    ws.StatusCode
	}{
		{"RSV1 without the extension", false, [][]byte{compressedFrame(ws.OpText, true, true, c)}, ws.StatusProtocolError},
		{"RSV1 on a continuation", true, [][]byte{
			compressedFrame(ws.OpText, false, true, c[:third]),
			compressedFrame(ws.OpContinuation, true, true, c[third:]),
		}, ws.StatusProtocolError},
		{"RSV1 on a ping", true, [][]byte{compressedFrame(ws.OpPing, true, true, nil)}, ws.StatusProtocolError},
		{"RSV1 on a close", true, [][]byte{compressedFrame(ws.OpClose, true, true, []byte{3, 232})}, ws.StatusProtocolError},
		{"RSV2", true, [][]byte{{0xa1, 0x80, 0, 0, 0, 0}}, ws.StatusProtocolError},
		{"not UTF-8 once decompressed", true, [][]byte{compressedFrame(ws.OpText, true, true, deflated(t, []byte{'[', 0xff, ']'}))}, ws.StatusInvalidFramePayloadData},
		{"binary on a text session", true, [][]byte{compressedFrame(ws.OpBinary, true, true, c)}, ws.StatusUnsupportedData},
		{"corrupt", true, [][]byte{compressedFrame(ws.OpText, true, true, []byte{0xff, 0xfe})}, ws.StatusInvalidFramePayloadData},
		{"decompressed over the limit", true, [][]byte{compressedFrame(ws.OpText, true, true, c)}, ws.StatusMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Reader{Expect: ws.OpText, Deflate: tc.deflate}
			if tc.code == ws.StatusMessageTooBig {
				r.MaxMessageSize = int64(len(msg) - 1)
			}
			var err error
			for _, f := range tc.frames {
				if _, _, err = r.Next(f); err != nil {
					break
				}
			}
			if code(err) != tc.code {
				t.Fatalf("%v, want close %d", err, tc.code)
			}
		})
	}
}

// BenchmarkEventSend is the CPU the router spends per EVENT it frames
// for a connection, with a JSON payload of typical telemetry (about 200
// bytes or 2 KiB in all): encode (raw payload passthrough, as the broker
// does) and frame, plain or compressed as the transport's Send does (the
// encoding, then AppendDeflate behind it when it is at least
// MinDeflateSize bytes and shrinks). wire-bytes is the frame's length.
func BenchmarkEventSend(b *testing.B) {
	for _, size := range []int{200, 2048} {
		ev := eventOf(b, size)
		for _, deflate := range []bool{false, true} {
			b.Run(sizeName(size)+"/"+modeName(deflate), func(b *testing.B) {
				buf, enc := make([]byte, 0, 4*size), make([]byte, 0, 4*size)
				var n int
				b.ReportAllocs()
				c0 := cpuTime()
				for b.Loop() {
					p, err := codec.JSON.Encode(enc[:0], ev)
					if err != nil {
						b.Fatal(err)
					}
					h := ws.Header{Fin: true, OpCode: ws.OpText}
					if deflate && len(p) >= MinDeflateSize {
						all := AppendDeflate(p, p)
						if z := all[len(p):]; len(z) < len(p) {
							p, h.Rsv = z, rsv1
						}
						enc = all[:0]
					}
					h.Length = int64(len(p))
					out := append(AppendHeader(buf[:0], h), p...)
					n = len(out)
				}
				reportCPU(b, c0)
				b.ReportMetric(float64(n), "wire-bytes")
			})
		}
	}
}

// BenchmarkEventReceive is the CPU per such message on the way in: the
// client's masked frame through Reader.Next (unmask, UTF-8 check, and for
// the compressed one Inflate). The frame is copied back each time (Next
// unmasks in place), in both cases.
func BenchmarkEventReceive(b *testing.B) {
	for _, size := range []int{200, 2048} {
		msg, err := codec.JSON.Encode(nil, eventOf(b, size))
		if err != nil {
			b.Fatal(err)
		}
		for _, deflate := range []bool{false, true} {
			b.Run(sizeName(size)+"/"+modeName(deflate), func(b *testing.B) {
				frame := compressedFrame(ws.OpText, true, false, msg)
				if deflate {
					frame = compressedFrame(ws.OpText, true, true, AppendDeflate(nil, msg))
				}
				buf := make([]byte, len(frame))
				r := Reader{MaxMessageSize: 1 << 20, Expect: ws.OpText, Deflate: true}
				b.ReportAllocs()
				c0 := cpuTime()
				for b.Loop() {
					copy(buf, frame)
					ev, _, err := r.Next(buf)
					if err != nil || len(ev.Payload) != len(msg) {
						b.Fatal(len(ev.Payload), err)
					}
				}
				reportCPU(b, c0)
				r.Release()
				b.ReportMetric(float64(len(frame)), "wire-bytes")
			})
		}
	}
}

// eventOf is an EVENT of about size bytes encoded in JSON, its payload
// telemetry records (repeated keys, varying values) carried raw.
func eventOf(b *testing.B, size int) *wamp.Event {
	ev := &wamp.Event{Subscription: 6939282913617426, Publication: 2458203949162745, Details: wamp.Dict{},
		Payload: wamp.Payload{Format: wamp.FormatJSON}}
	var args bytes.Buffer
	for i := 0; ; i++ {
		args.Reset()
		args.WriteString(`[{"records":[`)
		for j := range i {
			if j > 0 {
				args.WriteByte(',')
			}
			fmt.Fprintf(&args, `{"id":"sensor-%02d","temp":%d.%d,"ok":%v}`, j%40, 15+j%11, (j*7)%10, j%5 != 0)
		}
		args.WriteString(`]}]`)
		ev.RawArgs = args.Bytes()
		msg, err := codec.JSON.Encode(nil, ev)
		if err != nil || !json.Valid(ev.RawArgs) {
			b.Fatalf("%s: %v", args.Bytes(), err)
		}
		if len(msg) >= size-20 {
			return ev
		}
	}
}

// reportCPU reports the CPU time per operation since c0, when measured.
func reportCPU(b *testing.B, c0 time.Duration) {
	if c1 := cpuTime(); c1 > 0 {
		b.ReportMetric(float64(c1-c0)/float64(b.N), "cpu-ns/op")
	}
}

func modeName(deflate bool) string {
	if deflate {
		return "deflate"
	}
	return "plain"
}

func sizeName(n int) string { return fmt.Sprintf("%dB", n) }
