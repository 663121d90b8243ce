package websocket

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/gobwas/ws"
)

// FuzzParseHeader checks ParseHeader against gobwas/ws's ReadHeader.
func FuzzParseHeader(f *testing.F) {
	f.Add(clientFrame(ws.OpText, true, "hello"))
	f.Add(AppendHeader(nil, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1 << 20}))
	f.Add([]byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, n, err := ParseHeader(data)
		want, werr := ws.ReadHeader(bytes.NewReader(data))
		switch {
		case n == 0 && err == nil:
			if werr == nil {
				t.Fatalf("ParseHeader needs more, ws.ReadHeader found %+v", want)
			}
		case err != nil:
			if werr == nil {
				t.Fatalf("ParseHeader: %v, ws.ReadHeader found %+v", err, want)
			}
		default:
			if werr != nil || h != want {
				t.Fatalf("ParseHeader = %+v, ws.ReadHeader = %+v, %v", h, want, werr)
			}
			if n != HeaderLen(data) {
				t.Fatalf("n = %d, HeaderLen = %d", n, HeaderLen(data))
			}
		}
	})
}

// FuzzReader feeds arbitrary bytes to a Reader the way a connection does,
// the buffer growing in steps the fuzzer picks, and checks the reader's
// promises: no panic, progress only on whole frames, Need beyond what it
// has, and messages within the limit.
func FuzzReader(f *testing.F) {
	f.Add(bytes.Join([][]byte{
		clientFrame(ws.OpText, false, "[1,"),
		clientFrame(ws.OpPing, true, "p"),
		clientFrame(ws.OpContinuation, true, `"a"]`),
		clientFrame(ws.OpClose, true, "\x03\xe8"),
	}, nil), uint8(5), false)
	f.Add(clientFrame(ws.OpBinary, true, "\x00\x01"), uint8(1), true)
	z := AppendDeflate(nil, []byte(`[1,"realm1",{"roles":{"caller":{},"callee":{}}}]`))
	f.Add(append(compressedFrame(ws.OpText, false, true, z[:5]), compressedFrame(ws.OpContinuation, true, false, z[5:])...), uint8(3), false)
	f.Add(compressedFrame(ws.OpText, true, true, AppendDeflate(nil, make([]byte, 1000))), uint8(7), false)
	f.Fuzz(func(t *testing.T, data []byte, step uint8, binary bool) {
		const limit = 64
		// The step's low bit turns permessage-deflate on.
		r := Reader{MaxMessageSize: limit, Expect: ws.OpText, Deflate: step&1 != 0}
		if binary {
			r.Expect = ws.OpBinary
		}
		src := append([]byte(nil), data...)
		have := 0 // bytes of src "read" so far
		pos := 0
		for {
			ev, n, err := r.Next(src[pos:have])
			if err != nil {
				return
			}
			if n > 0 {
				if n > have-pos {
					t.Fatalf("consumed %d of %d bytes", n, have-pos)
				}
				if ev.Kind == EventMessage && len(ev.Payload) > limit {
					t.Fatalf("message of %d bytes over the limit", len(ev.Payload))
				}
				pos += n
				if ev.Kind == EventClose {
					return
				}
				continue
			}
			if ev.Need <= have-pos {
				t.Fatalf("needs %d bytes but has %d", ev.Need, have-pos)
			}
			if have == len(src) {
				return
			}
			have = min(len(src), have+max(int(step), 1))
		}
	})
}

// FuzzInflate: Inflate never panics, never returns more than the limit,
// and gives back what AppendDeflate compressed.
func FuzzInflate(f *testing.F) {
	f.Add([]byte(`[36,1,2,{},["hello hello hello hello"]]`), uint16(100))
	f.Add(make([]byte, 5000), uint16(300))
	f.Add([]byte{0xff, 0x00, 0x11}, uint16(10))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		out, err := Inflate(nil, data, int(limit))
		if len(out) > int(limit)+1 || err == nil && len(out) > int(limit) {
			t.Fatalf("%d bytes out for a limit of %d (err %v)", len(out), limit, err)
		}
		z := AppendDeflate(nil, data)
		back, err := Inflate(nil, z, len(data))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("round trip of %d bytes: %d bytes, %v", len(data), len(back), err)
		}
	})
}

// FuzzAccept: an upgrade request of any bytes is answered or refused,
// never a panic (the Sec-WebSocket-Key check reads the head's bytes
// itself), whether it comes in one read or byte by byte.
func FuzzAccept(f *testing.F) {
	f.Add([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"))
	f.Add([]byte("GET /ws HTTP/1.1\nsec-websocket-key: !!!!!!!!!!!!!!!!!!!!!!!!\n\n"))
	f.Fuzz(func(t *testing.T, req []byte) {
		u := &Upgrader{MaxRequestSize: 4096}
		for _, r := range []io.Reader{bytes.NewReader(req), iotest.OneByteReader(bytes.NewReader(req))} {
			u.Accept(struct {
				io.Reader
				io.Writer
			}{r, io.Discard})
		}
	})
}
