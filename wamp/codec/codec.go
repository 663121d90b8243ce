// Package codec turns WAMP messages into bytes and back in the three
// serializations of the specification: JSON (wamp.2.json), MessagePack
// (wamp.2.msgpack) and CBOR (wamp.2.cbor).
//
// Decoding keeps a message's payload (Arguments|list, ArgumentsKw|dict) raw: the
// elements are checked and kept as the bytes they arrived in, so a router
// forwards them to receivers of the same serialization with a copy and
// nothing more. Encoding for another serialization converts the payload
// once, with binary values mapped between JSON's "\u0000"+base64 strings,
// MessagePack's bin and CBOR's byte strings. A *wamp.Shared message is
// encoded once per serialization and the bytes are reused.
//
// The payload of a request that a router forwards (PUBLISH, CALL, YIELD, and
// ERROR for an INVOCATION) is checked once, as it is decoded, to hold only
// values of the common value model (value.go): strings in UTF-8, dict keys
// that are strings, each once in its dict (dictkeys.go), integers of at
// most 64 bits, no extension types. What
// passes reaches receivers of every serialization, except for the values
// JSON alone cannot carry (NaN, infinities, a string that starts with
// U+0000), whose conversion to JSON fails. Such a request decodes as a
// *RequestError, which a router answers with ERROR. The payloads of other
// messages are only checked to be well-formed; DecodePayload checks their
// values when they are read.
//
// Raw payload slices returned by Decode alias the input buffer: the caller
// must not reuse the buffer while the message is in use.
package codec

import (
	"errors"
	"fmt"

	"github.com/junction-wamp/junction/wamp"
)

// Codec encodes and decodes WAMP messages in one serialization. The codecs of
// this package are stateless and safe for concurrent use.
type Codec interface {
	// Format identifies the serialization (and is its RawSocket id).
	Format() wamp.Format
	// Subprotocol is the WebSocket subprotocol name, e.g. "wamp.2.json".
	Subprotocol() string
	// Binary reports whether messages go in binary WebSocket frames.
	Binary() bool
	// Encode appends the encoding of m to dst.
	Encode(dst []byte, m wamp.Message) ([]byte, error)
	// Decode parses one message. Raw payload bytes alias data.
	Decode(data []byte) (wamp.Message, error)
}

// The codecs.
var (
	JSON    Codec = &codec{f: jsonFormat{}, id: wamp.FormatJSON, proto: "wamp.2.json"}
	MsgPack Codec = &codec{f: msgpackFormat{}, id: wamp.FormatMsgPack, proto: "wamp.2.msgpack", binary: true}
	CBOR    Codec = &codec{f: cborFormat{}, id: wamp.FormatCBOR, proto: "wamp.2.cbor", binary: true}
)

// All lists the codecs in order of preference.
var All = []Codec{JSON, MsgPack, CBOR}

// ByFormat returns the codec for f, or nil.
func ByFormat(f wamp.Format) Codec {
	switch f {
	case wamp.FormatJSON:
		return JSON
	case wamp.FormatMsgPack:
		return MsgPack
	case wamp.FormatCBOR:
		return CBOR
	}
	return nil
}

// BySubprotocol returns the codec for a WebSocket subprotocol, or nil.
func BySubprotocol(p string) Codec {
	for _, c := range All {
		if c.Subprotocol() == p {
			return c
		}
	}
	return nil
}

// maxElements is the largest element count of any message (ERROR).
const maxElements = 7

