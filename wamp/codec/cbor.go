package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
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
		MaxArrayElements:      math.MaxInt32, // as many as the data holds, as in the other codecs
		MaxMapPairs:           math.MaxInt32,
		UTF8:                  cbor.UTF8RejectInvalid,
		DupMapKey:             cbor.DupMapKeyEnforcedAPF, // see dictkeys.go
		TagsMd:                cbor.TagsAllowed,
		DefaultByteStringType: reflect.TypeOf([]byte(nil)),
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// cborUnmarshal decodes b into v, a repeated dict key with the error of
// the other codecs.
func cborUnmarshal(b []byte, v *any) error {
	err := cborDec.Unmarshal(b, v)
	if dup, ok := errors.AsType[*cbor.DupMapKeyError](err); ok {
		return errDupKey(fmt.Append(nil, dup.Key))
	}
	return err
}

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

// cborSkip returns the length of the item at the start of b. depth is the
// number of containers around it; tags count too, so that a chain of tags
// cannot recurse without bound. With a check, it also checks the values as
// value reads them (cborCheck).
func cborSkip(b []byte, depth int, check *cborCheck) (int, error) {
	major, arg, n, indef, err := cborHead(b)
	if err != nil {
		return 0, err
	}
	if major >= 4 && major <= 6 && depth >= maxDepth {
		return 0, errors.New("CBOR nested too deeply")
	}
	if check != nil && (indef || major == 6) {
		check.rare = true
		if check.active() {
			m, err := cborSkip(b, depth, nil)
			if err == nil {
				check.decode(b[:m], depth)
			}
			return m, err
		}
	}
	if indef {
		for {
			if n >= len(b) {
				return 0, errCBORShort
			}
			if b[n] == 0xff {
				return n + 1, nil
			}
			if major == 2 || major == 3 { // chunks: definite strings of the same type
				if b[n]>>5 != major || b[n]&0x1f == 31 {
					return 0, errors.New("malformed indefinite-length CBOR string")
				}
			}
			m, err := cborSkip(b[n:], depth+1, nil)
			if err != nil {
				return 0, err
			}
			n += m
		}
	}
	switch major {
	case 0:
		return n, nil
	case 1:
		if arg > math.MaxInt64 && check.active() {
			check.err = errors.New("CBOR integer does not fit in 64 bits")
		}
		return n, nil
	case 7:
		if ai := b[0] & 0x1f; (ai < 20 || ai == 24) && check.active() {
			check.err = fmt.Errorf("CBOR simple value %d has no WAMP meaning", arg)
		}
		return n, nil
	case 2, 3:
		if arg > uint64(len(b)-n) {
			return 0, errCBORShort
		}
		if major == 3 && check.active() && !utf8.Valid(b[n:n+int(arg)]) {
			check.err = errNotUTF8
		}
		return n + int(arg), nil
	case 4, 5:
		// Every item takes at least a byte; checking before doubling the
		// count of a map keeps a huge count from wrapping around.
		if arg > uint64(len(b)-n) || major == 5 && 2*arg > uint64(len(b)-n) {
			return 0, errCBORShort
		}
		if major == 5 && check.active() {
			return cborSkipDict(b, n, arg, depth, check)
		}
		return cborSkipItems(b, n, major, arg, depth, check, nil)
	default: // 6: a tag and the item it tags
		m, err := cborSkip(b[n:], depth+1, nil)
		return n + m, err
	}
}

// cborSkipDict is cborSkipItems for a checked map, with a set of its keys
// (apart, so that only a map's frame holds one).
func cborSkipDict(b []byte, n int, pairs uint64, depth int, check *cborCheck) (int, error) {
	keys := keySet{base: b}
	n, err := cborSkipItems(b, n, 5, pairs, depth, check, &keys)
	keys.release()
	return n, err
}

