package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"
)

// msgpackFormat is WAMP's MessagePack serialization (tinylib/msgp's
// allocation-free byte-slice API).
type msgpackFormat struct{}

func (msgpackFormat) split(data []byte) (el [maxElements][]byte, n int, err error) {
	sz, rest, err := msgp.ReadArrayHeaderBytes(data)
	if err != nil {
		return el, 0, fmt.Errorf("a message is a MessagePack array: %w", err)
	}
	if sz > maxElements {
		return el, 0, fmt.Errorf("a message has at most %d elements", maxElements)
	}
	for i := 0; i < int(sz); i++ {
		m, err := msgpackSkip(rest, 0)
		if err != nil {
			return el, 0, fmt.Errorf("element %d: %w", i, err)
		}
		el[i] = rest[:m]
		rest = rest[m:]
	}
	if len(rest) != 0 {
		return el, 0, errors.New("trailing data after the message")
	}
	return el, int(sz), nil
}

// msgpackSkip returns the length of the item at the start of b, checking
// every length. depth is the number of containers around it; msgp.Skip
// alone would allow nesting far deeper than the other codecs do.
func msgpackSkip(b []byte, depth int) (int, error) {
	if len(b) == 0 {
		return 0, msgp.ErrShortBytes
	}
	var (
		items uint64 // items inside the container
		n     int    // header length
	)
	switch c := b[0]; {
	case c&0xf0 == 0x80: // fixmap
		items, n = 2*uint64(c&0x0f), 1
	case c&0xf0 == 0x90: // fixarray
		items, n = uint64(c&0x0f), 1
	case c == 0xdc, c == 0xde: // array 16, map 16
		if len(b) < 3 {
			return 0, msgp.ErrShortBytes
		}
		items, n = uint64(binary.BigEndian.Uint16(b[1:])), 3
	case c == 0xdd, c == 0xdf: // array 32, map 32
		if len(b) < 5 {
			return 0, msgp.ErrShortBytes
		}
		items, n = uint64(binary.BigEndian.Uint32(b[1:])), 5
	default: // not a container
		rest, err := msgp.Skip(b)
		if err != nil {
			return 0, err
		}
		return len(b) - len(rest), nil
	}
	if b[0] == 0xde || b[0] == 0xdf {
		items *= 2
	}
	if depth >= maxDepth {
		return 0, errTooDeep
	}
	if items > uint64(len(b)-n) { // every item takes at least a byte
		return 0, msgp.ErrShortBytes
	}
	for ; items > 0; items-- {
		m, err := msgpackSkip(b[n:], depth+1)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

func (msgpackFormat) uint(b []byte) (uint64, error) {
	if len(b) == 1 && b[0] <= 0x7f { // positive fixint: most IDs and type codes
		return uint64(b[0]), nil
	}
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
	switch c := b[0]; {
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		return kindList
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		return kindDict
	}
	return kindOther
}

func (msgpackFormat) emptyDict(b []byte) bool { return len(b) == 1 && b[0] == 0x80 }

// wellFormed: split has already walked the element with msgpackSkip, which
// checks every length and nesting level. Strings in a forwarded payload are
// not checked for valid UTF-8; converting the payload does that.
func (msgpackFormat) wellFormed([]byte) error { return nil }

func (msgpackFormat) value(b []byte) (any, error) {
	v, _, err := msgp.ReadIntfBytes(b)
	if err != nil {
		return nil, err
	}
	return normalize(v, 0, msgpackLeaf)
}

// msgpackLeaf maps what msgp decodes onto the model. A timestamp (extension
// -1) becomes an RFC 3339 string; other extensions have no WAMP meaning.
func msgpackLeaf(v any, _ int) (any, error) {
	if ext, ok := v.(*msgp.RawExtension); ok {
		if ext.Type != -1 {
			return nil, fmt.Errorf("MessagePack extension type %d has no WAMP meaning", ext.Type)
		}
		// msgp reads a timestamp at the very end of its input as a raw
		// extension.
		var sec, nsec int64
		switch d := ext.Data; len(d) {
		case 4:
			sec = int64(binary.BigEndian.Uint32(d))
		case 8:
			u := binary.BigEndian.Uint64(d)
			sec, nsec = int64(u&(1<<34-1)), int64(u>>34)
		case 12:
			nsec, sec = int64(binary.BigEndian.Uint32(d)), int64(binary.BigEndian.Uint64(d[4:]))
		default:
			return nil, errors.New("malformed MessagePack timestamp")
		}
		if nsec > 999999999 {
			return nil, errors.New("malformed MessagePack timestamp")
		}
		v = time.Unix(sec, nsec)
	}
	return modelLeaf(v)
}

func (msgpackFormat) arrayStart(dst []byte, n int) []byte {
	return msgp.AppendArrayHeader(dst, uint32(n))
}
func (msgpackFormat) sep(dst []byte) []byte      { return dst }
func (msgpackFormat) arrayEnd(dst []byte) []byte { return dst }
func (msgpackFormat) appendUint(dst []byte, v uint64) []byte {
	return msgp.AppendUint64(dst, v)
}
func (msgpackFormat) appendString(dst []byte, s string) []byte { return appendMsgpackString(dst, s) }

// appendMsgpackString writes s as a str, replacing invalid UTF-8 with
// U+FFFD as the JSON encoder does: a str must hold UTF-8.
func appendMsgpackString(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return msgp.AppendString(dst, s)
}

func (msgpackFormat) appendValue(dst []byte, v any) ([]byte, error) {
	return appendMsgpack(dst, v, 0)
}

func (msgpackFormat) appendList(dst []byte, l []any) ([]byte, error) {
	return appendMsgpackList(dst, l, 0)
}

func appendMsgpackList(dst []byte, l []any, depth int) ([]byte, error) {
	if depth >= maxDepth {
		return dst, errTooDeep
	}
	if uint64(len(l)) > math.MaxUint32 {
		return dst, errors.New("list too long for MessagePack")
	}
	dst = msgp.AppendArrayHeader(dst, uint32(len(l)))
	for _, e := range l {
		var err error
		if dst, err = appendMsgpack(dst, e, depth+1); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// appendMsgpack appends v; depth is the number of containers around it.
// Non-negative integers are written unsigned, in the fewest bytes.
func appendMsgpack(dst []byte, v any, depth int) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return msgp.AppendNil(dst), nil
	case bool:
		return msgp.AppendBool(dst, v), nil
	case string:
		return appendMsgpackString(dst, v), nil
	case []byte:
		return msgp.AppendBytes(dst, v), nil
	case float64:
		return msgp.AppendFloat64(dst, v), nil
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
	case []any:
		return appendMsgpackList(dst, v, depth)
	case map[string]any:
		if depth >= maxDepth {
			return dst, errTooDeep
		}
		if uint64(len(v)) > math.MaxUint32 {
			return dst, errors.New("dict too large for MessagePack")
		}
		dst = msgp.AppendMapHeader(dst, uint32(len(v)))
		for k, e := range v {
			dst = appendMsgpackString(dst, k)
			if dst, err = appendMsgpack(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	g, err := generic(v, depth)
	if err != nil {
		return dst, err
	}
	return appendMsgpack(dst, g, depth)
}