// format is what each serialization provides to the shared message layout
// code: reading single elements and appending them.
type format interface {
	// split finds the elements of a message's top-level array. It checks
	// the values of a request's payload elements (checkedFrom) as it
	// walks them, as value would read them, and records in elements.bad
	// the first thing that keeps one from converting into the common
	// value model.
	split(data []byte) (elements, error)
	uint(b []byte) (uint64, error)
	str(b []byte) (string, error)
	// value decodes any element into the common value model (value.go).
	value(b []byte) (any, error)
	// header decodes an Options, Details or Extra dict into the model,
	// reading values with no WAMP meaning as absent (value.go).
	header(b []byte) (map[string]any, error)
	// kind tells a list from a dict without decoding it.
	kind(b []byte) kind
	// emptyDict reports whether a dict element is empty, which most
	// Options and Details are, so that they need not be decoded.
	emptyDict(b []byte) bool
	// wellFormed checks a payload element that split did not check.
	wellFormed(b []byte) error

	arrayStart(dst []byte, n int) []byte
	sep(dst []byte) []byte
	arrayEnd(dst []byte) []byte
	appendUint(dst []byte, v uint64) []byte
	appendString(dst []byte, s string) []byte
	appendValue(dst []byte, v any) ([]byte, error)
	appendList(dst []byte, l []any) ([]byte, error)
}

// elements are a message's top-level elements, as split finds them.
type elements struct {
	el [maxElements][]byte
	n  int // elements in el
	// bad is the first thing split found wrong with the values of a
	// checked payload element (a string that is not UTF-8), and badAt
	// that element: it does not convert into the common value model.
	bad   error
	badAt int
}

type kind uint8

const (
	kindOther kind = iota
	kindList
	kindDict
)

type codec struct {
	f      format
	id     wamp.Format
	proto  string
	binary bool
}

func (c *codec) Format() wamp.Format { return c.id }
func (c *codec) Subprotocol() string { return c.proto }
func (c *codec) Binary() bool        { return c.binary }

// ErrUnknownType is wrapped by Decode errors for a message type code that
// WAMP does not define.
var ErrUnknownType = errors.New("unknown message type")

// RequestError is the error Decode returns for a request (PUBLISH,
// SUBSCRIBE, CALL, CANCEL, REGISTER, YIELD, ERROR for an INVOCATION) whose
// type and request id read but whose Options, Details or payload are not
// valid: a string that is not UTF-8, a dict key that is not a string or
// that its dict repeats, an integer beyond 64 bits. Message is the request without that part, so
// that a router can answer it with ERROR and let the session go on, rather
// than end the session as for bytes it cannot read.
type RequestError struct {
	Message wamp.Message
	Err     error
}

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

// Decode parses one message.
func (c *codec) Decode(data []byte) (wamp.Message, error) {
	d := decoder{f: c.f, self: c.id}
	var err error
	if d.elements, err = c.f.split(data); err != nil {
		return nil, fmt.Errorf("%s: %w", c.id, err)
	}
	m := d.message()
	if d.err != nil {
		return nil, fmt.Errorf("%s: %w", c.id, d.err)
	}
	if d.invalid != nil {
		return nil, &RequestError{Message: m, Err: fmt.Errorf("%s %s: %w", c.id, m.Type(), d.invalid)}
	}
	return m, nil
}

// Encode appends m's encoding to dst.
func (c *codec) Encode(dst []byte, m wamp.Message) ([]byte, error) {
	if s, ok := m.(*wamp.Shared); ok {
		if b := s.Encoded(c.id); b != nil {
			return append(dst, b...), nil
		}
		if err := s.EncodeError(c.id); err != nil {
			return dst, err
		}
		b, err := c.encode(nil, s.Message)
		if err != nil {
			s.SetEncodeError(c.id, err)
			return dst, err
		}
		s.SetEncoded(c.id, b)
		return append(dst, b...), nil
	}
	return c.encode(dst, m)
}

func (c *codec) encode(dst []byte, m wamp.Message) ([]byte, error) {
	e := encoder{f: c.f, self: c.id, b: dst}
	e.message(m)
	if e.err != nil {
		name := "nil message"
		if m := wamp.Unwrap(m); m != nil {
			name = m.Type().String()
		}
		return dst, fmt.Errorf("encoding %s as %s: %w", name, c.id, e.err)
	}
	return e.b, nil
}
