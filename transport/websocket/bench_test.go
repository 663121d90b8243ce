package websocket

import (
	"bytes"
	"io"
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

// BenchmarkAccept is the server's side of an upgrade, its request read
// from memory and its response written to nowhere.
func BenchmarkAccept(b *testing.B) {
	req := []byte("GET /ws HTTP/1.1\r\nHost: router.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n" +
		"Origin: https://app.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
	origins, _ := NewOriginPolicy([]string{"https://*.example.com"})
	u := &Upgrader{Origins: origins, Deflate: true}
	var r bytes.Reader
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(req)
		if _, err := u.Accept(struct {
			io.Reader
			io.Writer
		}{&r, io.Discard}); err != nil {
			b.Fatal(err)
		}
	}
}
