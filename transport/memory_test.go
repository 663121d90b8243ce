package transport

import (
	"testing"
	"time"
)

// TestReleaserWaitsForSpikeEnd: the release comes once the spike has been
// quiet for the delay (a connect storm's garbage keeps coming, its
// ciphers last), but no later than the interval after the threshold was
// crossed, and never within the interval of the last release.
func TestReleaserWaitsForSpikeEnd(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := &releaser{}
	r.init(nil)
	r.crossed = t0
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
