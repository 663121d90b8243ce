package auth

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/internal/lru"
	"github.com/junction-wamp/junction/wamp"
)

// Defaults of Throttle.InFlight and Throttle.Queue.
const (
	// DefaultLoginsInFlight is as many logins as one address may have
	// going on at once: as many as its password checks in flight
	// (DefaultKDFPerAddress).
	DefaultLoginsInFlight = DefaultKDFPerAddress
	// DefaultLoginQueue is as many logins as one address may have waiting
	// for their turn: a fleet of devices behind one NAT address that all
	// reconnect at once still gets in, a few at a time.
	DefaultLoginQueue = 1024
)

// ErrTooManyLogins refuses a login whose address has Queue logins waiting
// already (the ABORT says so). Nothing was checked: it is not a failed
// login, and the router does not count it as one.
var ErrTooManyLogins = &Failure{Reason: wamp.ErrAuthenticationFailed,
	Message: "too many logins from this address waiting; try again later"}

// ErrLoginTimedOut ends a login whose time ran out while it waited for its
// turn among its address's logins or for its delay (Login.Wait). Nothing
// was checked either: it is not a failed login.
var ErrLoginTimedOut = &Failure{Reason: wamp.ErrAuthenticationFailed,
	Message: "authentication timed out waiting for its turn among this address's logins; try again later"}

// Unchecked reports whether err refused a login before anything of it was
// checked (ErrTooManyLogins, ErrLoginTimedOut): such a refusal must not
// count as a failed login, or a crowd behind one address that waits too
// long would have its next logins delayed for failures it never made.
func Unchecked(err error) bool {
	return errors.Is(err, ErrTooManyLogins) || errors.Is(err, ErrLoginTimedOut)
}

// Throttle slows down repeated authentication failures from one address:
// after Free failures within Window, each further attempt from that
// address waits Base, doubled per extra failure, up to Max, before
// anything is done for it (no CHALLENGE, no password hash), so that its
// answer comes no sooner and a client that hangs up meanwhile costs
// nothing. (The router counts as a failure a client that answered a
// CHALLENGE and hung up before the verdict.) It remembers at most Entries
// addresses (dropping the one that failed longest ago when full), so its
// memory is bounded whatever the attacker does.
//
// Logins in parallel (Enter): one address has at most InFlight logins
// going on at once, each delayed as its address's failures say when its
// turn comes, not when it arrived; further ones wait for their turn, first
// come first served, up to Queue of them, and past that are refused
// (ErrTooManyLogins). So an address that keeps failing gets at most
// InFlight guesses per Max, however many logins it sends at once, while a
// crowd of clients behind one address that do not fail all get in, a few
// at a time. Memory: one entry per address with logins going on.
//
// The zero value uses the defaults. It is safe for concurrent use.
type Throttle struct {
	Free     int           // failures without delay; default 3
	Base     time.Duration // first delay; default 250ms
	Max      time.Duration // largest delay; default 5s
	Window   time.Duration // failures older than this are forgotten; default 10m
	Entries  int           // addresses remembered; default 10000
	InFlight int           // logins of one address going on at once; default DefaultLoginsInFlight
	Queue    int           // logins of one address waiting for their turn; default DefaultLoginQueue

	now func() time.Time // for tests; nil is time.Now

	mu    sync.Mutex
	m     lru.Map[string, failures] // by host, last failure last
	lines map[string]*loginLine     // by host, addresses with logins going on

	delayed, refused, timedOut atomic.Uint64
}

