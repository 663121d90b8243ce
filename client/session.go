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
// a last YIELD) once a session has ended.
const closeGrace = time.Second

// Buffer sizes the writer keeps between bursts; larger buffers are dropped
// so that an idle session holds little memory.
const (
	keepBusy = 256 << 10
	keepIdle = 4 << 10
)

// Session is a WAMP session joined to a realm. Its methods are safe for
// concurrent use.
type Session struct {
	url        string
	realm      string
	kind       string
	conn       net.Conn
	fr         framer
	codec      codec.Codec
	log        *slog.Logger
	id         wamp.ID
	details    wamp.Dict
	maxOut     int
	maxPending int
	canCancel  bool // the router's dealer announced call_canceling

	reqIDs wamp.Sequence // session scope: this client's requests

	ctx       context.Context // canceled when the session ends
	cancel    context.CancelFunc
	done      chan struct{}
	wg        sync.WaitGroup // the reader, the writer, handler goroutines
	ended     atomic.Bool
	closing   atomic.Bool // we said GOODBYE
	closeOnce sync.Once

	mu      sync.Mutex
	err     error
	pending map[wamp.ID]*request
	subs    map[wamp.ID][]*Subscription // copy on write
	regs    map[wamp.ID]*Registration
	invs    map[wamp.ID]context.CancelFunc // invocations being handled

	wmu     sync.Mutex
	out     []byte // frames waiting for the writer
	spare   []byte
	writing bool          // a writer goroutine is running
	space   chan struct{} // closed when out drains; made by a sender that waits
}

// request is a request waiting for its reply.
type request struct {
	ch chan wamp.Message // buffered: the reader never waits
	// onReply runs on the reading goroutine before the reply is handed
	// over, so that state it sets (a subscription's handler) is in place
	// before the next message is read.
	onReply func(wamp.Message)
}

