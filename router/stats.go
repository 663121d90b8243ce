package router

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/router/history"
	"github.com/junction-wamp/junction/wamp"
)

// Counting.
//
// The router counts what it does where it does it, and a reader (package
// metrics, at scrape time) sums: a count costs one atomic add on a cache
// line that, under load, only one core writes, and nothing is allocated.
// Messages are counted in shards, one per event loop: the transport names
// the loop that reads a connection (TransportInfo.Loop), and a session
// counts what it receives and what its messages cause the router to send
// (the INVOCATION of its CALL, the RESULT of its YIELD, the EVENTs of its
// PUBLISH, added once per publication) in its loop's shard, on the
// goroutine that routes them. The gauges (sessions, subscriptions,
// registrations, calls in flight) are not counted at all: RealmStats reads
// them from the tables when asked, each lock held for a copy or a length.

// numShards is the number of message-counter shards, a power of two: the
// event loops (GOMAXPROCS of them) map onto it modulo its size.
const numShards = 16

// msgSlot numbers the message types densely for the counters; slot 0 is
// for a type this package does not know (never counted).
var msgSlot, slotType = func() (slot [256]uint8, types []wamp.MessageType) {
	types = []wamp.MessageType{0}
	for t := range 256 {
		if wamp.MessageType(t).Known() {
			slot[t] = uint8(len(types))
			types = append(types, wamp.MessageType(t))
		}
	}
	return slot, types
}()

const numSlots = 25 // len(slotType); checked by TestMessageSlots

// msgShard is one loop's message counts, on cache lines of its own.
type msgShard struct {
	received [numSlots]atomic.Uint64
	sent     [numSlots]atomic.Uint64
	_        [64]byte
}

// counters are the router's running counters (Router.stats). The four
// exported-looking names are the ones the rest of the package has always
// used.
type counters struct {
	Sessions      atomic.Int64  // attached connections
	Established   atomic.Int64  // sessions joined to a realm
	EventsDropped atomic.Uint64 // EVENTs dropped by the slow-consumer policy
	SlowConsumers atomic.Uint64 // sessions disconnected for a full queue
	LimitExceeded atomic.Uint64 // requests refused with wamp.error.limit_exceeded (session limits, full queues, busy history queries)
	// InvalidRequests counts requests refused for options or a payload
	// that are not valid (a string that is not UTF-8...); see
	// Session.ReceiveInvalid.
	InvalidRequests atomic.Uint64
	// EventsUnconvertible counts EVENTs not delivered because the
	// subscriber's serializer cannot carry the payload (NaN for JSON).
	EventsUnconvertible atomic.Uint64
	// historyUnencodable counts publications not kept in the event
	// history because they could not be encoded for it
	// (history.Stats.Unencodable).
	historyUnencodable atomic.Uint64
	callTimeouts       atomic.Uint64 // calls ended by the router's timeout
	callCancels        atomic.Uint64 // calls canceled by their caller
	_                  [64]byte

	msgs  [numShards]msgShard
	calls durationHistogram
	auth  authCounts
	slow  recentSlowConsumers
}

// shardOf maps a transport's loop number to a shard.
func shardOf(loop int) uint8 { return uint8(uint(loop) % numShards) }

// counts returns the message counters of s's loop.
func (s *Session) counts() *msgShard { return &s.router.stats.msgs[s.shard] }

// countSent counts one message of type t sent on behalf of s, on s's
// goroutine: a reply to s, or the message its own caused.
func (s *Session) countSent(t wamp.MessageType) { s.counts().sent[msgSlot[t]].Add(1) }

