package websocket

import (
	"encoding/binary"
	"math"
	"sync"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// CloseError is a protocol violation found in what a client sent, with the
// close code to fail the connection with.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string { return "websocket: " + e.Reason }

// Violations with no detail to add, made once.
var (
	errLengthMSB   = &CloseError{ws.StatusProtocolError, "frame length has its most significant bit set"}
	errTooBig      = &CloseError{ws.StatusMessageTooBig, "message larger than the maximum message size"}
	errWantText    = &CloseError{ws.StatusUnsupportedData, "binary message on a text (JSON) session"}
	errWantBinary  = &CloseError{ws.StatusUnsupportedData, "text message on a binary (MessagePack or CBOR) session"}
	errTextUTF8    = &CloseError{ws.StatusInvalidFramePayloadData, "text message is not valid UTF-8"}
	errCloseLength = &CloseError{ws.StatusProtocolError, "close frame with a one-octet body"}
	errCloseCode   = &CloseError{ws.StatusProtocolError, "close frame with an invalid status code"}
	errCloseUTF8   = &CloseError{ws.StatusInvalidFramePayloadData, "close reason is not valid UTF-8"}
)

// checkHeaderErrors maps ws.CheckHeader's errors to close errors without
// allocating.
var checkHeaderErrors = func() map[error]*CloseError {
	m := make(map[error]*CloseError)
	for _, e := range []ws.ProtocolError{
		ws.ErrProtocolOpCodeReserved,
		ws.ErrProtocolControlPayloadOverflow,
		ws.ErrProtocolControlNotFinal,
		ws.ErrProtocolNonZeroRsv,
		ws.ErrProtocolMaskRequired,
		ws.ErrProtocolMaskUnexpected,
		ws.ErrProtocolContinuationExpected,
		ws.ErrProtocolContinuationUnexpected,
	} {
		m[e] = &CloseError{ws.StatusProtocolError, string(e)}
	}
	return m
}()

// EventKind says what a call to Reader.Next produced.
type EventKind uint8

// Event kinds.
const (
	// EventNone: nothing to act on. With n == 0 the reader needs more
	// bytes (Event.Need); with n > 0 it consumed a fragment of a message.
	EventNone EventKind = iota
	EventMessage
	EventPing
	EventPong
	EventClose
)

// Event is what Reader.Next found.
type Event struct {
	Kind EventKind
	// Binary tells a binary message from a text one.
	Binary bool
	// Payload is the message, or the control frame's body (for a close
	// frame, the reason after the code). It aliases the buffer given to Next
	// or the Reader's reassembly buffer, and is valid until the next call.
	Payload []byte
	// Code is a close frame's status code, 0 when it had none.
	Code ws.StatusCode
	// Need, for EventNone with n == 0, is the length the buffer given to Next
	// must reach for the reader to make progress.
	Need int
}

// Reader turns the frames a client sends into messages and control events:
// it checks every header (masking, reserved bits and opcodes, control frame
// rules, continuation order), unmasks payloads in place, reassembles
// fragmented messages (with control frames between the fragments), enforces
// the maximum message size across fragments, and checks that text messages
// are UTF-8, fragment by fragment. It holds no connection and never blocks;
// its zero value accepts any message of up to math.MaxInt32 bytes.
type Reader struct {
	// MaxMessageSize bounds a message's length, fragments added up; zero
	// means math.MaxInt32.
	MaxMessageSize int64
	// Expect is the only data frame type accepted, ws.OpText or ws.OpBinary;
	// 0 accepts both.
	Expect ws.OpCode
	// Deflate accepts compressed messages (permessage-deflate was
	// negotiated, RFC 7692): RSV1 on a message's first frame. Such a
	// message's frames may add up to CompressedLimit(MaxMessageSize); it is
	// decompressed once whole, and its decompressed length is bounded by
	// MaxMessageSize (ErrInflatedTooBig). Without Deflate, RSV1 is a
	// protocol error (1002), as on a control or continuation frame with it.
	Deflate bool

	op         ws.OpCode // the opcode of the fragmented message in progress, or 0
	compressed bool      // the fragmented message in progress is compressed
	// checked is how much of a fragmented text message's payload is known
	// to be UTF-8: all of msg but a character cut by a fragment's end.
	// (An int32: a message is at most math.MaxInt32 bytes long, and it
	// fits beside the flags.)
	checked int32
	msg     []byte // the fragmented message's payload so far
	// out holds the last message decompressed, from a pool, until the next
	// call or Release.
	out *inflated
}

// rsv1 is the RSV1 bit in ws.Header.Rsv: permessage-deflate's "compressed".
const rsv1 = 0x4

// CompressedLimit is how long a compressed message may be on the wire
// when its decompressed form may be limit bytes long: DEFLATE's stored
// blocks let data that does not compress grow by 5 bytes per block, so
// the limit itself would refuse some messages that are within it.
func CompressedLimit(limit int64) int64 { return limit + limit/256 + 64 }

// Budget pays for the memory a compressed message takes while it is
// decompressed: Reader.NextWithin asks it before the message's buffer
// grows, so that a message a few bytes long on the wire (up to a
// thousand times shorter than what it decompresses to) is not held
// unpaid.
type Budget interface {
	// Grow is asked before a message being decompressed grows to hold n
	// bytes: its compressed form and the room its decompressed form may
	// fill before the next call. False refuses the message: NextWithin
	// fails with ErrBudget. The reservation is the caller's to give back
	// once the message is handled (Inflated tells what it still holds).
	Grow(n int) bool
}

// ErrBudget is the CloseError (code 1013, try again later) of a compressed
// message whose decompressed form the Budget given to NextWithin refused.
var ErrBudget = &CloseError{1013, "no memory for the decompressed message; try again later"}

// Next consumes the first frame in b. It returns what the frame means and
// the number of bytes it took: n == 0 (with EventNone) when b does not hold
// the whole frame yet, and then Event.Need says how long b must be. Masked
// payloads are unmasked in place in b. A violation is a *CloseError; the
// connection is then failed with its code and Next must not be called again.
func (r *Reader) Next(b []byte) (ev Event, n int, err error) { return r.NextWithin(b, nil) }

// NextWithin is Next, with the memory of a compressed message being
// decompressed paid for by budget (nil: by no one).
func (r *Reader) NextWithin(b []byte, budget Budget) (ev Event, n int, err error) {
	if r.out != nil {
		r.Release()
	}
	h, hn, err := ParseHeader(b)
	if err != nil {
		return ev, 0, errLengthMSB
	}
	if hn == 0 {
		ev.Need = HeaderLen(b)
		return ev, 0, nil
	}
	compressed := false
	if h.Rsv&rsv1 != 0 && r.Deflate {
		// RFC 7692 section 6.1: only a message's first frame says it is
		// compressed.
		if h.OpCode.IsControl() || h.OpCode == ws.OpContinuation {
			return ev, 0, errCompressedBit
		}
		h.Rsv &^= rsv1
		compressed = true
	}
	state := ws.StateServerSide
	if r.op != 0 {
		state |= ws.StateFragmented
	}
	if err := ws.CheckHeader(h, state); err != nil {
		if ce := checkHeaderErrors[err]; ce != nil {
			return ev, 0, ce
		}
		return ev, 0, &CloseError{ws.StatusProtocolError, err.Error()}
	}
	if h.OpCode.IsData() {
		if r.op == 0 && r.Expect != 0 && h.OpCode != r.Expect {
			if r.Expect == ws.OpText {
				return ev, 0, errWantText
			}
			return ev, 0, errWantBinary
		}
		limit := r.MaxMessageSize
		if limit <= 0 || limit > math.MaxInt32 {
			limit = math.MaxInt32
		}
		if compressed || r.op != 0 && r.compressed {
			limit = CompressedLimit(limit)
		}
		if h.Length > limit-int64(len(r.msg)) {
			return ev, 0, errTooBig
		}
	}
	n = hn + int(h.Length)
	if len(b) < n {
		ev.Need = n
		return ev, 0, nil
	}
	payload := b[hn:n:n]
	if h.Masked {
		ws.Cipher(payload, h.Mask, 0)
	}

	switch h.OpCode {
	case ws.OpPing:
		return Event{Kind: EventPing, Payload: payload}, n, nil
	case ws.OpPong:
		return Event{Kind: EventPong, Payload: payload}, n, nil
	case ws.OpClose:
		ev, err = closeEvent(payload)
		return ev, n, err
	}

	if h.Fin && r.op == 0 {
		if compressed {
			return r.inflate(h.OpCode, payload, n, budget)
		}
		return r.message(h.OpCode, payload, n)
	}
	if r.op == 0 {
		r.op = h.OpCode
		r.compressed = compressed
		r.checked = 0
	}
	r.msg = append(r.msg, payload...)
	if r.op == ws.OpText && !r.compressed {
		// Checked fragment by fragment, so that a message that is not
		// UTF-8 fails at once (RFC 6455 section 8.1), not after the
		// sender has made the router hold all of it.
		checked, ok := validUTF8Prefix(r.msg, int(r.checked), h.Fin)
		if r.checked = int32(checked); !ok {
			return ev, n, errTextUTF8
		}
	}
	if !h.Fin {
		return ev, n, nil
	}
	op, msg := r.op, r.msg
	r.op, r.msg = 0, r.msg[:0]
	if r.compressed {
		r.compressed = false
		return r.inflate(op, msg, n, budget)
	}
	return Event{Kind: EventMessage, Binary: op == ws.OpBinary, Payload: msg}, n, nil
}

// inflate decompresses the compressed message p (n is the frame's length)
// into a pooled buffer, bounded by the maximum message size and paid for
// by budget.
func (r *Reader) inflate(op ws.OpCode, p []byte, n int, budget Budget) (Event, int, error) {
	limit := r.MaxMessageSize
	if limit <= 0 || limit > math.MaxInt32 {
		limit = math.MaxInt32
	}
	r.out = inflatedPool.Get().(*inflated)
	var err error
	r.out.b, err = inflate(r.out.b[:0], p, int(limit), budget)
	if err != nil {
		r.Release()
		return Event{}, n, err
	}
	return r.message(op, r.out.b, n)
}

// inflated is a buffer for decompressed messages.
type inflated struct{ b []byte }

// maxPooledInflated keeps the buffers of large messages out of the pool.
const maxPooledInflated = 64 << 10

var inflatedPool = sync.Pool{New: func() any { return new(inflated) }}

// Release gives back the buffer of the last decompressed message (the
// payload of the last Event is then invalid). Next does it itself; a
// connection calls it once it has handled a message, so that an idle
// connection holds no buffer.
func (r *Reader) Release() {
	if r.out == nil {
		return
	}
	if cap(r.out.b) <= maxPooledInflated {
		r.out.b = r.out.b[:0]
		inflatedPool.Put(r.out)
	}
	r.out = nil
}

func (r *Reader) message(op ws.OpCode, payload []byte, n int) (Event, int, error) {
	if op == ws.OpText && !utf8.Valid(payload) {
		return Event{}, n, errTextUTF8
	}
	return Event{Kind: EventMessage, Binary: op == ws.OpBinary, Payload: payload}, n, nil
}

// validUTF8Prefix checks b[from:], where from is a character boundary, and
// returns up to where b is UTF-8: to its end, or, unless final, to the
// start of a character its last bytes begin but do not finish. ok is false
// when b holds bytes that cannot be (part of) UTF-8.
func validUTF8Prefix(b []byte, from int, final bool) (checked int, ok bool) {
	if utf8.Valid(b[from:]) {
		return len(b), true
	}
	if final {
		return from, false
	}
	// A character cut at the end starts in the last three bytes.
	start := len(b)
	for i := len(b) - 1; i >= from && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			start = i
			break
		}
	}
	if start == len(b) || utf8.FullRune(b[start:]) || !utf8.Valid(b[from:start]) {
		// FullRune is true for a sequence that can never be completed.
		return from, false
	}
	return start, true
}

