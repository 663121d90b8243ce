package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// closeGrace bounds the time spent flushing what is queued (a GOODBYE echo,
// a last YIELD) once a connection has ended.
const closeGrace = time.Second

// Buffer sizes the writer keeps between bursts; larger buffers are dropped
// so that an idle session holds little memory.
const (
	keepBusy = 256 << 10
	keepIdle = 4 << 10
)

// wire is one connection of a Session and the WAMP session joined over it.
// A Session that reconnects has a new wire for each connection; everything
// whose ids the router assigned per session (requests in flight,
// subscription and registration ids, invocations) lives here.
type wire struct {
	s          *Session
	conn       net.Conn
	fr         framer
	kind       string
	maxOut     int // largest message the router accepts; 0 when it does not say
	maxPending int
	log        *slog.Logger

	// Set by join, before the reader runs; never changed after.
	id       wamp.ID
	details  wamp.Dict
	features routerFeatures

	reqIDs wamp.Sequence // session scope: this client's requests

	ctx       context.Context // canceled when the connection ends
	cancel    context.CancelFunc
	done      chan struct{}
	ended     atomic.Bool
	closing   atomic.Bool // we said GOODBYE
	closeOnce sync.Once

	mu      sync.Mutex
	err     error
	pending map[wamp.ID]*request
	subs    map[wamp.ID][]*Subscription // copy on write
	regs    map[wamp.ID]*Registration
	invs    map[wamp.ID]*invocation // invocations being handled
	// answered are streamed calls answered before their last chunk.
	answered      map[wamp.ID]struct{}
	answeredOrder []wamp.ID // answered's ids, oldest first (some may have left it)

	wmu     sync.Mutex
	out     []byte // frames waiting for the writer
	spare   []byte
	writing bool          // a writer goroutine is running
	space   chan struct{} // closed when out drains; made by a sender that waits
}

// routerFeatures are the Advanced Profile features the router announced in
// WELCOME that change what the client does.
type routerFeatures struct {
	callCanceling bool
	// payload_passthru_mode of the dealer and of the broker
	dealerPassthru, brokerPassthru bool
}

// request is a request waiting for its reply, or for its replies: a call
// that receives progressive results gets several.
type request struct {
	mu    sync.Mutex
	queue []wamp.Message
	ready chan struct{} // capacity 1: signalled when queue grows
	// onReply runs on the reading goroutine before the reply is handed
	// over, so that state it sets (a subscription's handler) is in place
	// before the next message is read.
	onReply func(wamp.Message)
	// progressive keeps the request pending after a RESULT with
	// Details.progress.
	progressive bool
}

func newRequest(onReply func(wamp.Message)) *request {
	return &request{ready: make(chan struct{}, 1), onReply: onReply}
}

func (r *request) push(m wamp.Message) {
	r.mu.Lock()
	r.queue = append(r.queue, m)
	r.mu.Unlock()
	select {
	case r.ready <- struct{}{}:
	default:
	}
}

func (r *request) pop() wamp.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return nil
	}
	m := r.queue[0]
	r.queue[0] = nil
	r.queue = r.queue[1:]
	if len(r.queue) > 0 {
		select {
		case r.ready <- struct{}{}:
		default:
		}
	}
	return m
}

// newWire wraps a connected, handshaken link.
func (s *Session) newWire(l *link) *wire {
	return &wire{
		s:          s,
		conn:       l.conn,
		fr:         l.fr,
		kind:       l.kind,
		maxOut:     l.maxOut,
		maxPending: s.opts.maxPending(),
		done:       make(chan struct{}),
	}
}

// start runs the reader once the wire has joined.
func (w *wire) start() {
	w.log = w.s.log.With("session", uint64(w.id))
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.s.wg.Add(1)
	go w.readLoop()
}

