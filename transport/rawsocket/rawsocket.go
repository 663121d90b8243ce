package rawsocket

import (
	"errors"
	"fmt"
	"io"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Sizes and limits of the protocol.
const (
	// Magic is the first octet of every handshake request and reply. No HTTP
	// request starts with it, so RawSocket and WebSocket share a port.
	Magic = 0x7F
	// HandshakeSize is the length of a handshake request or reply.
	HandshakeSize = 4
	// HeaderSize is the length of a frame header.
	HeaderSize = 4
	// MinLength and MaxLength bound the maximum message length a peer can
	// announce: 2^9 and 2^24 octets.
	MinLength = 1 << 9
	MaxLength = 1 << 24
)

// ErrShort reports that a handshake or frame header is incomplete: the
// caller reads more bytes and tries again.
var ErrShort = errors.New("rawsocket: need more bytes")

// ErrNotRawSocket reports a first octet other than Magic.
var ErrNotRawSocket = errors.New("rawsocket: first octet is not 0x7F")

// ErrReplyReserved reports a router's success reply whose reserved octets
// are not zero: a reply the client cannot trust, not a refusal (an
// ErrorCode is only ever what the router sent).
var ErrReplyReserved = errors.New("rawsocket: reserved octets set in the router's handshake reply")

// ErrorCode is the code of a handshake error reply. It is an error itself:
// the one the router sent, or [ParseReply] received.
type ErrorCode uint8

// Handshake error codes.
const (
	ErrorIllegal               ErrorCode = 0 // never sent: 0 is "no error"
	ErrorSerializerUnsupported ErrorCode = 1
	ErrorMaxLengthUnacceptable ErrorCode = 2
	ErrorReservedBits          ErrorCode = 3
	ErrorMaxConnections        ErrorCode = 4
)

func (c ErrorCode) String() string {
	switch c {
	case ErrorIllegal:
		return "illegal error code 0"
	case ErrorSerializerUnsupported:
		return "serializer unsupported"
	case ErrorMaxLengthUnacceptable:
		return "maximum message length unacceptable"
	case ErrorReservedBits:
		return "use of reserved bits"
	case ErrorMaxConnections:
		return "maximum connection count reached"
	}
	return fmt.Sprintf("error %d", uint8(c))
}

func (c ErrorCode) Error() string { return "rawsocket handshake refused: " + c.String() }

// Handshake is what one side announces in the opening handshake.
type Handshake struct {
	// MaxLength is the largest message the announcing side accepts, a power
	// of two from MinLength to MaxLength.
	MaxLength int
	// Serializer is the serializer requested (client) or agreed (router).
	// Its value is the RawSocket serializer id, which may be one this
	// package does not know.
	Serializer wamp.Format
}

// ParseHandshake parses a client's handshake request from the first
// HandshakeSize bytes of b. It returns ErrShort when b is shorter,
// ErrNotRawSocket for a wrong first octet and ErrorReservedBits when the
// reserved octets are not zero. It does not judge the serializer: see
// [Negotiate].
func ParseHandshake(b []byte) (Handshake, error) {
	if len(b) < HandshakeSize {
		return Handshake{}, ErrShort
	}
	if b[0] != Magic {
		return Handshake{}, ErrNotRawSocket
	}
	if b[2] != 0 || b[3] != 0 {
		return Handshake{}, ErrorReservedBits
	}
	return Handshake{MaxLength: MinLength << (b[1] >> 4), Serializer: wamp.Format(b[1] & 0x0f)}, nil
}

// ParseReply parses a router's handshake reply: the router's handshake, or
// the ErrorCode of an error reply. A success reply with reserved octets
// set is ErrReplyReserved.
func ParseReply(b []byte) (Handshake, error) {
	if len(b) < HandshakeSize {
		return Handshake{}, ErrShort
	}
	if b[0] != Magic {
		return Handshake{}, ErrNotRawSocket
	}
	if b[1]&0x0f == 0 {
		return Handshake{}, ErrorCode(b[1] >> 4)
	}
	h, err := ParseHandshake(b)
	if err == ErrorReservedBits {
		err = ErrReplyReserved
	}
	return h, err
}

// lengthExponent returns the largest L with 2^(9+L) <= n, within [0, 15].
func lengthExponent(n int) byte {
	var l byte
	for l < 15 && MinLength<<(l+1) <= n {
		l++
	}
	return l
}

// AnnouncedLength is the maximum length a side that accepts messages of up
// to n octets announces: the largest power of two not above n, within
// [MinLength, MaxLength].
func AnnouncedLength(n int) int { return MinLength << lengthExponent(n) }

// AppendHandshake appends a handshake request or success reply announcing
// h to dst. h.MaxLength is rounded down to what can be announced (see
// [AnnouncedLength]).
func AppendHandshake(dst []byte, h Handshake) []byte {
	return append(dst, Magic, lengthExponent(h.MaxLength)<<4|byte(h.Serializer)&0x0f, 0, 0)
}

// AppendHandshakeError appends an error reply to dst.
func AppendHandshakeError(dst []byte, code ErrorCode) []byte {
	return append(dst, Magic, byte(code)<<4, 0, 0)
}

// Negotiate is the router's side of the handshake. It parses the client's
// request from req and appends the reply to send to dst: a success reply
// announcing maxLength (rounded down, see [AnnouncedLength]) and echoing a
// serializer package codec supports, or an error reply. The error is nil on
// success, the ErrorCode sent otherwise, and ErrShort or ErrNotRawSocket
// (with nothing appended) when req is not a whole RawSocket request; then
// the connection is failed without a reply.
func Negotiate(dst, req []byte, maxLength int) (client Handshake, reply []byte, err error) {
	client, err = ParseHandshake(req)
	if code, ok := err.(ErrorCode); ok {
		return client, AppendHandshakeError(dst, code), err
	}
	if err != nil {
		return client, dst, err
	}
	if codec.ByFormat(client.Serializer) == nil {
		return client, AppendHandshakeError(dst, ErrorSerializerUnsupported), ErrorSerializerUnsupported
	}
	return client, AppendHandshake(dst, Handshake{MaxLength: maxLength, Serializer: client.Serializer}), nil
}

// Accept runs the router's side of the handshake on rw: it reads the
// client's request, writes the reply (see [Negotiate]) and returns what the
// client announced. On an error reply the caller closes the connection.
// Deadlines are the caller's business.
func Accept(rw io.ReadWriter, maxLength int) (Handshake, error) {
	var req, out [HandshakeSize]byte
	if _, err := io.ReadFull(rw, req[:]); err != nil {
		return Handshake{}, fmt.Errorf("rawsocket handshake: reading the request: %w", err)
	}
	client, reply, err := Negotiate(out[:0], req[:], maxLength)
	if len(reply) > 0 {
		if _, werr := rw.Write(reply); werr != nil && err == nil {
			err = fmt.Errorf("rawsocket handshake: writing the reply: %w", werr)
		}
	}
	return client, err
}

// FrameType is the type of a transport message.
type FrameType uint8

// Frame types; 3 to 7 are reserved.
const (
	TypeMessage FrameType = 0
	TypePing    FrameType = 1
	TypePong    FrameType = 2
)

func (t FrameType) String() string {
	switch t {
	case TypeMessage:
		return "message"
	case TypePing:
		return "PING"
	case TypePong:
		return "PONG"
	}
	return fmt.Sprintf("FrameType(%d)", uint8(t))
}

// Errors in frame headers. They are protocol violations: the connection is
// failed.
var (
	ErrReservedBits = errors.New("rawsocket: reserved bits set in a frame header")
	ErrReservedType = errors.New("rawsocket: reserved frame type")
	ErrLengthBit    = errors.New("rawsocket: 25th length bit set with a non-zero length")
	ErrTooLong      = errors.New("rawsocket: frame longer than the announced maximum")
)

// Header is a decoded frame header.
type Header struct {
	Type   FrameType
	Length int // payload length, 0 to 2^24
}

// ParseHeader decodes the frame header at the start of b. It returns ErrShort
// when b holds fewer than HeaderSize bytes.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShort
	}
	h := Header{
		Type:   FrameType(b[0] & 0x07),
		Length: int(b[1])<<16 | int(b[2])<<8 | int(b[3]),
	}
	switch {
	case b[0]&0xf0 != 0:
		return h, ErrReservedBits
	case b[0]&0x08 != 0:
		if h.Length != 0 {
			return h, ErrLengthBit
		}
		h.Length = MaxLength
	}
	if h.Type > TypePong {
		return h, ErrReservedType
	}
	return h, nil
}

