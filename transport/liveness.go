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
	code         ws.StatusCode
	reason       string
	sentGoodbye  wamp.URI
	sentAbort    wamp.URI
}

// sent notes a message queued for the client.
func (ci *closeInfo) sent(m wamp.Message) {
	switch m.Type() {
	case wamp.TypeGoodbye:
		ci.sentGoodbye = wamp.Unwrap(m).(*wamp.Goodbye).Reason
	case wamp.TypeAbort:
		ci.sentAbort = wamp.Unwrap(m).(*wamp.Abort).Reason
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
type liveness struct {
	nextPing     time.Duration
	pingDeadline time.Duration
	idleDeadline time.Duration
	pingRx       uint64 // frames received when the ping went out
	lastRx       uint64 // frames received at the last ping check
	idleMsgs     uint64 // messages received at the last idle check
}

// start arms the checks at now and returns when to check first, 0 for
// never. pings says whether this connection is pinged.
func (l *liveness) start(o *options, pings bool, now time.Duration) time.Duration {
	if pings && o.pingInterval > 0 {
		l.nextPing = now + o.pingInterval
	}
	if o.idleTimeout > 0 {
		l.idleDeadline = now + o.idleTimeout
	}
	return l.next()
}

// next returns the earliest check, 0 for none.
func (l *liveness) next() time.Duration {
	var next time.Duration
	for _, t := range [...]time.Duration{l.nextPing, l.pingDeadline, l.idleDeadline} {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	return next
}

// check runs the checks due at now, given the frames (rx) and WAMP
// messages received so far: it reports whether to send a ping, why to
// close the connection ("" to keep it), and when to check next.
func (l *liveness) check(o *options, now time.Duration, rx, msgs uint64) (ping bool, why string, next time.Duration) {
	if l.pingDeadline != 0 && now >= l.pingDeadline {
		if rx == l.pingRx {
			return false, fmt.Sprintf("ping timeout: nothing received within %s of a ping", o.pingTimeout), 0
		}
		l.pingDeadline = 0
	}
	if l.nextPing != 0 && now >= l.nextPing {
		if rx == l.lastRx && l.pingDeadline == 0 {
			ping = true
			l.pingRx = rx
			if o.pingTimeout > 0 {
				l.pingDeadline = now + o.pingTimeout
			}
		}
		l.lastRx = rx
		l.nextPing = now + o.pingInterval
	}
	if l.idleDeadline != 0 {
		if msgs != l.idleMsgs {
			l.idleMsgs = msgs
			l.idleDeadline = now + o.idleTimeout
		} else if now >= l.idleDeadline {
			return false, fmt.Sprintf("idle timeout: no message for %s", o.idleTimeout), 0
		}
	}
	return ping, "", l.next()
}
