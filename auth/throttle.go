package auth

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/internal/lru"
)

// Throttle slows down repeated authentication failures from one address:
// after Free failures within Window, each further attempt from that
// address waits Base, doubled per extra failure, up to Max, before
// anything is done for it (no CHALLENGE, no password hash), so that its
// answer comes no sooner and a client that hangs up meanwhile costs
// nothing. (The router counts as a failure a client that answered a
// CHALLENGE and hung up before the verdict.) It remembers at most Entries addresses (dropping the one that
// failed longest ago when full), so its memory is bounded whatever the attacker
// does. The zero value uses the defaults. It is safe for concurrent use.
type Throttle struct {
	Free    int           // failures without delay; default 3
	Base    time.Duration // first delay; default 250ms
	Max     time.Duration // largest delay; default 5s
	Window  time.Duration // failures older than this are forgotten; default 10m
	Entries int           // addresses remembered; default 10000

	now func() time.Time // for tests; nil is time.Now

	mu sync.Mutex
	m  lru.Map[string, failures] // by host, last failure last

	delayed atomic.Uint64
}

type failures struct {
	n    int
	last time.Time
}

func (t *Throttle) defaults() (free int, base, maxDelay, window time.Duration, entries int) {
	free, base, maxDelay, window, entries = t.Free, t.Base, t.Max, t.Window, t.Entries
	if free <= 0 {
		free = 3
	}
	if base <= 0 {
		base = 250 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 5 * time.Second
	}
	if window <= 0 {
		window = 10 * time.Minute
	}
	if entries <= 0 {
		entries = 10000
	}
	return
}

func (t *Throttle) clock() time.Time {
	if t.now != nil {
		return t.now()
	}
	return time.Now()
}

// host reduces a remote address to what is throttled: the IP address
// without the port; a Unix socket peer ("@" or a path) is one address.
func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Delay returns how long an authentication attempt from addr must wait
// before anything is done for it; each answer above 0 counts as a delayed
// attempt.
func (t *Throttle) Delay(addr string) time.Duration {
	if t == nil {
		return 0
	}
	free, base, maxDelay, window, _ := t.defaults()
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.m.Get(host(addr))
	if !ok || now.Sub(f.last) > window || f.n < free {
		return 0
	}
	d := base
	for i := free; i < f.n && d < maxDelay; i++ {
		d *= 2
	}
	t.delayed.Add(1)
	return min(d, maxDelay)
}

// Delayed returns the number of attempts Delay has held back.
func (t *Throttle) Delayed() uint64 {
	if t == nil {
		return 0
	}
	return t.delayed.Load()
}

// Failed records a failed authentication from addr.
func (t *Throttle) Failed(addr string) {
	if t == nil {
		return
	}
	_, _, _, window, entries := t.defaults()
	now := t.clock()
	h := host(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.m.Get(h)
	n := 0
	if ok && now.Sub(f.last) <= window {
		n = f.n
	}
	t.m.Put(h, failures{n: n + 1, last: now}) // the most recent now
	t.m.Trim(entries)
}

// Len returns the number of addresses remembered.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m.Len()
}
