package websocket

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// MaxServerHeaderSize is the longest header of a frame a server sends (it
// does not mask): 2 octets, and 8 more for the 64-bit length.
const MaxServerHeaderSize = 10

// HeaderLen returns the length of the frame header at the start of b as far
// as b tells it: 2 while b holds fewer than 2 bytes, the whole header's
// length after that.
func HeaderLen(b []byte) int {
	if len(b) < 2 {
		return 2
	}
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// ParseHeader decodes the frame header at the start of b and returns it with
// its length n; n is 0 when b does not hold the whole header yet (see
// HeaderLen for how many bytes it needs). It decodes what ws.ReadHeader
// decodes, from a buffer instead of a reader, and never allocates; the
// header's validity in a connection's state is ws.CheckHeader's business.
func ParseHeader(b []byte) (h ws.Header, n int, err error) {
	n = HeaderLen(b)
	if len(b) < n {
		return h, 0, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	i := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		i = 4
	case 127:
		if b[2]&0x80 != 0 {
			return h, 0, ws.ErrHeaderLengthMSB
		}
		h.Length = int64(binary.BigEndian.Uint64(b[2:10]))
		i = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Mask[:], b[i:i+4])
	}
	return h, n, nil
}

// AppendHeader appends h's wire form to dst, as ws.WriteHeader writes it.
// h.Length must not be negative.
func AppendHeader(dst []byte, h ws.Header) []byte {
	b0 := h.Rsv<<4 | byte(h.OpCode)
	if h.Fin {
		b0 |= 0x80
	}
	var mask byte
	if h.Masked {
		mask = 0x80
	}
	switch {
	case h.Length < 126:
		dst = append(dst, b0, mask|byte(h.Length))
	case h.Length <= 0xffff:
		dst = append(dst, b0, mask|126, byte(h.Length>>8), byte(h.Length))
	default:
		dst = append(dst, b0, mask|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Mask[:]...)
	}
	return dst
}

// BeginFrame reserves room for a server frame header at the end of dst and
// returns the extended buffer and where the frame starts. Append the payload
// (for instance with a codec's Encode), then call EndFrame.
func BeginFrame(dst []byte) ([]byte, int) {
	return append(dst, make([]byte, MaxServerHeaderSize)...), len(dst)
}

// PayloadLen is the length of the payload appended since BeginFrame
// returned start.
func PayloadLen(dst []byte, start int) int { return len(dst) - start - MaxServerHeaderSize }

// EndFrame completes the frame begun at start as one final, unmasked frame
// of type op whose payload is the rest of dst, and returns dst. When the
// header is shorter than the room reserved, the payload moves down over the
// gap: a few bytes for a short message, nothing for one of 64 KiB or more.
func EndFrame(dst []byte, start int, op ws.OpCode) []byte {
	return endFrame(dst, start, ws.Header{Fin: true, OpCode: op})
}

func endFrame(dst []byte, start int, h ws.Header) []byte {
	n := PayloadLen(dst, start)
	h.Length = int64(n)
	hs := ws.HeaderSize(h)
	if gap := MaxServerHeaderSize - hs; gap > 0 {
		copy(dst[start+hs:], dst[start+MaxServerHeaderSize:])
		dst = dst[:len(dst)-gap]
	}
	AppendHeader(dst[start:start], h)
	return dst
}

// AppendControl appends an unmasked control frame (ping, pong or close) to
// dst. A payload over ws.MaxControlFramePayloadSize is cut to that size.
func AppendControl(dst []byte, op ws.OpCode, payload []byte) []byte {
	if len(payload) > ws.MaxControlFramePayloadSize {
		payload = payload[:ws.MaxControlFramePayloadSize]
	}
	dst = AppendHeader(dst, ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))})
	return append(dst, payload...)
}

// AppendClose appends an unmasked close frame with code and reason to dst.
// A zero code sends an empty body (no status). The reason is cut to fit a
// control frame, at a UTF-8 character boundary.
func AppendClose(dst []byte, code ws.StatusCode, reason string) []byte {
	if code == 0 {
		return AppendControl(dst, ws.OpClose, nil)
	}
	const maxReason = ws.MaxControlFramePayloadSize - 2
	if len(reason) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = AppendHeader(dst, ws.Header{Fin: true, OpCode: ws.OpClose, Length: int64(2 + len(reason))})
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}