// join says HELLO and reads until WELCOME, before the reader runs.
func (w *wire) join(ctx context.Context) error {
	o := &w.s.opts
	details := wamp.Dict{}
	for k, v := range o.HelloDetails {
		details[k] = v
	}
	details["roles"] = clientRoles(o.PayloadPassthru)
	details["agent"] = defaultAgent
	if o.Agent != "" {
		details["agent"] = o.Agent
	}
	if o.AuthID != "" {
		details["authid"] = o.AuthID
	}
	auth, err := o.startAuth()
	if err != nil {
		return err
	}
	if len(auth.methods) > 0 {
		m := make(wamp.List, len(auth.methods))
		for i, a := range auth.methods {
			m[i] = a
		}
		details["authmethods"] = m
	}
	if len(auth.extra) > 0 {
		extra := wamp.Dict{}
		if given, ok := details["authextra"].(wamp.Dict); ok {
			for k, v := range given {
				extra[k] = v
			}
		}
		for k, v := range auth.extra {
			extra[k] = v
		}
		details["authextra"] = extra
	}
	if err := w.writeNow(&wamp.Hello{Realm: wamp.URI(w.s.realm), Details: details}); err != nil {
		return err
	}
	ctl := func(f []byte) { w.conn.Write(f) }
	for {
		data, err := w.fr.next(ctl)
		if err != nil {
			return err
		}
		m, err := w.s.codec.Decode(data)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *wamp.Welcome:
			w.id, w.details = m.Session, m.Details
			if roles, ok := m.Details["roles"].(wamp.Dict); ok {
				if dealer, ok := roles["dealer"].(wamp.Dict); ok {
					features, _ := dealer["features"].(wamp.Dict)
					w.features.callCanceling = wamp.Bool(features, "call_canceling", false)
					w.features.dealerPassthru = wamp.Bool(features, "payload_passthru_mode", false)
				}
				if broker, ok := roles["broker"].(wamp.Dict); ok {
					features, _ := broker["features"].(wamp.Dict)
					w.features.brokerPassthru = wamp.Bool(features, "payload_passthru_mode", false)
				}
			}
			if err := auth.verify(m); err != nil {
				w.writeNow(&wamp.Abort{Reason: wamp.ErrAuthenticationFailed,
					Details: wamp.Dict{"message": err.Error()}})
				return err
			}
			return nil
		case *wamp.Abort:
			return &CloseError{Reason: m.Reason, Details: m.Details}
		case *wamp.Challenge:
			answer := auth.answer(m.AuthMethod)
			if answer == nil {
				w.writeNow(&wamp.Abort{Reason: wamp.ErrAuthenticationFailed,
					Details: wamp.Dict{"message": "the client has no credentials"}})
				return fmt.Errorf("the router asks for %s authentication and the client has no credentials", m.AuthMethod)
			}
			a, err := answer(ctx, m)
			if err != nil {
				w.writeNow(&wamp.Abort{Reason: wamp.ErrAuthenticationFailed,
					Details: wamp.Dict{"message": err.Error()}})
				return fmt.Errorf("answering the %s challenge: %w", m.AuthMethod, err)
			}
			if err := w.writeNow(a); err != nil {
				return err
			}
		default:
			return fmt.Errorf("expected WELCOME, got %s", m.Type())
		}
	}
}

// writeNow encodes and writes m directly, before the writer exists.
func (w *wire) writeNow(m wamp.Message) error {
	room := w.fr.room()
	b, err := w.s.codec.Encode(make([]byte, room, room+256), m)
	if err != nil {
		return err
	}
	_, err = w.conn.Write(b[w.fr.seal(b):])
	return err
}

// finish ends the connection once: it records why, wakes every waiter and
// closes the connection after what is queued has been written. It reports
// whether this call ended it.
func (w *wire) finish(err error) bool {
	w.mu.Lock()
	if w.ended.Load() {
		w.mu.Unlock()
		return false
	}
	w.ended.Store(true)
	w.err = err
	w.mu.Unlock()
	close(w.done)
	if w.cancel != nil {
		w.cancel()
	}

	w.wmu.Lock()
	writing := w.writing
	w.wake()
	w.wmu.Unlock()
	if writing {
		// The writer closes the connection when it has flushed.
		w.conn.SetWriteDeadline(time.Now().Add(closeGrace))
		w.conn.SetReadDeadline(aLongTimeAgo)
	} else {
		w.closeConn()
	}
	if err == ErrClosed {
		w.log.Debug("session closed")
	} else {
		w.log.Info("session ended", "err", err)
	}
	return true
}

