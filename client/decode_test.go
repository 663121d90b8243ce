package client_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

type point struct {
	X, Y  int
	Label string `json:"label"`
	Blob  []byte
}

func TestDecode(t *testing.T) {
	args := wamp.List{int64(42), "hi", 2.5, true, []byte{1, 2}, wamp.List{int64(1), int64(2)},
		wamp.Dict{"X": int64(3), "Y": float64(4), "label": "p", "Blob": []byte{9}}, nil, uint64(1) << 60, int64(-1)}

	if n, err := client.Arg[int](args, 0); err != nil || n != 42 {
		t.Errorf("int: %v %v", n, err)
	}
	if n, err := client.Arg[float64](args, 0); err != nil || n != 42 {
		t.Errorf("int as float64: %v %v", n, err)
	}
	if s, err := client.Arg[string](args, 1); err != nil || s != "hi" {
		t.Errorf("string: %v %v", s, err)
	}
	if b, err := client.Arg[[]byte](args, 4); err != nil || !reflect.DeepEqual(b, []byte{1, 2}) {
		t.Errorf("bytes: %v %v", b, err)
	}
	if l, err := client.Arg[[]int](args, 5); err != nil || !reflect.DeepEqual(l, []int{1, 2}) {
		t.Errorf("list: %v %v", l, err)
	}
	if a, err := client.Arg[[2]uint8](args, 5); err != nil || a != [2]uint8{1, 2} {
		t.Errorf("array: %v %v", a, err)
	}
	if p, err := client.Arg[point](args, 6); err != nil || !reflect.DeepEqual(p, point{3, 4, "p", []byte{9}}) {
		t.Errorf("struct: %+v %v", p, err)
	}
	if p, err := client.Arg[*point](args, 7); err != nil || p != nil {
		t.Errorf("null pointer: %v %v", p, err)
	}
	if m, err := client.Arg[map[string]any](args, 6); err != nil || m["label"] != "p" {
		t.Errorf("map: %v %v", m, err)
	}
	if n, err := client.Arg[uint64](args, 8); err != nil || n != 1<<60 {
		t.Errorf("uint64: %v %v", n, err)
	}
	if v, err := client.Arg[any](args, 1); err != nil || v != "hi" {
		t.Errorf("any: %v %v", v, err)
	}
	if v, err := client.Kwarg[int](args[6].(wamp.Dict), "X"); err != nil || v != 3 {
		t.Errorf("kwarg: %v %v", v, err)
	}
	var (
		n  int
		s  string
		f  float32
		ok bool
	)
	if err := client.DecodeArgs(args, &n, &s, &f, &ok); err != nil || n != 42 || s != "hi" || f != 2.5 || !ok {
		t.Errorf("DecodeArgs: %v %v %v %v %v", n, s, f, ok, err)
	}

	bad := []func() error{
		func() error { _, err := client.Arg[int](args, 1); return err },     // a string
		func() error { _, err := client.Arg[int](args, 2); return err },     // 2.5
		func() error { _, err := client.Arg[int8](args, 8); return err },    // overflow
		func() error { _, err := client.Arg[uint](args, 9); return err },    // negative
		func() error { _, err := client.Arg[string](args, 99); return err }, // missing
		func() error { _, err := client.Arg[int](args, 7); return err },     // null
		func() error { _, err := client.Kwarg[string](wamp.Dict{}, "x"); return err },
		func() error { return client.DecodeArgs(args, &n, &n) },
	}
	for i, f := range bad {
		err := f()
		var we *client.Error
		if !errors.As(err, &we) || we.URI != wamp.ErrInvalidArgument {
			t.Errorf("case %d: %v, want an invalid_argument *Error", i, err)
		}
	}
	if _, err := client.Decode[[]string](wamp.List{"a", int64(1)}); err == nil {
		t.Error("a list with a number decoded into []string")
	}
}
