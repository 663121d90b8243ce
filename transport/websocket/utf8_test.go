package websocket

import (
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

// TestReaderUTF8PerFragment: a fragmented text message is checked as each
// fragment arrives; bytes that cannot be UTF-8 fail the fragment they are
// in (close 1007) rather than the final one, and a character cut between
// fragments is not mistaken for one.
func TestReaderUTF8PerFragment(t *testing.T) {
	tests := []struct {
		name      string
		fragments []string
		failAt    int // index of the fragment that fails; -1: none
		want      string
	}{
		{"invalid in the first fragment", []string{"[16,1,{},\"t\",[\"\xff", "\"]]"}, 0, ""},
		{"invalid in a middle fragment", []string{"[16,", "1,\xc0\xaf", ",{}]"}, 1, ""},
		{"surrogate half at a fragment's end", []string{"ab\xed\xa0", "\x80"}, 0, ""},
		{"lead byte without continuation", []string{"ab\xe2", "(c"}, 1, ""},
		{"cut character never finished", []string{"ab", "\xe2\x82"}, 1, ""},
		{"continuation byte first", []string{"\x82ab", "c"}, 0, ""},
		{"3-byte character cut 1|2", []string{"x\xe2", "\x82\xacy"}, -1, "x€y"},
		{"3-byte character cut 2|1", []string{"x\xe2\x82", "\xacy"}, -1, "x€y"},
		{"4-byte character cut 1|3", []string{"\xf0", "\x9f\x98\x80"}, -1, "😀"},
		{"4-byte character cut 3|1", []string{"\xf0\x9f\x98", "\x80"}, -1, "😀"},
		{"4-byte character over three fragments", []string{"a\xf0\x9f", "\x98", "\x80b"}, -1, "a😀b"},
		{"empty fragments", []string{"", "a\xce", "", "\xbb"}, -1, "aλ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Reader
			for i, f := range tt.fragments {
				op := ws.OpContinuation
				if i == 0 {
					op = ws.OpText
				}
				final := i == len(tt.fragments)-1
				ev, n, err := r.Next(clientFrame(op, final, f))
				if i == tt.failAt {
					var ce *CloseError
					if !errors.As(err, &ce) || ce.Code != ws.StatusInvalidFramePayloadData {
						t.Fatalf("fragment %d: %v, want close 1007", i, err)
					}
					return
				}
				if err != nil || n == 0 {
					t.Fatalf("fragment %d: n %d, %v", i, n, err)
				}
				if final {
					if ev.Kind != EventMessage || string(ev.Payload) != tt.want {
						t.Fatalf("got %v %q, want message %q", ev.Kind, ev.Payload, tt.want)
					}
				} else if ev.Kind != EventNone {
					t.Fatalf("fragment %d gave %v", i, ev.Kind)
				}
			}
			if tt.failAt >= 0 {
				t.Fatal("no error")
			}
		})
	}
	// The reader is ready for the next message after a fragmented one.
	var r Reader
	for _, f := range [][]byte{clientFrame(ws.OpText, false, "\xce"), clientFrame(ws.OpContinuation, true, "\xbb"),
		clientFrame(ws.OpText, false, "a"), clientFrame(ws.OpContinuation, true, "b")} {
		if _, _, err := r.Next(f); err != nil {
			t.Fatal(err)
		}
	}
}
