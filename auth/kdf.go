package auth

import (
	"container/list"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/junction-wamp/junction/wamp"
)

// KDFLimits bounds the password hashing a router does for ticket logins
// (and the admin endpoints' logins, which share its limiter).
// Zero fields take the defaults.
type KDFLimits struct {
	// Concurrent is the most hashes computed at once, across realms and
	// addresses; default half the CPUs Go may use (GOMAXPROCS/2), at
	// least 1.
	Concurrent int
	// PerAddress is the most checks one address may have in flight,
	// waiting for their turn or being computed; default 8. A check
	// beyond it is refused at once, unhashed.
	PerAddress int
}

// DefaultKDFPerAddress is the default of KDFLimits.PerAddress.
const DefaultKDFPerAddress = 8

// KDFLimiter schedules the password hashes of logins so that no address
// can keep the others out, however many wrong tickets it sends:
//
//   - At most Concurrent hashes are computed at once: a burst of logins
//     queues instead of taking every core (and, for Argon2id, its memory
//     times the burst).
//   - The waiting checks take the free slots address by address, in turn
//     (round robin, first come first served within an address): a login
//     from an address with nothing else in flight waits for the hashes
//     running when it comes and at most one more of each other address
//     that is waiting, never for a flood's backlog.
//   - One address has at most PerAddress checks in flight; further ones
//     are refused at once, without hashing.
//   - A check waits only as long as its login's context: a check whose
//     client has gone (or whose login timed out) leaves the queue
//     unhashed, and one whose context ends just as its turn comes hands
//     the slot on without hashing.
//
// Memory: one entry per address with checks in flight, gone with its last
// check. Create it with NewKDFLimiter; a nil *KDFLimiter computes every
// hash at once, unbounded (for tests and tools). It is safe for concurrent
// use.
type KDFLimiter struct {
	concurrent, perAddress int

	mu      sync.Mutex
	running int                 // hashes being computed (slots taken)
	waiting int                 // checks waiting for a slot
	addrs   map[string]*kdfAddr // addresses with checks in flight
	turns   list.List           // of *kdfAddr with checks waiting, next turn first

	computed, abandoned, refused atomic.Uint64
}

// kdfAddr is one address's checks in flight (under KDFLimiter.mu).
type kdfAddr struct {
	host     string
	inFlight int           // waiting or being computed
	waiting  list.List     // of *kdfWaiter, first come first
	turn     *list.Element // in KDFLimiter.turns while waiting is not empty
}

// kdfWaiter is a check waiting for a slot.
type kdfWaiter struct {
	elem    *list.Element // in kdfAddr.waiting until granted
	granted bool          // under KDFLimiter.mu: it holds a slot
	ready   chan struct{} // closed when granted
}

// KDFStats are a KDFLimiter's counters: every check is counted once, as
// computed, abandoned or refused.
type KDFStats struct {
	// Computed counts the hashes computed.
	Computed uint64
	// Abandoned counts the checks dropped unhashed because their login's
	// context ended first: the client went away, the login timed out.
	Abandoned uint64
	// Refused counts the checks refused unhashed because their address
	// had PerAddress checks in flight.
	Refused uint64
	// Running and Waiting are the checks being computed and waiting for a
	// slot now.
	Running, Waiting int
}