// Frame is one transport message split off a buffer by Next.
type Frame struct {
	Header
	// Payload is the frame's payload; it aliases the buffer given to Next.
	Payload []byte
}

// Size is the frame's length on the wire, header included.
func (f *Frame) Size() int { return HeaderSize + f.Length }

// Next splits the first frame off b. It returns the frame and the number
// of bytes it took; n is 0 when b does not hold a whole frame yet, and then
// f.Size() is the length b must reach (HeaderSize while the header itself is
// incomplete). A frame whose payload exceeds maxLength is ErrTooLong (f
// says how long it claimed to be); a bad header is one of the header errors.
// The payload is not copied and Next never allocates.
func Next(b []byte, maxLength int) (f Frame, n int, err error) {
	f.Header, err = ParseHeader(b)
	if err == ErrShort {
		return f, 0, nil
	}
	if err != nil {
		return f, 0, err
	}
	if f.Length > maxLength {
		return f, 0, ErrTooLong
	}
	n = f.Size()
	if len(b) < n {
		return f, 0, nil
	}
	f.Payload = b[HeaderSize:n:n]
	return f, n, nil
}

// AppendHeader appends a frame header to dst. length must not exceed
// MaxLength.
func AppendHeader(dst []byte, t FrameType, length int) []byte {
	if length == MaxLength {
		return append(dst, 0x08|byte(t), 0, 0, 0)
	}
	return append(dst, byte(t), byte(length>>16), byte(length>>8), byte(length))
}

// AppendFrame appends a whole frame to dst. len(payload) must not exceed
// MaxLength.
func AppendFrame(dst []byte, t FrameType, payload []byte) []byte {
	return append(AppendHeader(dst, t, len(payload)), payload...)
}

// BeginFrame reserves room for a frame header at the end of dst and returns
// the extended buffer and where the frame starts. Append the payload (for
// instance with a codec's Encode), then call EndFrame. A frame built this way
// costs no copy of its payload.
func BeginFrame(dst []byte) ([]byte, int) {
	return append(dst, 0, 0, 0, 0), len(dst)
}

// PayloadLen is the length of the payload appended since BeginFrame
// returned start.
func PayloadLen(dst []byte, start int) int { return len(dst) - start - HeaderSize }

// EndFrame writes the header of the frame begun at start, whose payload is
// the rest of dst, and returns dst. The payload must not exceed MaxLength.
func EndFrame(dst []byte, start int, t FrameType) []byte {
	AppendHeader(dst[start:start], t, PayloadLen(dst, start))
	return dst
}
