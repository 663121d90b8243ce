package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
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
	srv    *Server
	opt    *options
	raw    net.Conn // as accepted, closed by abort
	nc     net.Conn // raw or its TLS layer
	remote string
	log    *slog.Logger

	// Set by the handshake, fixed after.
	proto   protocol
	codec   codec.Codec
	msgOp   ws.OpCode // WebSocket: the frame type of messages
	maxOut  int       // largest message payload sent
	session *router.Session

	// Reader goroutine only.
	rb           readBuffer
	in           input
	helloPending bool // the read deadline is the hello deadline
	helloWaited  bool // see joinState.helloCheck
	gotMessage   bool
	tlsState     *tls.ConnectionState     // after the TLS handshake; nil without TLS
	cookie       websocket.UpgradedCookie // the WebSocket authentication cookie, if any

	isAttached atomic.Bool
	closing    atomic.Bool   // state != stateOpen, for the reader's fast path
	inflight   atomic.Int64  // bytes being written by the writer
	lastRx     atomic.Int64  // monotime of the last read that brought bytes: liveness for pings
	msgsIn     atomic.Uint64 // messages received: activity for the idle timeout

	wake       chan struct{} // to the writer: something to do (capacity 1)
	readerDone chan struct{}
	writerDone chan struct{}

	mu        sync.Mutex
	state     connState
	pending   *buffer // bytes queued, nil when none
	spare     *buffer // the buffer last written, kept while the connection is busy
	lingering bool    // the read deadline is the close grace; leave it
	ci        closeInfo
	// Keep-alive and idle timer (nil when neither is on), on monotime.
	timer *time.Timer
	live  liveness
}

