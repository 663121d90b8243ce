// Package codec turns WAMP messages into bytes and back in the three
// serializations of the specification: JSON (wamp.2.json), MessagePack
// (wamp.2.msgpack) and CBOR (wamp.2.cbor).
//
// Decoding keeps a message's payload (Arguments|list, ArgumentsKw|dict) raw: the
// elements are checked to be well-formed and kept as the bytes they arrived
// in, so a router forwards them to receivers of the same serialization with a
// copy and nothing more. Encoding for another serialization converts the
// payload once, with binary values mapped between JSON's "\u0000"+base64
// strings, MessagePack's bin and CBOR's byte strings. A *wamp.Shared message
// is encoded once per serialization and the bytes are reused.
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
	// split finds the n elements of a message's top-level array.
	split(data []byte) (el [maxElements][]byte, n int, err error)
	uint(b []byte) (uint64, error)
	str(b []byte) (string, error)
	// value decodes any element into the common value model (value.go).
	value(b []byte) (any, error)
	// kind tells a list from a dict without decoding it.
	kind(b []byte) kind
	// emptyDict reports whether a dict element is empty, which most
	// Options and Details are, so that they need not be decoded.
	emptyDict(b []byte) bool
	// wellFormed checks an element that will be forwarded undecoded.
	wellFormed(b []byte) error

	arrayStart(dst []byte, n int) []byte
	sep(dst []byte) []byte
	arrayEnd(dst []byte) []byte
	appendUint(dst []byte, v uint64) []byte
	appendString(dst []byte, s string) []byte
	appendValue(dst []byte, v any) ([]byte, error)
	appendList(dst []byte, l []any) ([]byte, error)
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

// Decode parses one message.
func (c *codec) Decode(data []byte) (wamp.Message, error) {
	d := decoder{f: c.f, self: c.id}
	var err error
	if d.el, d.n, err = c.f.split(data); err != nil {
		return nil, fmt.Errorf("%s: %w", c.id, err)
	}
	m := d.message()
	if d.err != nil {
		return nil, fmt.Errorf("%s: %w", c.id, d.err)
	}
	return m, nil
}

// Encode appends m's encoding to dst.
func (c *codec) Encode(dst []byte, m wamp.Message) ([]byte, error) {
	if s, ok := m.(*wamp.Shared); ok {
		if b := s.Encoded(c.id); b != nil {
			return append(dst, b...), nil
		}
		b, err := c.encode(nil, s.Message)
		if err != nil {
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
