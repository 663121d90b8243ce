package transport

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxPreWelcomeMessageSize is the Server's MaxPreWelcomeMessageSize
// when it is zero: room for any HELLO or AUTHENTICATE, authextra included.
const DefaultMaxPreWelcomeMessageSize = 64 << 10

// DefaultMaxPartialBytes is the size of the PartialBudget a Server makes
// when it is given none: sixteen messages of the default maximum size.
const DefaultMaxPartialBytes = 256 << 20

// PartialBudget bounds the bytes that connections hold, all together, in
// messages still arriving: the frames whose header has come and whose
// payload has not all come yet, and the fragments of WebSocket messages
// still being reassembled.
//
// A connection reserves a frame's whole length as soon as its header
// announces it, before the payload arrives, so that the buffer the frame
// grows into is always paid for; it gives the reservation back when the
// message is complete or the connection ends. A connection whose frame
// does not fit is closed at once (ABORT, WebSocket close 1013 "try again
// later"): it costs only itself, and the connections already receiving
// large messages, and everyone sending small ones, go on. Messages of up
// to 4 KiB in progress are not counted: any connection may hold that much
// (goroutine mode's read buffer is that size).
//
// One budget may serve several Servers: give the Servers of one router the
// same one, so that the bound holds for the process. Its methods are safe
// for concurrent use.
type PartialBudget struct {
	limit   int64
	held    atomic.Int64
	refused atomic.Uint64
}

// NewPartialBudget returns a budget of limit bytes. It must not be less
// than the largest message a Server accepts, or that message could never
// arrive.
func NewPartialBudget(limit int64) *PartialBudget { return &PartialBudget{limit: limit} }

// Limit returns the budget's size in bytes.
func (b *PartialBudget) Limit() int64 { return b.limit }

// Held returns the bytes reserved now.
func (b *PartialBudget) Held() int64 { return b.held.Load() }

// Refused returns the number of connections closed because their message
// did not fit.
func (b *PartialBudget) Refused() uint64 { return b.refused.Load() }