func (w *wire) closeConn() {
	w.closeOnce.Do(func() {
		if f := w.fr.closeFrame(); f != nil {
			w.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			w.conn.Write(f)
		}
		w.conn.Close()
	})
}

// Err says why the connection ended (nil while it is open).
func (w *wire) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// sendMode says how a message is queued.
type sendMode uint8

const (
	normal sendMode = iota
	// urgent messages are queued beyond MaxPendingBytes and after GOODBYE:
	// the GOODBYE itself and what the reading goroutine sends, which must
	// never wait for the connection to drain.
	urgent
)

var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// send encodes m and queues it for the writer.
func (w *wire) send(ctx context.Context, m wamp.Message, mode sendMode) error {
	if mode == normal && w.closing.Load() {
		return ErrClosed
	}
	bp := scratch.Get().(*[]byte)
	room := w.fr.room()
	b, err := w.s.codec.Encode((*bp)[:room], m)
	if err != nil {
		scratch.Put(bp)
		return err
	}
	if w.maxOut > 0 && len(b)-room > w.maxOut {
		scratch.Put(bp)
		return fmt.Errorf("%s of %d bytes: %w (%d bytes)", m.Type(), len(b)-room, ErrTooLarge, w.maxOut)
	}
	err = w.enqueue(ctx, b[w.fr.seal(b):], mode)
	if cap(b) <= 64<<10 {
		*bp = b
		scratch.Put(bp)
	}
	return err
}

// control queues a transport control frame (a pong, a close echo).
func (w *wire) control(frame []byte) { w.enqueue(context.Background(), frame, urgent) }

func (w *wire) enqueue(ctx context.Context, frame []byte, mode sendMode) error {
	w.wmu.Lock()
	for mode == normal && len(w.out) >= w.maxPending && !w.ended.Load() {
		if w.space == nil {
			w.space = make(chan struct{})
		}
		space := w.space
		w.wmu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.wmu.Lock()
	}
	if w.ended.Load() {
		w.wmu.Unlock()
		return w.endedErr()
	}
	w.out = append(w.out, frame...)
	if !w.writing {
		w.writing = true
		w.s.wg.Add(1)
		go w.writeLoop()
	}
	w.wmu.Unlock()
	return nil
}

// wake lets senders waiting for space try again; wmu is held.
func (w *wire) wake() {
	if w.space != nil {
		close(w.space)
		w.space = nil
	}
}

// writeLoop writes everything queued, each batch in one write, and ends
// when the queue is empty.
func (w *wire) writeLoop() {
	defer w.s.wg.Done()
	var written []byte
	for {
		w.wmu.Lock()
		if written != nil && cap(written) <= keepBusy {
			w.spare = written[:0]
		}
		if len(w.out) == 0 {
			w.writing = false
			w.wake()
			if cap(w.out) > keepIdle {
				w.out = nil
			}
			if cap(w.spare) > keepIdle {
				w.spare = nil
			}
			ended := w.ended.Load()
			w.wmu.Unlock()
			if ended {
				w.closeConn()
			}
			return
		}
		buf := w.out
		w.out, w.spare = w.spare, nil
		w.wake()
		w.wmu.Unlock()

		if _, err := w.conn.Write(buf); err != nil {
			w.wmu.Lock()
			w.out, w.writing = nil, false
			w.wake()
			w.wmu.Unlock()
			w.finish(fmt.Errorf("writing to %s: %w", w.s.url, err))
			w.closeConn()
			return
		}
		written = buf
	}
}

// endedErr is what a request on an ended connection fails with: the
// session's end when the session is over, ErrConnectionLost with the cause
// when it reconnects.
func (w *wire) endedErr() error {
	if w.s.ended.Load() {
		return w.s.endedErr()
	}
	return lostErr(w.Err())
}

