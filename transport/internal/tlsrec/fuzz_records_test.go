package tlsrec

import (
	"bytes"
	"errors"
	"testing"
)

// sealScript seals the records a script describes with the client's
// keys: each record is a length byte, then that many bytes of its inner
// content, the last of which is its content type (TLS 1.3: the inner
// plaintext, padding included; TLS 1.2: the type, then the data). A
// KeyUpdate sealed whole also updates the client's write key, as a
// client's would. It returns the wire bytes and the application data the
// records carry, in order.
func sealScript(c *Conn, script []byte) (wire, app []byte) {
	for len(script) > 0 {
		n := int(script[0])
		script = script[1:]
		n = min(n, len(script))
		inner := script[:n]
		script = script[n:]
		if n == 0 {
			inner = []byte{typeApplicationData}
		}
		typ, data := inner[len(inner)-1], inner[:len(inner)-1]
		if c.vers != 0x0304 {
			typ, data = inner[0], inner[1:]
			if typ != typeApplicationData && typ != typeAlert && typ != typeHandshake {
				typ = typeApplicationData
			}
		}
		var err error
		if wire, err = c.seal(wire, typ, data); err != nil {
			return wire, app
		}
		content, ct := data, typ
		if c.vers == 0x0304 { // the content type is the last byte that is not padding
			i := len(inner) - 1
			for i >= 0 && inner[i] == 0 {
				i--
			}
			content, ct = inner[:max(i, 0)], 0
			if i >= 0 {
				ct = inner[i]
			}
		}
		if ct == typeApplicationData {
			app = append(app, content...)
		}
		if c.vers == 0x0304 && typ == typeHandshake && len(data) == 5 && bytes.Equal(data[:4], []byte{msgKeyUpdate, 0, 0, 1}) {
			c.out.update(c.suite)
		}
	}
	return wire, app
}

// FuzzOpenRecords: records that authenticate, whatever they carry
// (content types, padding, alerts, handshake messages and their
// fragments, empty records), leave Open's invariants whole: no panic,
// the same result in one piece as in two, only the application data of
// application data records, in order, and only typed errors.
func FuzzOpenRecords(f *testing.F) {
	f.Add(uint8(0), uint16(3), []byte("\x06hello\x17\x01\x17\x03\x01\x00\x15"))
	f.Add(uint8(0), uint16(9), []byte("\x04\x18\x00\x00\x16\x03\x01\x01\x16\x03hi\x17"))
	f.Add(uint8(0), uint16(1), []byte("\x05ab\x17\x00\x00\x01\x00\x01\x17"))
	f.Add(uint8(3), uint16(2), []byte("\x03\x15\x01\x5a\x06\x17hello\x03\x15\x01\x00"))
	f.Add(uint8(3), uint16(5), []byte("\x05\x16\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, which uint8, split uint16, script []byte) {
		id := allSuites[int(which)%len(allSuites)]
		whole, client := testPair(t, id)
		parts, _ := testPair(t, id)
		wire, app := sealScript(client, script)

		buf := bytes.Clone(wire)
		r, errWhole := whole.Open(buf)
		check(t, r, buf)
		if r.Need != 0 || (errWhole == nil && r.Used != len(wire)) {
			t.Fatalf("whole records: %+v of %d bytes, %v", r, len(wire), errWhole)
		}
		got := bytes.Clone(buf[:r.N])
		if !bytes.HasPrefix(app, got) {
			t.Fatalf("opened %q; the records carried %q", got, app)
		}
		if errWhole == nil && !bytes.Equal(got, app) {
			t.Fatalf("opened %q without an error; the records carried %q", got, app)
		}
		var ae *AlertError
		if errWhole != nil && !errors.Is(errWhole, ErrCloseNotify) && !errors.As(errWhole, &ae) {
			t.Fatalf("error of type %T: %v", errWhole, errWhole)
		}

		cut := int(split) % (len(wire) + 1)
		buf = bytes.Clone(wire[:cut])
		r1, err := parts.Open(buf)
		check(t, r1, buf)
		gotParts := bytes.Clone(buf[:r1.N])
		if err == nil {
			buf = append(buf[:copy(buf, buf[r1.Used:])], wire[cut:]...)
			var r2 Opened
			r2, err = parts.Open(buf)
			check(t, r2, buf)
			gotParts = append(gotParts, buf[:r2.N]...)
			r1.KeyUpdate = r1.KeyUpdate || r2.KeyUpdate
		}
		if !bytes.Equal(got, gotParts) {
			t.Fatalf("%q in one piece, %q in two", got, gotParts)
		}
		if (errWhole == nil) != (err == nil) || (errWhole != nil && errWhole.Error() != err.Error()) {
			t.Fatalf("one piece: %v; two: %v", errWhole, err)
		}
		if errWhole == nil && r.KeyUpdate != r1.KeyUpdate {
			t.Fatal("KeyUpdate differs")
		}
	})
}