// reserve takes n bytes, unless that would exceed the limit.
func (b *PartialBudget) reserve(n int64) bool {
	for {
		cur := b.held.Load()
		if cur+n > b.limit {
			return false
		}
		if b.held.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

func (b *PartialBudget) release(n int64) { b.held.Add(-n) }

// freePartial is what a message in progress may hold without a
// reservation: a connection's ordinary read buffer.
const freePartial = readBufferSize

// Giving memory back to the operating system. Go's heap keeps what a
// spike needed: the garbage collector frees the objects, but the pages
// stay the process's until a collection lowers the heap goal (up to two
// minutes without allocations) and the background scavenger returns
// them, slowly, and only down to about the heap goal, twice the live
// heap. So after a spike the Server asks for them back with
// debug.FreeOSMemory, which returns every free page.
//
// Two kinds of spike are counted. Large messages: the reservations of
// more than releaseMinimum bytes given back (note). A connect storm: the
// garbage of each TLS handshake and of each cipher a quiet connection
// drops (garbage; tls_linux.go), small alone but hundreds of MB for
// thousands of connections. Once releaseThreshold bytes have been
// counted, the release waits for the spike to end, releaseDelay without
// more (the connections that held the memory finish closing; the storm's
// connections drop their ciphers 2 s after their last message, so the
// delay is longer than that), but no longer than releaseInterval after
// the threshold was crossed, and comes at most once every
// releaseInterval, because a forced collection costs CPU in proportion to
// the live heap. For the same reason the threshold grows with the live
// heap, to a quarter of it (liveShare): a router holding a million
// sessions in 2 GB would otherwise force a collection of the whole heap
// for every 500 reconnecting TLS agents, a steady churn every
// releaseInterval, where the garbage those leave is reused by the heap
// anyway; a spike worth a release is one that is large beside what the
// process holds (a steady churn still gets a release each time what it
// left adds up to that, far more rarely). A release that comes while the
// spike goes on (a storm longer than the interval) is followed by one once
// it is over, however little it adds after: otherwise the end of a long
// storm would stay.
const (
	releaseThreshold = 32 << 20
	releaseMinimum   = 1 << 20 // smaller message give-backs are not spikes
	releaseDelay     = 3 * time.Second
	releaseInterval  = 10 * time.Second
	liveShare        = 4 // the threshold is at least the live heap / liveShare
)

// What a connect storm leaves to the garbage collector, for the
// releaser: crypto/tls allocates some 70 KB per server handshake
// (X25519MLKEM768 key shares, the certificate message and its signature,
// transcript hashes, buffers; a heap profile of 5,000 handshakes), nearly
// all of it garbage once the handshake is done, whichever engine runs it,
// and a cipher the epoll engine drops from a quiet connection
// (tls_linux.go) is one 768-byte AES-GCM block. Each alone is far below a
// spike; a burst of them is one, and the heap it grew stays the process's
// until a release. Estimates, not measured per handshake: what matters is
// that a storm of some hundreds of handshakes crosses the threshold.
const (
	handshakeGarbage = 64 << 10
	cipherGarbage    = 768
)

// releaser gives memory back to the operating system after a spike; see
// above. Its timer's goroutine is the only one it starts; stop waits for
// it.
type releaser struct {
	// The constants above; tests set smaller ones.
	threshold, minimum int64
	delay, interval    time.Duration

	// live returns the live heap's size (liveHeap; tests set another).
	live func() int64

	mu    sync.Mutex
	freed int64
	// spiked: freed was found to be a spike (spike) since the last
	// release, so the release is due releaseInterval after crossed at
	// the latest, whatever the live heap does meanwhile.
	spiked   bool
	crossed  time.Time // when freed crossed the threshold (the timer is set)
	lastNote time.Time
	// ongoing: the last release came while the spike went on (at the
	// releaseInterval cap), so its end gets a release of its own, once
	// quiet, however little it adds (a long storm's last handshakes and
	// its ciphers).
	ongoing bool
	timer   *time.Timer
	last    time.Time // the last release
	stopped bool
	running sync.WaitGroup
	count   *atomic.Uint64
}

// init sets the defaults of the fields a test did not set, and the
// counter of releases.
func (r *releaser) init(count *atomic.Uint64) {
	r.count = count
	if r.threshold == 0 {
		r.threshold = releaseThreshold
	}
	if r.minimum == 0 {
		r.minimum = releaseMinimum
	}
	if r.delay == 0 {
		r.delay = releaseDelay
	}
	if r.interval == 0 {
		r.interval = releaseInterval
	}
	if r.live == nil {
		r.live = liveHeap
	}
}

// liveHeap reads the live heap's size as of the last collection.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// note records n bytes of a large message's reservation given back;
// under releaseMinimum they do not count.
func (r *releaser) note(n int64) {
	if n >= r.minimum {
		r.add(n)
	}
}

// garbage records n bytes left to the garbage collector by a TLS
// handshake or a dropped cipher: each counts, since a storm is made of
// many small ones.
func (r *releaser) garbage(n int64) { r.add(n) }

func (r *releaser) add(n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.freed += n
	now := time.Now()
	r.lastNote = now
	if r.stopped || r.timer != nil {
		return
	}
	if r.spiked = r.spike(); !r.spiked && !r.ongoing {
		return
	}
	r.crossed = now
	r.running.Add(1)
	r.timer = time.AfterFunc(r.wait(now), r.release)
}

// spike reports whether what was freed since the last release is a
// spike: at least the threshold and a quarter of the live heap (read only
// once freed has passed the threshold: a metrics read, cheap beside the
// handshakes that got it there). The caller holds r.mu.
func (r *releaser) spike() bool {
	return r.freed >= r.threshold && r.freed >= r.live()/liveShare
}

// wait returns how long from now the release is due: once the spike has
// been quiet for delay, or interval after it crossed the threshold, and
// not before interval after the last release. The end of a spike whose
// last release came while it went on (ongoing) has no such cap: it waits
// for the quiet, so that a steady trickle of handshakes never forces a
// collection every interval. The caller holds r.mu.
func (r *releaser) wait(now time.Time) time.Duration {
	at := r.lastNote.Add(r.delay)
	if !r.spiked {
		r.spiked = r.spike() // an end-of-spike wait grown into a spike
	}
	if limit := r.crossed.Add(r.interval); r.spiked && limit.Before(at) {
		at = limit
	}
	if next := r.last.Add(r.interval); next.After(at) {
		at = next
	}
	return at.Sub(now)
}

func (r *releaser) release() {
	r.mu.Lock()
	if !r.stopped {
		if d := r.wait(time.Now()); d > 0 { // the spike goes on
			r.timer.Reset(d)
			r.mu.Unlock()
			return
		}
	}
	now := time.Now()
	r.ongoing = now.Sub(r.lastNote) < r.delay
	r.timer, r.freed, r.last, r.spiked = nil, 0, now, false
	stopped := r.stopped
	r.mu.Unlock()
	defer r.running.Done()
	if stopped {
		return
	}
	debug.FreeOSMemory()
	r.count.Add(1)
}

// stop cancels a release to come and waits for one under way.
func (r *releaser) stop() {
	r.mu.Lock()
	r.stopped = true
	if r.timer != nil && r.timer.Stop() {
		r.timer = nil
		r.running.Done()
	}
	r.mu.Unlock()
	r.running.Wait()
}
