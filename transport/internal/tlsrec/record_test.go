package tlsrec

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// testPair returns a server Conn and its mirror, a client Conn (the same
// keys, directions swapped), for suite id: records one Seals the other
// Opens.
func testPair(t testing.TB, id uint16) (server, client *Conn) {
	var s *suite
	for i := range suites {
		if suites[i].id == id {
			s = &suites[i]
		}
	}
	if s == nil {
		t.Fatalf("no suite %#04x", id)
	}
	var err error
	if s.version == tls.VersionTLS13 {
		cs := bytes.Repeat([]byte{1}, s.hashLen())
		ss := bytes.Repeat([]byte{2}, s.hashLen())
		if server, err = newConn13(s, cs, ss, 0); err != nil {
			t.Fatal(err)
		}
		if client, err = newConn13(s, ss, cs, 0); err != nil {
			t.Fatal(err)
		}
		return server, client
	}
	if server, err = newConn12(s, bytes.Repeat([]byte{3}, 48), bytes.Repeat([]byte{4}, 32), bytes.Repeat([]byte{5}, 32)); err != nil {
		t.Fatal(err)
	}
	client = &Conn{vers: server.vers, suite: s, in: server.out, out: server.in}
	return server, client
}

var allSuites = []uint16{
	tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TestTrafficKeyVector checks the TLS 1.3 key and IV derivation against
// RFC 8448, section 3 (the server handshake traffic secret, key, iv).
func TestTrafficKeyVector(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	secret := unhex("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38")
	s := suiteByID(tls.TLS_AES_128_GCM_SHA256, tls.VersionTLS13)
	if got, want := s.expandLabel(secret, "key", 16), unhex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc"); !bytes.Equal(got, want) {
		t.Errorf("key %x, want %x", got, want)
	}
	if got, want := s.expandLabel(secret, "iv", 12), unhex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"); !bytes.Equal(got, want) {
		t.Errorf("iv %x, want %x", got, want)
	}
}

// TestOpenPieces feeds records in every split: Open must ask for exactly
// the missing bytes and give the same data as in one piece.
func TestOpenPieces(t *testing.T) {
	for _, id := range allSuites {
		t.Run(tls.CipherSuiteName(id), func(t *testing.T) {
			server, client := testPair(t, id)
			var want, wire []byte
			for _, n := range []int{0, 1, 7, 300, MaxPlaintext, MaxPlaintext + 5} {
				m := bytes.Repeat([]byte{byte(n)}, n)
				want = append(want, m...)
				var err error
				if wire, err = client.Seal(wire, m); err != nil {
					t.Fatal(err)
				}
			}
			// Read it in steps of 1..step bytes, as a socket might give it.
			for _, step := range []int{1, 3, 5, 1000, len(wire)} {
				s := &Conn{vers: server.vers, suite: server.suite, in: server.in}
				var got, buf []byte
				for off := 0; off < len(wire); {
					n := min(step, len(wire)-off)
					buf = append(buf, wire[off:off+n]...)
					off += n
					r, err := s.Open(buf)
					if err != nil {
						t.Fatalf("step %d: %v", step, err)
					}
					if r.N > r.Used || r.Used > len(buf) {
						t.Fatalf("step %d: %+v for %d bytes", step, r, len(buf))
					}
					got = append(got, buf[:r.N]...)
					buf = buf[:copy(buf, buf[r.Used:])]
					if (len(buf) == 0) != (r.Need == 0) {
						t.Fatalf("step %d: %d bytes left, Need %d", step, len(buf), r.Need)
					}
					if r.Need > 0 && off+r.Need > len(wire) {
						t.Fatalf("step %d: Need %d goes past the end", step, r.Need)
					}
				}
				if !bytes.Equal(got, want) || len(buf) != 0 {
					t.Fatalf("step %d: got %d bytes (%d left), want %d", step, len(got), len(buf), len(want))
				}
			}
		})
	}
}

