package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
)

type protocol uint8

const (
	protoRawSocket protocol = iota + 1
	protoWebSocket
)

func (p protocol) String() string {
	if p == protoRawSocket {
		return "rawsocket"
	}
	return "websocket"
}

type connState uint8

const (
	stateOpen    connState = iota
	stateClosing           // close requested: the writer flushes and closes
	stateClosed            // the socket is closed or failed
)

// conn is one client connection and the router's Peer for it. The
// goroutine that runs serve reads; a second one, writeLoop, writes.
type conn struct {
	wire
	opt *options
	raw net.Conn // as accepted, closed by abort
	nc  net.Conn // raw or its TLS layer
	log *slog.Logger

	// Reader goroutine only.
	rb           readBuffer
	helloPending bool                     // the read deadline is the hello deadline
	spent        time.Duration            // of the handshake timeout, before serve (a PROXY header)
	tlsState     *tls.ConnectionState     // after the TLS handshake; nil without TLS
	cookie       websocket.UpgradedCookie // the WebSocket authentication cookie, if any

	helloWaited bool // see joinState.helloCheck
	isAttached  atomic.Bool
	closing     atomic.Bool   // the close has started, or abort: for the reader's fast path
	inflight    atomic.Int64  // bytes being written by the writer
	lastRx      atomic.Int64  // monotime of the last read that brought bytes: liveness for pings
	msgsIn      atomic.Uint64 // messages received: activity for the idle timeout

	wake       chan struct{} // to the writer: something to do (capacity 1)
	readerDone chan struct{}
	writerDone chan struct{}

	mu        sync.Mutex
	state     connState
	pending   *buffer // bytes queued, nil when none
	spare     *buffer // the buffer last written, kept while the connection is busy
	lingering bool    // the read deadline is the close grace; leave it
	// Keep-alive and idle timer (nil when neither is on), on monotime.
	timer *time.Timer
	live  liveness
}

// remoteOf is the address a connection's client is known by: its
// socket's peer (the client's from a PROXY header for a proxiedConn), or
// for a Unix socket, whose peers are nameless, the socket's path.
func remoteOf(nc net.Conn) string {
	remote := nc.RemoteAddr().String()
	if remote == "" || remote == "@" {
		remote = "unix:" + nc.LocalAddr().String()
	}
	return remote
}

func newConn(s *Server, nc net.Conn) *conn {
	remote := remoteOf(nc)
	return &conn{
		wire:       wire{srv: s, remote: remote},
		opt:        &s.opt,
		raw:        nc,
		nc:         countConn{nc, &s.stats},
		log:        s.opt.log.With("remote", remote),
		wake:       make(chan struct{}, 1),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
}

func (c *conn) attached() bool { return c.isAttached.Load() }

// serve runs the connection from accept to close.
func (c *conn) serve() {
	if err := c.handshake(); err != nil {
		if err == errHandedOff {
			c.log.Debug("HTTP request: handed to the handler")
			return
		}
		c.log.Debug("connection refused", "err", err)
		c.srv.refused(c.remote, err)
		if errors.Is(err, websocket.ErrRequestTooLarge) {
			c.lingerRefused()
		}
		c.raw.Close()
		return
	}
	s := c.srv
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.raw.Close()
		return
	}
	c.isAttached.Store(true)
	s.mu.Unlock()

	c.log = c.log.With("transport", c.proto.String(), "serializer", c.format.String())
	c.session = s.Router.Attach(c, router.TransportInfo{
		Kind:         c.proto.String(),
		Serializer:   c.format.String(),
		RemoteAddr:   c.remote,
		TLS:          s.TLSConfig != nil,
		TLSState:     c.tlsState,
		Cookie:       c.cookie.Value,
		CookieIssued: c.cookie.Issued,
		Loop:         int(s.stats.loops.Add(1)),
	})
	s.connOpened(engGoroutine, kindOf(c.proto))
	defer s.connClosed(engGoroutine, kindOf(c.proto))
	c.log.Debug("connection attached")
	go c.writeLoop()
	c.startTimer()

	err := c.read()
	c.in.release(s)
	c.shut(c, ws.StatusGoingAway, "")
	close(c.readerDone)
	<-c.writerDone
	c.session.Detach()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.log.Debug("connection ended", "err", fmt.Errorf("reading from %s: %w", c.remote, err))
	} else {
		c.log.Debug("connection ended")
	}
}

