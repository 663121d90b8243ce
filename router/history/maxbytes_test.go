package history

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/junction-wamp/junction/wamp"
)

// big is an event to topic t with publication pub and a payload of n
// bytes.
func big(pub wamp.ID, n int) Event {
	e := ev("t", pub, int(pub))
	e.Payload.RawArgs = append([]byte(`["`), append(bytes.Repeat([]byte("x"), n-4), `"]`...)...)
	return e
}

// recordSize is the size of big(pub, n)'s record.
func recordSize(t *testing.T, pub wamp.ID, n int) int64 {
	t.Helper()
	e := big(pub, n)
	rec, err := Encode(&e)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(rec))
}

// TestMaxBytesTrimsOldest: a rule with MaxBytes keeps no more bytes of
// records than that, however many events its Limit allows, the oldest
// dropped first, in every batch and when the file is opened with a lower
// bound.
func TestMaxBytesTrimsOldest(t *testing.T) {
	path := tempPath(t)
	const payload = 10 << 10
	size := recordSize(t, 1, payload) // every record of the test: pubs 1 to 10 encode alike
	rule := Rule{Match: wamp.MatchExact, Topic: "t", Limit: 1000, MaxBytes: 3*size + size/2}
	s := open(t, path, rule)
	for i := 1; i <= 10; i++ {
		appendAll(t, s, big(wamp.ID(i), payload))
		if i%4 == 0 { // several batches
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := pubs(query(t, s, Query{Pattern: "t"})); !reflect.DeepEqual(got, []wamp.ID{8, 9, 10}) {
		t.Fatalf("after 10 events of %d bytes with max_bytes %d: %v", size, rule.MaxBytes, got)
	}
	s.Close()

	// A lower bound applies when the file is opened again.
	rule.MaxBytes = 2*size + size/2
	s = open(t, path, rule)
	if got := pubs(query(t, s, Query{Pattern: "t"})); !reflect.DeepEqual(got, []wamp.ID{9, 10}) {
		t.Fatalf("reopened with max_bytes of 2 events: %v", got)
	}
	// The bytes of the events kept were counted when it was opened.
	appendAll(t, s, big(11, payload))
	if got := pubs(query(t, s, Query{Pattern: "t"})); !reflect.DeepEqual(got, []wamp.ID{10, 11}) {
		t.Fatalf("after one more: %v", got)
	}
}

// TestTooLargeNotKept: an event whose record alone is larger than its
// rule's MaxBytes is refused with ErrTooLarge and counted, by Append and
// AppendDurable (whose durable is not called); kept, it would push every
// other event of the rule out, then itself. The rule's events stay.
func TestTooLargeNotKept(t *testing.T) {
	const payload = 1 << 10
	size := recordSize(t, 1, payload)
	s := open(t, tempPath(t), Rule{Match: wamp.MatchExact, Topic: "t", Limit: 10, MaxBytes: 4 * size})
	appendAll(t, s, big(1, payload), big(2, payload))
	if err := s.Append(realm, big(3, 5*payload)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append of an event larger than MaxBytes: %v, want ErrTooLarge", err)
	}
	err := s.AppendDurable(realm, big(4, 5*payload), func(err error) { t.Errorf("durable called (%v) for an event refused", err) })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("AppendDurable of an event larger than MaxBytes: %v, want ErrTooLarge", err)
	}
	appendAll(t, s, big(5, payload))
	if got := pubs(query(t, s, Query{Pattern: "t"})); !reflect.DeepEqual(got, []wamp.ID{1, 2, 5}) {
		t.Fatalf("history %v, want [1 2 5]", got)
	}
	if st := s.Stats(); st.TooLarge != 2 || st.Appended != 3 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 2 too large, 3 appended", st)
	}
	// A negative bound is refused, as a limit that is not positive is.
	if s, err := Open(tempPath(t), Config{Rules: map[wamp.URI][]Rule{realm: {{Match: wamp.MatchExact, Topic: "t", Limit: 1, MaxBytes: -1}}}}); err == nil {
		s.Close()
		t.Error("Open accepted MaxBytes -1")
	}
	if _, err := NewRules(map[wamp.URI][]Rule{realm: {{Match: wamp.MatchExact, Topic: "t", Limit: 1, MaxBytes: -1}}}); err == nil {
		t.Error("NewRules accepted MaxBytes -1")
	}
}