func newConn(s *Server, nc net.Conn) *conn {
	remote := nc.RemoteAddr().String()
	if remote == "" || remote == "@" {
		remote = "unix:" + nc.LocalAddr().String()
	}
	return &conn{
		srv:        s,
		opt:        &s.opt,
		raw:        nc,
		remote:     remote,
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

	c.log = c.log.With("transport", c.proto.String(), "serializer", c.codec.Format().String())
	c.session = s.Router.Attach(c, router.TransportInfo{
		Kind:         c.proto.String(),
		Serializer:   c.codec.Format().String(),
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
	c.close(ws.StatusGoingAway, "")
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
		c.raw.SetDeadline(time.Now().Add(o.handshakeTimeout))
	}
	if cfg := c.srv.TLSConfig; cfg != nil {
		tc := tls.Server(c.nc, cfg) // over the counting layer
		if err := tc.Handshake(); err != nil {
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
		cd, cookie, err := o.upgrader.UpgradeCookie(struct {
			io.Reader
			io.Writer
		}{c.rb.reader(c.nc), c.nc})
		if err != nil {
			return fmt.Errorf("websocket handshake from %s: %w", c.remote, err)
		}
		c.proto, c.codec, c.cookie = protoWebSocket, cd, cookie
		c.maxOut = o.maxMessage
		c.msgOp = ws.OpText
		if cd.Binary() {
			c.msgOp = ws.OpBinary
		}
		c.in.start(o.maxMessage, c.msgOp, o)
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
	c.proto = protoRawSocket
	c.codec = codec.ByFormat(client.Serializer)
	c.in.start(c.opt.rawMaxIn, 0, c.opt)
	c.maxOut = min(client.MaxLength, c.opt.maxMessage)
	return nil
}

// read reads frames until the connection ends or the client's close
// frame.
func (c *conn) read() error {
	for {
		f, n, need, v := c.in.next(c.srv, c.proto, c.rb.unread())
		if v != nil {
			c.fail(v.code, v.reason)
			c.drain()
			return fmt.Errorf("protocol violation: %s", v.reason)
		}
		if n == 0 {
			if err := c.fill(need); err != nil {
				return err
			}
			continue
		}
		switch f.kind {
		case frameMessage:
			c.deliver(f.payload)
		case framePing:
			c.queueControl(f.payload)
		case frameClose:
			c.mu.Lock()
			c.ci.set(f.code, "")
			c.mu.Unlock()
			c.close(f.code, "")
			c.rb.consume(n)
			return nil
		}
		c.rb.consume(n)
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
		c.fail(ws.StatusPolicyViolation, helloFailure(c.opt, c.gotMessage))
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

// deliver decodes one message and hands it to the session.
func (c *conn) deliver(p []byte) {
	if c.closing.Load() {
		return
	}
	m, err := c.codec.Decode(p)
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
	c.msgsIn.Add(1)
	if c.helloPending {
		c.in.join.received()
	}
	c.receive(m, invalid)
	if c.helloPending && c.in.join.welcomed() {
		c.helloPending = false
		c.setReadDeadline(time.Time{})
	}
}

// receive passes m to the session, or invalid, the request m that did
// not decode in full; a panic in the router costs this connection (close
// 1011), not the process.
func (c *conn) receive(m wamp.Message, invalid *codec.RequestError) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("panic while handling a message", "message", m.Type().String(), "panic", p, "stack", string(debug.Stack()))
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
func (c *conn) fail(code ws.StatusCode, reason string) {
	c.failWith(code, reason, c.session.Fail)
}

// failWith closes the connection with code and reason once end has told
// the session why (Session.Fail for a protocol violation,
// Session.DropSlowConsumer for a client that does not read).
func (c *conn) failWith(code ws.StatusCode, reason string, end func(reason string)) {
	c.mu.Lock()
	open := c.state == stateOpen
	if open && code != 0 {
		c.ci.set(code, reason)
	}
	c.mu.Unlock()
	if !open {
		return
	}
	c.log.Debug("connection failed", "reason", reason)
	end(reason)
	c.close(code, reason)
}

// Send implements router.Peer: it frames m onto the pending bytes.
func (c *conn) Send(m wamp.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return router.ErrClosed
	}
	buf := c.pending
	if buf == nil {
		buf = c.takeBufferLocked()
	}
	var start int
	b := buf.b
	if c.proto == protoRawSocket {
		b, start = rawsocket.BeginFrame(b)
	} else {
		b, start = websocket.BeginFrame(b)
	}
	b, err := c.codec.Encode(b, m)
	if err == nil {
		var n int
		if c.proto == protoRawSocket {
			n = rawsocket.PayloadLen(b, start)
		} else {
			n = websocket.PayloadLen(b, start)
		}
		err = admit(m.Type(), n, len(b)-start, start+int(c.inflight.Load()), c.maxOut, c.opt.queue)
	}
	c.ci.lastQueueErr = err == router.ErrQueueFull
	if err != nil {
		buf.b = b[:start]
		if c.pending == nil {
			c.spare = buf
		}
		return err
	}
	if c.proto == protoRawSocket {
		buf.b = rawsocket.EndFrame(b, start, rawsocket.TypeMessage)
	} else {
		buf.b = websocket.EndFrame(b, start, c.msgOp)
	}
	c.ci.sent(m)
	c.in.join.sent(m.Type())
	if c.pending == nil {
		c.pending = buf
		c.signal()
	}
	return nil
}

// queueControl answers a ping with a pong carrying its payload. When the
// pong does not fit (see controlFits), the client is not reading: it is
// dropped as a slow consumer, told why and counted.
func (c *conn) queueControl(payload []byte) {
	c.mu.Lock()
	ok := c.appendControlLocked(payload, true)
	c.mu.Unlock()
	if !ok {
		c.failWith(ws.StatusPolicyViolation, pongFlood(c.opt.queue), c.session.DropSlowConsumer)
	}
}

// appendControlLocked queues a pong (or our ping). It reports false when
// the frame does not fit; a ping that does not fit is left out.
func (c *conn) appendControlLocked(payload []byte, pong bool) bool {
	if c.state != stateOpen {
		return true
	}
	queued := int(c.inflight.Load())
	if c.pending != nil {
		queued += len(c.pending.b)
	}
	if !pong {
		payload = pingPayload
	}
	if !controlFits(queued, rawsocket.HeaderSize+len(payload), c.opt.queue) {
		return false
	}
	buf := c.pending
	if buf == nil {
		buf = c.takeBufferLocked()
	}
	switch {
	case c.proto == protoRawSocket && pong:
		buf.b = rawsocket.AppendFrame(buf.b, rawsocket.TypePong, payload)
	case c.proto == protoRawSocket:
		buf.b = rawsocket.AppendFrame(buf.b, rawsocket.TypePing, payload)
	case pong:
		buf.b = websocket.AppendControl(buf.b, ws.OpPong, payload)
	default:
		buf.b = websocket.AppendControl(buf.b, ws.OpPing, payload)
	}
	if c.pending == nil {
		c.pending = buf
		c.signal()
	}
	return true
}

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
func (c *conn) Close() { c.close(0, "") }

// goAway closes the connection because the server is going away.
func (c *conn) goAway() { c.close(ws.StatusGoingAway, "server shutting down") }

// close starts closing: Send refuses from now on, and the writer flushes
// what is queued, sends the WebSocket close frame and closes the socket,
// all within the close grace. The first close code set wins; code 0 lets
// the close code follow from what the router said last.
func (c *conn) close(code ws.StatusCode, reason string) {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	c.state = stateClosing
	c.closing.Store(true)
	c.ci.choose(code, reason)
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	c.signal()
}

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
		if state == stateClosing && c.proto == protoWebSocket {
			if out == nil {
				out = getBuffer()
			}
			out.b = websocket.AppendClose(out.b, c.ci.code, c.ci.reason)
		}
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
		c.appendControlLocked(nil, false)
	}
	if why == "" && next != 0 {
		c.timer.Reset(next - now)
	}
	c.mu.Unlock()
	if why != "" {
		c.log.Info("closing connection", "reason", why)
		c.close(ws.StatusGoingAway, why)
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
