package codec

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"
)

// msgpackFormat is WAMP's MessagePack serialization (tinylib/msgp's
// allocation-free byte-slice API).
type msgpackFormat struct{}

func (msgpackFormat) split(data []byte, out *[maxElements][]byte) (int, error) {
	sz, rest, err := msgp.ReadArrayHeaderBytes(data)
	if err != nil {
		return 0, fmt.Errorf("a message is a MessagePack array: %w", err)
	}
	if sz > maxElements {
		return 0, fmt.Errorf("a message has at most %d elements", maxElements)
	}
	for i := 0; i < int(sz); i++ {
		next, err := msgp.Skip(rest)
		if err != nil {
			return 0, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = rest[:len(rest)-len(next)]
		rest = next
	}
	if len(rest) != 0 {
		return 0, errors.New("trailing data after the message")
	}
	return int(sz), nil
}

func (msgpackFormat) uint(b []byte) (uint64, error) {
	v, _, err := msgp.ReadUint64Bytes(b)
	return v, err
}

func (msgpackFormat) str(b []byte) (string, error) {
	s, _, err := msgp.ReadStringZC(b)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(s) {
		return "", errors.New("string is not valid UTF-8")
	}
	return string(s), nil
}

func (msgpackFormat) kind(b []byte) kind {
	switch msgp.NextType(b) {
	case msgp.ArrayType:
		return kindList
	case msgp.MapType:
		return kindDict
	}
	return kindOther
}

// wellFormed: split has already walked the element with msgp.Skip, which
// checks every length and nesting level.
func (msgpackFormat) wellFormed([]byte) error { return nil }

func (msgpackFormat) value(b []byte) (any, error) {
	v, _, err := msgp.ReadIntfBytes(b)
	if err != nil {
		return nil, err
	}
	if ext, ok := v.(*msgp.RawExtension); ok {
		return nil, fmt.Errorf("MessagePack extension type %d has no WAMP meaning", ext.Type)
	}
	return normalize(v, 0)
}

func (msgpackFormat) arrayStart(dst []byte, n int) []byte {
	return msgp.AppendArrayHeader(dst, uint32(n))
}
func (msgpackFormat) sep(dst []byte) []byte      { return dst }
func (msgpackFormat) arrayEnd(dst []byte) []byte { return dst }
func (msgpackFormat) appendUint(dst []byte, v uint64) []byte {
	return msgp.AppendUint64(dst, v)
}
func (msgpackFormat) appendString(dst []byte, s string) []byte { return msgp.AppendString(dst, s) }

func (msgpackFormat) appendValue(dst []byte, v any) ([]byte, error) {
	switch v.(type) {
	case nil, bool, string, []byte, int64, uint64, int, float64, []any, map[string]any:
		return appendMsgpack(dst, v, 0)
	}
	g, err := normalize(v, 0)
	if err != nil {
		return dst, err
	}
	return appendMsgpack(dst, g, 0)
}

func appendMsgpack(dst []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, errors.New("value nested too deeply")
	}
	var err error
	switch v := v.(type) {
	case []any:
		dst = msgp.AppendArrayHeader(dst, uint32(len(v)))
		for _, e := range v {
			if dst, err = appendMsgpack(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case map[string]any:
		dst = msgp.AppendMapHeader(dst, uint32(len(v)))
		for k, e := range v {
			dst = msgp.AppendString(dst, k)
			if dst, err = appendMsgpack(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case uint64:
		return msgp.AppendUint64(dst, v), nil
	case int64:
		if v >= 0 {
			return msgp.AppendUint64(dst, uint64(v)), nil
		}
		return msgp.AppendInt64(dst, v), nil
	case int:
		if v >= 0 {
			return msgp.AppendUint64(dst, uint64(v)), nil
		}
		return msgp.AppendInt64(dst, int64(v)), nil
	case nil, bool, string, []byte, float64:
		return msgp.AppendIntf(dst, v)
	}
	g, err := normalize(v, depth)
	if err != nil {
		return dst, err
	}
	return appendMsgpack(dst, g, depth+1)
}
