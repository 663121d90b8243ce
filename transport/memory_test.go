package transport

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestReleaserWaitsForSpikeEnd: the release comes once the spike has been
// quiet for the delay (a connect storm's garbage keeps coming, its
// ciphers last), but no later than the interval after the threshold was
// crossed, and never within the interval of the last release.
func TestReleaserWaitsForSpikeEnd(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := &releaser{live: noHeap}
	r.init(nil)
	r.crossed, r.freed = t0, r.threshold
	cases := []struct {
		name           string
		lastNote, last time.Time
		now            time.Time
		want           time.Duration
	}{
		{"quiet since the threshold", t0, time.Time{}, t0, releaseDelay},
		{"the storm goes on", t0.Add(3 * time.Second), time.Time{}, t0.Add(3 * time.Second), releaseDelay},
		{"quiet for the delay", t0.Add(3 * time.Second), time.Time{}, t0.Add(3*time.Second + releaseDelay), 0},
		{"a storm longer than the interval", t0.Add(releaseInterval), time.Time{}, t0.Add(releaseInterval), 0},
		{"a release shortly before", t0, t0.Add(-time.Second), t0, releaseInterval - time.Second},
	}
	for _, c := range cases {
		r.lastNote, r.last = c.lastNote, c.last
		if got := r.wait(c.now); got != c.want {
			t.Errorf("%s: release due in %s, want %s", c.name, got, c.want)
		}
	}
}

// TestReleaserLongSpike: a spike that goes on past the release interval
// gets a release at the interval, while it goes on, and another once it
// is over, though what it added after the first is under the threshold
// (a long connect storm's last handshakes and the ciphers its
// connections drop after it).
func TestReleaserLongSpike(t *testing.T) {
	var count atomic.Uint64
	// The delay is long against the interval: the first release comes at
	// the interval while notes keep coming.
	r := &releaser{threshold: 1 << 20, minimum: 1, delay: 200 * time.Millisecond, interval: 50 * time.Millisecond, live: noHeap}
	r.init(&count)
	defer r.stop()
	r.garbage(1 << 20)
	for count.Load() == 0 {
		r.garbage(1)
		time.Sleep(time.Millisecond)
	}
	r.garbage(1) // the spike's end: far under the threshold
	eventually(t, "a release once the spike is over", func() bool { return count.Load() >= 2 })
}

// TestReleaserTrickle: after a release that came while its spike went on,
// a trickle that never stops for the delay gets no release of its own
// (no forced collection every interval), until it adds up to a spike.
func TestReleaserTrickle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := &releaser{live: noHeap}
	r.init(nil)
	r.last, r.ongoing = t0, true
	r.freed, r.crossed = 1, t0.Add(time.Second) // the trickle's first note set the timer
	r.lastNote = t0.Add(30 * time.Second)       // and it went on
	if got := r.wait(r.lastNote); got != releaseDelay {
		t.Fatalf("the end of a trickle is due in %s, want the delay %s after its last note", got, releaseDelay)
	}
}

// noHeap is a live heap too small to raise any threshold: the tests' own
// thresholds are far below a quarter of the test process's heap.
func noHeap() int64 { return 0 }

// TestReleaserHeapShare: past the threshold, what was freed must also be a
// quarter of the live heap to be a spike (a forced collection costs in
// proportion to the heap): a churn of handshakes on a large heap forces a
// release only each time it adds up to that share. A spike keeps its
// interval cap when the heap grows meanwhile, and a heap that shrank is
// looked at again.
func TestReleaserHeapShare(t *testing.T) {
	var count atomic.Uint64
	var live atomic.Int64
	live.Store(64 << 20) // a quarter: 16 MiB
	r := &releaser{threshold: 1 << 20, minimum: 1, delay: time.Hour, interval: time.Hour, live: live.Load}
	r.init(&count)
	defer r.stop()
	scheduled := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.timer != nil
	}
	r.garbage(8 << 20)
	if scheduled() {
		t.Fatal("8 MiB on a 64 MiB live heap is a spike")
	}
	r.garbage(9 << 20)
	if !scheduled() {
		t.Fatal("17 MiB on a 64 MiB live heap is no spike")
	}

	// After a release that came while its spike went on, a churn that
	// passes the threshold but not the heap's share waits for the quiet:
	// no release at the interval.
	t0 := time.Unix(1000, 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ongoing, r.last, r.spiked = true, t0, false
	r.freed, r.crossed, r.lastNote = 2<<20, t0.Add(time.Second), t0.Add(2*time.Hour)
	if got := r.wait(r.lastNote); got != r.delay {
		t.Fatalf("a churn under the heap's share is due in %s, want the delay %s after its last note", got, r.delay)
	}
	r.freed = 20 << 20
	if got := r.wait(r.lastNote); got >= 0 {
		t.Fatalf("a spike past the heap's share and the interval is due in %s, want at once", got)
	}
	// The heap grew meanwhile: the spike keeps its cap.
	live.Store(1 << 30)
	if got := r.wait(r.lastNote); got >= 0 {
		t.Fatalf("a spike whose heap grew since is due in %s, want at once", got)
	}
	// After a release, a heap that shrank is looked at anew: 5 MiB on a
	// 16 MiB heap is a spike, whatever the heap was before.
	r.spiked, r.ongoing, r.freed = false, false, 0
	live.Store(16 << 20)
	r.freed = 5 << 20
	if !r.spike() {
		t.Fatal("5 MiB on a 16 MiB live heap is no spike")
	}
}