func closeEvent(p []byte) (Event, error) {
	ev := Event{Kind: EventClose}
	switch {
	case len(p) == 0:
		return ev, nil
	case len(p) == 1:
		return ev, errCloseLength
	}
	ev.Code = ws.StatusCode(binary.BigEndian.Uint16(p))
	ev.Payload = p[2:]
	if !validCloseCode(ev.Code) {
		return ev, errCloseCode
	}
	if !utf8.Valid(ev.Payload) {
		return ev, errCloseUTF8
	}
	return ev, nil
}

// validCloseCode reports whether a peer may send code in a close frame
// (RFC 6455 section 7.4): one RFC 6455 defines, one registered with IANA
// since (1012 service restart, 1013 try again later, 1014 bad gateway:
// gobwas/ws does not know them, and the router itself closes with 1013),
// or one of 3000-4999 (libraries, applications, private use).
func validCloseCode(c ws.StatusCode) bool {
	switch {
	case c < 1000 || c >= 5000:
		return false
	case c.IsProtocolReserved() || c == ws.StatusNoMeaningYet:
		return false
	case c >= 1012 && c <= 1014:
		return true
	case c.IsProtocolSpec():
		return c.IsProtocolDefined()
	}
	return true
}

// Fragmented reports whether a fragmented message is in progress.
func (r *Reader) Fragmented() bool { return r.op != 0 }

// Shrink drops the reassembly buffer when it is larger than keep bytes and
// no message is in progress, so that an idle connection holds no memory for
// a large message it once received.
func (r *Reader) Shrink(keep int) {
	if r.op == 0 && cap(r.msg) > keep {
		r.msg = nil
	}
}

// Buffered returns the length of the fragmented message in progress so
// far: what the reader holds for it.
func (r *Reader) Buffered() int { return len(r.msg) }

// Inflated returns the length of the last message decompressed, while the
// reader holds it (until Release or the next call).
func (r *Reader) Inflated() int {
	if r.out == nil {
		return 0
	}
	return len(r.out.b)
}
