package codec

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonFormat is WAMP's JSON serialization. Binary values travel as strings
// that start with a NUL character followed by the base64 of the bytes; a
// text string that itself starts with NUL would read back as binary, so
// encoding one in a payload or dict is an error.
//
// split checks every element against RFC 8259 as it finds its end, and
// what its values hold (strings in UTF-8, integers of at most 64 bits...),
// so a payload kept raw is known to be valid without a second pass; the
// other readers parse elements that split has checked.
type jsonFormat struct{}

var (
	errJSONSyntax = errors.New("malformed JSON")
	errJSONDeep   = errors.New("JSON nested too deeply")
)

// maxDepth bounds the nesting of lists and dicts inside one element, in
// every codec (see value.go).
const maxDepth = 128

func (jsonFormat) split(data []byte) (e elements, err error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return e, errors.New("a message is a JSON array")
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		if skipSpace(data, i+1) != len(data) {
			return e, errors.New("trailing data after the message")
		}
		return e, nil
	}
	checked := maxElements // the first element whose values count
	for {
		if e.n == maxElements {
			return e, fmt.Errorf("a message has at most %d elements", maxElements)
		}
		if e.n == 2 {
			checked = checkedFrom(jsonFormat{}, e.el[0], e.el[1])
		}
		// Every element is checked as it is scanned, at no cost worth
		// saving; what a header element holds, value reads again.
		var bad error
		end, err := scanValue(data, i, 0, &bad)
		if err != nil {
			return e, err
		}
		if bad != nil && e.n >= checked && e.bad == nil {
			e.bad, e.badAt = bad, e.n
		}
		e.el[e.n] = data[i:end]
		e.n++
		i = skipSpace(data, end)
		if i >= len(data) {
			return e, errJSONSyntax
		}
		if data[i] == ']' {
			if skipSpace(data, i+1) != len(data) {
				return e, errors.New("trailing data after the message")
			}
			return e, nil
		}
		if data[i] != ',' {
			return e, errJSONSyntax
		}
		i = skipSpace(data, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanValue returns the end of the JSON value starting at i, checking its
// syntax. depth is the number of containers around it. What the value
// holds is checked too, as jsonParser would find it: strings must be UTF-8,
// binary strings ("\u0000"+base64) valid base64, numbers within the range
// of int64, uint64 or float64. The first such problem goes to *bad, and
// the scan goes on to the end of the value.
func scanValue(b []byte, i, depth int, bad *error) (int, error) {
	if i >= len(b) {
		return 0, errJSONSyntax
	}
	switch c := b[i]; c {
	case '"':
		end, _, err := scanString(b, i, bad)
		if err == nil && *bad == nil && end-i >= 8 && string(b[i+1:i+7]) == `\u0000` {
			*bad = checkBinaryString(b[i+1 : end-1])
		}
		return end, err
	case '{':
		return scanDict(b, i, depth, bad)
	case '[':
		if depth >= maxDepth {
			return 0, errJSONDeep
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			end, err := scanValue(b, i, depth+1, bad)
			if err != nil {
				return 0, err
			}
			i = skipSpace(b, end)
			if i >= len(b) {
				return 0, errJSONSyntax
			}
			if b[i] == ']' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errJSONSyntax
			}
			i = skipSpace(b, i+1)
		}
	case 't':
		return scanLiteral(b, i, "true")
	case 'f':
		return scanLiteral(b, i, "false")
	case 'n':
		return scanLiteral(b, i, "null")
	}
	end, err := scanNumber(b, i)
	if err == nil && *bad == nil && mayBeOutOfRange(b[i:end]) {
		_, *bad = parseJSONNumber(b[i:end])
	}
	return end, err
}

// scanDict is scanValue for the dict whose '{' is at i. A key that
// repeats one before it, once unescaped, goes to *bad.
func scanDict(b []byte, i, depth int, bad *error) (int, error) {
	if depth >= maxDepth {
		return 0, errJSONDeep
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	keys := keySet{base: b}
	end, err := scanDictItems(b, i, depth, bad, &keys)
	keys.release()
	return end, err
}

// scanDictItems is scanDict from the first key at i.
func scanDictItems(b []byte, i, depth int, bad *error, keys *keySet) (int, error) {
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errJSONSyntax
		}
		end, escaped, err := scanString(b, i, bad)
		if err != nil {
			return 0, err
		}
		if *bad == nil {
			key := b[i+1 : end-1]
			var seen bool
			if !escaped {
				seen = keys.add(i+1, end-1)
			} else {
				k, _ := unquoteJSON(key) // not UTF-8: *bad says so already
				key = []byte(k)
				seen = keys.addDecoded(key)
			}
			if seen {
				*bad = errDupKey(key)
			}
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, errJSONSyntax
		}
		if end, err = scanValue(b, skipSpace(b, i+1), depth+1, bad); err != nil {
			return 0, err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return 0, errJSONSyntax
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return 0, errJSONSyntax
		}
		i = skipSpace(b, i+1)
	}
}

