package client

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"

	"github.com/junction-wamp/junction/wamp"
)

// Arg converts positional argument i to T (see Decode). A missing argument
// or one that does not convert is an *Error with URI
// wamp.error.invalid_argument, so a handler can return it as it is.
func Arg[T any](args wamp.List, i int) (T, error) {
	var v T
	if i < 0 || i >= len(args) {
		return v, invalidArgument("argument %d is missing (%d given)", i+1, len(args))
	}
	if err := decodeInto(reflect.ValueOf(&v).Elem(), args[i]); err != nil {
		return v, invalidArgument("argument %d: %v", i+1, err)
	}
	return v, nil
}

// Kwarg converts keyword argument key to T (see Decode); like Arg, a missing
// or unfit value is an *Error with URI wamp.error.invalid_argument.
func Kwarg[T any](kwargs wamp.Dict, key string) (T, error) {
	var v T
	x, ok := kwargs[key]
	if !ok {
		return v, invalidArgument("keyword argument %q is missing", key)
	}
	if err := decodeInto(reflect.ValueOf(&v).Elem(), x); err != nil {
		return v, invalidArgument("keyword argument %q: %v", key, err)
	}
	return v, nil
}

// DecodeArgs converts the positional arguments into the values dst point
// to, in order; arguments beyond len(dst) are ignored, missing ones are an
// error. Errors are *Error with URI wamp.error.invalid_argument.
//
//	var name string
//	var n int
//	if err := client.DecodeArgs(inv.Args, &name, &n); err != nil {
//		return nil, err
//	}
func DecodeArgs(args wamp.List, dst ...any) error {
	for i, d := range dst {
		p := reflect.ValueOf(d)
		if p.Kind() != reflect.Pointer || p.IsNil() {
			return fmt.Errorf("DecodeArgs: destination %d is %T, not a non-nil pointer", i+1, d)
		}
		if i >= len(args) {
			return invalidArgument("argument %d is missing (%d given)", i+1, len(args))
		}
		if err := decodeInto(p.Elem(), args[i]); err != nil {
			return invalidArgument("argument %d: %v", i+1, err)
		}
	}
	return nil
}

// Decode converts a decoded WAMP value (nil, bool, int64, uint64, float64,
// string, []byte, wamp.List, wamp.Dict) to T. Numbers convert between Go's
// integer and float types when the value fits exactly; lists convert to
// slices and arrays, dicts to maps with string keys and to structs, whose
// fields are matched as encoding/json matches them (field tags included).
func Decode[T any](v any) (T, error) {
	var out T
	err := decodeInto(reflect.ValueOf(&out).Elem(), v)
	return out, err
}

func invalidArgument(format string, args ...any) *Error {
	return &Error{URI: wamp.ErrInvalidArgument, Args: wamp.List{fmt.Sprintf(format, args...)}}
}

var bytesType = reflect.TypeFor[[]byte]()

// decodeInto sets dst from the decoded value v.
func decodeInto(dst reflect.Value, v any) error {
	if v == nil {
		switch dst.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			dst.SetZero()
			return nil
		}
		return fmt.Errorf("null is not %s", dst.Type())
	}
	if dst.Kind() == reflect.Interface && dst.NumMethod() == 0 {
		dst.Set(reflect.ValueOf(v))
		return nil
	}
	switch dst.Kind() {
	case reflect.Pointer:
		p := reflect.New(dst.Type().Elem())
		if err := decodeInto(p.Elem(), v); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			dst.SetBool(b)
			return nil
		}
	case reflect.String:
		if s, ok := v.(string); ok {
			dst.SetString(s)
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n, ok := wamp.AsInt(v); ok {
			if dst.OverflowInt(n) {
				return fmt.Errorf("%d does not fit %s", n, dst.Type())
			}
			dst.SetInt(n)
			return nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if n, ok := wamp.AsUint(v); ok {
			if dst.OverflowUint(n) {
				return fmt.Errorf("%d does not fit %s", n, dst.Type())
			}
			dst.SetUint(n)
			return nil
		}
	case reflect.Float32, reflect.Float64:
		switch n := v.(type) {
		case float64:
			if dst.Kind() == reflect.Float32 && !math.IsInf(n, 0) && math.Abs(n) > math.MaxFloat32 {
				return fmt.Errorf("%v does not fit float32", n)
			}
			dst.SetFloat(n)
			return nil
		case int64:
			dst.SetFloat(float64(n))
			return nil
		case uint64:
			dst.SetFloat(float64(n))
			return nil
		}
	case reflect.Slice:
		if dst.Type() == bytesType || dst.Type().Elem().Kind() == reflect.Uint8 {
			if b, ok := v.([]byte); ok {
				dst.SetBytes(append([]byte(nil), b...))
				return nil
			}
		}
		if l, ok := v.([]any); ok {
			s := reflect.MakeSlice(dst.Type(), len(l), len(l))
			for i, e := range l {
				if err := decodeInto(s.Index(i), e); err != nil {
					return fmt.Errorf("element %d: %w", i, err)
				}
			}
			dst.Set(s)
			return nil
		}
	case reflect.Array:
		if l, ok := v.([]any); ok {
			if len(l) != dst.Len() {
				return fmt.Errorf("a list of %d is not %s", len(l), dst.Type())
			}
			for i, e := range l {
				if err := decodeInto(dst.Index(i), e); err != nil {
					return fmt.Errorf("element %d: %w", i, err)
				}
			}
			return nil
		}
	case reflect.Map:
		if d, ok := v.(map[string]any); ok && dst.Type().Key().Kind() == reflect.String {
			m := reflect.MakeMapWithSize(dst.Type(), len(d))
			for k, e := range d {
				ev := reflect.New(dst.Type().Elem()).Elem()
				if err := decodeInto(ev, e); err != nil {
					return fmt.Errorf("key %q: %w", k, err)
				}
				m.SetMapIndex(reflect.ValueOf(k).Convert(dst.Type().Key()), ev)
			}
			dst.Set(m)
			return nil
		}
	case reflect.Struct:
		if _, ok := v.(map[string]any); ok {
			// encoding/json knows how fields match keys (tags, case); binary
			// values travel as base64, which it decodes into []byte fields.
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			p := reflect.New(dst.Type())
			if err := json.Unmarshal(b, p.Interface()); err != nil {
				return fmt.Errorf("a dict is not %s: %w", dst.Type(), err)
			}
			dst.Set(p.Elem())
			return nil
		}
	}
	return fmt.Errorf("%s is not %s", describeValue(v), dst.Type())
}

func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 20 {
			x = x[:20] + "…"
		}
		return fmt.Sprintf("string %q", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a dict"
	case []byte:
		return "binary"
	}
	return fmt.Sprintf("%T %v", v, v)
}