// Dial connects to the router at url, joins realm and returns the session.
// ctx bounds the connect and the opening handshake only.
func Dial(ctx context.Context, url, realm string, opts *Options) (*Session, error) {
	if opts == nil {
		opts = &Options{}
	}
	f := opts.Serializer
	if f == wamp.FormatNone {
		f = wamp.FormatJSON
	}
	c := codec.ByFormat(f)
	if c == nil {
		return nil, fmt.Errorf("dialing %s: unknown serializer %d", url, f)
	}
	l, err := dialLink(ctx, url, c, opts)
	if err != nil {
		return nil, err
	}
	s := &Session{
		url:        url,
		realm:      realm,
		kind:       l.kind,
		conn:       l.conn,
		fr:         l.fr,
		codec:      c,
		maxOut:     l.maxOut,
		maxPending: opts.maxPending(),
		done:       make(chan struct{}),
	}
	if err := guard(ctx, l.conn, func() error { return s.join(ctx, opts) }); err != nil {
		l.conn.Close()
		return nil, fmt.Errorf("joining realm %q at %s: %w", realm, url, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.log = log.With("realm", realm, "session", uint64(s.id))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.readLoop()
	return s, nil
}

// clientRoles are announced in HELLO: the four roles, with the features
// this client implements.
func clientRoles() wamp.Dict {
	return wamp.Dict{
		"publisher":  wamp.Dict{"features": wamp.Dict{}},
		"subscriber": wamp.Dict{"features": wamp.Dict{}},
		"caller":     wamp.Dict{"features": wamp.Dict{"call_canceling": true}},
		"callee":     wamp.Dict{"features": wamp.Dict{"call_canceling": true}},
	}
}

// join says HELLO and reads until WELCOME, before the reader runs.
func (s *Session) join(ctx context.Context, o *Options) error {
	details := wamp.Dict{}
	for k, v := range o.HelloDetails {
		details[k] = v
	}
	details["roles"] = clientRoles()
	details["agent"] = defaultAgent
	if o.Agent != "" {
		details["agent"] = o.Agent
	}
	if o.AuthID != "" {
		details["authid"] = o.AuthID
	}
	if len(o.AuthMethods) > 0 {
		m := make(wamp.List, len(o.AuthMethods))
		for i, a := range o.AuthMethods {
			m[i] = a
		}
		details["authmethods"] = m
	}
	if err := s.writeNow(&wamp.Hello{Realm: wamp.URI(s.realm), Details: details}); err != nil {
		return err
	}
	ctl := func(f []byte) { s.conn.Write(f) }
	for {
		data, err := s.fr.next(ctl)
		if err != nil {
			return err
		}
		m, err := s.codec.Decode(data)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *wamp.Welcome:
			s.id, s.details = m.Session, m.Details
			if roles, ok := m.Details["roles"].(wamp.Dict); ok {
				if dealer, ok := roles["dealer"].(wamp.Dict); ok {
					features, _ := dealer["features"].(wamp.Dict)
					s.canCancel = wamp.Bool(features, "call_canceling", false)
				}
			}
			return nil
		case *wamp.Abort:
			return &CloseError{Reason: m.Reason, Details: m.Details}
		case *wamp.Challenge:
			if o.Authenticate == nil {
				s.writeNow(&wamp.Abort{Reason: wamp.ErrAuthenticationFailed,
					Details: wamp.Dict{"message": "the client has no credentials"}})
				return fmt.Errorf("the router asks for %s authentication and no Authenticate function is set", m.AuthMethod)
			}
			a, err := o.Authenticate(ctx, m)
			if err != nil {
				s.writeNow(&wamp.Abort{Reason: wamp.ErrAuthenticationFailed,
					Details: wamp.Dict{"message": err.Error()}})
				return fmt.Errorf("answering the %s challenge: %w", m.AuthMethod, err)
			}
			if err := s.writeNow(a); err != nil {
				return err
			}
		default:
			return fmt.Errorf("expected WELCOME, got %s", m.Type())
		}
	}
}

// writeNow encodes and writes m directly, before the writer exists.
func (s *Session) writeNow(m wamp.Message) error {
	room := s.fr.room()
	b, err := s.codec.Encode(make([]byte, room, room+256), m)
	if err != nil {
		return err
	}
	_, err = s.conn.Write(b[s.fr.seal(b):])
	return err
}

// ID returns the session id the router assigned.
func (s *Session) ID() wamp.ID { return s.id }

// Details returns WELCOME.Details: the router's roles, the authid and
// authrole it gave this session. The map must not be changed.
func (s *Session) Details() wamp.Dict { return s.details }

// Done is closed when the session has ended: after Close, or when the
// router said GOODBYE or ABORT, or the connection was lost.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended: ErrClosed after Close, a *CloseError when
// the router ended it, another error when the connection failed. It is nil
// while the session is open.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close says GOODBYE, waits for the router's GOODBYE (or ctx), closes the
// connection and waits for the session's goroutines, handlers included, to
// end (or ctx). It returns nil on a clean close, and may be called more than
// once and after the router ended the session.
func (s *Session) Close(ctx context.Context) error {
	if !s.ended.Load() && s.closing.CompareAndSwap(false, true) {
		if err := s.send(ctx, &wamp.Goodbye{Reason: wamp.CloseRealm}, urgent); err != nil {
			s.finish(ErrClosed)
		}
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		s.finish(ErrClosed)
		return fmt.Errorf("closing session %d: no GOODBYE from the router: %w", s.id, ctx.Err())
	}
	return s.wait(ctx)
}

// wait waits for the session's goroutines to end.
func (s *Session) wait(ctx context.Context) error {
	ch := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(ch)
	}()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("closing session %d: handlers still running: %w", s.id, ctx.Err())
	}
}

// finish ends the session once: it records why, wakes every waiter and
// closes the connection after what is queued has been written.
func (s *Session) finish(err error) {
	s.mu.Lock()
	if s.ended.Load() {
		s.mu.Unlock()
		return
	}
	s.ended.Store(true)
	s.err = err
	s.mu.Unlock()
	close(s.done)
	s.cancel()

	s.wmu.Lock()
	writing := s.writing
	s.wake()
	s.wmu.Unlock()
	if writing {
		// The writer closes the connection when it has flushed.
		s.conn.SetWriteDeadline(time.Now().Add(closeGrace))
		s.conn.SetReadDeadline(aLongTimeAgo)
	} else {
		s.closeConn()
	}
	if err == ErrClosed {
		s.log.Debug("session closed")
	} else {
		s.log.Info("session ended", "err", err)
	}
}

