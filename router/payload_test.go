package router

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// decodeList returns a payload's arguments as plain Go values: the payload
// is converted to JSON by the codec (whatever it arrived in) and read back
// with encoding/json, binary strings turned into []byte.
func decodeList(t *testing.T, p *wamp.Payload) wamp.List {
	t.Helper()
	b, err := codec.JSON.Encode(nil, &wamp.Yield{Request: 1, Payload: *p})
	if err != nil {
		t.Fatalf("converting %s payload: %v", p.Format, err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var msg []any
	if err := d.Decode(&msg); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if len(msg) < 4 {
		return nil
	}
	l := msg[3].([]any)
	for i, v := range l {
		switch v := v.(type) {
		case string:
			if rest, ok := strings.CutPrefix(v, "\x00"); ok {
				bin, err := base64.StdEncoding.DecodeString(rest)
				if err != nil {
					t.Fatal(err)
				}
				l[i] = bin
			}
		case json.Number:
			n, _ := v.Int64()
			l[i] = n
		}
	}
	return l
}