// NewKDFLimiter returns a limiter with limits l.
func NewKDFLimiter(l KDFLimits) *KDFLimiter {
	if l.Concurrent <= 0 {
		l.Concurrent = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if l.PerAddress <= 0 {
		l.PerAddress = DefaultKDFPerAddress
	}
	return &KDFLimiter{concurrent: l.Concurrent, perAddress: l.PerAddress, addrs: make(map[string]*kdfAddr)}
}

// Verify reports whether password hashes to h, as h.Verify does, once the
// check of a login from remote address addr (host:port; the port is
// ignored) gets its turn. It fails without hashing when ctx ends first
// (ctx's error) or when addr already has PerAddress checks in flight (a
// *Failure).
func (l *KDFLimiter) Verify(ctx context.Context, addr string, h *PasswordHash, password string) (bool, error) {
	if l == nil {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		return h.Verify(password), nil
	}
	a, err := l.acquire(ctx, host(addr))
	if err != nil {
		return false, err
	}
	defer l.release(a)
	l.computed.Add(1)
	return h.Verify(password), nil
}

// Acquire waits, as Verify does, for a slot for one hash from addr and
// counts it as computed; the caller computes its hash and then calls
// release, once. It is for work that costs what a password hash does but is
// not a PasswordHash's Verify (and for tests, which hold slots with it).
func (l *KDFLimiter) Acquire(ctx context.Context, addr string) (release func(), err error) {
	if l == nil {
		return func() {}, ctx.Err()
	}
	a, err := l.acquire(ctx, host(addr))
	if err != nil {
		return nil, err
	}
	l.computed.Add(1)
	return sync.OnceFunc(func() { l.release(a) }), nil
}

// msgKDFBusy is what the client of a refused check is told; it does not
// say whether the authid exists: nothing was checked.
const msgKDFBusy = "too many logins from this address at once; try again later"

// acquire waits for a slot for a check from host, until ctx ends.
func (l *KDFLimiter) acquire(ctx context.Context, host string) (*kdfAddr, error) {
	if err := ctx.Err(); err != nil {
		l.abandoned.Add(1)
		return nil, fmt.Errorf("waiting to check a password: %w", err)
	}
	l.mu.Lock()
	a := l.addrs[host]
	if a == nil {
		a = &kdfAddr{host: host}
		l.addrs[host] = a
	} else if a.inFlight >= l.perAddress {
		l.mu.Unlock()
		l.refused.Add(1)
		return nil, &Failure{Reason: wamp.ErrAuthenticationFailed, Message: msgKDFBusy,
			Detail: fmt.Sprintf("%d password checks from %s in flight already", l.perAddress, host)}
	}
	a.inFlight++
	if l.running < l.concurrent && l.turns.Len() == 0 {
		l.running++
		l.mu.Unlock()
		return a, nil
	}
	w := &kdfWaiter{ready: make(chan struct{})}
	w.elem = a.waiting.PushBack(w)
	l.waiting++
	if a.turn == nil {
		a.turn = l.turns.PushBack(a)
	}
	l.mu.Unlock()

	select {
	case <-w.ready:
		if ctx.Err() == nil {
			return a, nil
		}
	case <-ctx.Done():
		l.mu.Lock()
		if !w.granted {
			a.waiting.Remove(w.elem)
			l.waiting--
			if a.waiting.Len() == 0 {
				l.turns.Remove(a.turn)
				a.turn = nil
			}
			l.done(a)
			l.mu.Unlock()
			l.abandoned.Add(1)
			return nil, fmt.Errorf("waiting to check a password: %w", ctx.Err())
		}
		l.mu.Unlock()
	}
	// The slot came with (or just before) the end of ctx: hand it on.
	l.release(a)
	l.abandoned.Add(1)
	return nil, fmt.Errorf("waiting to check a password: %w", ctx.Err())
}

// release gives up a slot held by a check from a.
func (l *KDFLimiter) release(a *kdfAddr) {
	l.mu.Lock()
	l.running--
	l.done(a)
	l.grant()
	l.mu.Unlock()
}

// done ends one check of a in flight (under mu).
func (l *KDFLimiter) done(a *kdfAddr) {
	a.inFlight--
	if a.inFlight == 0 {
		delete(l.addrs, a.host)
	}
}

// grant gives the free slots to the waiting checks, one address at a time
// in turn (under mu).
func (l *KDFLimiter) grant() {
	for l.running < l.concurrent && l.turns.Len() > 0 {
		a := l.turns.Front().Value.(*kdfAddr)
		w := a.waiting.Remove(a.waiting.Front()).(*kdfWaiter)
		l.waiting--
		if a.waiting.Len() == 0 {
			l.turns.Remove(a.turn)
			a.turn = nil
		} else {
			l.turns.MoveToBack(a.turn)
		}
		l.running++
		w.granted = true
		close(w.ready)
	}
}

// Stats returns the limiter's counters.
func (l *KDFLimiter) Stats() KDFStats {
	if l == nil {
		return KDFStats{}
	}
	l.mu.Lock()
	running, waiting := l.running, l.waiting
	l.mu.Unlock()
	return KDFStats{Computed: l.computed.Load(), Abandoned: l.abandoned.Load(), Refused: l.refused.Load(),
		Running: running, Waiting: waiting}
}
