package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// jsonFormat is WAMP's JSON serialization. Binary values travel as strings
// that start with a NUL character followed by the base64 of the bytes.
type jsonFormat struct{}

var errJSONSyntax = errors.New("malformed JSON")

// maxDepth bounds the nesting the decoders accept.
const maxDepth = 128

func (jsonFormat) split(data []byte, out *[maxElements][]byte) (int, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return 0, errors.New("a message is a JSON array")
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		if skipSpace(data, i+1) != len(data) {
			return 0, errors.New("trailing data after the message")
		}
		return 0, nil
	}
	n := 0
	for {
		end, err := scanValue(data, i, 0)
		if err != nil {
			return 0, err
		}
		if n == maxElements {
			return 0, fmt.Errorf("a message has at most %d elements", maxElements)
		}
		out[n] = data[i:end]
		n++
		i = skipSpace(data, end)
		if i >= len(data) {
			return 0, errJSONSyntax
		}
		if data[i] == ']' {
			if skipSpace(data, i+1) != len(data) {
				return 0, errors.New("trailing data after the message")
			}
			return n, nil
		}
		if data[i] != ',' {
			return 0, errJSONSyntax
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

// scanValue returns the end of the JSON value starting at i. It checks
// structure only; wellFormed does the full check for forwarded elements.
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errJSONSyntax
	}
	if depth > maxDepth {
		return 0, errors.New("JSON nested too deeply")
	}
	switch c := b[i]; {
	case c == '"':
		i++
		for i < len(b) {
			switch b[i] {
			case '\\':
				i += 2
				continue
			case '"':
				return i + 1, nil
			}
			i++
		}
		return 0, errJSONSyntax
	case c == '[' || c == '{':
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			end, err := scanValue(b, i, depth+1)
			if err != nil {
				return 0, err
			}
			i = skipSpace(b, end)
			if c == '{' {
				if i >= len(b) || b[i] != ':' {
					return 0, errJSONSyntax
				}
				end, err = scanValue(b, skipSpace(b, i+1), depth+1)
				if err != nil {
					return 0, err
				}
				i = skipSpace(b, end)
			}
			if i >= len(b) {
				return 0, errJSONSyntax
			}
			if b[i] == closer {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errJSONSyntax
			}
			i = skipSpace(b, i+1)
		}
	default:
		start := i
		for i < len(b) && !isDelim(b[i]) {
			i++
		}
		if i == start {
			return 0, errJSONSyntax
		}
		return i, nil
	}
}

func isDelim(c byte) bool {
	switch c {
	case ',', ']', '}', ':', ' ', '\t', '\n', '\r', '[', '{', '"':
		return true
	}
	return false
}

func (jsonFormat) uint(b []byte) (uint64, error) {
	if len(b) == 0 || b[0] < '0' || b[0] > '9' {
		return 0, fmt.Errorf("%.20q is not a non-negative integer", b)
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%.20q is not a non-negative integer", b)
	}
	return v, nil
}

func (jsonFormat) str(b []byte) (string, error) {
	if len(b) < 2 || b[0] != '"' {
		return "", errors.New("not a string")
	}
	if bytes.IndexByte(b[1:len(b)-1], '\\') < 0 {
		s := b[1 : len(b)-1]
		if !utf8.Valid(s) {
			return "", errors.New("string is not valid UTF-8")
		}
		return string(s), nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", err
	}
	return s, nil
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

func (jsonFormat) wellFormed(b []byte) error {
	if !json.Valid(b) {
		return errJSONSyntax
	}
	return nil
}

func (jsonFormat) value(b []byte) (any, error) {
	if len(b) == 2 && b[0] == '{' && b[1] == '}' {
		return map[string]any{}, nil
	}
	if len(b) == 2 && b[0] == '[' && b[1] == ']' {
		return []any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return fromJSON(v)
}

// fromJSON maps decoded JSON onto the common value model: numbers become
// int64, uint64 or float64 and "\u0000"-prefixed strings become []byte.
func fromJSON(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		s := string(v)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
		return strconv.ParseFloat(s, 64)
	case string:
		if len(v) > 0 && v[0] == 0 {
			b, err := base64.StdEncoding.DecodeString(v[1:])
			if err != nil {
				return nil, fmt.Errorf("binary string: %w", err)
			}
			return b, nil
		}
		return v, nil
	case []any:
		for i, e := range v {
			c, err := fromJSON(e)
			if err != nil {
				return nil, err
			}
			v[i] = c
		}
		return v, nil
	case map[string]any:
		for k, e := range v {
			c, err := fromJSON(e)
			if err != nil {
				return nil, err
			}
			v[k] = c
		}
		return v, nil
	}
	return v, nil
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

func appendJSON(dst []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, errors.New("value nested too deeply")
	}
	var err error
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
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
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case float64:
		return appendJSONFloat(dst, v)
	case float32:
		return appendJSONFloat(dst, float64(v))
	case json.Number:
		return append(dst, v...), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendJSON(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
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
	g, err := toGeneric(reflect.ValueOf(v))
	if err != nil {
		return dst, err
	}
	return appendJSON(dst, g, depth+1)
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
