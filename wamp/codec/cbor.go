package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// cborFormat is WAMP's CBOR serialization. Message elements are read and
// written here directly (the headers are a few bytes); generic values are
// decoded by fxamacker/cbor.
type cborFormat struct{}

var cborDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DefaultMapType:        reflect.TypeOf(map[string]any(nil)),
		IntDec:                cbor.IntDecConvertNone,
		MaxNestedLevels:       maxDepth,
		UTF8:                  cbor.UTF8RejectInvalid,
		DupMapKey:             cbor.DupMapKeyQuiet,
		TagsMd:                cbor.TagsAllowed,
		DefaultByteStringType: reflect.TypeOf([]byte(nil)),
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

var cborEnc = func() cbor.EncMode {
	em, err := cbor.EncOptions{Time: cbor.TimeRFC3339Nano}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

var errCBORShort = errors.New("CBOR data is cut short")

// cborHead reads an item's head: major type, argument, header length.
// indefinite is set for the indefinite-length marker.
func cborHead(b []byte) (major byte, arg uint64, n int, indefinite bool, err error) {
	if len(b) == 0 {
		return 0, 0, 0, false, errCBORShort
	}
	major, ai := b[0]>>5, b[0]&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), 1, false, nil
	case ai == 24:
		if len(b) < 2 {
			return 0, 0, 0, false, errCBORShort
		}
		return major, uint64(b[1]), 2, false, nil
	case ai == 25:
		if len(b) < 3 {
			return 0, 0, 0, false, errCBORShort
		}
		return major, uint64(binary.BigEndian.Uint16(b[1:])), 3, false, nil
	case ai == 26:
		if len(b) < 5 {
			return 0, 0, 0, false, errCBORShort
		}
		return major, uint64(binary.BigEndian.Uint32(b[1:])), 5, false, nil
	case ai == 27:
		if len(b) < 9 {
			return 0, 0, 0, false, errCBORShort
		}
		return major, binary.BigEndian.Uint64(b[1:]), 9, false, nil
	case ai == 31 && major >= 2 && major <= 5:
		return major, 0, 1, true, nil
	}
	return 0, 0, 0, false, fmt.Errorf("malformed CBOR head 0x%02x", b[0])
}

// cborSkip returns the length of the item at the start of b.
func cborSkip(b []byte, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errors.New("CBOR nested too deeply")
	}
	major, arg, n, indef, err := cborHead(b)
	if err != nil {
		return 0, err
	}
	if indef {
		for {
			if n >= len(b) {
				return 0, errCBORShort
			}
			if b[n] == 0xff {
				return n + 1, nil
			}
			m, err := cborSkip(b[n:], depth+1)
			if err != nil {
				return 0, err
			}
			n += m
		}
	}
	switch major {
	case 0, 1, 7:
		return n, nil
	case 2, 3:
		if arg > uint64(len(b)-n) {
			return 0, errCBORShort
		}
		return n + int(arg), nil
	case 4, 5:
		items := arg
		if major == 5 {
			items *= 2
		}
		if items > uint64(len(b)) { // every item is at least one byte
			return 0, errCBORShort
		}
		for i := uint64(0); i < items; i++ {
			m, err := cborSkip(b[n:], depth+1)
			if err != nil {
				return 0, err
			}
			n += m
		}
		return n, nil
	default: // 6: a tag and the item it tags
		m, err := cborSkip(b[n:], depth+1)
		return n + m, err
	}
}