// lostErr is the error of the requests in flight on a connection that
// ended with err: ErrClosed when it was closed, else err wrapping
// ErrConnectionLost.
func lostErr(err error) error {
	if err == nil || err == ErrClosed {
		return ErrClosed
	}
	if errors.Is(err, ErrConnectionLost) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrConnectionLost, err)
}

// request sends m (whose request id is id) and waits for the reply.
func (w *wire) request(ctx context.Context, id wamp.ID, m wamp.Message, onReply func(wamp.Message)) (wamp.Message, error) {
	req := newRequest(onReply)
	if err := w.begin(ctx, id, m, req); err != nil {
		return nil, err
	}
	return w.await(ctx, id, req)
}

// begin registers req as waiting for the replies to request id and sends m.
func (w *wire) begin(ctx context.Context, id wamp.ID, m wamp.Message, req *request) error {
	w.mu.Lock()
	if w.ended.Load() {
		w.mu.Unlock()
		return w.endedErr()
	}
	if w.pending == nil {
		w.pending = make(map[wamp.ID]*request)
	}
	w.pending[id] = req
	w.mu.Unlock()
	if err := w.send(ctx, m, normal); err != nil {
		w.forget(id)
		return err
	}
	return nil
}

// await returns the next reply to request id: when ctx ends first it gives
// the request up and returns ctx's error, when the connection ends first its
// error.
func (w *wire) await(ctx context.Context, id wamp.ID, req *request) (wamp.Message, error) {
	for {
		if m := req.pop(); m != nil {
			return m, nil
		}
		select {
		case <-req.ready:
		case <-ctx.Done():
			if !w.forget(id) {
				// The reader has taken the final reply and is handing it over.
				return w.last(req), nil
			}
			return nil, ctx.Err()
		case <-w.done:
			if m := req.pop(); m != nil {
				return m, nil
			}
			if w.forget(id) {
				return nil, w.endedErr()
			}
			return w.last(req), nil
		}
	}
}

// last waits for the reply the reader has taken from pending.
func (w *wire) last(req *request) wamp.Message {
	for {
		if m := req.pop(); m != nil {
			return m
		}
		<-req.ready
	}
}

// forget drops a pending request and reports whether it was still there.
func (w *wire) forget(id wamp.ID) bool {
	w.mu.Lock()
	_, ok := w.pending[id]
	delete(w.pending, id)
	w.mu.Unlock()
	return ok
}

// reply hands m to the request it answers; false when none waits.
func (w *wire) reply(id wamp.ID, m wamp.Message) bool {
	w.mu.Lock()
	req := w.pending[id]
	if req != nil && !(req.progressive && isProgress(m)) {
		delete(w.pending, id)
	}
	w.mu.Unlock()
	if req == nil {
		return false
	}
	if req.onReply != nil {
		req.onReply(m)
	}
	req.push(m)
	return true
}

// replyOrDrop hands m to its request, or drops it when the request is no
// longer waited for: a call canceled or given up, whose bookkeeping went
// when its context ended (in kill mode the router's ERROR comes once the
// callee has answered the INTERRUPT).
func (w *wire) replyOrDrop(id wamp.ID, m wamp.Message) {
	if !w.reply(id, m) {
		w.log.Debug(lateReply, "type", m.Type().String(), "request", uint64(id))
	}
}

const lateReply = "dropping the answer to a request no longer waited for"

// isProgress reports a progressive RESULT.
func isProgress(m wamp.Message) bool {
	r, ok := m.(*wamp.Result)
	return ok && wamp.Bool(r.Details, "progress", false)
}

// readLoop reads and dispatches messages until the connection ends, then
// tells the session, which ends or reconnects on this goroutine: so every
// reply the reader handed over is in place before a reconnect restores the
// session's subscriptions and registrations.
func (w *wire) readLoop() {
	defer w.s.wg.Done()
	for {
		data, err := w.fr.next(w.control)
		if err != nil {
			if !w.ended.Load() {
				var wsc errWSClosed
				if !errors.As(err, &wsc) && !isClosedConn(err) {
					err = fmt.Errorf("reading: %w", err)
				}
				w.finish(fmt.Errorf("connection to %s lost: %w", w.s.url, err))
			}
			break
		}
		m, err := w.s.codec.Decode(data)
		if err != nil {
			w.violation(fmt.Sprintf("a message from the router does not decode: %v", err))
			break
		}
		if !w.dispatch(m) {
			break
		}
	}
	w.s.lost(w, w.Err())
}

