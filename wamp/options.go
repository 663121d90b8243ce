package wamp

import (
	"fmt"
	"math"
)

// OptionError says that an option (of a SUBSCRIBE, PUBLISH, CALL, REGISTER
// ...) has the wrong type or value. The router answers it with ERROR
// wamp.error.invalid_argument and the error's text, and the session goes on.
type OptionError struct {
	Key    string
	Reason string
}

func (e *OptionError) Error() string { return fmt.Sprintf("option %q %s", e.Key, e.Reason) }

func optionErr(key, format string, args ...any) error {
	return &OptionError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// OptBool reads a boolean option: def when absent, an *OptionError when it
// is present but not a boolean.
func OptBool(d Dict, key string, def bool) (bool, error) {
	v, ok := d[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return def, optionErr(key, "must be a boolean, not %s", TypeName(v))
	}
	return b, nil
}

// OptString reads a string option: def when absent, an *OptionError when it
// is not a string.
func OptString(d Dict, key, def string) (string, error) {
	v, ok := d[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return def, optionErr(key, "must be a string, not %s", TypeName(v))
	}
	return s, nil
}

// OptChoice reads a string option that must be one of choices (def when
// absent).
func OptChoice(d Dict, key, def string, choices ...string) (string, error) {
	s, err := OptString(d, key, def)
	if err != nil {
		return def, err
	}
	for _, c := range choices {
		if s == c {
			return s, nil
		}
	}
	return def, optionErr(key, "is %q; it must be one of %q", s, choices)
}

// OptUint reads a non-negative integer option; present is false when the
// option is absent. Integral floats are accepted (JSON peers may send 5.0).
func OptUint(d Dict, key string) (n uint64, present bool, err error) {
	v, ok := d[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, ok = AsUint(v)
	if !ok {
		return 0, true, optionErr(key, "must be a non-negative integer, not %s", describe(v))
	}
	return n, true, nil
}

// OptIDs reads an option that is a list of IDs (session ids for
// exclude/eligible).
func OptIDs(d Dict, key string) ([]ID, error) {
	v, ok := d[key]
	if !ok || v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, optionErr(key, "must be a list of session ids, not %s", TypeName(v))
	}
	ids := make([]ID, len(l))
	for i, e := range l {
		n, ok := AsUint(e)
		if !ok || n == 0 || n > uint64(MaxID) {
			return nil, optionErr(key, "element %d must be a session id (an integer in [1, 2^53]), not %s", i, describe(e))
		}
		ids[i] = ID(n)
	}
	return ids, nil
}

// OptStrings reads an option that is a list of strings (authids, authroles).
func OptStrings(d Dict, key string) ([]string, error) {
	v, ok := d[key]
	if !ok || v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, optionErr(key, "must be a list of strings, not %s", TypeName(v))
	}
	ss := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, optionErr(key, "element %d must be a string, not %s", i, TypeName(e))
		}
		ss[i] = s
	}
	return ss, nil
}

// AsUint converts a decoded integer (any Go integer type, or an integral
// float64 or float32) to uint64; ok is false for anything else, a negative
// number or one beyond 64 bits.
func AsUint(v any) (uint64, bool) {
	switch n := v.(type) {
	case int64:
		return uint64(n), n >= 0
	case uint64:
		return n, true
	case int:
		return uint64(n), n >= 0
	case uint:
		return uint64(n), true
	case int32:
		return uint64(n), n >= 0
	case uint32:
		return uint64(n), true
	case int16:
		return uint64(n), n >= 0
	case uint16:
		return uint64(n), true
	case int8:
		return uint64(n), n >= 0
	case uint8:
		return uint64(n), true
	case float64:
		// 2^64, not math.MaxUint64, which as a float64 is 2^64 itself: Go
		// converts a float beyond a uint64 to a value that depends on the
		// CPU, not to an error.
		if n >= 0 && n < 0x1p64 && n == math.Trunc(n) {
			return uint64(n), true
		}
	case float32:
		return AsUint(float64(n))
	}
	return 0, false
}

// AsInt converts a decoded integer (any Go integer type, or an integral
// float64) to int64; ok is false for anything else or an int out of range.
func AsInt(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt64 && n < math.MaxInt64 {
			return int64(n), true
		}
		return 0, false
	case float32:
		return AsInt(float64(n))
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	}
	u, ok := AsUint(v)
	if !ok || u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

func describe(v any) string {
	switch v.(type) {
	case int64, uint64, int, float64, float32, int32, uint32, int16, uint16, int8, uint8, uint:
		return fmt.Sprintf("%v", v)
	}
	return TypeName(v)
}

// TypeName names a decoded value's WAMP type for error messages ("a
// list", "an integer").
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []byte:
		return "binary"
	case []any:
		return "a list"
	case map[string]any:
		return "a dict"
	case int64, uint64, int, int32, uint32, int16, uint16, int8, uint8, uint:
		return "an integer"
	case float64, float32:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
