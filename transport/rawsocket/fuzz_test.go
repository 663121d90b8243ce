package rawsocket

import (
	"bytes"
	"testing"
)

// FuzzNext splits arbitrary bytes into frames, whole and in every chunking
// the fuzzer picks, and checks that what is found re-encodes to the input.
func FuzzNext(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, TypePing, []byte("x")), TypeMessage, []byte(`[1]`)), uint16(1024), uint8(3))
	f.Add([]byte{0x08, 0, 0, 0}, uint16(10), uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, maxLength uint16, step uint8) {
		max := int(maxLength)
		var out []byte
		rest := data
		for len(rest) > 0 {
			fr, n, err := Next(rest, max)
			if err != nil {
				if n != 0 {
					t.Fatalf("n = %d with error %v", n, err)
				}
				return
			}
			if n == 0 {
				if fr.Size() <= len(rest) {
					t.Fatalf("needs %d bytes but has %d", fr.Size(), len(rest))
				}
				break
			}
			if n != fr.Size() || len(fr.Payload) != fr.Length || fr.Length > max {
				t.Fatalf("inconsistent frame %+v n=%d", fr.Header, n)
			}
			// A prefix never yields a frame.
			if s := int(step); s > 0 && s < n {
				if _, m, _ := Next(rest[:n-s], max); m != 0 {
					t.Fatalf("frame from a %d-byte prefix of a %d-byte frame", n-s, n)
				}
			}
			out = AppendFrame(out, fr.Type, fr.Payload)
			rest = rest[n:]
		}
		if !bytes.Equal(out, data[:len(data)-len(rest)]) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", out, data[:len(data)-len(rest)])
		}
	})
}

// FuzzParseHandshake checks the handshake parser and the negotiation on
// arbitrary requests.
func FuzzParseHandshake(f *testing.F) {
	f.Add([]byte{0x7f, 0xf1, 0, 0}, 1<<20)
	f.Add([]byte{0x7f, 0x00, 0, 0}, 0)
	f.Add([]byte{0x7f, 0x21, 1, 0}, 512)
	f.Fuzz(func(t *testing.T, req []byte, maxLength int) {
		h, err := ParseHandshake(req)
		if err == nil {
			if h.MaxLength < MinLength || h.MaxLength > MaxLength || h.MaxLength&(h.MaxLength-1) != 0 {
				t.Fatalf("max length %d", h.MaxLength)
			}
			if back := AppendHandshake(nil, h); !bytes.Equal(back, req[:HandshakeSize]) {
				t.Fatalf("round trip %x != %x", back, req[:HandshakeSize])
			}
		}
		_, reply, nerr := Negotiate(nil, req, maxLength)
		switch {
		case err == ErrShort || err == ErrNotRawSocket:
			if len(reply) != 0 || nerr != err {
				t.Fatalf("reply %x, err %v for a request that is not one", reply, nerr)
			}
		case len(reply) != HandshakeSize:
			t.Fatalf("reply %x", reply)
		default:
			r, rerr := ParseReply(reply)
			if (rerr == nil) != (nerr == nil) {
				t.Fatalf("reply %x parses to %v, negotiation said %v", reply, rerr, nerr)
			}
			if rerr == nil && r.Serializer != h.Serializer {
				t.Fatalf("serializer %d echoed as %d", h.Serializer, r.Serializer)
			}
		}
	})
}
