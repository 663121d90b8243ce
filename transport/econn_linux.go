//go:build linux

package transport

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/internal/epoll"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
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
	wire
	tls *econnTLS // nil without TLS (tls_linux.go)

	// The loop's only.
	live    *liveness // nil without keep-alive pings or idle timeout
	helloAt time.Duration

	closing atomic.Bool // the close has started: deliver nothing more

	// The loop's only.
	phase       uint8
	checkedLine bool // the request line of a WebSocket upgrade was judged
	helloWaited bool // see joinState.helloCheck

	attached bool // under Server.mu

	cookie websocket.UpgradedCookie // the WebSocket authentication cookie, if any
}

// Data implements epoll.Handler. It is where every byte the client sends
// enters (see link): with TLS, its records are opened first (tlsData).
func (c *econn) Data(b []byte) (int, int) {
	if c.tls != nil {
		return c.tlsData(b)
	}
	return c.readPlain(b)
}

// readPlain reads the transport handshake, then frames, from the bytes
// the client sent, in plaintext.
func (c *econn) readPlain(b []byte) (int, int) {
	used := 0
	if c.phase == phaseHandshake {
		n, need := c.handshake(b)
		if c.phase == phaseHandshake {
			return n, need
		}
		used = n
	}
	if c.phase != phaseOpen || used == len(b) {
		return len(b), 0
	}
	n, need, closed, v := c.frames(c, b[used:])
	if closed {
		// Write what is queued and close without waiting for the
		// client's end of stream.
		c.CloseRead()
	}
	if closed || v != nil {
		c.phase = phaseDraining
		return len(b), 0
	}
	return used + n, need
}

// Send implements router.Peer: it frames m onto the connection's output.
func (c *econn) Send(m wamp.Message) error {
	if c.in.deflate {
		return c.sendDeflated(c, m)
	}
	c.Lock()
	defer c.Unlock()
	if !c.OpenLocked() {
		return router.ErrClosed
	}
	queued, out := c.queuedLocked(), c.outputLocked()
	from := len(*out)
	err := c.appendMessage(out, m, queued)
	c.commitLocked(from)
	return err
}

// The link the wire frames through: the epoll.Conn's output, which the
// loop writes.

func (c *econn) lock()                 { c.Lock() }
func (c *econn) unlock()               { c.Unlock() }
func (c *econn) openLocked() bool      { return c.OpenLocked() }
func (c *econn) queuedLocked() int     { return c.Queued() }
func (c *econn) outputLocked() *[]byte { return c.Output() }
func (c *econn) commitLocked(from int) {
	c.sealLocked(c.Output(), from) // with TLS, the plaintext becomes records
	c.Commit()
}
func (c *econn) isClosing() bool { return c.closing.Load() }

func (c *econn) closeLocked() {
	c.closing.Store(true)
	c.closeNotifyLocked()
	c.CloseLocked()
}

func (c *econn) delivering() bool {
	if c.live != nil {
		c.live.msgs++
	}
	return c.helloAt != 0
}

func (c *econn) established() { c.helloAt = 0 } // the timer finds nothing to do

func (c *econn) logger() *slog.Logger { return c.srv.opt.log.With("remote", c.remote) }

// Close implements router.Peer.
func (c *econn) Close() { c.shut(c, 0, "") }

// goAway closes the connection because the server is going away.
func (c *econn) goAway() { c.shut(c, ws.StatusGoingAway, "server shutting down") }

// EOF implements epoll.Handler: the client went away.
func (c *econn) EOF() {
	if c.phase == phaseHandshake {
		c.refuse(errClosedInHandshake)
		return
	}
	c.shut(c, ws.StatusGoingAway, "")
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
	var release time.Duration
	if c.tls != nil {
		release = c.tlsTimer(now)
	}
	if c.helloAt != 0 && now >= c.helloAt {
		c.helloAt = 0
		fail, again := c.in.join.helloCheck(o, &c.helloWaited)
		if fail {
			c.fail(c, ws.StatusPolicyViolation, helloFailure(o, c.gotMessage))
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
			c.shut(c, ws.StatusGoingAway, why)
			return
		}
		if ping {
			c.Lock()
			c.controlLocked(c, nil, false)
			c.Unlock()
		}
	}
	c.SetTimer(earliest(earliest(c.helloAt, next), release))
}

// Closed implements epoll.Handler.
func (c *econn) Closed() {
	c.in.release(c.srv)
	c.in.join.settle(c.srv)
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
		c.startRawSocket(client, o)
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
			// The upgrader reads up to its limit and answers: 431, or
			// what it finds wrong first, as in goroutine mode. Without
			// the head's end it cannot upgrade.
			c.upgrade(b, false)
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
	up, err := o.upgrader.Accept(&h)
	if partial && (err == nil || errors.Is(err, errIncomplete)) {
		return false
	}
	if err != nil {
		c.answerAndClose(h.w, fmt.Errorf("websocket handshake: %w", err))
		return true
	}
	c.cookie = up.Cookie
	c.startWebSocket(up, o)
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
	c.appendLocked(answer)
	c.closeNotifyLocked()
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
	if c.tls != nil {
		c.tls.open = true
	}
	c.appendLocked(answer)
	c.Unlock()
	c.phase = phaseOpen
	info := router.TransportInfo{
		Kind:         c.proto.String(),
		Serializer:   c.format.String(),
		RemoteAddr:   c.remote,
		Cookie:       c.cookie.Value,
		CookieIssued: c.cookie.Issued,
		Loop:         c.Loop(),
	}
	if c.tls != nil {
		info.TLS, info.TLSState = true, c.tls.state
		c.tls.state = nil // the router's now
	}
	c.session = s.Router.Attach(c, info)
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

// appendLocked queues b, the handshake's answer, through the output seam
// (see link).
func (c *econn) appendLocked(b []byte) {
	if len(b) == 0 {
		return
	}
	out := c.outputLocked()
	from := len(*out)
	*out = append(*out, b...)
	c.commitLocked(from)
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