// cborSkipItems returns the length of the definite array or map (major)
// of count items or pairs whose head of n bytes starts b. keys is set for
// a checked map: its keys are checked, a repeated one as it walks them
// when they are definite text strings, the common case; by decoding the
// map otherwise.
func cborSkipItems(b []byte, n int, major byte, count uint64, depth int, check *cborCheck, keys *keySet) (int, error) {
	items := count
	if major == 5 {
		items *= 2
	}
	sub, slow := check, false
	for i := uint64(0); i < items; i++ {
		if major == 5 && i%2 == 0 && sub.active() && n < len(b) {
			if b[n]>>5 != 3 || b[n]&0x1f == 31 {
				if b[n] == 0xf6 || b[n] == 0xf7 {
					check.err = errCBORNullKey
					sub = nil
				} else {
					// Another key that is not a definite text string:
					// fxamacker/cbor decides.
					sub, slow = nil, true
				}
			} else if keys != nil {
				if _, l, h, _, err := cborHead(b[n:]); err == nil && l <= uint64(len(b)-n-h) {
					if start, end := n+h, n+h+int(l); keys.add(start, end) {
						check.err = errDupKey(b[start:end])
					}
				}
			}
		}
		m, err := cborSkip(b[n:], depth+1, sub)
		if err != nil {
			return 0, err
		}
		n += m
	}
	if slow {
		check.rare = true
		check.decode(b[:n], depth)
	}
	return n, nil
}

// cborCheck collects, as cborSkip walks a payload element, what keeps it
// from converting into the common value model: what value (fxamacker/cbor,
// then normalize) would refuse. The common items are checked by cborSkip
// itself: text strings, integers, simple values, and arrays and maps of
// them with text keys. The rare ones (a tag, an indefinite length, a map
// with another kind of key) are decoded.
//
// rare is set when the element holds a tag, an indefinite length or such
// a map anywhere, whether or not the check still runs: split then looks
// for uint8 typed arrays to rewrite (cborUntagBytes).
type cborCheck struct {
	err  error
	rare bool
}

// active reports whether c is a check that has found nothing yet.
func (c *cborCheck) active() bool { return c != nil && c.err == nil }

// decode checks the whole item b by decoding it.
func (c *cborCheck) decode(b []byte, depth int) {
	if !c.active() {
		return
	}
	var v any
	if c.err = cborUnmarshal(b, &v); c.err != nil {
		return
	}
	if _, c.err = cborNullKey(b); c.err != nil {
		return
	}
	_, c.err = normalize(v, depth, cborLeaf)
}

// cborValid checks an element as split does a request's payload.
func cborValid(b []byte) error {
	var c cborCheck
	if _, err := cborSkip(b, 0, &c); err != nil {
		return err
	}
	return c.err
}

// cborTagUint8Array is RFC 8746's tag of a uint8 typed array: a byte
// string that a JavaScript encoder (cbor-x, which wampy.js uses) writes
// for a Uint8Array.
const cborTagUint8Array = 64

// cborUntagBytes returns the payload element b (checked by cborSkip) with
// every uint8 typed array written as the plain byte string it tags, so
// that a binary value reaches a CBOR receiver as WAMP's binary type,
// whichever encoder wrote it: Autobahn|Python would otherwise hand its
// application a CBORTag, while a receiver of another serialization gets
// bytes (a conversion gives every tag way to its content). b itself is
// returned when it holds none; other tags stay as they are.
func cborUntagBytes(b []byte) []byte {
	var heads []int // offset of each such tag's head: 2 bytes, d8 40, as encoders write it, or longer
	if _, err := cborFindUint8Arrays(b, 0, &heads); err != nil || len(heads) == 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	from := 0
	for _, h := range heads {
		_, _, n, _, _ := cborHead(b[h:])
		out = append(out, b[from:h]...)
		from = h + n
	}
	return append(out, b[from:]...)
}

