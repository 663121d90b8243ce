//go:build linux

package transport

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/internal/epoll"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// econn phases (econn.phase).
const (
	phaseHandshake = iota // reading the transport handshake
	phaseOpen             // attached: frames are messages
	phaseDraining         // after a violation or the client's close: input is discarded
)

// econn is a connection served by the epoll engine, and the router's Peer
// for it. It has no goroutine: its loop calls its epoll.Handler methods.
// Its fields are ordered to keep it small: an idle connection is this, the
// kernel's socket and the router's session, nothing else.
type econn struct {
	epoll.Conn
	srv     *Server
	remote  string
	session *router.Session // set by the handshake, fixed after

	// The loop's only.
	live    *liveness // nil without keep-alive pings or idle timeout
	in      input
	helloAt time.Duration

	// Set by the handshake, fixed after (Send reads them once attached).
	maxOut int32 // largest message payload sent

	closing atomic.Bool // the close has started: deliver nothing more

	// Set by the handshake, fixed after.
	proto  protocol
	format wamp.Format
	msgOp  ws.OpCode // WebSocket: the frame type of messages

	// The loop's only.
	phase       uint8
	checkedLine bool // the request line of a WebSocket upgrade was judged
	helloWaited bool // see joinState.helloCheck
	gotMessage  bool

	attached bool // under Server.mu

	cookie websocket.UpgradedCookie // the WebSocket authentication cookie, if any

	ci closeInfo // under the Conn's lock
}

// codec returns the connection's codec.
func (c *econn) codec() codec.Codec { return codec.ByFormat(c.format) }

// Data implements epoll.Handler: the handshake, then frames.
func (c *econn) Data(b []byte) (int, int) {
	used := 0
	if c.phase == phaseHandshake {
		n, need := c.handshake(b)
		if c.phase == phaseHandshake {
			return n, need
		}
		used = n
	}
	for used < len(b) {
		if c.phase != phaseOpen {
			return len(b), 0
		}
		f, n, need, v := c.in.next(c.srv, c.proto, b[used:])
		if v != nil {
			c.fail(v.code, v.reason)
			c.phase = phaseDraining
			return len(b), 0
		}
		if n == 0 {
			return used, need
		}
		used += n
		switch f.kind {
		case frameMessage:
			c.deliver(f.payload)
		case framePing:
			c.pong(f.payload)
		case frameClose:
			// Echo the client's code (unless ours is set), write what is
			// queued, and close without waiting for its end of stream.
			c.Lock()
			c.ci.set(f.code, "")
			c.Unlock()
			c.close(f.code, "")
			c.CloseRead()
			c.phase = phaseDraining
			return len(b), 0
		}
	}
	return used, 0
}

// deliver decodes one message and hands it to the session.
func (c *econn) deliver(p []byte) {
	if c.closing.Load() {
		return
	}
	m, err := c.codec().Decode(p)
	// A request whose options or payload are not valid costs an ERROR,
	// not the connection (router.Session.ReceiveInvalid).
	invalid, _ := errors.AsType[*codec.RequestError](err)
	if err != nil && invalid == nil {
		c.fail(0, "cannot decode message: "+err.Error())
		return
	}
	if invalid != nil {
		m = invalid.Message
	}
	c.gotMessage = true
	if c.live != nil {
		c.live.msgs++
	}
	joining := c.helloAt != 0
	if joining {
		c.in.join.received()
	}
	c.receive(m, invalid)
	if joining && c.in.join.welcomed() {
		c.helloAt = 0 // the timer finds nothing to do
	}
}

// receive passes m to the session, or invalid, the request m that did
// not decode in full; a panic in the router costs this connection (close
// 1011), not the process.
func (c *econn) receive(m wamp.Message, invalid *codec.RequestError) {
	defer func() {
		if p := recover(); p != nil {
			c.srv.opt.log.Error("panic while handling a message", "remote", c.remote, "message", m.Type().String(),
				"panic", p, "stack", string(debug.Stack()))
			c.close(ws.StatusInternalServerError, "internal error")
		}
	}()
	if invalid != nil {
		c.session.ReceiveInvalid(invalid)
		return
	}
	c.session.Receive(m)
}

// fail ends the session for a violation the transport found: the session
// is told (ABORT wamp.error.protocol_violation) and the connection closes,
// with WebSocket close code code (0: chosen from the ABORT).
func (c *econn) fail(code ws.StatusCode, reason string) {
	c.failWith(code, reason, c.session.Fail)
}

