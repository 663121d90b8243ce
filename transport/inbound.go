package transport

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
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
	// joinPending: the connection is counted among the Server's pending
	// ones (Server.MaxPendingConnections) until WELCOME or its end,
	// whichever comes first: the bit is cleared once, by the one that
	// uncounts it.
	joinPending
)

// pend marks a connection counted as pending (Server.pend).
func (j *joinState) pend() { j.bits.Or(joinPending) }

// settle uncounts a connection that ends before WELCOME; it does
// nothing after WELCOME or a settle.
func (j *joinState) settle(s *Server) {
	if j.bits.And(^uint32(joinPending))&joinPending != 0 {
		s.unpend()
	}
}

// welcomed reports whether WELCOME was queued.
func (j *joinState) welcomed() bool { return j.bits.Load()&joinWelcomed != 0 }

// received notes a message from the client before WELCOME, before it is
// handed to the session (which may answer at once).
func (j *joinState) received() { j.bits.Or(joinOwed) }

// sent notes a message queued for the client: any message answers the
// client's last one; WELCOME establishes the session, and the connection
// is no longer pending (s.unpend). After WELCOME it costs one atomic
// load.
func (j *joinState) sent(s *Server, t wamp.MessageType) {
	v := j.bits.Load()
	if v&joinWelcomed != 0 {
		return
	}
	if t == wamp.TypeWelcome {
		if j.bits.Swap(joinWelcomed)&joinPending != 0 {
			s.unpend()
		}
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

// input turns the bytes a client sends into frames, for either protocol,
// under the Server's limits on what a client may make the router hold.
// Both engines read through it; the connection's engine reads and buffers
// the bytes, input judges them.
//
//   - Before WELCOME a message may be Server.MaxPreWelcomeMessageSize
//     long, after it MaxMessageSize (or the RawSocket length announced).
//     Either is enforced from the frame header, as soon as it announces a
//     longer frame (or WebSocket fragments add up to more): none of the
//     frame is buffered to find out.
//   - A message in progress over 4 KiB holds its whole length of the
//     Server's PartialBudget from its header on (see PartialBudget), and
//     gives it back when it is complete or the connection ends.
//   - The reassembly buffer of a large fragmented message is dropped once
//     the message is delivered.
type input struct {
	wsr   websocket.Reader // WebSocket only
	maxIn int32            // largest message accepted once welcomed
	held  uint32           // bytes reserved from the PartialBudget
	join  joinState        // Send tells it about WELCOME
	// deflate: the WebSocket upgrade negotiated permessage-deflate. Set by
	// start and fixed after (Send reads it, on any goroutine, to compress);
	// release leaves it.
	deflate bool
}

// frameKind says what input.next found.
type frameKind uint8

const (
	frameNone    frameKind = iota // a pong, or a fragment of a message
	frameMessage                  // payload is a whole message
	framePing                     // payload is the ping's
	frameClose                    // the WebSocket client's close frame, code its code
)

// frame is one frame input.next took. Its payload aliases the bytes given
// to next, the reassembly buffer, or the buffer it was decompressed into
// (inflated: the caller calls input.delivered once it is handled), until
// the next call.
type frame struct {
	kind     frameKind
	inflated bool
	code     ws.StatusCode
	payload  []byte
}

// violation is why a connection is failed: the ABORT's message, and the
// WebSocket close code (0: chosen from the ABORT).
type violation struct {
	code   ws.StatusCode
	reason string
}

// start sets the limits once the transport handshake is done; expect is
// the WebSocket message type, deflate whether the upgrade negotiated
// permessage-deflate.
func (in *input) start(maxIn int, expect ws.OpCode, deflate bool, o *options) {
	in.maxIn, in.deflate = int32(maxIn), deflate
	in.wsr = websocket.Reader{MaxMessageSize: int64(in.limit(false, o)), Expect: expect, Deflate: deflate}
}

// limit is the largest message accepted, before or after WELCOME.
func (in *input) limit(joined bool, o *options) int {
	if joined {
		return int(in.maxIn)
	}
	return min(o.preWelcome, int(in.maxIn))
}

// next takes the frame at the start of b. It returns the frame and the
// bytes it took; n == 0 when b does not hold a whole frame yet, and then
// need is the length b must reach. A violation (the frame is bad, too
// large, or does not fit in the budget) fails the connection: the caller
// fails it, discards what else the client sends, and calls next no more.
// A compressed message is decompressed within the budget, which grow
// (the connection's wire: see inflating) reserves from. maxOut is the
// largest payload the connection may send: a RawSocket PING longer than
// that is a violation, since its PONG would have to be as long.
func (in *input) next(s *Server, proto protocol, b []byte, maxOut int, grow websocket.Budget) (f frame, n, need int, v *violation) {
	joined := in.join.welcomed()
	if proto == protoRawSocket {
		limit := in.limit(joined, &s.opt)
		rf, n, err := rawsocket.Next(b, limit)
		switch {
		case err == rawsocket.ErrTooLong:
			return f, 0, 0, in.tooLarge(s, proto, joined, rf.Length, limit)
		case err != nil:
			return f, 0, 0, in.fail(s, &violation{reason: err.Error()})
		case rf.Type == rawsocket.TypePing && rf.Length > maxOut:
			// The PONG must echo the PING, and the router must send
			// nothing longer than the client announced: the client asks
			// for what it said it cannot take. Refused from the header,
			// before the payload is read.
			return f, 0, 0, in.fail(s, &violation{reason: fmt.Sprintf(
				"rawsocket: PING of %d bytes is longer than the maximum length of %d the client announced: its PONG cannot be sent",
				rf.Length, maxOut)})
		case n == 0:
			return f, 0, rf.Size(), in.hold(s, rf.Length)
		}
		in.hold(s, 0)
		switch rf.Type {
		case rawsocket.TypeMessage:
			f = frame{kind: frameMessage, payload: rf.Payload}
		case rawsocket.TypePing:
			f = frame{kind: framePing, payload: rf.Payload}
		}
		return f, n, 0, nil
	}

	if joined && in.wsr.MaxMessageSize != int64(in.maxIn) {
		in.wsr.MaxMessageSize = int64(in.maxIn)
	}
	ev, n, err := in.wsr.NextWithin(b, grow)
	if err != nil {
		var ce *websocket.CloseError
		switch {
		case !errors.As(err, &ce):
			return f, 0, 0, in.fail(s, &violation{reason: err.Error()})
		case ce == websocket.ErrBudget:
			return f, 0, 0, in.busy(s, "a decompressed message")
		case ce == websocket.ErrInflatedTooBig:
			return f, 0, 0, in.inflatedTooLarge(s, joined, int(in.wsr.MaxMessageSize))
		case ce.Code == ws.StatusMessageTooBig:
			h, _, _ := websocket.ParseHeader(b)
			return f, 0, 0, in.tooLarge(s, proto, joined, in.wsr.Buffered()+int(h.Length), int(in.wsr.MaxMessageSize))
		}
		return f, 0, 0, in.fail(s, &violation{code: ce.Code, reason: err.Error()})
	}
	if n == 0 {
		return f, 0, ev.Need, in.hold(s, in.wsr.Buffered()+ev.Need-websocket.HeaderLen(b))
	}
	// The fragments so far (0 once a message is whole): a fragment that
	// came in one read is counted now. A decompressed message holds its
	// length until it is delivered.
	inflated := in.wsr.Inflated()
	if v := in.hold(s, in.wsr.Buffered()+inflated); v != nil {
		return f, 0, 0, v
	}
	switch ev.Kind {
	case websocket.EventMessage:
		f = frame{kind: frameMessage, inflated: inflated != 0, payload: ev.Payload}
		// The payload keeps the reassembly buffer of a large fragmented
		// message alive until it is delivered; the reader lets go of it.
		in.wsr.Shrink(maxIdleReadBuffer)
	case websocket.EventPing:
		f = frame{kind: framePing, payload: ev.Payload}
	case websocket.EventClose:
		f = frame{kind: frameClose, code: ev.Code}
	}
	return f, n, 0, nil
}

// idle gives back what the last message held (a decompressed message's
// buffer) once it is delivered and no more bytes are there to read, so
// that an idle connection holds no buffer.
func (in *input) idle() { in.wsr.Release() }

// delivered gives back a decompressed message's buffer, and its
// reservation, once the message is handled: not later, when the client's
// next frame is whole, or a client that leaves it half sent would keep
// them.
func (in *input) delivered(s *Server) {
	in.wsr.Release()
	in.hold(s, in.wsr.Buffered()) // less than held: cannot fail
}

// inflating is a connection's wire as the websocket.Budget of the message
// it decompresses: the message's reservation grows in the Server's
// PartialBudget as its output does. (A conversion, not a value: giving it
// to the reader allocates nothing.)
type inflating wire

// Grow implements websocket.Budget.
func (f *inflating) Grow(n int) bool { return f.in.reserve(f.srv, n) }

// tooLarge is the violation of a message of size bytes over limit.
func (in *input) tooLarge(s *Server, proto protocol, joined bool, size, limit int) *violation {
	v := &violation{code: ws.StatusMessageTooBig}
	switch {
	case !joined && limit < int(in.maxIn):
		s.stats.tooLargeBeforeWelcome.Add(1)
		v.reason = fmt.Sprintf("%s: message of %d bytes is larger than the %d bytes allowed before WELCOME", proto, size, limit)
	case proto == protoRawSocket:
		v.reason = fmt.Sprintf("rawsocket: frame of %d bytes exceeds the maximum length of %d", size, limit)
	default:
		v.reason = fmt.Sprintf("websocket: message of %d bytes is larger than the maximum message size of %d", size, limit)
	}
	return in.fail(s, v)
}

// inflatedTooLarge is the violation of a compressed message whose
// decompressed form is over limit: a zip bomb, refused when its output
// passed the limit. It is counted (ServerStats.InflatedTooLarge), and
// before WELCOME also as TooLargeBeforeWelcome.
func (in *input) inflatedTooLarge(s *Server, joined bool, limit int) *violation {
	s.stats.inflatedTooLarge.Add(1)
	v := &violation{code: ws.StatusMessageTooBig}
	if !joined && limit < int(in.maxIn) {
		s.stats.tooLargeBeforeWelcome.Add(1)
		v.reason = fmt.Sprintf("websocket: compressed message decompresses to more than the %d bytes allowed before WELCOME", limit)
	} else {
		v.reason = fmt.Sprintf("websocket: compressed message decompresses to more than the maximum message size of %d", limit)
	}
	return in.fail(s, v)
}

// hold sets the bytes this connection holds in a message in progress (its
// payload: the frames' headers are not counted) to n: it reserves (or
// gives back) the difference from the Server's PartialBudget, and returns
// a violation when the reservation does not fit.
func (in *input) hold(s *Server, n int) *violation {
	if !in.reserve(s, n) {
		return in.busy(s, fmt.Sprintf("a message of %d bytes", n))
	}
	return nil
}

// reserve is hold without the violation: it reports whether n bytes fit,
// and holds nothing more when they do not.
func (in *input) reserve(s *Server, n int) bool {
	if n <= freePartial {
		n = 0
	}
	d := int64(n) - int64(in.held)
	switch {
	case d == 0:
		return true
	case d < 0:
		s.opt.budget.release(-d)
		s.rel.note(-d)
	case !s.opt.budget.reserve(d):
		return false
	}
	in.held = uint32(n)
	return true
}

// busy is the violation of what (a message) that does not fit in the
// PartialBudget; it is counted (PartialBudget.Refused).
func (in *input) busy(s *Server, what string) *violation {
	b := s.opt.budget
	b.refused.Add(1)
	return in.fail(s, &violation{code: statusTryAgainLater, reason: fmt.Sprintf(
		"router busy: %s does not fit in the memory for messages in progress (%d of %d bytes held); try again later",
		what, b.Held(), b.Limit())})
}

// statusTryAgainLater is WebSocket close code 1013 (RFC 6455's registry:
// the server is overloaded).
const statusTryAgainLater ws.StatusCode = 1013

// fail returns v after giving back what the connection holds: nothing it
// sends is read any more.
func (in *input) fail(s *Server, v *violation) *violation {
	in.release(s)
	return v
}

// release gives back the connection's reservation and its reassembly
// buffer, when the connection fails or ends.
func (in *input) release(s *Server) {
	if in.held != 0 {
		s.opt.budget.release(int64(in.held))
		s.rel.note(int64(in.held))
		in.held = 0
	}
	in.wsr = websocket.Reader{}
}
