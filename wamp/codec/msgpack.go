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

func (msgpackFormat) split(data []byte) (e elements, err error) {
	sz, rest, err := msgp.ReadArrayHeaderBytes(data)
	if err != nil {
		return e, fmt.Errorf("a message is a MessagePack array: %w", err)
	}
	if sz > maxElements {
		return e, fmt.Errorf("a message has at most %d elements", maxElements)
	}
	checked := maxElements // the first element whose values are checked
	for i := 0; i < int(sz); i++ {
		if i == 2 {
			checked = checkedFrom(msgpackFormat{}, e.el[0], e.el[1])
		}
		var chk *msgpackCheck
		var c msgpackCheck
		if i >= checked {
			c.need = math.MinInt
			chk = &c
		}
		m, err := msgpackSkip(rest, 0, chk)
		if err != nil {
			return e, fmt.Errorf("element %d: %w", i, err)
		}
		e.el[i] = rest[:m]
		rest = rest[m:]
		if chk != nil && e.bad == nil {
			if e.bad = c.result(len(rest)); e.bad != nil {
				e.badAt = i
			}
		}
	}
	if len(rest) != 0 {
		return e, errors.New("trailing data after the message")
	}
	e.n = int(sz)
	return e, nil
}

// msgpackCheck collects, as msgpackSkip walks a payload element, what
// keeps it from converting into the common value model: what value
// (msgp.ReadIntfBytes, then normalize) would refuse.
type msgpackCheck struct {
	err error
	// dup is the first repeated dict key (dictkeys.go), apart from err:
	// a header's values are not checked as a payload's, its keys are.
	dup error
	// need is the largest difference, over the element's maps, between
	// the bytes msgp wants to see from a map to the end of its input
	// (three per pair) and the bytes there are to the end of the message.
	// msgp's input is the element, which ends where msgpackSkip does not
	// know yet: result compares once it does.
	need int
}

func (c *msgpackCheck) fail(err error) {
	if err != nil && c.err == nil {
		c.err = err
	}
}

// result is the check's verdict on an element followed by tail bytes.
func (c *msgpackCheck) result(tail int) error {
	switch {
	case c.err != nil:
		return c.err
	case c.need > -tail:
		return msgp.ErrShortBytes
	}
	return c.dup
}

// msgpackDupKey returns the error for the first dict in the element b
// (which split has walked) that repeats a key, if one does.
func msgpackDupKey(b []byte) error {
	c := msgpackCheck{need: math.MinInt}
	if _, err := msgpackSkip(b, 0, &c); err != nil {
		return err
	}
	return c.dup
}

// msgpackValid checks an element as split does a request's payload.
func msgpackValid(b []byte) error {
	c := msgpackCheck{need: math.MinInt}
	if _, err := msgpackSkip(b, 0, &c); err != nil {
		return err
	}
	return c.result(0)
}

// msgpackSkip returns the length of the item at the start of b, checking
// every length. depth is the number of containers around it; msgp.Skip
// alone would allow nesting far deeper than the other codecs do. With a
// check, it also checks the values (strings in UTF-8, string dict keys, no
// extension but a timestamp) and records there what it finds wrong.
func msgpackSkip(b []byte, depth int, check *msgpackCheck) (int, error) {
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
		m, data, err := msgpackScalar(b)
		if err != nil {
			return 0, err
		}
		if check != nil && check.err == nil {
			switch {
			case c&0xe0 == 0xa0, c == 0xd9, c == 0xda, c == 0xdb: // str
				if !validUTF8(data) {
					check.err = errNotUTF8
				}
			case c >= 0xd4 && c <= 0xd8, c >= 0xc7 && c <= 0xc9: // ext
				check.fail(msgpackCheckExt(b[:m]))
			}
		}
		return m, nil
	}
	isMap := b[0]&0xf0 == 0x80 || b[0] == 0xde || b[0] == 0xdf
	if b[0] == 0xde || b[0] == 0xdf {
		items *= 2
	}
	if depth >= maxDepth {
		return 0, errTooDeep
	}
	if items > uint64(len(b)-n) { // every item takes at least a byte
		return 0, msgp.ErrShortBytes
	}
	if check != nil && isMap {
		check.need = max(check.need, int(3*items/2)-len(b))
		return msgpackSkipDict(b, n, items, depth, check)
	}
	return msgpackSkipItems(b, n, items, depth, check, nil)
}