// violation aborts the session for a protocol error of the router's.
func (w *wire) violation(reason string) {
	w.send(context.Background(), &wamp.Abort{Reason: wamp.ErrProtocolViolation,
		Details: wamp.Dict{"message": reason}}, urgent)
	w.finish(fmt.Errorf("protocol violation by the router: %s", reason))
}

// dispatch handles one message on the reading goroutine; false ends the
// reading.
func (w *wire) dispatch(m wamp.Message) bool {
	switch m := m.(type) {
	case *wamp.Event:
		w.event(m)
	case *wamp.Invocation:
		w.invocation(m)
	case *wamp.Interrupt:
		w.interrupt(m)
	case *wamp.Result:
		w.replyOrDrop(m.Request, m)
	case *wamp.Error:
		w.replyOrDrop(m.Request, m)
	case *wamp.Published:
		w.replyOrDrop(m.Request, m)
	case *wamp.Subscribed:
		if !w.reply(m.Request, m) {
			w.abandoned(m.Subscription, 0)
		}
	case *wamp.Registered:
		if !w.reply(m.Request, m) {
			w.abandoned(0, m.Registration)
		}
	case *wamp.Unsubscribed:
		if m.Request == 0 {
			w.revokeSubscription(m.Details)
		} else {
			w.reply(m.Request, m)
		}
	case *wamp.Unregistered:
		if m.Request == 0 {
			w.revokeRegistration(m.Details)
		} else {
			w.reply(m.Request, m)
		}
	case *wamp.Goodbye:
		if !w.closing.Load() {
			w.send(context.Background(), &wamp.Goodbye{Reason: wamp.CloseGoodbyeAndOut}, urgent)
			w.finish(&CloseError{Goodbye: true, Reason: m.Reason, Details: m.Details})
		} else {
			w.finish(ErrClosed)
		}
		return false
	case *wamp.Abort:
		w.finish(&CloseError{Reason: m.Reason, Details: m.Details})
		return false
	default:
		w.violation(fmt.Sprintf("a router does not send %s to an established session", m.Type()))
		return false
	}
	return true
}

// abandoned undoes a subscription or registration whose request was given
// up (its context ended) before the router answered.
func (w *wire) abandoned(sub, reg wamp.ID) {
	w.mu.Lock()
	_, haveSub := w.subs[sub]
	_, haveReg := w.regs[reg]
	w.mu.Unlock()
	id := w.reqIDs.Next()
	switch {
	case sub != 0 && !haveSub:
		w.send(context.Background(), &wamp.Unsubscribe{Request: id, Subscription: sub}, urgent)
	case reg != 0 && !haveReg:
		w.send(context.Background(), &wamp.Unregister{Request: id, Registration: reg}, urgent)
	}
}

// wampError turns an ERROR into an *Error, decoding its payload.
func wampError(m *wamp.Error) *Error {
	e := &Error{URI: m.Error, Details: m.Details}
	args, kwargs, err := codec.DecodePayload(&m.Payload)
	if err != nil {
		e.Args = wamp.List{fmt.Sprintf("(arguments do not decode: %v)", err)}
		return e
	}
	e.Args, e.Kwargs = args, kwargs
	return e
}

// errorMessage is the ERROR that answers request req of type t with err.
func errorMessage(t wamp.MessageType, req wamp.ID, err error) *wamp.Error {
	var we *Error
	if errors.As(err, &we) {
		return &wamp.Error{RequestType: t, Request: req, Details: we.Details, Error: we.URI,
			Payload: wamp.Payload{Args: we.Args, Kwargs: we.Kwargs}}
	}
	uri := errRuntime
	if errors.Is(err, context.Canceled) {
		uri = wamp.ErrCanceled
	}
	return &wamp.Error{RequestType: t, Request: req, Error: uri, Payload: wamp.Payload{Args: wamp.List{err.Error()}}}
}