// failWith closes the connection with code and reason once end has told
// the session why (Session.Fail for a protocol violation,
// Session.DropSlowConsumer for a client that does not read).
func (c *econn) failWith(code ws.StatusCode, reason string, end func(reason string)) {
	c.Lock()
	open := c.OpenLocked()
	if open && code != 0 {
		c.ci.set(code, reason)
	}
	c.Unlock()
	if !open {
		return
	}
	c.srv.opt.log.Debug("connection failed", "remote", c.remote, "reason", reason)
	end(reason)
	c.close(code, reason)
}

// Send implements router.Peer: it frames m onto the connection's output.
func (c *econn) Send(m wamp.Message) error {
	c.Lock()
	defer c.Unlock()
	if !c.OpenLocked() {
		return router.ErrClosed
	}
	queued := c.Queued()
	if sh, ok := m.(*wamp.Shared); ok {
		if p := sh.Encoded(c.format); p != nil {
			return c.sendEncodedLocked(p, queued)
		}
	}
	out := c.Output()
	b := *out
	var start int
	if c.proto == protoRawSocket {
		b, start = rawsocket.BeginFrame(b)
	} else {
		b, start = websocket.BeginFrame(b)
	}
	b, err := c.codec().Encode(b, m)
	if err == nil {
		var n int
		if c.proto == protoRawSocket {
			n = rawsocket.PayloadLen(b, start)
		} else {
			n = websocket.PayloadLen(b, start)
		}
		err = admit(m.Type(), n, len(b)-start, queued, int(c.maxOut), c.srv.opt.queue)
	}
	c.ci.lastQueueErr = err == router.ErrQueueFull
	if err != nil {
		*out = b[:start]
		c.Commit()
		return err
	}
	if c.proto == protoRawSocket {
		*out = rawsocket.EndFrame(b, start, rawsocket.TypeMessage)
	} else {
		*out = websocket.EndFrame(b, start, c.msgOp)
	}
	c.ci.sent(m)
	c.in.join.sent(m.Type())
	c.Commit()
	return nil
}

// sendEncodedLocked queues a message already encoded for this connection
// (a fanned-out EVENT after the first subscriber): its length is known, so
// its header goes first and the payload is copied once.
func (c *econn) sendEncodedLocked(p []byte, queued int) error {
	var err error
	switch {
	case len(p) > int(c.maxOut):
		err = router.ErrTooLarge
	case queued > 0 && queued+len(p)+websocket.MaxServerHeaderSize > c.srv.opt.queue:
		err = router.ErrQueueFull
	}
	c.ci.lastQueueErr = err == router.ErrQueueFull
	if err != nil {
		return err
	}
	out := c.Output()
	if c.proto == protoRawSocket {
		*out = rawsocket.AppendHeader(*out, rawsocket.TypeMessage, len(p))
	} else {
		*out = websocket.AppendHeader(*out, ws.Header{Fin: true, OpCode: c.msgOp, Length: int64(len(p))})
	}
	*out = append(*out, p...)
	c.Commit()
	return nil
}

// pong answers a ping with its payload (see conn.queueControl).
func (c *econn) pong(payload []byte) {
	c.Lock()
	ok := c.appendControlLocked(payload, true)
	c.Unlock()
	if !ok {
		o := &c.srv.opt
		c.failWith(ws.StatusPolicyViolation, pongFlood(o.queue), c.session.DropSlowConsumer)
	}
}

// appendControlLocked queues a pong (or our ping). It reports false when
// the frame does not fit; a ping that does not fit is left out.
func (c *econn) appendControlLocked(payload []byte, pong bool) bool {
	if !c.OpenLocked() {
		return true
	}
	if !pong {
		payload = pingPayload
	}
	if !controlFits(c.Queued(), rawsocket.HeaderSize+len(payload), c.srv.opt.queue) {
		return false
	}
	out := c.Output()
	switch {
	case c.proto == protoRawSocket && pong:
		*out = rawsocket.AppendFrame(*out, rawsocket.TypePong, payload)
	case c.proto == protoRawSocket:
		*out = rawsocket.AppendFrame(*out, rawsocket.TypePing, payload)
	case pong:
		*out = websocket.AppendControl(*out, ws.OpPong, payload)
	default:
		*out = websocket.AppendControl(*out, ws.OpPing, payload)
	}
	c.Commit()
	return true
}

// Close implements router.Peer.
func (c *econn) Close() { c.close(0, "") }