// Stats is a snapshot of the router's counters. Counts only grow; the
// gauges are as they were when Stats was called.
type Stats struct {
	Sessions      int64  // connections attached (gauge)
	Established   int64  // sessions joined to a realm (gauge)
	EventsDropped uint64 // EVENTs dropped for slow subscribers (DropEvents)
	SlowConsumers uint64 // sessions disconnected because their queue was full
	// LimitExceeded counts requests refused with wamp.error.limit_exceeded
	// (session limits, a full history queue, busy history queries).
	LimitExceeded uint64
	// InvalidRequests counts requests refused for options or a payload
	// that are not valid (a string that is not UTF-8...).
	InvalidRequests uint64
	// EventsUnconvertible counts EVENTs not delivered because the
	// subscriber's serializer cannot carry the payload (NaN for JSON).
	EventsUnconvertible uint64
	// Received and Sent count messages by type (every known type, zeros
	// included).
	Received, Sent map[wamp.MessageType]uint64
	CallTimeouts   uint64 // calls ended by the router's timeout (call_timeout)
	CallCancels    uint64 // calls canceled by their caller (CANCEL)
	// CallDurations are the times from CALL to its end (the final RESULT,
	// an ERROR, a cancel or timeout) of a sample of the calls: one in
	// CallSampling, so that reading the clock costs the others nothing.
	CallDurations Histogram
	// Authentications counts the outcomes of joining a realm by method.
	Authentications []AuthCount
	// Passwords are the counters of the router's password checks (ticket
	// logins, and the admin endpoints', which share its limiter).
	Passwords auth.KDFStats
	// LoginsDelayed counts the logins the realms' throttles held back for
	// their address's recent failures; LoginsRefused those they refused,
	// their address having too many logins waiting already; LoginsTimedOut
	// those whose time ran out while they waited (auth.ErrLoginTimedOut).
	LoginsDelayed, LoginsRefused, LoginsTimedOut uint64
	// History is the event history store's (zero without history rules).
	History history.Stats
	// RecentSlowConsumers are the last sessions disconnected for a full
	// queue, the latest first.
	RecentSlowConsumers []SlowConsumer
}

// CallSampling is how many calls make one timed call (Stats.CallDurations):
// reading the clock twice costs a call about a fifth more than routing it
// (tens of nanoseconds in a VM), so only one in CallSampling pays it.
const CallSampling = 32

// Histogram counts durations in buckets.
type Histogram struct {
	// Bounds are the buckets' upper bounds, ascending; Counts[i] is the
	// number of durations in (Bounds[i-1], Bounds[i]], and the last of
	// Counts those above every bound.
	Bounds []time.Duration
	Counts []uint64
	Count  uint64        // every duration counted
	Sum    time.Duration // their sum
}

// AuthCount is how many times an authentication method ended one way.
type AuthCount struct {
	// Method is the authentication method (anonymous, ticket, wampcra,
	// wamp-scram, cryptosign, tls, cookie), or "none" when the client
	// offered none the realm accepts.
	Method string
	// Outcome is "success" or "failure".
	Outcome string
	Count   uint64
}

// SlowConsumer is a session disconnected because a message did not fit in
// its outbound queue.
type SlowConsumer struct {
	Time    time.Time
	Realm   wamp.URI // "" before the session joined
	Session wamp.ID
	AuthID  string
	Address string
	Message wamp.MessageType // what did not fit
}

// Stats returns a snapshot of the router's counters.
func (r *Router) Stats() Stats {
	st := Stats{
		Sessions:      r.stats.Sessions.Load(),
		Established:   r.stats.Established.Load(),
		EventsDropped: r.stats.EventsDropped.Load(),
		SlowConsumers: r.stats.SlowConsumers.Load(),
		LimitExceeded: r.stats.LimitExceeded.Load(),

		InvalidRequests:     r.stats.InvalidRequests.Load(),
		EventsUnconvertible: r.stats.EventsUnconvertible.Load(),
		CallTimeouts:        r.stats.callTimeouts.Load(),
		CallCancels:         r.stats.callCancels.Load(),
		Received:            make(map[wamp.MessageType]uint64, numSlots-1),
		Sent:                make(map[wamp.MessageType]uint64, numSlots-1),
		CallDurations:       r.stats.calls.snapshot(),
		History:             r.HistoryStats(),
	}
	for i := 1; i < numSlots; i++ {
		var in, out uint64
		for s := range r.stats.msgs {
			in += r.stats.msgs[s].received[i].Load()
			out += r.stats.msgs[s].sent[i].Load()
		}
		st.Received[slotType[i]], st.Sent[slotType[i]] = in, out
	}
	st.Authentications = r.stats.auth.snapshot()
	st.Passwords = r.kdf.Stats()
	seen := make(map[*auth.Throttle]bool)
	for _, rl := range r.allRealms() {
		// Realms made from the template share their policy: one count.
		if pol := rl.auth.Load(); pol != nil && pol.Throttle != nil && !seen[pol.Throttle] {
			seen[pol.Throttle] = true
			st.LoginsDelayed += pol.Throttle.Delayed()
			st.LoginsRefused += pol.Throttle.Refused()
			st.LoginsTimedOut += pol.Throttle.TimedOut()
		}
	}
	st.RecentSlowConsumers = r.stats.slow.snapshot()
	return st
}

