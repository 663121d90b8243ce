package transport

import (
	"fmt"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/wamp"
)

// closeInfo decides a connection's WebSocket close code: the first code set
// wins; a close without one follows from what the router sent last. Both
// engines keep one under their connection's lock.
type closeInfo struct {
	codeSet      bool
	lastQueueErr bool // the last Send failed with router.ErrQueueFull
	// last is set once a GOODBYE or ABORT is queued: a session's last
	// message (the router closes the connection once the GOODBYEs are
	// exchanged, or at once after ABORT). Nothing is queued after it: a
	// message from another session's goroutine (an EVENT, an answer, an
	// INTERRUPT) that raced the GOODBYE is dropped as one for a closed
	// connection would be, so no client sees anything after its
	// GOODBYE, whichever part of the router sent it (some clients take
	// it for a protocol violation; wampy.js does).
	last        bool
	code        ws.StatusCode
	reason      string
	sentGoodbye wamp.URI
	sentAbort   wamp.URI
}

// sent notes a message queued for the client.
func (ci *closeInfo) sent(m wamp.Message) {
	switch m.Type() {
	case wamp.TypeGoodbye:
		ci.sentGoodbye = wamp.Unwrap(m).(*wamp.Goodbye).Reason
		ci.last = true
	case wamp.TypeAbort:
		ci.sentAbort = wamp.Unwrap(m).(*wamp.Abort).Reason
		ci.last = true
	}
}

// set records code and reason unless a code was set before.
func (ci *closeInfo) set(code ws.StatusCode, reason string) {
	if !ci.codeSet {
		ci.codeSet, ci.code, ci.reason = true, code, reason
	}
}

// choose settles the close code when a close starts; code 0 lets it
// follow from what the router said last.
func (ci *closeInfo) choose(code ws.StatusCode, reason string) {
	if ci.codeSet {
		return
	}
	switch {
	case code != 0:
	case ci.sentGoodbye == wamp.CloseSystemShutdown || ci.sentAbort == wamp.CloseSystemShutdown:
		code, reason = ws.StatusGoingAway, string(wamp.CloseSystemShutdown)
	case ci.sentGoodbye != "":
		code, reason = ws.StatusNormalClosure, string(ci.sentGoodbye)
	case ci.sentAbort == wamp.ErrProtocolViolation:
		code, reason = ws.StatusPolicyViolation, string(ci.sentAbort)
	case ci.lastQueueErr:
		code, reason = ws.StatusPolicyViolation, "slow consumer: outbound queue full"
	case ci.sentAbort != "":
		code, reason = ws.StatusNormalClosure, string(ci.sentAbort)
	default:
		code, reason = ws.StatusNormalClosure, ""
	}
	ci.set(code, reason)
}

// pingPayload is what our keep-alive pings carry. It is not empty because
// Autobahn|JS's RawSocket transport handles a frame only once bytes follow
// its header, and so never answers an empty PING.
var pingPayload = []byte("junction")

// liveness runs one connection's keep-alive pings and idle timeout on a
// monotonic clock the caller chooses (times are durations since some
// epoch; 0 means unset). Both engines use it from their timer.
//
// Keep-alive counts silence from the last bytes received (any bytes: a
// message, a part of one, a ping, a pong), as the engines report it: a
// client that has sent nothing for PingInterval is pinged then, and when
// nothing arrives within PingTimeout of the ping the connection is closed.
// A silent session is so pinged PingInterval after its last message and
// dropped PingInterval+PingTimeout after it. The schedule follows the time
// of the last receive, not the times the timer happened to fire, so timer
// granularity (the epoll engine's wheel tick) delays each step by at most
// one tick and never adds up.
type liveness struct {
	since        time.Duration // when the checks started: silence counts from here at the latest
	lastPing     time.Duration // when the last ping went out, 0 for none yet
	pingDeadline time.Duration // when the unanswered ping times out, 0 when none is pending
	idleDeadline time.Duration
	idleMsgs     uint64 // messages received at the last idle check
	msgs         uint32 // messages received, for an engine that counts them here (epoll)
	pings        bool
}

// start arms the checks at now and returns when to check first, 0 for
// never. pings says whether this connection is pinged.
func (l *liveness) start(o *options, pings bool, now time.Duration) time.Duration {
	l.since = now
	l.pings = pings && o.pingInterval > 0
	if o.idleTimeout > 0 {
		l.idleDeadline = now + o.idleTimeout
	}
	_, _, next := l.check(o, now, 0, 0)
	return next
}

// check runs the checks due at now, given when the last bytes were
// received (lastRx, 0 for never) and how many WAMP messages were received
// so far: it reports whether to send a ping, why to close the connection
// ("" to keep it), and when to check next (0 for never).
func (l *liveness) check(o *options, now, lastRx time.Duration, msgs uint64) (ping bool, why string, next time.Duration) {
	heard := max(lastRx, l.since)
	if l.pingDeadline != 0 {
		switch {
		case heard > l.lastPing:
			l.pingDeadline = 0 // answered: anything received after the ping will do
		case now >= l.pingDeadline:
			return false, fmt.Sprintf("ping timeout: nothing received within %s of a ping", o.pingTimeout), 0
		}
	}
	var nextPing time.Duration
	if l.pings && l.pingDeadline == 0 {
		// Without a ping timeout (pingTimeout 0), a silent client is
		// pinged again every interval.
		nextPing = max(heard, l.lastPing) + o.pingInterval
		if now >= nextPing {
			ping = true
			l.lastPing = now
			if o.pingTimeout > 0 {
				l.pingDeadline = now + o.pingTimeout
			}
			nextPing = now + o.pingInterval
		}
	}
	if l.idleDeadline != 0 {
		if msgs != l.idleMsgs {
			l.idleMsgs = msgs
			l.idleDeadline = now + o.idleTimeout
		} else if now >= l.idleDeadline {
			return false, fmt.Sprintf("idle timeout: no message for %s", o.idleTimeout), 0
		}
	}
	if l.pingDeadline != 0 {
		nextPing = 0 // one ping at a time: the deadline comes first
	}
	return ping, "", earliest(earliest(nextPing, l.pingDeadline), l.idleDeadline)
}

// earliest returns the earlier of two times, where 0 is unset.
func earliest(a, b time.Duration) time.Duration {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}
