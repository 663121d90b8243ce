package tlsrec

import (
	"crypto/tls"
	"testing"
)

// BenchmarkSealOpen: one 200-byte message (a typical WAMP EVENT) sealed
// and opened.
func BenchmarkSealOpen(b *testing.B) {
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256} {
		b.Run(tls.CipherSuiteName(id), func(b *testing.B) {
			server, client := testPair(b, id)
			msg := make([]byte, 200)
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				buf, _ = server.Seal(buf[:0], msg)
				if _, err := client.Open(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCipherSetup: making a direction's AEAD again after Release.
func BenchmarkCipherSetup(b *testing.B) {
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256} {
		b.Run(tls.CipherSuiteName(id), func(b *testing.B) {
			server, _ := testPair(b, id)
			b.ReportAllocs()
			for b.Loop() {
				server.ReleaseWrite()
				if _, err := server.out.cipher(server.suite); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