func (cborFormat) split(data []byte, out *[maxElements][]byte) (int, error) {
	major, count, n, indef, err := cborHead(data)
	if err != nil || major != 4 || indef {
		return 0, errors.New("a message is a definite-length CBOR array")
	}
	if count > maxElements {
		return 0, fmt.Errorf("a message has at most %d elements", maxElements)
	}
	rest := data[n:]
	for i := 0; i < int(count); i++ {
		m, err := cborSkip(rest, 0)
		if err != nil {
			return 0, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = rest[:m]
		rest = rest[m:]
	}
	if len(rest) != 0 {
		return 0, errors.New("trailing data after the message")
	}
	return int(count), nil
}

func (cborFormat) uint(b []byte) (uint64, error) {
	major, v, _, indef, err := cborHead(b)
	if err != nil || major != 0 || indef {
		return 0, errors.New("not a non-negative integer")
	}
	return v, nil
}

func (cborFormat) str(b []byte) (string, error) {
	major, l, n, indef, err := cborHead(b)
	if err != nil || major != 3 {
		return "", errors.New("not a text string")
	}
	if indef {
		var s string
		if err := cborDec.Unmarshal(b, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	s := b[n : n+int(l)]
	if !utf8.Valid(s) {
		return "", errors.New("string is not valid UTF-8")
	}
	return string(s), nil
}

func (cborFormat) kind(b []byte) kind {
	switch b[0] >> 5 {
	case 4:
		return kindList
	case 5:
		return kindDict
	}
	return kindOther
}

func (cborFormat) wellFormed(b []byte) error { return cborDec.Wellformed(b) }

func (cborFormat) value(b []byte) (any, error) {
	if len(b) == 1 && b[0] == 0xa0 {
		return map[string]any{}, nil
	}
	var v any
	if err := cborDec.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return normalizeCBOR(v, 0)
}

// normalizeCBOR handles what only CBOR decodes to (tags), then the model.
func normalizeCBOR(v any, depth int) (any, error) {
	switch t := v.(type) {
	case cbor.Tag:
		return normalizeCBOR(t.Content, depth+1)
	case []any:
		for i, e := range t {
			n, err := normalizeCBOR(e, depth+1)
			if err != nil {
				return nil, err
			}
			t[i] = n
		}
	case map[string]any:
		for k, e := range t {
			n, err := normalizeCBOR(e, depth+1)
			if err != nil {
				return nil, err
			}
			t[k] = n
		}
	}
	return normalize(v, depth)
}

func cborAppendHead(dst []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(dst, m|byte(v))
	case v <= math.MaxUint8:
		return append(dst, m|24, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), v)
}

func (cborFormat) arrayStart(dst []byte, n int) []byte { return cborAppendHead(dst, 4, uint64(n)) }
func (cborFormat) sep(dst []byte) []byte               { return dst }
func (cborFormat) arrayEnd(dst []byte) []byte          { return dst }
func (cborFormat) appendUint(dst []byte, v uint64) []byte {
	return cborAppendHead(dst, 0, v)
}
func (cborFormat) appendString(dst []byte, s string) []byte {
	return append(cborAppendHead(dst, 3, uint64(len(s))), s...)
}

func (cborFormat) appendValue(dst []byte, v any) ([]byte, error) {
	return appendCBOR(dst, v, 0)
}

func appendCBOR(dst []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, errors.New("value nested too deeply")
	}
	var err error
	switch v := v.(type) {
	case nil:
		return append(dst, 0xf6), nil
	case bool:
		if v {
			return append(dst, 0xf5), nil
		}
		return append(dst, 0xf4), nil
	case string:
		return append(cborAppendHead(dst, 3, uint64(len(v))), v...), nil
	case []byte:
		return append(cborAppendHead(dst, 2, uint64(len(v))), v...), nil
	case int64:
		if v < 0 {
			return cborAppendHead(dst, 1, uint64(-(v + 1))), nil
		}
		return cborAppendHead(dst, 0, uint64(v)), nil
	case int:
		return appendCBOR(dst, int64(v), depth)
	case uint64:
		return cborAppendHead(dst, 0, v), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, 0xfb), math.Float64bits(v)), nil
	case []any:
		dst = cborAppendHead(dst, 4, uint64(len(v)))
		for _, e := range v {
			if dst, err = appendCBOR(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case map[string]any:
		dst = cborAppendHead(dst, 5, uint64(len(v)))
		for k, e := range v {
			dst = append(cborAppendHead(dst, 3, uint64(len(k))), k...)
			if dst, err = appendCBOR(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	g, err := normalize(v, depth)
	if err != nil {
		return dst, err
	}
	return appendCBOR(dst, g, depth+1)
}