// durationBounds are the buckets of the call durations: 100µs to a minute.
var durationBounds = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	30 * time.Second, time.Minute,
}

// durationHistogram counts the sampled call durations.
type durationHistogram struct {
	counts [19]atomic.Uint64 // len(durationBounds)+1
	sum    atomic.Int64      // nanoseconds
}

func (h *durationHistogram) observe(d time.Duration) {
	i, _ := slices.BinarySearch(durationBounds, d)
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *durationHistogram) snapshot() Histogram {
	out := Histogram{Bounds: durationBounds, Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		out.Counts[i] = h.counts[i].Load()
		out.Count += out.Counts[i]
	}
	out.Sum = time.Duration(h.sum.Load())
	return out
}

// clockEpoch is the start of the router's monotonic clock (callStart).
var clockEpoch = time.Now()

// callStart returns the start time of a call to time, or 0 for one left
// out of the sample. invID is the INVOCATION's request id, which numbers a
// callee's calls one by one: one in CallSampling is timed.
func callStart(invID wamp.ID) int64 {
	if invID%CallSampling != 0 {
		return 0
	}
	return int64(time.Since(clockEpoch)) | 1 // never 0
}

// callEnded observes the duration of a timed call that has ended.
func (r *Router) callEnded(start int64) {
	if start != 0 {
		r.stats.calls.observe(time.Since(clockEpoch) - time.Duration(start))
	}
}

// authCounts counts authentication outcomes; logins are rare enough for a
// lock.
type authCounts struct {
	mu sync.Mutex
	m  map[[2]string]uint64 // {method, outcome}
}

func (a *authCounts) add(method string, ok bool) {
	outcome := "failure"
	if ok {
		outcome = "success"
	}
	if method == "" {
		method = "none"
	}
	a.mu.Lock()
	if a.m == nil {
		a.m = make(map[[2]string]uint64)
	}
	a.m[[2]string{method, outcome}]++
	a.mu.Unlock()
}

func (a *authCounts) snapshot() []AuthCount {
	a.mu.Lock()
	out := make([]AuthCount, 0, len(a.m))
	for k, n := range a.m {
		out = append(out, AuthCount{Method: k[0], Outcome: k[1], Count: n})
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y AuthCount) int {
		return cmp.Or(cmp.Compare(x.Method, y.Method), cmp.Compare(x.Outcome, y.Outcome))
	})
	return out
}

// recentSlowConsumers remembers the last slow-consumer disconnects.
type recentSlowConsumers struct {
	mu   sync.Mutex
	ring [16]SlowConsumer
	n    int // disconnects recorded, ever
}

func (rs *recentSlowConsumers) add(sc SlowConsumer) {
	rs.mu.Lock()
	rs.ring[rs.n%len(rs.ring)] = sc
	rs.n++
	rs.mu.Unlock()
}

func (rs *recentSlowConsumers) snapshot() []SlowConsumer {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	k := min(rs.n, len(rs.ring))
	out := make([]SlowConsumer, k)
	for i := range k {
		out[i] = rs.ring[(rs.n-1-i)%len(rs.ring)]
	}
	return out
}