// goAway closes the connection because the server is going away.
func (c *econn) goAway() { c.close(ws.StatusGoingAway, "server shutting down") }

// close starts closing: Send refuses from now on; what is queued is
// written, then the WebSocket close frame, and the socket is half-closed
// and closed when the client closes its side, each step within the close
// grace. The first close code set wins; code 0 lets it follow from what the
// router said last.
func (c *econn) close(code ws.StatusCode, reason string) {
	c.Lock()
	defer c.Unlock()
	if !c.OpenLocked() {
		return
	}
	c.closing.Store(true)
	c.ci.choose(code, reason)
	if c.proto == protoWebSocket {
		out := c.Output()
		*out = websocket.AppendClose(*out, c.ci.code, c.ci.reason)
	}
	c.CloseLocked()
}

// EOF implements epoll.Handler: the client went away.
func (c *econn) EOF() {
	if c.phase == phaseHandshake {
		c.refuse(errClosedInHandshake)
		return
	}
	c.close(ws.StatusGoingAway, "")
}

// Timer implements epoll.Handler: the handshake deadline, the hello
// timeout, keep-alive pings and the idle timeout.
func (c *econn) Timer(now time.Duration) {
	o := &c.srv.opt
	if c.phase == phaseHandshake {
		c.refuse(fmt.Errorf("%w within %s", errNoHandshake, o.handshakeTimeout))
		return
	}
	if c.closing.Load() {
		return
	}
	if c.helloAt != 0 && now >= c.helloAt {
		c.helloAt = 0
		fail, again := c.in.join.helloCheck(o, &c.helloWaited)
		if fail {
			c.fail(ws.StatusPolicyViolation, helloFailure(o, c.gotMessage))
			return
		}
		if again > 0 {
			c.helloAt = now + again
		}
	}
	var next time.Duration
	if c.live != nil {
		var ping bool
		var why string
		ping, why, next = c.live.check(o, now, c.LastRead(), uint64(c.live.msgs))
		if why != "" {
			c.srv.opt.log.Info("closing connection", "remote", c.remote, "reason", why)
			c.close(ws.StatusGoingAway, why)
			return
		}
		if ping {
			c.Lock()
			c.appendControlLocked(nil, false)
			c.Unlock()
		}
	}
	c.SetTimer(earliest(c.helloAt, next))
}