// mayBeOutOfRange reports whether a number needs parseJSONNumber to tell
// whether it is in range: one of fewer than 20 characters with at most two
// exponent digits is an integer that fits in 64 bits or a float below
// 10^118.
func mayBeOutOfRange(num []byte) bool {
	if len(num) >= 20 {
		return true
	}
	// Three exponent digits are the last three bytes (scanNumber ends a
	// number with a digit), with an 'e' or 'E' further left. Most numbers
	// are short IDs and never get to the loop.
	if len(num) < 5 || num[len(num)-2] > '9' || num[len(num)-3] > '9' || num[len(num)-3] < '0' {
		return false
	}
	for _, c := range num[:len(num)-3] {
		if c == 'e' || c == 'E' {
			return true
		}
	}
	return false
}

// checkBinaryString checks a JSON string (without its quotes) that starts
// with an escaped U+0000 as jsonParser reads it: the rest must be base64
// (standard alphabet, padded), as base64.StdEncoding decodes it. Without
// another escape, as a binary string is written, it is checked by a scan
// that decodes nothing (validBase64).
func checkBinaryString(s []byte) error {
	s = s[6:] // \u0000
	if bytes.IndexByte(s, '\\') >= 0 {
		u, err := unquoteJSON(s)
		if err == nil {
			_, err = base64.StdEncoding.DecodeString(u)
		}
		if err != nil {
			return fmt.Errorf("binary string: %w", err)
		}
		return nil
	}
	if !validBase64(s) {
		// Decoded only to say what is wrong with it.
		_, err := base64.StdEncoding.DecodeString(string(s))
		if err == nil {
			err = errors.New("not base64")
		}
		return fmt.Errorf("binary string: %w", err)
	}
	return nil
}

// base64Alphabet marks the bytes of the standard base64 alphabet.
var base64Alphabet = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = true
	}
	return t
}()

// validBase64 reports whether base64.StdEncoding decodes s, which holds no
// line break (the decoder would skip one; an unescaped JSON string has
// none): whole quanta of the alphabet, the last of which may end in one
// or two '=' (the decoder ignores the bits a padded quantum leaves over).
func validBase64(s []byte) bool {
	n := len(s)
	if n%4 != 0 {
		return false
	}
	if n > 0 && s[n-1] == '=' {
		n--
		if s[n-1] == '=' {
			n--
		}
	}
	for _, c := range s[:n] {
		if !base64Alphabet[c] {
			return false
		}
	}
	return true
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errJSONSyntax
	}
	return i + len(lit), nil
}

// plainJSON marks the bytes a JSON string holds as they are: not a quote,
// a backslash, a control character or the start of a multi-byte UTF-8
// sequence.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString returns the end of the string whose opening quote is at i,
// and whether it holds an escape. Bytes that are not UTF-8 go to *bad (if
// it holds no error yet).
func scanString(b []byte, i int, bad *error) (end int, escaped bool, err error) {
	for i++; i < len(b); {
		if plainJSON[b[i]] {
			i++
			continue
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 && *bad == nil {
				*bad = errNotUTF8
			}
			i += size
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return 0, false, errJSONSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || hex4(b[i+2:i+6]) < 0 {
					return 0, false, errJSONSyntax
				}
				i += 6
			default:
				return 0, false, errJSONSyntax
			}
		case c < 0x20:
			return 0, false, errors.New("control character in JSON string")
		default:
			i++
		}
	}
	return 0, false, errJSONSyntax
}

// hex4 reads the four hex digits of a \u escape, -1 if they are not.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// scanNumber returns the end of the number at i: -?(0|[1-9][0-9]*)
// (\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return 0, errJSONSyntax
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return 0, errJSONSyntax
	}
	if i < len(b) && b[i] == '.' {
		end := skipDigits(b, i+1)
		if end == i+1 {
			return 0, errJSONSyntax
		}
		i = end
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		end := skipDigits(b, i)
		if end == i {
			return 0, errJSONSyntax
		}
		i = end
	}
	return i, nil
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// uint reads an element that split has checked. It parses the digits
// directly: an ID is read for nearly every message.
func (jsonFormat) uint(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 1 && b[0] == '0' {
		return 0, fmt.Errorf("%.20q is not a non-negative integer", b)
	}
	var v uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 {
			return 0, fmt.Errorf("%.20q is not a non-negative integer", b)
		}
		if v > (math.MaxUint64-d)/10 {
			return 0, fmt.Errorf("%.20q is out of range", b)
		}
		v = v*10 + d
	}
	return v, nil
}