// TestKeyUpdate: the peer's KeyUpdate (split over two records, asking for
// ours) updates the read key; the next Seal answers with ours, which the
// peer opens, and both keep talking.
func TestKeyUpdate(t *testing.T) {
	server, client := testPair(t, tls.TLS_AES_128_GCM_SHA256)
	var wire []byte
	var err error
	wire, _ = client.Seal(wire, []byte("before"))
	wire, _ = client.seal(wire, typeHandshake, []byte{msgKeyUpdate, 0})
	wire, _ = client.seal(wire, typeHandshake, []byte{0, 1, 1}) // update_requested
	if err := client.out.update(client.suite); err != nil {
		t.Fatal(err)
	}
	wire, _ = client.Seal(wire, []byte("after"))
	r, err := server.Open(wire)
	if err != nil || !r.KeyUpdate || string(wire[:r.N]) != "beforeafter" {
		t.Fatalf("Open = %+v %q, %v", r, wire[:r.N], err)
	}
	if server.in.seq != 1 {
		t.Fatalf("read sequence number %d after the KeyUpdate and one record", server.in.seq)
	}
	out, err := server.Seal(nil, nil)
	if err != nil || len(out) == 0 {
		t.Fatalf("Seal(nil) = %d bytes, %v; want the KeyUpdate", len(out), err)
	}
	if out, err = server.Seal(out, []byte("reply")); err != nil {
		t.Fatal(err)
	}
	r, err = client.Open(out)
	if err != nil || r.KeyUpdate || string(out[:r.N]) != "reply" {
		t.Fatalf("the peer opened %+v %q, %v", r, out[:r.N], err)
	}
	if server.out.seq != 1 {
		t.Fatalf("write sequence number %d after the KeyUpdate and one record", server.out.seq)
	}
}

