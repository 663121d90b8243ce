package codec

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"
	"unicode/utf8"
)

// The common value model that decoders produce and every encoder accepts:
// nil, bool, int64, uint64 (only above math.MaxInt64), float64, string,
// []byte, []any and map[string]any. Encoders also accept other Go integer
// and float types, slices, maps with string keys and structs (through their
// exported fields), which generic maps onto the model.
//
// Nesting is counted in containers (lists and dicts): a value holds at most
// maxDepth of them inside one another, in every codec, so that what one
// codec decodes the others can encode and decode again.

var (
	errTooDeep = errors.New("value nested too deeply")
	errNotUTF8 = errors.New("string is not valid UTF-8")
)

// absent is what a header leaf function (msgpackHeaderLeaf, cborHeaderLeaf)
// makes of a value with no WAMP meaning, such as the MessagePack extension
// type 0 that some JavaScript clients write for an unset option: normalize
// leaves the key out of its dict (as JSON.stringify leaves out an
// undefined property) and puts null in its place in a list. In a payload
// such a value is an error.
type absent struct{}

// normalize maps what a MessagePack or CBOR library decoded onto the
// model, in place: it walks lists and dicts and hands every other value to
// leaf, which knows the library's types. depth is the number of containers
// around v.
func normalize(v any, depth int, leaf func(v any, depth int) (any, error)) (any, error) {
	// The cases return v, not the typed t: boxing t again would allocate.
	switch t := v.(type) {
	case []any:
		if depth >= maxDepth {
			return nil, errTooDeep
		}
		for i, e := range t {
			n, err := normalize(e, depth+1, leaf)
			if err != nil {
				return nil, err
			}
			if n == (absent{}) {
				n = nil
			}
			t[i] = n
		}
		return v, nil
	case map[string]any:
		if depth >= maxDepth {
			return nil, errTooDeep
		}
		for k, e := range t {
			if !utf8.ValidString(k) {
				return nil, errors.New("dict key is not valid UTF-8")
			}
			n, err := normalize(e, depth+1, leaf)
			if err != nil {
				return nil, err
			}
			if n == (absent{}) {
				delete(t, k)
				continue
			}
			// Storing into a map hashes the key again: do it only for
			// a value that normalize replaced.
			switch e.(type) {
			case nil, bool, int64, float64, string, []any, map[string]any:
			default:
				t[k] = n
			}
		}
		return v, nil
	}
	return leaf(v, depth)
}

// modelLeaf maps the scalar types that both libraries decode to.
func modelLeaf(v any) (any, error) {
	switch t := v.(type) {
	case nil, bool, int64, float64:
		return v, nil
	case []byte:
		if t == nil {
			return []byte{}, nil
		}
		return v, nil
	case string:
		if !utf8.ValidString(t) {
			return nil, errNotUTF8
		}
		return v, nil
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t), nil
		}
		return v, nil
	case float32:
		return float64(t), nil
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	return nil, fmt.Errorf("a value of type %T has no WAMP meaning", v)
}

// generic maps a value outside the model onto it for the encoders, without
// changing v (a message may be encoded by several goroutines at once). depth
// is the number of containers enclosing v.
func generic(v any, depth int) (any, error) {
	switch v := v.(type) {
	case float32:
		return float64(v), nil
	case int8:
		return int64(v), nil
	case int16:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case uint8:
		return int64(v), nil
	case uint16:
		return int64(v), nil
	case uint32:
		return int64(v), nil
	case uint:
		if uint64(v) <= math.MaxInt64 {
			return int64(v), nil
		}
		return uint64(v), nil
	case json.Number:
		if end, err := scanNumber([]byte(v), 0); err != nil || end != len(v) {
			return nil, fmt.Errorf("%.20q is not a JSON number", string(v))
		}
		return parseJSONNumber([]byte(v))
	}
	return toGeneric(reflect.ValueOf(v), depth)
}

// toGeneric converts values outside the model (a Go client's own types)
// through reflection. depth is the number of containers enclosing v;
// pointers count too, so that a cycle of pointers ends in an error.
func toGeneric(v reflect.Value, depth int) (any, error) {
	if !v.IsValid() {
		return nil, nil
	}
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if v.CanInterface() {
		if m, ok := v.Interface().(encoding.TextMarshaler); ok {
			if v.Kind() == reflect.Pointer && v.IsNil() {
				return nil, nil
			}
			t, err := m.MarshalText()
			if err != nil {
				return nil, err
			}
			if !utf8.Valid(t) {
				return nil, errors.New("MarshalText returned invalid UTF-8")
			}
			return string(t), nil
		}
	}
	switch v.Kind() {
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := v.Uint()
		if u <= math.MaxInt64 {
			return int64(u), nil
		}
		return u, nil
	case reflect.Float32, reflect.Float64:
		return v.Float(), nil
	case reflect.String:
		return v.String(), nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return toGeneric(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Bytes(), nil
		}
		if depth >= maxDepth {
			return nil, errTooDeep
		}
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}, nil
		}
		l := make([]any, v.Len())
		for i := range l {
			e, err := toGeneric(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			l[i] = e
		}
		return l, nil
	case reflect.Map:
		kt := v.Type().Key()
		if kt.Kind() != reflect.String && kt.Kind() != reflect.Interface {
			return nil, fmt.Errorf("dict keys must be strings, not %s", kt)
		}
		if depth >= maxDepth {
			return nil, errTooDeep
		}
		m := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			k := it.Key()
			if k.Kind() == reflect.Interface {
				k = k.Elem()
			}
			if k.Kind() != reflect.String {
				return nil, fmt.Errorf("dict key %v is not a string", k)
			}
			e, err := toGeneric(it.Value(), depth+1)
			if err != nil {
				return nil, err
			}
			m[k.String()] = e
		}
		return m, nil
	case reflect.Struct:
		if depth >= maxDepth {
			return nil, errTooDeep
		}
		t := v.Type()
		m := make(map[string]any, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			e, err := toGeneric(v.Field(i), depth+1)
			if err != nil {
				return nil, err
			}
			m[f.Name] = e
		}
		return m, nil
	}
	return nil, fmt.Errorf("cannot serialize a value of type %s", v.Type())
}