func (jsonFormat) str(b []byte) (string, error) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", errors.New("not a string")
	}
	return unquoteJSON(b[1 : len(b)-1])
}

// unquoteJSON decodes the inside of a checked JSON string. As with
// encoding/json, an escaped lone surrogate becomes U+FFFD; unlike it,
// invalid UTF-8 is an error, as in the other codecs.
func unquoteJSON(s []byte) (string, error) {
	if bytes.IndexByte(s, '\\') < 0 {
		if !utf8.Valid(s) {
			return "", errNotUTF8
		}
		return string(s), nil
	}
	out := make([]byte, 0, len(s))
	for {
		esc := bytes.IndexByte(s, '\\')
		if esc < 0 {
			out = append(out, s...)
			break
		}
		out = append(out, s[:esc]...)
		s = s[esc:]
		if len(s) < 2 {
			return "", errJSONSyntax
		}
		c := s[1]
		if c == 'u' {
			if len(s) < 6 {
				return "", errJSONSyntax
			}
			r := hex4(s[2:6])
			if r < 0 {
				return "", errJSONSyntax
			}
			s = s[6:]
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					r2 = hex4(s[2:6])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					s = s[6:]
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		}
		switch c {
		case '"', '\\', '/':
			out = append(out, c)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default:
			return "", errJSONSyntax
		}
		s = s[2:]
	}
	if !utf8.Valid(out) {
		return "", errNotUTF8
	}
	return string(out), nil
}

func (jsonFormat) kind(b []byte) kind {
	switch b[0] {
	case '[':
		return kindList
	case '{':
		return kindDict
	}
	return kindOther
}

// emptyDict reports whether a checked dict element is {} (with or without
// space inside).
func (jsonFormat) emptyDict(b []byte) bool {
	return b[0] == '{' && skipSpace(b, 1) == len(b)-1
}

// wellFormed: split has checked every element.
func (jsonFormat) wellFormed([]byte) error { return nil }

// jsonValid checks an element as split does.
func jsonValid(b []byte) error {
	var bad error
	end, err := scanValue(b, 0, 0, &bad)
	if err == nil && end != len(b) {
		err = errJSONSyntax
	}
	if err != nil {
		return err
	}
	return bad
}

func (f jsonFormat) header(b []byte) (map[string]any, error) {
	v, err := f.value(b)
	m, _ := v.(map[string]any)
	return m, err
}

func (jsonFormat) value(b []byte) (any, error) {
	p := jsonParser{b: b}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if skipSpace(b, p.i) != len(b) {
		return nil, errors.New("trailing data after a JSON value")
	}
	return v, nil
}

// jsonParser decodes JSON into the common value model: numbers become
// int64, uint64 or float64 (a number with a fraction or exponent stays a
// float) and "\u0000"-prefixed strings become []byte. It checks what it
// reads, so it does not rely on split having done so.
type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) value(depth int) (any, error) {
	p.i = skipSpace(p.b, p.i)
	if p.i >= len(p.b) {
		return nil, errJSONSyntax
	}
	switch c := p.b[p.i]; c {
	case '[':
		if depth >= maxDepth {
			return nil, errJSONDeep
		}
		l := []any{}
		p.i = skipSpace(p.b, p.i+1)
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return l, nil
		}
		for {
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			if done, err := p.next(']'); done || err != nil {
				return l, err
			}
		}
	case '{':
		if depth >= maxDepth {
			return nil, errJSONDeep
		}
		m := map[string]any{}
		p.i = skipSpace(p.b, p.i+1)
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return m, nil
		}
		for {
			p.i = skipSpace(p.b, p.i)
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				return nil, errJSONSyntax
			}
			k, err := p.string()
			if err != nil {
				return nil, err
			}
			p.i = skipSpace(p.b, p.i)
			if p.i >= len(p.b) || p.b[p.i] != ':' {
				return nil, errJSONSyntax
			}
			p.i++
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			n := len(m)
			if m[k] = v; len(m) == n {
				return nil, errDupKey([]byte(k))
			}
			if done, err := p.next('}'); done || err != nil {
				return m, err
			}
		}
	case '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		if len(s) > 0 && s[0] == 0 {
			b, err := base64.StdEncoding.DecodeString(s[1:])
			if err != nil {
				return nil, fmt.Errorf("binary string: %w", err)
			}
			return b, nil
		}
		return s, nil
	case 't':
		return p.literal("true", true)
	case 'f':
		return p.literal("false", false)
	case 'n':
		return p.literal("null", nil)
	}
	end, err := scanNumber(p.b, p.i)
	if err != nil {
		return nil, err
	}
	num := p.b[p.i:end]
	p.i = end
	return parseJSONNumber(num)
}

