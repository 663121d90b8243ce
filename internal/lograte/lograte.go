// Package lograte limits log lines that a client can cause, so that a
// flood of bad handshakes or slow consumers cannot fill the disk: each
// class of line (a handshake refusal reason, say) may be logged Burst
// times, then once per Interval, and the line that ends a quiet spell says
// how many were left out.
package lograte

import (
	"sync"
	"time"
)

// Defaults for the zero fields of Limiter.
const (
	DefaultBurst    = 5
	DefaultInterval = 10 * time.Second
)

// maxClasses bounds the classes a Limiter remembers; its callers use a
// fixed, small set.
const maxClasses = 256

// Limiter decides which lines to log. Its zero value uses the defaults;
// it is safe for concurrent use.
type Limiter struct {
	Burst    int           // lines logged at once before the limit applies; default 5
	Interval time.Duration // then, one line per Interval; default 10s

	now func() time.Time // for tests; nil is time.Now

	mu      sync.Mutex
	classes map[string]*bucket
}

// bucket is a token bucket of one class, and the lines it left out.
type bucket struct {
	tokens  float64
	last    time.Time
	skipped uint64
}

// Allow reports whether a line of class may be logged now, and how many
// lines of the class were left out since the last one logged (to be
// logged with it).
func (l *Limiter) Allow(class string) (ok bool, skipped uint64) {
	burst, interval := l.Burst, l.Interval
	if burst <= 0 {
		burst = DefaultBurst
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.classes[class]
	if b == nil && len(l.classes) >= maxClasses {
		class = "" // an unexpected class: all such share one bucket
		b = l.classes[class]
	}
	if b == nil {
		if l.classes == nil {
			l.classes = make(map[string]*bucket)
		}
		b = &bucket{tokens: float64(burst), last: now}
		l.classes[class] = b
	}
	b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()/interval.Seconds())
	b.last = now
	if b.tokens < 1 {
		b.skipped++
		return false, 0
	}
	b.tokens--
	skipped, b.skipped = b.skipped, 0
	return true, skipped
}