// TestKeyUpdateAfterLimit: after keyUpdateAfter records Seal updates the
// write key on its own.
func TestKeyUpdateAfterLimit(t *testing.T) {
	server, client := testPair(t, tls.TLS_AES_256_GCM_SHA384)
	server.out.seq, client.in.seq = keyUpdateAfter, keyUpdateAfter
	out, err := server.Seal(nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if server.out.seq != 1 {
		t.Fatalf("write sequence number %d, want 1 after a KeyUpdate", server.out.seq)
	}
	if r, err := client.Open(out); err != nil || string(out[:r.N]) != "x" {
		t.Fatalf("the peer opened %+v, %v", r, err)
	}
}

// TestOpenRefuses: every bad record ends the connection with its alert.
func TestOpenRefuses(t *testing.T) {
	type tc struct {
		name  string
		suite uint16
		wire  func(c *Conn) []byte
		alert Alert
	}
	seal := func(c *Conn, typ byte, data []byte) []byte {
		b, err := c.seal(nil, typ, data)
		if err != nil {
			panic(err)
		}
		return b
	}
	tls13, tls12, chacha12 := uint16(tls.TLS_AES_128_GCM_SHA256), uint16(tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), uint16(tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)
	cases := []tc{
		{"bad MAC 1.3", tls13, func(c *Conn) []byte { b := seal(c, typeApplicationData, []byte("hi")); b[6] ^= 1; return b }, alertBadRecordMAC},
		{"bad MAC 1.2", tls12, func(c *Conn) []byte { b := seal(c, typeApplicationData, []byte("hi")); b[len(b)-1] ^= 1; return b }, alertBadRecordMAC},
		{"bad MAC chacha 1.2", chacha12, func(c *Conn) []byte { b := seal(c, typeApplicationData, []byte("hi")); b[5] ^= 1; return b }, alertBadRecordMAC},
		{"replayed 1.3", tls13, func(c *Conn) []byte { b := seal(c, typeApplicationData, []byte("hi")); return append(b, b...) }, alertBadRecordMAC},
		{"oversized 1.3", tls13, func(c *Conn) []byte { return []byte{23, 3, 3, 0x41, 0x01} }, alertRecordOverflow},
		{"oversized 1.2", tls12, func(c *Conn) []byte { return []byte{23, 3, 3, 0x48, 0x01} }, alertRecordOverflow},
		{"too short 1.3", tls13, func(c *Conn) []byte { return []byte{23, 3, 3, 0, 16} }, alertDecodeError},
		{"too short 1.2", tls12, func(c *Conn) []byte { return []byte{23, 3, 3, 0, 23} }, alertBadRecordMAC},
		{"version", tls13, func(c *Conn) []byte { return []byte{23, 3, 1, 0, 30} }, alertProtocolVersion},
		{"plaintext record 1.3", tls13, func(c *Conn) []byte { return []byte{22, 3, 3, 0, 30} }, alertUnexpectedMessage},
		{"change cipher spec 1.2", tls12, func(c *Conn) []byte { return []byte{20, 3, 3, 0, 1, 1} }, alertUnexpectedMessage},
		{"plaintext too long 1.2", tls12, func(c *Conn) []byte { return seal(c, typeApplicationData, make([]byte, MaxPlaintext+1)) }, alertRecordOverflow},
		{"plaintext too long 1.3", tls13, func(c *Conn) []byte { return seal(c, typeApplicationData, make([]byte, MaxPlaintext+1)) }, alertRecordOverflow},
		{"no content type", tls13, func(c *Conn) []byte { return seal(c, 0, []byte{0, 0}) }, alertUnexpectedMessage},
		{"unknown content type", tls13, func(c *Conn) []byte { return seal(c, 99, []byte("x")) }, alertUnexpectedMessage},
		{"renegotiation 1.2", tls12, func(c *Conn) []byte { return seal(c, typeHandshake, []byte{1, 0, 0, 0}) }, AlertNoRenegotiation},
		{"NewSessionTicket from a client", tls13, func(c *Conn) []byte { return seal(c, typeHandshake, []byte{4, 0, 0, 0}) }, alertUnexpectedMessage},
		{"post-handshake Certificate", tls13, func(c *Conn) []byte { return seal(c, typeHandshake, []byte{11, 0, 0, 0}) }, alertUnexpectedMessage},
		{"empty handshake record", tls13, func(c *Conn) []byte { return seal(c, typeHandshake, nil) }, alertUnexpectedMessage},
		{"KeyUpdate length", tls13, func(c *Conn) []byte { return seal(c, typeHandshake, []byte{24, 0, 0, 2, 0, 0}) }, alertDecodeError},
		{"KeyUpdate request", tls13, func(c *Conn) []byte { return seal(c, typeHandshake, []byte{24, 0, 0, 1, 2}) }, alertIllegalParameter},
		{"KeyUpdate not ending its record", tls13, func(c *Conn) []byte { return seal(c, typeHandshake, []byte{24, 0, 0, 1, 0, 24}) }, alertUnexpectedMessage},
		{"data inside a handshake message", tls13, func(c *Conn) []byte {
			return append(seal(c, typeHandshake, []byte{24, 0}), seal(c, typeApplicationData, []byte("x"))...)
		}, alertUnexpectedMessage},
		{"alert length", tls13, func(c *Conn) []byte { return seal(c, typeAlert, []byte{2, 0, 0}) }, alertDecodeError},
		{"empty records", tls13, func(c *Conn) []byte {
			var b []byte
			for range maxUseless + 1 {
				b = append(b, seal(c, typeApplicationData, nil)...)
			}
			return b
		}, alertUnexpectedMessage},
		{"warnings 1.2", tls12, func(c *Conn) []byte {
			var b []byte
			for range maxUseless + 1 {
				b = append(b, seal(c, typeAlert, []byte{alertLevelWarning, 90})...)
			}
			return b
		}, alertUnexpectedMessage},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			server, client := testPair(t, tt.suite)
			wire := tt.wire(client)
			r, err := server.Open(wire)
			var ae *AlertError
			if !errors.As(err, &ae) || ae.Remote || ae.Alert != tt.alert {
				t.Fatalf("Open = %+v, %v; want alert %v", r, err, tt.alert)
			}
			if data := len(wire[:r.N]); data != 0 && !(tt.name == "replayed 1.3" && data == 2) {
				t.Fatalf("bad input gave %d bytes of data", data)
			}
			if _, err2 := server.Open(wire); err2 != err {
				t.Fatalf("the error is not sticky: %v then %v", err, err2)
			}
			if a := server.SealAlert(nil, ae.Alert); len(a) == 0 {
				t.Fatal("no alert record")
			}
		})
	}
}