// handshake runs TLS and the transport handshake under the handshake
// deadline, then sets the hello deadline.
func (c *conn) handshake() error {
	o := c.opt
	if o.handshakeTimeout > 0 {
		c.raw.SetDeadline(time.Now().Add(max(o.handshakeTimeout-c.spent, time.Millisecond)))
	}
	if cfg := c.srv.TLSConfig; cfg != nil {
		tc := tls.Server(c.nc, cfg) // over the counting layer
		err := tc.Handshake()
		c.srv.rel.garbage(handshakeGarbage) // failed or not, it allocated
		if err != nil {
			return fmt.Errorf("%w with %s: %w", errTLSHandshake, c.remote, err)
		}
		cs := tc.ConnectionState()
		c.nc, c.tlsState = tc, &cs
	}
	if err := c.rb.fill(c.nc, 1); err != nil {
		return fmt.Errorf("reading the first bytes from %s: %w", c.remote, err)
	}
	if c.rb.unread()[0] == rawsocket.Magic {
		if !o.rawSocket {
			return fmt.Errorf("rawsocket handshake from %s: %w", c.remote, errRawSocketOff)
		}
		if err := c.acceptRawSocket(); err != nil {
			return err
		}
	} else {
		if c.srv.Handler != nil {
			route, err := c.readHTTPHead()
			if err != nil {
				return err
			}
			if route == routeHandler {
				return c.handOffHTTP()
			}
		}
		if !o.webSocket {
			return fmt.Errorf("websocket handshake from %s: %w", c.remote, errWebSocketOff)
		}
		up, err := o.upgrader.Accept(struct {
			io.Reader
			io.Writer
		}{&headReader{rb: &c.rb, src: c.nc}, c.nc})
		if err != nil {
			return fmt.Errorf("websocket handshake from %s: %w", c.remote, err)
		}
		c.cookie = up.Cookie
		c.startWebSocket(up, o)
		c.log = c.srv.opt.log.With("remote", c.remote) // the client's, behind a trusted proxy
	}
	c.nc.SetDeadline(time.Time{})
	if o.helloTimeout > 0 {
		c.helloPending = true
		c.nc.SetReadDeadline(time.Now().Add(o.helloTimeout))
	}
	return nil
}

func (c *conn) acceptRawSocket() error {
	for len(c.rb.unread()) < rawsocket.HandshakeSize {
		if err := c.rb.fill(c.nc, rawsocket.HandshakeSize); err != nil {
			return fmt.Errorf("rawsocket handshake from %s: reading the request: %w", c.remote, err)
		}
	}
	var out [rawsocket.HandshakeSize]byte
	client, reply, err := rawsocket.Negotiate(out[:0], c.rb.unread(), c.opt.rawMaxIn)
	c.rb.consume(rawsocket.HandshakeSize)
	if len(reply) > 0 {
		if _, werr := c.nc.Write(reply); werr != nil && err == nil {
			err = fmt.Errorf("writing the reply: %w", werr)
		}
	}
	if err != nil {
		return fmt.Errorf("rawsocket handshake from %s: %w", c.remote, err)
	}
	c.startRawSocket(client, c.opt)
	return nil
}

// read reads frames until the connection ends or the client's close
// frame.
func (c *conn) read() error {
	for {
		// The messages of one read are a batch for the router (what
		// they send to other nodes of a cluster goes together); the
		// epoll engine makes a batch of each loop's round instead
		// (epoll.Config.Batch).
		c.srv.Router.BeginBatch()
		n, need, closed, v := c.frames(c, c.rb.unread())
		c.srv.Router.EndBatch()
		c.rb.consume(n)
		switch {
		case v != nil:
			c.drain()
			return fmt.Errorf("protocol violation: %s", v.reason)
		case closed:
			return nil
		}
		if err := c.fill(need); err != nil {
			return err
		}
	}
}