func (p *jsonParser) literal(lit string, v any) (any, error) {
	end, err := scanLiteral(p.b, p.i, lit)
	if err != nil {
		return nil, err
	}
	p.i = end
	return v, nil
}

// next reads the ',' between container items or the closer; done is set
// after the closer.
func (p *jsonParser) next(closer byte) (done bool, err error) {
	p.i = skipSpace(p.b, p.i)
	if p.i >= len(p.b) {
		return false, errJSONSyntax
	}
	switch p.b[p.i] {
	case closer:
		p.i++
		return true, nil
	case ',':
		p.i++
		return false, nil
	}
	return false, errJSONSyntax
}

func (p *jsonParser) string() (string, error) {
	var bad error // unquoteJSON checks what this would find
	end, _, err := scanString(p.b, p.i, &bad)
	if err != nil {
		return "", err
	}
	s := p.b[p.i+1 : end-1]
	p.i = end
	return unquoteJSON(s)
}

// parseJSONNumber reads a checked number: an integer as int64 if it fits,
// else as uint64 if it fits, a number with a fraction or exponent as
// float64. An integer beyond 64 bits is an error rather than a float that
// would lose its last digits in silence.
func parseJSONNumber(num []byte) (any, error) {
	if bytes.IndexAny(num, ".eE") < 0 {
		neg := num[0] == '-'
		digits := num
		if neg {
			digits = num[1:]
		}
		var u uint64
		ok := true
		for _, c := range digits {
			d := uint64(c - '0')
			if u > (math.MaxUint64-d)/10 {
				ok = false
				break
			}
			u = u*10 + d
		}
		switch {
		case ok && !neg && u <= math.MaxInt64:
			return int64(u), nil
		case ok && !neg:
			return u, nil
		case ok && u == 1<<63:
			return int64(math.MinInt64), nil
		case ok && u < 1<<63:
			return -int64(u), nil
		}
		return nil, fmt.Errorf("integer %.24s does not fit in 64 bits", num)
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return nil, fmt.Errorf("number %.20s: %w", num, errors.Unwrap(err))
	}
	return f, nil
}

func (jsonFormat) arrayStart(dst []byte, _ int) []byte { return append(dst, '[') }
func (jsonFormat) sep(dst []byte) []byte               { return append(dst, ',') }
func (jsonFormat) arrayEnd(dst []byte) []byte          { return append(dst, ']') }
func (jsonFormat) appendUint(dst []byte, v uint64) []byte {
	return strconv.AppendUint(dst, v, 10)
}
func (jsonFormat) appendString(dst []byte, s string) []byte { return appendJSONString(dst, s) }

func (jsonFormat) appendValue(dst []byte, v any) ([]byte, error) {
	return appendJSON(dst, v, 0)
}

func (jsonFormat) appendList(dst []byte, l []any) ([]byte, error) {
	return appendJSONList(dst, l, 0)
}

// appendJSON appends v; depth is the number of containers around it.
func appendJSON(dst []byte, v any, depth int) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		if len(v) > 0 && v[0] == 0 {
			// It would read back as binary (or fail to).
			return dst, errors.New("JSON cannot carry a string that starts with U+0000")
		}
		return appendJSONString(dst, v), nil
	case []byte:
		dst = append(dst, `"\u0000`...)
		dst = base64.StdEncoding.AppendEncode(dst, v)
		return append(dst, '"'), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case float64:
		return appendJSONFloat(dst, v)
	case []any:
		return appendJSONList(dst, v, depth)
	case map[string]any:
		if depth >= maxDepth {
			return dst, errTooDeep
		}
		dst = append(dst, '{')
		first := true
		for k, e := range v {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			if dst, err = appendJSON(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	g, err := generic(v, depth)
	if err != nil {
		return dst, err
	}
	return appendJSON(dst, g, depth)
}

func appendJSONList(dst []byte, l []any, depth int) ([]byte, error) {
	if depth >= maxDepth {
		return dst, errTooDeep
	}
	dst = append(dst, '[')
	for i, e := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendJSON(dst, e, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

func appendJSONFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("JSON cannot carry the number %v", f)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	// Keep a float a float for the receiver: 1 would decode as an integer.
	if bytes.IndexAny(dst[start:], ".e") < 0 {
		dst = append(dst, ".0"...)
	}
	return dst, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string, escaping what JSON requires
// and replacing invalid UTF-8 with U+FFFD as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