// loginLine is one address's logins going on (under Throttle.mu).
type loginLine struct {
	host    string
	going   int       // admitted, not done
	waiting list.List // of *Login, first come first
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

// Login is one login's turn at a Throttle: see Enter. A nil *Login (from
// a nil Throttle) goes ahead at once.
type Login struct {
	t    *Throttle
	addr string
	line *loginLine
	// Under Throttle.mu: elem is the place in line.waiting until
	// admitted; admitted is set when the login's turn has come, and ready
	// closed then for a login that waited; done once it has ended.
	elem           *list.Element
	admitted, done bool
	ready          chan struct{}
	delay          time.Duration // when admitted at Enter
}

// Enter starts a login from addr: it is admitted at once when its address
// has fewer than InFlight logins going on and none waiting, and waits for
// its turn otherwise; with Queue waiting already, it is refused with
// ErrTooManyLogins. Wait waits for its turn and its delay; Done ends it.
func (t *Throttle) Enter(addr string) (*Login, error) {
	if t == nil {
		return nil, nil
	}
	inFlight, queue := t.lineLimits()
	h := host(addr)
	l := &Login{t: t, addr: addr}
	t.mu.Lock()
	if t.lines == nil {
		t.lines = make(map[string]*loginLine)
	}
	line := t.lines[h]
	if line == nil {
		line = &loginLine{host: h}
		t.lines[h] = line
	}
	l.line = line
	now := false // l.admitted, which another login's Done sets once l waits
	switch {
	case line.going < inFlight && line.waiting.Len() == 0:
		line.going++
		l.admitted, now = true, true
	case line.waiting.Len() >= queue:
		t.mu.Unlock()
		t.refused.Add(1)
		return nil, ErrTooManyLogins
	default:
		l.ready = make(chan struct{})
		l.elem = line.waiting.PushBack(l)
	}
	t.mu.Unlock()
	if now {
		l.delay = t.Delay(addr)
	}
	return l, nil
}

// Now reports whether the login may go ahead at once: admitted at Enter,
// with no delay. Then Wait need not be called.
func (l *Login) Now() bool { return l == nil || l.ready == nil && l.delay == 0 }

// Wait waits for the login's turn, then for the delay its address's
// failures ask for at that moment, until ctx ends: then the login is done
// and Wait returns ErrLoginTimedOut wrapping ctx's error when ctx's
// deadline passed (counted, see TimedOut), ctx's error otherwise (the
// connection went away).
func (l *Login) Wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	delay := l.delay
	if l.ready != nil {
		select {
		case <-l.ready:
		case <-ctx.Done():
			return l.gaveUp(ctx)
		}
		delay = l.t.Delay(l.addr)
	}
	if delay > 0 {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return l.gaveUp(ctx)
		}
	}
	if ctx.Err() != nil {
		return l.gaveUp(ctx)
	}
	return nil
}

// gaveUp ends a login whose ctx ended while it waited.
func (l *Login) gaveUp(ctx context.Context) error {
	l.Done()
	err := ctx.Err()
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	l.t.timedOut.Add(1)
	return fmt.Errorf("%w: %w", ErrLoginTimedOut, err)
}

// Done ends the login, once its verdict is recorded (after Failed, so
// that the next login's delay counts it): the address's next waiting login
// gets its turn. Calls after the first do nothing.
func (l *Login) Done() {
	if l == nil {
		return
	}
	t, line := l.t, l.line
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.done {
		return
	}
	l.done = true
	if !l.admitted {
		line.waiting.Remove(l.elem)
	} else if e := line.waiting.Front(); e != nil {
		next := line.waiting.Remove(e).(*Login)
		next.admitted = true
		close(next.ready)
		return
	} else {
		line.going--
	}
	if line.going == 0 && line.waiting.Len() == 0 {
		delete(t.lines, line.host)
	}
}

func (t *Throttle) lineLimits() (inFlight, queue int) {
	inFlight, queue = t.InFlight, t.Queue
	if inFlight <= 0 {
		inFlight = DefaultLoginsInFlight
	}
	if queue <= 0 {
		queue = DefaultLoginQueue
	}
	return
}

// Refused returns the number of logins Enter has refused, their address
// having Queue logins waiting.
func (t *Throttle) Refused() uint64 {
	if t == nil {
		return 0
	}
	return t.refused.Load()
}

// TimedOut returns the number of logins whose time ran out while they
// waited (ErrLoginTimedOut).
func (t *Throttle) TimedOut() uint64 {
	if t == nil {
		return 0
	}
	return t.timedOut.Load()
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