// drain discards what the client still sends, after a violation, until it
// closes its side or the close grace ends: closing with its bytes unread
// would reset the connection, and a reset can destroy the ABORT and close
// frame we just wrote before the client reads them.
func (c *conn) drain() {
	c.rb = readBuffer{} // a large frame's buffer goes at once
	for {
		c.rb.r, c.rb.w = 0, 0
		if err := c.rb.fill(c.nc, 1); err != nil {
			return
		}
	}
}

// lingerRefused ends a handshake answered while the client is still
// sending: an upgrade request over the limit, answered 431 with the rest
// of it unread. It half-closes, then reads and discards what the client
// sends until it closes its side or the close grace ends, as the epoll
// engine does after any answer; the caller closes. Closing with the
// client's bytes unread would reset the connection, and the reset can
// destroy the answer before the client reads it.
func (c *conn) lingerRefused() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(closeGrace))
	c.drain()
}

// fill reads more bytes, and turns the hello deadline into the session's
// failure.
func (c *conn) fill(need int) error {
	for {
		err := c.rb.fill(c.nc, need)
		if err == nil {
			c.lastRx.Store(int64(monotime()))
			return nil
		}
		if !c.helloPending || !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		fail, again := c.in.join.helloCheck(c.opt, &c.helloWaited)
		switch {
		case !fail && again == 0:
			c.helloPending = false
			c.setReadDeadline(time.Time{})
			continue
		case !fail:
			c.setReadDeadline(time.Now().Add(again))
			continue
		}
		c.helloPending = false
		if c.closing.Load() {
			return err
		}
		c.fail(c, ws.StatusPolicyViolation, helloFailure(c.opt, c.gotMessage))
		// Read on for the close handshake, within the grace period.
		c.setReadDeadline(time.Now().Add(closeGrace))
	}
}

// setReadDeadline changes the read deadline unless closing has set it.
func (c *conn) setReadDeadline(t time.Time) {
	c.mu.Lock()
	if !c.lingering {
		c.nc.SetReadDeadline(t)
	}
	c.mu.Unlock()
}

// Send implements router.Peer: it frames m onto the pending bytes.
func (c *conn) Send(m wamp.Message) error {
	if c.in.deflate {
		return c.sendDeflated(c, m)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return router.ErrClosed
	}
	queued, out := c.queuedLocked(), c.outputLocked()
	from := len(*out)
	err := c.appendMessage(out, m, queued)
	c.commitLocked(from)
	return err
}

// The link the wire frames through: the pending buffer, which the writer
// goroutine takes and writes.

func (c *conn) lock()            { c.mu.Lock() }
func (c *conn) unlock()          { c.mu.Unlock() }
func (c *conn) openLocked() bool { return c.state == stateOpen }

// queuedLocked counts the pending bytes and those the writer is writing.
func (c *conn) queuedLocked() int {
	n := int(c.inflight.Load())
	if c.pending != nil {
		n += len(c.pending.b)
	}
	return n
}

// outputLocked returns the pending buffer, taking one when none is.
func (c *conn) outputLocked() *[]byte {
	if c.pending == nil {
		c.pending = c.takeBufferLocked()
	}
	return &c.pending.b
}

// commitLocked wakes the writer when the pending bytes start at from = 0,
// and keeps a buffer that stayed empty as the spare.
func (c *conn) commitLocked(from int) {
	switch {
	case len(c.pending.b) == 0:
		c.spare, c.pending = c.pending, nil
	case from == 0:
		c.signal()
	}
}

// closeLocked has the writer flush what is pending (the close frame last)
// and linger, all within the close grace.
func (c *conn) closeLocked() {
	c.state = stateClosing
	c.closing.Store(true)
	if c.timer != nil {
		c.timer.Stop()
	}
	c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	c.signal()
}

func (c *conn) isClosing() bool { return c.closing.Load() }

func (c *conn) delivering() bool {
	c.msgsIn.Add(1)
	return c.helloPending
}

func (c *conn) established() {
	c.helloPending = false
	c.setReadDeadline(time.Time{})
}

func (c *conn) logger() *slog.Logger { return c.log }