// Closed implements epoll.Handler.
func (c *econn) Closed() {
	c.in.release(c.srv)
	if c.session != nil {
		c.session.Detach()
		c.srv.connClosed(engEpoll, kindOf(c.proto))
		c.srv.opt.log.Debug("connection ended", "remote", c.remote)
	}
	s := c.srv
	s.mu.Lock()
	delete(s.eng.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// refuse drops a connection that did not complete its handshake.
func (c *econn) refuse(err error) {
	c.srv.opt.log.Debug("connection refused", "remote", c.remote, "err", err)
	c.srv.refused(c.remote, err)
	c.phase = phaseDraining
	c.Abort()
}

// handshake reads the transport handshake from b: the first byte tells
// RawSocket (0x7F) from an HTTP WebSocket upgrade.
func (c *econn) handshake(b []byte) (int, int) {
	o := &c.srv.opt
	if b[0] == rawsocket.Magic {
		if !o.rawSocket {
			c.refuse(fmt.Errorf("rawsocket handshake: %w", errRawSocketOff))
			return len(b), 0
		}
		if len(b) < rawsocket.HandshakeSize {
			return 0, rawsocket.HandshakeSize
		}
		var reply [rawsocket.HandshakeSize]byte
		client, out, err := rawsocket.Negotiate(reply[:0], b[:rawsocket.HandshakeSize], o.rawMaxIn)
		if err != nil {
			c.answerAndClose(out, fmt.Errorf("rawsocket handshake: %w", err))
			return len(b), 0
		}
		c.proto, c.format = protoRawSocket, client.Serializer
		c.in.start(o.rawMaxIn, 0, o)
		c.maxOut = int32(min(client.MaxLength, o.maxMessage))
		c.attach(out)
		return rawsocket.HandshakeSize, 0
	}
	if c.srv.Handler != nil {
		switch routeHTTP(b, o) {
		case routeMore:
			return 0, len(b) + 1
		case routeHandler:
			c.handOffHTTP(b)
			return len(b), 0
		}
	}
	if !o.webSocket {
		c.refuse(fmt.Errorf("websocket handshake: %w", errWebSocketOff))
		return len(b), 0
	}
	end := requestEnd(b)
	if end < 0 {
		if len(b) >= o.upgrader.MaxRequestSize {
			c.refuse(websocket.ErrRequestTooLarge)
			return len(b), 0
		}
		// Judge the request line as soon as it is there, as the
		// goroutine engine does: a wrong path or method is answered
		// before the headers.
		if !c.checkedLine {
			if i := indexNewline(b); i >= 0 {
				c.checkedLine = true
				if c.upgrade(b[:i+1], true) {
					return len(b), 0
				}
			}
		}
		return 0, len(b) + 1
	}
	if c.upgrade(b[:end], false) {
		return len(b), 0
	}
	return end, 0
}

// upgrade runs the WebSocket upgrade over the request in req and queues
// the response. With partial, req is only the request line and a verdict
// counts only when it comes before the headers. It reports whether the
// connection was refused.
func (c *econn) upgrade(req []byte, partial bool) (refused bool) {
	o := &c.srv.opt
	h := handshakeIO{r: req, partial: partial}
	cd, cookie, err := o.upgrader.UpgradeCookie(&h)
	if partial && (err == nil || errors.Is(err, errIncomplete)) {
		return false
	}
	if err != nil {
		c.answerAndClose(h.w, fmt.Errorf("websocket handshake: %w", err))
		return true
	}
	c.proto, c.format, c.cookie = protoWebSocket, cd.Format(), cookie
	c.maxOut = int32(o.maxMessage)
	c.msgOp = ws.OpText
	if cd.Binary() {
		c.msgOp = ws.OpBinary
	}
	c.in.start(o.maxMessage, c.msgOp, o)
	c.attach(h.w)
	return false
}

// answerAndClose refuses a handshake with an answer: the RawSocket error
// reply or the HTTP error response, written before the connection closes.
func (c *econn) answerAndClose(answer []byte, err error) {
	c.srv.opt.log.Debug("connection refused", "remote", c.remote, "err", err)
	c.srv.refused(c.remote, err)
	c.phase = phaseDraining
	c.Lock()
	if len(answer) > 0 {
		out := c.Output()
		*out = append(*out, answer...)
		c.Commit()
	}
	c.CloseLocked()
	c.Unlock()
}

// attach queues the handshake's answer and attaches the connection to the
// router, unless the server is closing.
func (c *econn) attach(answer []byte) {
	s := c.srv
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.refuse(ErrServerClosed)
		return
	}
	c.attached = true
	s.mu.Unlock()

	c.Lock()
	out := c.Output()
	*out = append(*out, answer...)
	c.Commit()
	c.Unlock()
	c.phase = phaseOpen
	c.session = s.Router.Attach(c, router.TransportInfo{
		Kind:         c.proto.String(),
		Serializer:   c.format.String(),
		RemoteAddr:   c.remote,
		Cookie:       c.cookie.Value,
		CookieIssued: c.cookie.Issued,
		Loop:         c.Loop(),
	})
	s.connOpened(engEpoll, kindOf(c.proto))
	c.srv.opt.log.Debug("connection attached", "remote", c.remote, "transport", c.proto.String(), "serializer", c.format.String())
	o := &c.srv.opt
	now := epoll.Now()
	if o.helloTimeout > 0 {
		c.helloAt = now + o.helloTimeout
	}
	var next time.Duration
	if o.pingInterval > 0 && (c.proto == protoWebSocket || o.rawSocketPings) || o.idleTimeout > 0 {
		c.live = new(liveness)
		next = c.live.start(o, c.proto == protoWebSocket || o.rawSocketPings, now)
	}
	c.SetTimer(earliest(c.helloAt, next))
}

func indexNewline(b []byte) int {
	for i, x := range b {
		if x == '\n' {
			return i
		}
	}
	return -1
}

// errIncomplete ends a partial request handed to the upgrader.
var errIncomplete = errors.New("request incomplete")

// handshakeIO is the in-memory connection the upgrader reads the request
// from and writes its response to.
type handshakeIO struct {
	r       []byte
	partial bool
	w       []byte
}

func (h *handshakeIO) Read(p []byte) (int, error) {
	if len(h.r) == 0 {
		if h.partial {
			return 0, errIncomplete
		}
		return 0, io.EOF
	}
	n := copy(p, h.r)
	h.r = h.r[n:]
	return n, nil
}

func (h *handshakeIO) Write(p []byte) (int, error) {
	h.w = append(h.w, p...)
	return len(p), nil
}
