package websocket

import (
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

func BenchmarkReaderNext(b *testing.B) {
	frame := clientFrame(ws.OpText, true, `[16,1,{},"com.example.topic",["`+strings.Repeat("x", 1000)+`"]]`)
	buf := make([]byte, len(frame))
	r := Reader{MaxMessageSize: 1 << 20, Expect: ws.OpText}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, frame) // Next unmasks in place
		if _, n, err := r.Next(buf); n == 0 || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkBeginEndFrame(b *testing.B) {
	payload := make([]byte, 200)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		out, start := BeginFrame(buf[:0])
		out = append(out, payload...)
		_ = EndFrame(out, start, ws.OpText)
	}
}