// takeBufferLocked returns the spare buffer, or one from the pool.
func (c *conn) takeBufferLocked() *buffer {
	if b := c.spare; b != nil {
		c.spare = nil
		return b
	}
	return getBuffer()
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close implements router.Peer.
func (c *conn) Close() { c.shut(c, 0, "") }

// goAway closes the connection because the server is going away.
func (c *conn) goAway() { c.shut(c, ws.StatusGoingAway, "server shutting down") }

// abort closes the socket at once.
func (c *conn) abort() {
	c.mu.Lock()
	c.state = stateClosed
	c.closing.Store(true)
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.raw.Close()
	c.signal()
}

// writeLoop writes what Send queues, one write call for everything queued
// since the last, until the connection closes.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	for {
		select {
		case <-c.wake:
		case <-c.readerDone:
		}
		c.mu.Lock()
		state := c.state
		out := c.pending
		c.pending = nil
		if out != nil {
			c.inflight.Store(int64(len(out.b)))
		}
		c.mu.Unlock()
		if state == stateClosed {
			c.raw.Close()
			return
		}
		if out != nil {
			_, err := c.nc.Write(out.b)
			c.inflight.Store(0)
			c.recycle(out)
			if err != nil {
				if state == stateOpen {
					c.log.Debug("write failed", "err", fmt.Errorf("writing to %s: %w", c.remote, err))
				}
				c.abort()
				return
			}
		}
		if state == stateClosing {
			c.linger()
			return
		}
	}
}

// recycle keeps a written buffer as the spare while more is queued (under
// load two buffers take turns, whatever their size) and returns both to
// the pool once the queue is empty, so that an idle connection holds none.
func (c *conn) recycle(out *buffer) {
	out.b = out.b[:0]
	c.mu.Lock()
	if c.pending != nil && c.spare == nil {
		c.spare, out = out, nil
	}
	spare := c.spare
	if c.pending == nil {
		c.spare = nil
	} else {
		spare = nil
	}
	c.mu.Unlock()
	if out != nil {
		putBuffer(out)
	}
	if spare != nil {
		putBuffer(spare)
	}
}

// linger ends a connection whose last bytes are written: half-close, give
// the client the grace period to close its side (and to send its WebSocket
// close frame), then close. Closing while the client's bytes sit unread
// would reset the connection, and a reset can destroy what we wrote last.
func (c *conn) linger() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.mu.Lock()
	c.lingering = true
	c.nc.SetReadDeadline(time.Now().Add(closeGrace))
	c.mu.Unlock()
	<-c.readerDone
	c.mu.Lock()
	c.state = stateClosed
	c.mu.Unlock()
	c.raw.Close()
}

// startTimer arms the keep-alive and idle timer.
func (c *conn) startTimer() {
	o := c.opt
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return
	}
	now := monotime()
	if next := c.live.start(o, c.proto == protoWebSocket || o.rawSocketPings, now); next != 0 {
		c.timer = time.AfterFunc(next-now, c.onTimer)
	}
}

// onTimer sends keep-alive pings, closes the connection when a ping went
// unanswered or the client has been idle too long, and re-arms itself.
func (c *conn) onTimer() {
	now := monotime()
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	ping, why, next := c.live.check(c.opt, now, time.Duration(c.lastRx.Load()), c.msgsIn.Load())
	if ping {
		c.controlLocked(c, nil, false)
	}
	if why == "" && next != 0 {
		c.timer.Reset(next - now)
	}
	c.mu.Unlock()
	if why != "" {
		c.log.Info("closing connection", "reason", why)
		c.shut(c, ws.StatusGoingAway, why)
	}
}

// monotime is the goroutine engine's clock for liveness.
func monotime() time.Duration { return time.Since(clockEpoch) }

var clockEpoch = time.Now()

// buffer is a pooled write buffer.
type buffer struct{ b []byte }

// maxPooledBuffer keeps buffers grown for large messages out of the pool.
const maxPooledBuffer = 256 << 10

var bufferPool = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 4<<10)} }}

func getBuffer() *buffer { return bufferPool.Get().(*buffer) }

func putBuffer(b *buffer) {
	if cap(b.b) > maxPooledBuffer {
		return
	}
	b.b = b.b[:0]
	bufferPool.Put(b)
}
