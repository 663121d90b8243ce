package lograte

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &Limiter{Burst: 2, Interval: 10 * time.Second, now: func() time.Time { return now }}
	for i := range 2 {
		if ok, skipped := l.Allow("timeout"); !ok || skipped != 0 {
			t.Fatalf("line %d of the burst: %v, %d", i, ok, skipped)
		}
	}
	for range 5 {
		if ok, _ := l.Allow("timeout"); ok {
			t.Fatal("a line beyond the burst was allowed")
		}
	}
	if ok, _ := l.Allow("origin"); !ok {
		t.Fatal("another class shares the limit")
	}
	now = now.Add(10 * time.Second)
	if ok, skipped := l.Allow("timeout"); !ok || skipped != 5 {
		t.Fatalf("after an interval: %v, skipped %d, want 5", ok, skipped)
	}
	if ok, _ := l.Allow("timeout"); ok {
		t.Fatal("one interval gave more than one line")
	}
	now = now.Add(time.Hour)
	for i := range 2 {
		if ok, _ := l.Allow("timeout"); !ok {
			t.Fatalf("after a quiet hour, line %d of the burst was refused", i)
		}
	}
}

// TestLimiterBounded keeps the classes it remembers bounded: unexpected
// ones share one bucket.
func TestLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &Limiter{Burst: 1, now: func() time.Time { return now }}
	for i := range 10 * maxClasses {
		l.Allow(string(rune('a'+i%26)) + string(rune(i)))
	}
	if len(l.classes) > maxClasses+1 {
		t.Fatalf("%d classes remembered", len(l.classes))
	}
}
