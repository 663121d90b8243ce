package tlsrec

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzSeeds are records a client would send: data of several sizes, a
// KeyUpdate split over two records, alerts, and damaged records.
func fuzzSeeds(t testing.TB, id uint16) [][]byte {
	_, c := testPair(t, id)
	var seeds [][]byte
	add := func(b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	add(c.Seal(nil, []byte("hello")))
	add(c.Seal(nil, bytes.Repeat([]byte("x"), MaxPlaintext+10)))
	b, _ := c.Seal(nil, []byte("[1,\"realm\",{}]"))
	b, _ = c.seal(b, typeApplicationData, nil)
	b = c.SealAlert(b, AlertCloseNotify)
	seeds = append(seeds, b)
	if c.vers == 0x0304 {
		b, _ = c.seal(nil, typeHandshake, []byte{msgKeyUpdate, 0, 0})
		b, _ = c.seal(b, typeHandshake, []byte{1, 1})
		c.out.update(c.suite)
		add(c.Seal(b, []byte("after")))
	} else {
		add(c.seal(nil, typeHandshake, []byte{1, 0, 0, 0}))
	}
	b, _ = c.Seal(nil, []byte("damaged"))
	b[len(b)-3] ^= 0x80
	seeds = append(seeds, b, []byte{23, 3, 3, 0x40, 0}, []byte{22, 3, 1, 0, 5, 1, 0, 0, 1, 0})
	return seeds
}

// FuzzOpen: whatever the bytes, Open keeps its invariants, never panics,
// and gives the same result in one piece as in two.
func FuzzOpen(f *testing.F) {
	for i, id := range allSuites {
		for _, s := range fuzzSeeds(f, id) {
			f.Add(uint8(i), uint16(len(s)/2), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, split uint16, data []byte) {
		id := allSuites[int(which)%len(allSuites)]
		whole, _ := testPair(t, id)
		parts, _ := testPair(t, id)

		buf := bytes.Clone(data)
		r, errWhole := whole.Open(buf)
		check(t, r, buf)
		gotWhole := bytes.Clone(buf[:r.N])

		cut := int(split) % (len(data) + 1)
		buf = bytes.Clone(data[:cut])
		r1, err := parts.Open(buf)
		check(t, r1, buf)
		gotParts := bytes.Clone(buf[:r1.N])
		errParts := err
		if err == nil {
			buf = append(buf[:copy(buf, buf[r1.Used:])], data[cut:]...)
			r2, err := parts.Open(buf)
			check(t, r2, buf)
			gotParts = append(gotParts, buf[:r2.N]...)
			errParts = err
			r1.KeyUpdate = r1.KeyUpdate || r2.KeyUpdate
		}
		if !bytes.Equal(gotWhole, gotParts) {
			t.Fatalf("%d bytes in one piece, %d in two", len(gotWhole), len(gotParts))
		}
		if (errWhole == nil) != (errParts == nil) || (errWhole != nil && errWhole.Error() != errParts.Error()) {
			t.Fatalf("one piece: %v; two: %v", errWhole, errParts)
		}
		if errWhole == nil && r.KeyUpdate != r1.KeyUpdate {
			t.Fatal("KeyUpdate differs")
		}
		var ae *AlertError
		if errWhole != nil && !errors.Is(errWhole, ErrCloseNotify) && !errors.As(errWhole, &ae) {
			t.Fatalf("error of type %T: %v", errWhole, errWhole)
		}
	})
}

// check tests Opened's invariants.
func check(t *testing.T, r Opened, buf []byte) {
	t.Helper()
	if r.N < 0 || r.N > r.Used || r.Used > len(buf) || r.Need < 0 {
		t.Fatalf("%+v for %d bytes", r, len(buf))
	}
	if r.Need > 0 && r.Used == len(buf) {
		t.Fatalf("%+v: Need without a partial record", r)
	}
}
