package transport

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// joinState is what a connection's input needs to know of its session's
// establishment, learnt from what the router sends: Send reports every
// message (sent), the reader every message it delivers before WELCOME
// (received). Both engines keep one; its bits are atomic because Send runs
// on any goroutine.
type joinState struct{ bits atomic.Uint32 }

const (
	// joinWelcomed: WELCOME was queued. The session is established: no
	// hello deadline any more, and the full message size applies.
	joinWelcomed = 1 << iota
	// joinOwed: the router has not yet answered the client's last message
	// (an authentication is under way, say): the client is not the one
	// keeping the session from being established.
	joinOwed
)

// welcomed reports whether WELCOME was queued.
func (j *joinState) welcomed() bool { return j.bits.Load()&joinWelcomed != 0 }

// received notes a message from the client before WELCOME, before it is
// handed to the session (which may answer at once).
func (j *joinState) received() { j.bits.Or(joinOwed) }

// sent notes a message queued for the client: any message answers the
// client's last one; WELCOME establishes the session. After WELCOME it
// costs one atomic load.
func (j *joinState) sent(t wamp.MessageType) {
	v := j.bits.Load()
	if v&joinWelcomed != 0 {
		return
	}
	if t == wamp.TypeWelcome {
		j.bits.Store(joinWelcomed)
		return
	}
	if v&joinOwed != 0 {
		j.bits.And(^uint32(joinOwed))
	}
}

// helloCheck decides what happens when a connection's hello deadline
// passes, and returns when to check again (0: never, the session is
// established) or fail (the client has not established its session in
// time).
//
// The hello timeout measures the client's time, not the router's: while
// the router has not answered the client's last message (an authentication
// that verifies a password on its own goroutine, a dynamic authenticator,
// the failure throttle), the deadline is checked again every quarter of
// the timeout, and once the router has answered (a CHALLENGE, say) the
// client has a whole timeout again to do its part. waited is the caller's
// memory, between calls, that the router was seen working.
func (j *joinState) helloCheck(o *options, waited *bool) (fail bool, again time.Duration) {
	v := j.bits.Load()
	switch {
	case v&joinWelcomed != 0:
		return false, 0
	case v&joinOwed != 0:
		*waited = true
		return false, max(o.helloTimeout/4, time.Millisecond)
	case *waited:
		*waited = false
		return false, o.helloTimeout
	}
	return true, 0
}

// helloFailure is the ABORT message of a session not established in time.
func helloFailure(o *options, gotMessage bool) string {
	what := "no HELLO"
	if gotMessage {
		what = "session not established"
	}
	return fmt.Sprintf("%s within %s", what, o.helloTimeout)
}