// msgpackSkipDict is msgpackSkipItems for a checked map, with a set of its
// keys (apart, so that only a map's frame holds one).
func msgpackSkipDict(b []byte, n int, items uint64, depth int, check *msgpackCheck) (int, error) {
	keys := keySet{base: b}
	n, err := msgpackSkipItems(b, n, items, depth, check, &keys)
	keys.release()
	return n, err
}

// msgpackSkipItems returns the length of the container whose header of n
// bytes starts b, walking its items (keys and values of a map). keys is
// set for a checked map, whose keys it checks.
func msgpackSkipItems(b []byte, n int, items uint64, depth int, check *msgpackCheck, keys *keySet) (int, error) {
	for i := uint64(0); i < items; i++ {
		if n >= len(b) {
			return 0, msgp.ErrShortBytes
		}
		if keys != nil && i%2 == 0 {
			if c := b[n]; c&0xe0 == 0xa0 && n+1+int(c&0x1f) <= len(b) { // fixstr, the common key
				if check.dup == nil && keys.add(n+1, n+1+int(c&0x1f)) {
					check.dup = errDupKey(b[n+1 : n+1+int(c&0x1f)])
				}
			} else if start, end, err := msgpackKey(b, n); err != nil {
				check.fail(err)
			} else if check.dup == nil && keys.add(start, end) {
				check.dup = errDupKey(b[start:end])
			}
		}
		// The commonest items, fixints and short strings (dict keys
		// among them), without a call.
		if c := b[n]; c <= 0x7f {
			n++
			continue
		} else if c&0xe0 == 0xa0 {
			end := n + 1 + int(c&0x1f)
			if end > len(b) {
				return 0, msgp.ErrShortBytes
			}
			if check != nil && check.err == nil && !validUTF8(b[n+1:end]) {
				check.err = errNotUTF8
			}
			n = end
			continue
		}
		m, err := msgpackSkip(b[n:], depth+1, check)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// msgpackKey finds the bytes b[start:end] of the dict key at b[n:] as
// msgp reads it into a map[string]any: a str (whose UTF-8 msgpackSkip
// checks as a value's) or a bin, holding UTF-8.
func msgpackKey(b []byte, n int) (start, end int, err error) {
	switch c := b[n]; {
	case c&0xe0 == 0xa0: // fixstr
		end = n + 1 + int(c&0x1f)
		if end > len(b) {
			return 0, 0, msgp.ErrShortBytes
		}
		return n + 1, end, nil
	case c == 0xd9, c == 0xda, c == 0xdb, c == 0xc4, c == 0xc5, c == 0xc6: // str, bin
		m, key, err := msgpackScalar(b[n:])
		if err != nil {
			return 0, 0, err
		}
		if c >= 0xc4 && c <= 0xc6 && !validUTF8(key) {
			return 0, 0, errors.New("dict key is not valid UTF-8")
		}
		return n + m - len(key), n + m, nil
	}
	return 0, 0, fmt.Errorf("dict key is %s, not a string", msgp.NextType(b[n:]))
}

// msgpackScalar returns the length of the item at the start of b, which is
// not an array or a map, and the bytes of a str, bin or extension. It is
// msgp.Skip for the items msgpackSkip does not walk itself.
func msgpackScalar(b []byte) (n int, data []byte, err error) {
	var hdr, size int
	switch c := b[0]; {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixint, nil, bool
		return 1, nil, nil
	case c&0xe0 == 0xa0: // fixstr
		hdr, size = 1, int(c&0x1f)
	case c == 0xcc, c == 0xd0:
		return msgpackFixed(b, 2)
	case c == 0xcd, c == 0xd1:
		return msgpackFixed(b, 3)
	case c == 0xca, c == 0xce, c == 0xd2:
		return msgpackFixed(b, 5)
	case c == 0xcb, c == 0xcf, c == 0xd3:
		return msgpackFixed(b, 9)
	case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16
		hdr, size = 2, 1<<(c-0xd4)
	case c == 0xc4, c == 0xd9, c == 0xc7: // bin 8, str 8, ext 8
		if len(b) < 2 {
			return 0, nil, msgp.ErrShortBytes
		}
		hdr, size = 2, int(b[1])
		if c == 0xc7 {
			hdr++ // the type
		}
	case c == 0xc5, c == 0xda, c == 0xc8: // bin 16, str 16, ext 16
		if len(b) < 3 {
			return 0, nil, msgp.ErrShortBytes
		}
		hdr, size = 3, int(binary.BigEndian.Uint16(b[1:]))
		if c == 0xc8 {
			hdr++
		}
	case c == 0xc6, c == 0xdb, c == 0xc9: // bin 32, str 32, ext 32
		if len(b) < 5 {
			return 0, nil, msgp.ErrShortBytes
		}
		hdr, size = 5, int(binary.BigEndian.Uint32(b[1:]))
		if c == 0xc9 {
			hdr++
		}
	default: // 0xc1, never used
		return 0, nil, msgp.InvalidPrefixError(c)
	}
	if size > len(b)-hdr || hdr > len(b) {
		return 0, nil, msgp.ErrShortBytes
	}
	return hdr + size, b[hdr : hdr+size], nil
}

func msgpackFixed(b []byte, n int) (int, []byte, error) {
	if len(b) < n {
		return 0, nil, msgp.ErrShortBytes
	}
	return n, nil, nil
}

// validUTF8 is utf8.Valid with the call saved for the short ASCII strings
// (dict keys, names) that payloads are full of.
func validUTF8(b []byte) bool {
	if len(b) <= 16 {
		for _, c := range b {
			if c >= utf8.RuneSelf {
				return utf8.Valid(b)
			}
		}
		return true
	}
	return utf8.Valid(b)
}

// msgpackCheckExt accepts a timestamp extension as msgpackLeaf and msgp's
// ReadTimeBytes read it, and no other extension. (msgp reads its own
// extension type 5 as a time, but not at the end of its input: refused
// everywhere, it is refused wherever it is.)
func msgpackCheckExt(b []byte) error {
	typ, data, err := readExt(b)
	if err != nil {
		return err
	}
	if typ != -1 {
		return fmt.Errorf("MessagePack extension type %d has no WAMP meaning", typ)
	}
	var nsec uint64
	switch len(data) {
	case 4:
	case 8:
		nsec = binary.BigEndian.Uint64(data) >> 34
	case 12:
		nsec = uint64(binary.BigEndian.Uint32(data))
	default:
		return errors.New("malformed MessagePack timestamp")
	}
	if nsec > 999999999 {
		return errors.New("malformed MessagePack timestamp")
	}
	return nil
}

// readExt splits a whole extension item into its type and data.
func readExt(b []byte) (typ int8, data []byte, err error) {
	var hdr int
	switch c := b[0]; {
	case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16
		hdr = 2
	case c == 0xc7: // ext 8
		hdr = 3
	case c == 0xc8: // ext 16
		hdr = 4
	case c == 0xc9: // ext 32
		hdr = 6
	default:
		return 0, nil, errors.New("not an extension")
	}
	if len(b) < hdr {
		return 0, nil, msgp.ErrShortBytes
	}
	return int8(b[hdr-1]), b[hdr:], nil
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
		return "", errNotUTF8
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
// checks every length and nesting level.
func (msgpackFormat) wellFormed([]byte) error { return nil }

// value and header look for a repeated dict key in a walk of their own:
// msgp keeps the last value of a key in silence.
func (msgpackFormat) value(b []byte) (any, error) {
	v, _, err := msgp.ReadIntfBytes(b)
	if err != nil {
		return nil, err
	}
	if err := msgpackDupKey(b); err != nil {
		return nil, err
	}
	return normalize(v, 0, msgpackLeaf)
}

func (msgpackFormat) header(b []byte) (map[string]any, error) {
	v, _, err := msgp.ReadIntfBytes(b)
	if err != nil {
		return nil, err
	}
	if err := msgpackDupKey(b); err != nil {
		return nil, err
	}
	if v, err = normalize(v, 0, msgpackHeaderLeaf); err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// msgpackHeaderLeaf reads an extension other than a timestamp as absent.
func msgpackHeaderLeaf(v any, depth int) (any, error) {
	switch t := v.(type) {
	case *msgp.RawExtension:
		if t.Type != -1 {
			return absent{}, nil
		}
	case complex64, complex128: // msgp's own extension types 3 and 4
		return absent{}, nil
	}
	return msgpackLeaf(v, depth)
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
