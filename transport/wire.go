package transport

import (
	"errors"
	"log/slog"
	"runtime/debug"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// wire is a connection's WAMP side once its transport handshake is done,
// the same for both engines: it frames what the router sends (WebSocket
// text or binary messages, or RawSocket), with pings, pongs and the close
// frame, onto the connection's output, and takes the frames the client
// sends (through input) to the session. Both conn (goroutine mode) and
// econn (the epoll engine) embed one; what differs between them, where the
// output lives and how it is written, how bytes are read, and the timers,
// is behind link.
type wire struct {
	srv     *Server
	remote  string
	session *router.Session // set when attached, fixed after

	in input
	ci closeInfo // under the link's lock

	// Set by the handshake, fixed after (Send reads them once attached).
	maxOut int32    // largest message payload sent
	proto  protocol // RawSocket or WebSocket
	format wamp.Format
	msgOp  ws.OpCode // WebSocket: the frame type of messages

	gotMessage bool // the reader's only: a message was delivered
}

// link is what a wire needs of the engine that serves its connection.
//
// It is also the connection's one output seam: every byte a connection
// sends after its transport handshake (messages, pings, pongs, the close
// frame, and on the epoll engine the handshake's answer too) is appended,
// as plaintext, to the slice outputLocked returns and then handed on by
// commitLocked, under the link's lock; nothing else writes to a connection.
// The epoll engine's TLS record layer (tls_linux.go) therefore sits in one
// place: its commitLocked seals the plaintext appended since from into
// records (and queuedLocked counts the sealed bytes), its closeLocked adds
// close_notify. Received bytes have one entry point too: econn.Data for
// the epoll engine, which opens the records and passes the plaintext on
// to econn.readPlain; goroutine mode reads through crypto/tls's net.Conn.
// After the handshake all input goes through wire.frames.
type link interface {
	lock()
	unlock()
	// openLocked reports whether the connection still takes output: no
	// close has started.
	openLocked() bool
	// queuedLocked returns the bytes queued and not yet written.
	queuedLocked() int
	// outputLocked returns the connection's output, to append plaintext
	// to. The bytes in it must not be changed.
	outputLocked() *[]byte
	// commitLocked hands the bytes appended to the output from offset from
	// on to the writer. It is called after every outputLocked, also when
	// nothing was appended.
	commitLocked(from int)
	// closeLocked starts the engine's close once the close frame is
	// queued: the writer flushes the output, half-closes and closes,
	// within the close grace; from now on isClosing reports true.
	closeLocked()
	// isClosing reports whether the close has started (or the connection
	// was aborted): deliver nothing more. It is atomic, for the reader.
	isClosing() bool
	// delivering notes a message about to be handed to the session (for
	// the idle timeout) and reports whether the session is still being
	// established (the hello deadline runs).
	delivering() (joining bool)
	// established stops the hello deadline: WELCOME was sent.
	established()
	// logger returns the connection's logger.
	logger() *slog.Logger
}

// startRawSocket sets the framing and limits once a RawSocket handshake
// with client succeeded.
func (w *wire) startRawSocket(client rawsocket.Handshake, o *options) {
	w.proto, w.format = protoRawSocket, client.Serializer
	w.maxOut = int32(min(client.MaxLength, o.maxMessage))
	w.in.start(o.rawMaxIn, 0, false, o)
}

// startWebSocket sets the framing and limits once a WebSocket upgrade
// succeeded: its codec, and permessage-deflate if it was negotiated
// (counted: ServerStats.DeflateConns).
func (w *wire) startWebSocket(up websocket.Upgraded, o *options) {
	w.remote = clientAddr(w.remote, up.ForwardedFor, w.srv.TrustedProxies)
	w.proto, w.format = protoWebSocket, up.Codec.Format()
	w.maxOut = int32(o.maxMessage)
	w.msgOp = ws.OpText
	if up.Codec.Binary() {
		w.msgOp = ws.OpBinary
	}
	if up.Deflate {
		w.srv.stats.deflateConns.Add(1)
	}
	w.in.start(o.maxMessage, w.msgOp, up.Deflate, o)
}

// codec returns the connection's codec.
func (w *wire) codec() codec.Codec { return codec.ByFormat(w.format) }

// frames handles the frames at the start of b, plaintext the client sent
// after the transport handshake: messages go to the session, pings are
// answered. It returns the bytes it took and, when b ends in an incomplete
// frame, the length the rest must reach (need). When the client sent its
// close frame (closed: its code is echoed and the close has started) or a
// frame that fails the connection (v), the connection reads no more: the
// caller discards what else the client sends.
func (w *wire) frames(l link, b []byte) (used, need int, closed bool, v *violation) {
	for used < len(b) {
		f, n, need, v := w.in.next(w.srv, w.proto, b[used:], int(w.maxOut), (*inflating)(w))
		if v != nil {
			w.fail(l, v.code, v.reason)
			return used, 0, false, v
		}
		if n == 0 {
			return used, need, false, nil
		}
		used += n
		switch f.kind {
		case frameMessage:
			w.deliver(l, f.payload)
			if f.inflated {
				w.in.delivered(w.srv)
			}
		case framePing:
			w.pong(l, f.payload)
		case frameClose:
			// Echo the client's code (unless ours is set), write what is
			// queued, and close.
			l.lock()
			w.ci.set(f.code, "")
			l.unlock()
			w.shut(l, f.code, "")
			return used, 0, true, nil
		}
	}
	w.in.idle() // every frame read is handled
	return used, 0, false, nil
}

// deliver decodes one message and hands it to the session. A panic in
// the decoder or the router costs this connection (close 1011), not the
// process: on the epoll engine this runs on an event loop, which nothing
// above recovers.
func (w *wire) deliver(l link, p []byte) {
	if l.isClosing() {
		return
	}
	var m wamp.Message
	defer func() {
		if r := recover(); r != nil {
			what := "decoding"
			if m != nil {
				what = m.Type().String()
			}
			l.logger().Error("panic while handling a message", "message", what, "panic", r, "stack", string(debug.Stack()))
			w.shut(l, ws.StatusInternalServerError, "internal error")
		}
	}()
	m, err := w.codec().Decode(p)
	// A request whose options or payload are not valid costs an ERROR,
	// not the connection (router.Session.ReceiveInvalid).
	invalid, _ := errors.AsType[*codec.RequestError](err)
	if err != nil && invalid == nil {
		w.fail(l, 0, "cannot decode message: "+err.Error())
		return
	}
	if invalid != nil {
		m = invalid.Message
	}
	w.gotMessage = true
	joining := l.delivering()
	if joining {
		w.in.join.received()
	}
	if invalid != nil {
		w.session.ReceiveInvalid(invalid)
	} else {
		w.session.Receive(m)
	}
	if joining && w.in.join.welcomed() {
		l.established()
	}
}

// fail ends the session for a violation the transport found: the session
// is told (ABORT wamp.error.protocol_violation) and the connection closes,
// with WebSocket close code code (0: chosen from the ABORT).
func (w *wire) fail(l link, code ws.StatusCode, reason string) {
	w.failWith(l, code, reason, w.session.Fail)
}

// failWith closes the connection with code and reason once end has told
// the session why (Session.Fail for a protocol violation,
// Session.DropSlowConsumer for a client that does not read).
func (w *wire) failWith(l link, code ws.StatusCode, reason string, end func(reason string)) {
	l.lock()
	open := l.openLocked()
	if open && code != 0 {
		w.ci.set(code, reason)
	}
	l.unlock()
	if !open {
		return
	}
	l.logger().Debug("connection failed", "reason", reason)
	end(reason)
	w.shut(l, code, reason)
}

// appendMessage appends m, framed, to out, behind queued bytes not yet
// written, if admit lets it (see "Outbound queue" in the package
// documentation). Each engine's Send calls it between its own outputLocked
// and commitLocked, without going through link: Send is the hot path, and
// the engines' methods called directly are inlined.
func (w *wire) appendMessage(out *[]byte, m wamp.Message, queued int) error {
	if w.ci.last {
		return router.ErrClosed // nothing after GOODBYE or ABORT (closeInfo.last)
	}
	if sh, ok := m.(*wamp.Shared); ok {
		if p := sh.Encoded(w.format); p != nil {
			return w.appendEncoded(out, sh, p, queued)
		}
	}
	b, start := *out, len(*out)
	b, err := w.encodeFrame(b, m, queued)
	w.ci.lastQueueErr = err == router.ErrQueueFull
	if err != nil {
		*out = b[:start]
		return err
	}
	*out = b
	w.ci.sent(m)
	w.in.join.sent(w.srv, m.Type())
	return nil
}

// appendEncoded appends p, a message already encoded for this connection:
// a fanned-out EVENT (the only message the router shares) after the first
// subscriber in this format. Its length is known, so its header goes first
// and the payload is copied once; an EVENT is never exempt from the queue
// limit and is nothing closeInfo or joinState need to know of.
func (w *wire) appendEncoded(out *[]byte, sh *wamp.Shared, p []byte, queued int) error {
	err := admit(wamp.TypeEvent, len(p), len(p)+websocket.MaxServerHeaderSize, queued, int(w.maxOut), w.srv.opt.queue)
	w.ci.lastQueueErr = err == router.ErrQueueFull
	if err != nil {
		return err
	}
	if w.proto == protoRawSocket {
		*out = rawsocket.AppendHeader(*out, rawsocket.TypeMessage, len(p))
		*out = append(*out, p...)
		return nil
	}
	*out = websocket.AppendHeader(*out, ws.Header{Fin: true, OpCode: w.msgOp, Length: int64(len(p))})
	*out = append(*out, p...)
	return nil
}

// encodeFrame encodes m into a message frame appended to b, if admit lets
// it once its size is known. On error, b may hold a part of the frame.
func (w *wire) encodeFrame(b []byte, m wamp.Message, queued int) ([]byte, error) {
	var start int
	if w.proto == protoRawSocket {
		b, start = rawsocket.BeginFrame(b)
	} else {
		b, start = websocket.BeginFrame(b)
	}
	b, err := w.codec().Encode(b, m)
	if err != nil {
		return b, err
	}
	var n int
	if w.proto == protoRawSocket {
		n = rawsocket.PayloadLen(b, start)
	} else {
		n = websocket.PayloadLen(b, start)
	}
	if err := admit(m.Type(), n, len(b)-start, queued, int(w.maxOut), w.srv.opt.queue); err != nil {
		return b, err
	}
	if w.proto == protoRawSocket {
		return rawsocket.EndFrame(b, start, rawsocket.TypeMessage), nil
	}
	return websocket.EndFrame(b, start, w.msgOp), nil
}

// sendDeflated is Send for a connection that negotiated
// permessage-deflate: m is encoded and compressed before the lock is
// taken, and framed under it (see "Sending to a connection that
// negotiated permessage-deflate" in outbound.go).
func (w *wire) sendDeflated(l link, m wamp.Message) error {
	var d deflated
	d.prepare(w, m)
	err := router.ErrClosed
	l.lock()
	if l.openLocked() {
		queued, out := l.queuedLocked(), l.outputLocked()
		from := len(*out)
		err = w.appendDeflated(out, m, &d, queued)
		l.commitLocked(from)
	}
	l.unlock()
	d.release()
	return err
}

// appendDeflated appends d, the message m prepared, framed, to out, if
// admit lets it: its bounds are judged on the uncompressed size, which is
// never less.
func (w *wire) appendDeflated(out *[]byte, m wamp.Message, d *deflated, queued int) error {
	if w.ci.last {
		return router.ErrClosed // nothing after GOODBYE or ABORT (closeInfo.last)
	}
	err := d.err
	if err == nil {
		err = admit(m.Type(), d.n, d.n+websocket.MaxServerHeaderSize, queued, int(w.maxOut), w.srv.opt.queue)
	}
	w.ci.lastQueueErr = err == router.ErrQueueFull
	if err != nil {
		return err
	}
	h := ws.Header{Fin: true, OpCode: w.msgOp, Length: int64(len(d.p))}
	if d.rsv1 {
		h.Rsv = ws.Rsv(true, false, false)
	}
	*out = websocket.AppendHeader(*out, h)
	*out = append(*out, d.p...)
	w.ci.sent(m)
	w.in.join.sent(w.srv, m.Type())
	return nil
}

// pong answers a ping with a pong carrying its payload. When the pong does
// not fit (see controlFits), the client is not reading: it is dropped as a
// slow consumer, told why and counted.
func (w *wire) pong(l link, payload []byte) {
	l.lock()
	ok := w.controlLocked(l, payload, true)
	l.unlock()
	if !ok {
		w.failWith(l, ws.StatusPolicyViolation, pongFlood(w.srv.opt.queue), w.session.DropSlowConsumer)
	}
}

// controlLocked queues a pong (or our ping). It reports false when the
// frame does not fit; a ping that does not fit is left out.
func (w *wire) controlLocked(l link, payload []byte, pong bool) bool {
	if !l.openLocked() {
		return true
	}
	if !pong {
		payload = pingPayload
	}
	if !controlFits(l.queuedLocked(), rawsocket.HeaderSize+len(payload), w.srv.opt.queue) {
		return false
	}
	out := l.outputLocked()
	from := len(*out)
	switch {
	case w.proto == protoRawSocket && pong:
		*out = rawsocket.AppendFrame(*out, rawsocket.TypePong, payload)
	case w.proto == protoRawSocket:
		*out = rawsocket.AppendFrame(*out, rawsocket.TypePing, payload)
	case pong:
		*out = websocket.AppendControl(*out, ws.OpPong, payload)
	default:
		*out = websocket.AppendControl(*out, ws.OpPing, payload)
	}
	l.commitLocked(from)
	return true
}

// shut starts closing: Send refuses from now on; what is queued is
// written, then the WebSocket close frame, and the connection is
// half-closed and closed when the client closes its side, each step
// within the close grace. The first close code set wins; code 0 lets it
// follow from what the router said last.
func (w *wire) shut(l link, code ws.StatusCode, reason string) {
	l.lock()
	defer l.unlock()
	if !l.openLocked() {
		return
	}
	w.ci.choose(code, reason)
	if w.proto == protoWebSocket {
		out := l.outputLocked()
		from := len(*out)
		*out = websocket.AppendClose(*out, w.ci.code, w.ci.reason)
		l.commitLocked(from)
	}
	l.closeLocked()
}