// cborFindUint8Arrays walks the item at b[off:], appends to heads the
// offsets of the heads of the uint8 typed arrays in it, and returns its
// length. b was checked by cborSkip, so its nesting is bounded.
func cborFindUint8Arrays(b []byte, off int, heads *[]int) (int, error) {
	major, arg, n, indef, err := cborHead(b[off:])
	if err != nil {
		return 0, err
	}
	var items uint64
	switch {
	case major == 6 && arg == cborTagUint8Array && off+n < len(b) && b[off+n]>>5 == 2:
		*heads = append(*heads, off)
		items = 1
	case major == 6:
		items = 1
	case (major == 4 || major == 5) && !indef:
		items = arg
		if major == 5 {
			items *= 2
		}
	case major == 4 || major == 5: // indefinite: items up to the break
		for {
			if off+n >= len(b) {
				return 0, errCBORShort
			}
			if b[off+n] == 0xff {
				return n + 1, nil
			}
			m, err := cborFindUint8Arrays(b, off+n, heads)
			if err != nil {
				return 0, err
			}
			n += m
		}
	default:
		return cborSkip(b[off:], 0, nil)
	}
	for range items {
		m, err := cborFindUint8Arrays(b, off+n, heads)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

func (cborFormat) split(data []byte) (e elements, err error) {
	major, count, h, indef, err := cborHead(data)
	if err != nil || major != 4 || indef {
		return e, errors.New("a message is a definite-length CBOR array")
	}
	if count > maxElements {
		return e, fmt.Errorf("a message has at most %d elements", maxElements)
	}
	rest := data[h:]
	checked := maxElements // the first element whose values are checked
	for i := 0; i < int(count); i++ {
		if i == 2 {
			checked = checkedFrom(cborFormat{}, e.el[0], e.el[1])
		}
		var c cborCheck
		check := &c
		if i < checked {
			check = nil
		}
		m, err := cborSkip(rest, 0, check)
		if err != nil {
			return e, fmt.Errorf("element %d: %w", i, err)
		}
		e.el[i] = rest[:m]
		if c.rare {
			e.el[i] = cborUntagBytes(e.el[i])
		}
		if c.err != nil && e.bad == nil {
			e.bad, e.badAt = c.err, i
		}
		rest = rest[m:]
	}
	if len(rest) != 0 {
		return e, errors.New("trailing data after the message")
	}
	e.n = int(count)
	return e, nil
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
		return "", errNotUTF8
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

func (cborFormat) emptyDict(b []byte) bool { return len(b) == 1 && b[0] == 0xa0 }

func (cborFormat) wellFormed(b []byte) error { return cborDec.Wellformed(b) }

func (cborFormat) value(b []byte) (any, error) {
	var v any
	if err := cborUnmarshal(b, &v); err != nil {
		return nil, err
	}
	if _, err := cborNullKey(b); err != nil {
		return nil, err
	}
	return normalize(v, 0, cborLeaf)
}

// errCBORNullKey refuses a dict key of null or undefined, which
// fxamacker/cbor reads as "": forwarded as it is, a CBOR receiver would
// get a key that is not a string, the others the key "".
var errCBORNullKey = errors.New("dict key is null, not a string")

// cborNullKey returns the length of the item at the start of b, or
// errCBORNullKey if a map in it, at any depth, has a null or undefined
// key. b must be an item fxamacker/cbor has decoded: well-formed, its
// nesting bounded.
func cborNullKey(b []byte) (int, error) {
	major, arg, n, indef, err := cborHead(b)
	if err != nil {
		return 0, err
	}
	switch major {
	case 4, 5:
	case 6:
		m, err := cborNullKey(b[n:])
		return n + m, err
	default:
		return cborSkip(b, 0, nil)
	}
	items := arg
	if major == 5 {
		items *= 2
	}
	for i := uint64(0); indef || i < items; i++ {
		if n >= len(b) {
			return 0, errCBORShort
		}
		if indef && b[n] == 0xff {
			return n + 1, nil
		}
		if major == 5 && i%2 == 0 && (b[n] == 0xf6 || b[n] == 0xf7) {
			return 0, errCBORNullKey
		}
		m, err := cborNullKey(b[n:])
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

func (cborFormat) header(b []byte) (map[string]any, error) {
	var v any
	if err := cborUnmarshal(b, &v); err != nil {
		return nil, err
	}
	v, err := normalize(v, 0, cborHeaderLeaf)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// cborHeaderLeaf reads a simple value with no WAMP meaning as absent.
// (undefined decodes as nil, which options read as absent already.)
func cborHeaderLeaf(v any, depth int) (any, error) {
	if _, ok := v.(cbor.SimpleValue); ok {
		return absent{}, nil
	}
	if t, ok := v.(cbor.Tag); ok {
		return normalize(t.Content, depth, cborHeaderLeaf)
	}
	return cborLeaf(v, depth)
}

// cborLeaf maps what fxamacker/cbor decodes onto the model: a tag gives way
// to its content, a bignum to an integer if it fits in 64 bits.
func cborLeaf(v any, depth int) (any, error) {
	switch t := v.(type) {
	case cbor.Tag:
		return normalize(t.Content, depth, cborLeaf)
	case big.Int:
		switch {
		case t.IsInt64():
			return t.Int64(), nil
		case t.IsUint64():
			return t.Uint64(), nil
		}
		return nil, errors.New("CBOR integer does not fit in 64 bits")
	case cbor.SimpleValue:
		return nil, fmt.Errorf("CBOR simple value %d has no WAMP meaning", t)
	}
	return modelLeaf(v)
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
func (cborFormat) appendString(dst []byte, s string) []byte { return appendCBORString(dst, s) }

// appendCBORString writes s as a text string, replacing invalid UTF-8 with
// U+FFFD as the JSON encoder does: a text string must hold UTF-8.
func appendCBORString(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return append(cborAppendHead(dst, 3, uint64(len(s))), s...)
}

func (cborFormat) appendValue(dst []byte, v any) ([]byte, error) {
	return appendCBOR(dst, v, 0)
}

func (cborFormat) appendList(dst []byte, l []any) ([]byte, error) {
	return appendCBORList(dst, l, 0)
}

func appendCBORList(dst []byte, l []any, depth int) ([]byte, error) {
	if depth >= maxDepth {
		return dst, errTooDeep
	}
	dst = cborAppendHead(dst, 4, uint64(len(l)))
	for _, e := range l {
		var err error
		if dst, err = appendCBOR(dst, e, depth+1); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// appendCBOR appends v; depth is the number of containers around it.
func appendCBOR(dst []byte, v any, depth int) ([]byte, error) {
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
		return appendCBORString(dst, v), nil
	case []byte:
		return append(cborAppendHead(dst, 2, uint64(len(v))), v...), nil
	case int64:
		if v < 0 {
			return cborAppendHead(dst, 1, uint64(-(v + 1))), nil
		}
		return cborAppendHead(dst, 0, uint64(v)), nil
	case int:
		if v < 0 {
			return cborAppendHead(dst, 1, uint64(-(v + 1))), nil
		}
		return cborAppendHead(dst, 0, uint64(v)), nil
	case uint64:
		return cborAppendHead(dst, 0, v), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, 0xfb), math.Float64bits(v)), nil
	case []any:
		return appendCBORList(dst, v, depth)
	case map[string]any:
		if depth >= maxDepth {
			return dst, errTooDeep
		}
		dst = cborAppendHead(dst, 5, uint64(len(v)))
		for k, e := range v {
			dst = appendCBORString(dst, k)
			if dst, err = appendCBOR(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	g, err := generic(v, depth)
	if err != nil {
		return dst, err
	}
	return appendCBOR(dst, g, depth)
}