// TestAlerts: close_notify, a fatal alert, and ignored ones.
func TestAlerts(t *testing.T) {
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384} {
		t.Run(tls.CipherSuiteName(id), func(t *testing.T) {
			server, client := testPair(t, id)
			wire, _ := client.Seal(nil, []byte("last words"))
			if id == tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 {
				wire, _ = client.seal(wire, typeAlert, []byte{alertLevelWarning, byte(AlertNoRenegotiation)})
			}
			wire, _ = client.seal(wire, typeAlert, []byte{alertLevelWarning, byte(alertUserCanceled)})
			wire = client.SealAlert(wire, AlertCloseNotify)
			wire, _ = client.Seal(wire, []byte("ignored"))
			r, err := server.Open(wire)
			if !errors.Is(err, ErrCloseNotify) || string(wire[:r.N]) != "last words" {
				t.Fatalf("Open = %+v %q, %v", r, wire[:r.N], err)
			}

			server, client = testPair(t, id)
			wire = client.SealAlert(nil, alertHandshakeFailure)
			_, err = server.Open(wire)
			var ae *AlertError
			if !errors.As(err, &ae) || !ae.Remote || ae.Alert != alertHandshakeFailure {
				t.Fatalf("a fatal alert gave %v", err)
			}

			// Our close_notify reaches the peer as one.
			server, client = testPair(t, id)
			out := server.SealAlert(nil, AlertCloseNotify)
			if _, err := client.Open(out); !errors.Is(err, ErrCloseNotify) {
				t.Fatalf("our close_notify opened as %v", err)
			}
		})
	}
}

// TestConnSize measures what a Conn holds on the heap, AEADs included.
func TestConnSize(t *testing.T) {
	const n = 2000
	for _, id := range allSuites {
		t.Run(tls.CipherSuiteName(id), func(t *testing.T) {
			conns := make([]*Conn, n)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := range conns {
				conns[i], _ = testPair(t, id)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			// Each pair made two Conns: the mirror is garbage by now.
			idle := (after.HeapAlloc - before.HeapAlloc) / n
			for _, c := range conns {
				c.Seal(nil, []byte("x"))
				c.Open(nil)
				if _, err := c.in.cipher(c.suite); err != nil {
					t.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			busy := (after.HeapAlloc - before.HeapAlloc) / n
			for _, c := range conns {
				c.ReleaseRead()
				c.ReleaseWrite()
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			released := (after.HeapAlloc - before.HeapAlloc) / n
			t.Logf("%s: %d bytes per Conn idle, %d with both AEADs, %d released", tls.CipherSuiteName(id), idle, busy, released)
			if idle > maxIdleConnBytes || released > maxIdleConnBytes {
				t.Fatalf("%d bytes per idle Conn (%d released), more than %d", idle, released, maxIdleConnBytes)
			}
			runtime.KeepAlive(conns)
		})
	}
}

// maxIdleConnBytes bounds an idle Conn's heap (measured: see
// TestConnSize's log).
const maxIdleConnBytes = 512

func ExampleConn_Open() {
	server, client := testPair(nil, tls.TLS_AES_128_GCM_SHA256)
	wire, _ := client.Seal(nil, []byte("hello, "))
	wire, _ = client.Seal(wire, []byte("world"))
	r, err := server.Open(wire[:len(wire)-3]) // the second record is not all in
	fmt.Printf("%q used %d need %d %v\n", wire[:r.N], r.Used, r.Need, err)
	// Output: "hello, " used 29 need 3 <nil>
}

// TestSealInPlace: records sealed in the caller's buffer are the ones Seal
// makes, for every size and suite, after what the buffer held already; a
// KeyUpdate due goes first.
func TestSealInPlace(t *testing.T) {
	for _, id := range allSuites {
		t.Run(tls.CipherSuiteName(id), func(t *testing.T) {
			a, client := testPair(t, id)
			b, _ := testPair(t, id)
			for _, n := range []int{0, 1, 100, MaxPlaintext - 1, MaxPlaintext, MaxPlaintext + 1, 3*MaxPlaintext + 7} {
				data := bytes.Repeat([]byte{byte(n), 1}, n)[:n]
				if n == 100 && a.vers == tls.VersionTLS13 {
					a.updateOut.Store(true)
					b.updateOut.Store(true)
				}
				want, err := a.Seal([]byte("prefix"), data)
				if err != nil {
					t.Fatal(err)
				}
				got, err := b.SealInPlace(append([]byte("prefix"), data...), 6)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%d bytes: SealInPlace differs from Seal", n)
				}
				wire := bytes.Clone(got[6:])
				r, err := client.Open(wire)
				if err != nil || r.Used != len(wire) || !bytes.Equal(wire[:r.N], data) {
					t.Fatalf("%d bytes: the peer opened %+v, %v", n, r, err)
				}
			}
		})
	}
}