func (s *Session) closeConn() {
	s.closeOnce.Do(func() {
		if f := s.fr.closeFrame(); f != nil {
			s.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			s.conn.Write(f)
		}
		s.conn.Close()
	})
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
func (s *Session) send(ctx context.Context, m wamp.Message, mode sendMode) error {
	if mode == normal && s.closing.Load() {
		return ErrClosed
	}
	bp := scratch.Get().(*[]byte)
	room := s.fr.room()
	b, err := s.codec.Encode((*bp)[:room], m)
	if err != nil {
		scratch.Put(bp)
		return err
	}
	if s.maxOut > 0 && len(b)-room > s.maxOut {
		scratch.Put(bp)
		return fmt.Errorf("%s of %d bytes: %w (%d bytes)", m.Type(), len(b)-room, ErrTooLarge, s.maxOut)
	}
	err = s.enqueue(ctx, b[s.fr.seal(b):], mode)
	if cap(b) <= 64<<10 {
		*bp = b
		scratch.Put(bp)
	}
	return err
}

// control queues a transport control frame (a pong, a close echo).
func (s *Session) control(frame []byte) { s.enqueue(context.Background(), frame, urgent) }

func (s *Session) enqueue(ctx context.Context, frame []byte, mode sendMode) error {
	s.wmu.Lock()
	for mode == normal && len(s.out) >= s.maxPending && !s.ended.Load() {
		if s.space == nil {
			s.space = make(chan struct{})
		}
		space := s.space
		s.wmu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.wmu.Lock()
	}
	if s.ended.Load() {
		s.wmu.Unlock()
		return s.endedErr()
	}
	s.out = append(s.out, frame...)
	if !s.writing {
		s.writing = true
		s.wg.Add(1)
		go s.writeLoop()
	}
	s.wmu.Unlock()
	return nil
}

// wake lets senders waiting for space try again; wmu is held.
func (s *Session) wake() {
	if s.space != nil {
		close(s.space)
		s.space = nil
	}
}

// writeLoop writes everything queued, each batch in one write, and ends
// when the queue is empty.
func (s *Session) writeLoop() {
	defer s.wg.Done()
	var written []byte
	for {
		s.wmu.Lock()
		if written != nil && cap(written) <= keepBusy {
			s.spare = written[:0]
		}
		if len(s.out) == 0 {
			s.writing = false
			s.wake()
			if cap(s.out) > keepIdle {
				s.out = nil
			}
			if cap(s.spare) > keepIdle {
				s.spare = nil
			}
			ended := s.ended.Load()
			s.wmu.Unlock()
			if ended {
				s.closeConn()
			}
			return
		}
		buf := s.out
		s.out, s.spare = s.spare, nil
		s.wake()
		s.wmu.Unlock()

		if _, err := s.conn.Write(buf); err != nil {
			s.wmu.Lock()
			s.out, s.writing = nil, false
			s.wake()
			s.wmu.Unlock()
			s.finish(fmt.Errorf("writing to %s: %w", s.url, err))
			s.closeConn()
			return
		}
		written = buf
	}
}

// endedErr is what a method returns once the session has ended.
func (s *Session) endedErr() error {
	if err := s.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// request sends m (whose request id is id) and waits for the reply.
func (s *Session) request(ctx context.Context, id wamp.ID, m wamp.Message, onReply func(wamp.Message)) (wamp.Message, error) {
	req := &request{ch: make(chan wamp.Message, 1), onReply: onReply}
	s.mu.Lock()
	if s.ended.Load() {
		s.mu.Unlock()
		return nil, s.endedErr()
	}
	if s.pending == nil {
		s.pending = make(map[wamp.ID]*request)
	}
	s.pending[id] = req
	s.mu.Unlock()
	if err := s.send(ctx, m, normal); err != nil {
		s.forget(id)
		return nil, err
	}
	select {
	case r := <-req.ch:
		return r, nil
	case <-ctx.Done():
		if !s.forget(id) {
			// The reader has taken the reply and is handing it over.
			return <-req.ch, nil
		}
		return nil, ctx.Err()
	case <-s.done:
		select {
		case r := <-req.ch:
			return r, nil
		default:
		}
		if s.forget(id) {
			return nil, s.endedErr()
		}
		return <-req.ch, nil
	}
}

// forget drops a pending request and reports whether it was still there.
func (s *Session) forget(id wamp.ID) bool {
	s.mu.Lock()
	_, ok := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	return ok
}

// reply hands m to the request it answers; false when none waits.
func (s *Session) reply(id wamp.ID, m wamp.Message) bool {
	s.mu.Lock()
	req := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if req == nil {
		return false
	}
	if req.onReply != nil {
		req.onReply(m)
	}
	req.ch <- m
	return true
}

// readLoop reads and dispatches messages until the session ends.
func (s *Session) readLoop() {
	defer s.wg.Done()
	for {
		data, err := s.fr.next(s.control)
		if err != nil {
			if !s.ended.Load() {
				var wsc errWSClosed
				if !errors.As(err, &wsc) && !isClosedConn(err) {
					err = fmt.Errorf("reading: %w", err)
				}
				s.finish(fmt.Errorf("connection to %s lost: %w", s.url, err))
			}
			return
		}
		m, err := s.codec.Decode(data)
		if err != nil {
			s.violation(fmt.Sprintf("a message from the router does not decode: %v", err))
			return
		}
		if !s.dispatch(m) {
			return
		}
	}
}

// violation aborts the session for a protocol error of the router's.
func (s *Session) violation(reason string) {
	s.send(context.Background(), &wamp.Abort{Reason: wamp.ErrProtocolViolation,
		Details: wamp.Dict{"message": reason}}, urgent)
	s.finish(fmt.Errorf("protocol violation by the router: %s", reason))
}

// dispatch handles one message on the reading goroutine; false ends the
// reading.
func (s *Session) dispatch(m wamp.Message) bool {
	switch m := m.(type) {
	case *wamp.Event:
		s.event(m)
	case *wamp.Invocation:
		s.invocation(m)
	case *wamp.Interrupt:
		s.mu.Lock()
		cancel := s.invs[m.Request]
		s.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	case *wamp.Result:
		s.reply(m.Request, m)
	case *wamp.Error:
		s.reply(m.Request, m)
	case *wamp.Published:
		s.reply(m.Request, m)
	case *wamp.Subscribed:
		if !s.reply(m.Request, m) {
			s.abandoned(m.Subscription, 0)
		}
	case *wamp.Registered:
		if !s.reply(m.Request, m) {
			s.abandoned(0, m.Registration)
		}
	case *wamp.Unsubscribed:
		if m.Request == 0 {
			s.revokeSubscription(m.Details)
		} else {
			s.reply(m.Request, m)
		}
	case *wamp.Unregistered:
		if m.Request == 0 {
			s.revokeRegistration(m.Details)
		} else {
			s.reply(m.Request, m)
		}
	case *wamp.Goodbye:
		if !s.closing.Load() {
			s.send(context.Background(), &wamp.Goodbye{Reason: wamp.CloseGoodbyeAndOut}, urgent)
			s.finish(&CloseError{Goodbye: true, Reason: m.Reason, Details: m.Details})
		} else {
			s.finish(ErrClosed)
		}
		return false
	case *wamp.Abort:
		s.finish(&CloseError{Reason: m.Reason, Details: m.Details})
		return false
	default:
		s.violation(fmt.Sprintf("a router does not send %s to an established session", m.Type()))
		return false
	}
	return true
}

// abandoned undoes a subscription or registration whose request was given
// up (its context ended) before the router answered.
func (s *Session) abandoned(sub, reg wamp.ID) {
	s.mu.Lock()
	_, haveSub := s.subs[sub]
	_, haveReg := s.regs[reg]
	s.mu.Unlock()
	id := s.reqIDs.Next()
	switch {
	case sub != 0 && !haveSub:
		s.send(context.Background(), &wamp.Unsubscribe{Request: id, Subscription: sub}, urgent)
	case reg != 0 && !haveReg:
		s.send(context.Background(), &wamp.Unregister{Request: id, Registration: reg}, urgent)
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
