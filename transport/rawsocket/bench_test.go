package rawsocket

import "testing"

func BenchmarkNext(b *testing.B) {
	buf := AppendFrame(nil, TypeMessage, make([]byte, 200))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, n, err := Next(buf, MaxLength); n == 0 || err != nil {
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
		_ = EndFrame(out, start, TypeMessage)
	}
}
