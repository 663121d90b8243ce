package codec

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"
)

// The common value model that decoders produce and every encoder accepts:
// nil, bool, int64, uint64 (only above math.MaxInt64), float64, string,
// []byte, []any and map[string]any. Encoders also accept other Go integer
// and float types, slices, maps with string keys and structs (through their
// exported fields), which toGeneric maps onto the model.

// normalize maps what a MessagePack or CBOR library decoded onto the model.
func normalize(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("value nested too deeply")
	}
	switch v := v.(type) {
	case nil, bool, string, []byte, int64, float64:
		return v, nil
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
		return v, nil
	case float32:
		return float64(v), nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	case []any:
		for i, e := range v {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
		return v, nil
	case map[string]any:
		for k, e := range v {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			v[k] = n
		}
		return v, nil
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("dict key %v is not a string", k)
			}
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[ks] = n
		}
		return m, nil
	}
	g, err := toGeneric(reflect.ValueOf(v))
	if err != nil {
		return nil, err
	}
	return normalize(g, depth+1)
}

// toGeneric converts values outside the model (a Go client's own types)
// through reflection.
func toGeneric(v reflect.Value) (any, error) {
	if !v.IsValid() {
		return nil, nil
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		t, err := m.MarshalText()
		return string(t), err
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
		return toGeneric(v.Elem())
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Bytes(), nil
		}
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}, nil
		}
		l := make([]any, v.Len())
		for i := range l {
			e, err := toGeneric(v.Index(i))
			if err != nil {
				return nil, err
			}
			l[i] = e
		}
		return l, nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("dict keys must be strings, not %s", v.Type().Key())
		}
		m := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			e, err := toGeneric(it.Value())
			if err != nil {
				return nil, err
			}
			m[it.Key().String()] = e
		}
		return m, nil
	case reflect.Struct:
		t := v.Type()
		m := make(map[string]any, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			e, err := toGeneric(v.Field(i))
			if err != nil {
				return nil, err
			}
			m[f.Name] = e
		}
		return m, nil
	}
	return nil, fmt.Errorf("cannot serialize a value of type %s", v.Type())
}
