package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Session is a WAMP session joined to a realm. Its methods are safe for
// concurrent use.
//
// With Options.Reconnect a Session outlives its connections: when one is
// lost it connects again, joins the realm as a new WAMP session and
// subscribes and registers again everything it had; see Reconnect.
type Session struct {
	url   string
	realm string
	opts  Options
	codec codec.Codec
	log   *slog.Logger
	// connect opens a new connection (the transport handshake only).
	connect func(ctx context.Context) (*link, error)
	// dialURL opens a connection to another router's URL (Dial's
	// sessions; nil for in-process ones), and at is the index in
	// reconnectURLs of the router connected to: only the reconnecting
	// goroutine uses it.
	dialURL func(ctx context.Context, url string) (*link, error)
	at      int

	ctx     context.Context // canceled when the session ends for good
	cancel  context.CancelFunc
	done    chan struct{}
	wg      sync.WaitGroup // readers, writers, handler goroutines
	ended   atomic.Bool
	closing atomic.Bool // Close was called

	mu   sync.Mutex
	err  error
	cur  *wire         // the connection in use; nil while reconnecting
	last *wire         // the most recent connection, for ID and Details
	up   chan struct{} // closed when cur is set again after a loss
	// Every live Subscribe and Register of the application, in order: what
	// a reconnect restores.
	subs []*Subscription
	regs []*Registration
	// OnDisconnect and OnReconnect calls waiting for runNotes, and whether
	// it runs.
	notes     []func()
	notifying bool
}

// ErrConnectionLost is wrapped by the error of a request that was in flight
// when the connection to the router was lost: the router may or may not have
// handled it.
var ErrConnectionLost = errors.New("connection to the router lost")

// Dial connects to the router at url, joins realm and returns the session.
// ctx bounds the connect and the opening handshake only.
func Dial(ctx context.Context, url, realm string, opts *Options) (*Session, error) {
	s, err := newSession(url, realm, opts, wamp.FormatJSON)
	if err != nil {
		return nil, err
	}
	s.dialURL = func(ctx context.Context, u string) (*link, error) { return dialLink(ctx, u, s.codec, &s.opts) }
	s.connect = func(ctx context.Context) (*link, error) { return s.dialURL(ctx, url) }
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func newSession(url, realm string, opts *Options, def wamp.Format) (*Session, error) {
	s := &Session{url: url, realm: realm, done: make(chan struct{})}
	if opts != nil {
		s.opts = *opts
	}
	f := s.opts.Serializer
	if f == wamp.FormatNone {
		f = def
	}
	s.codec = codec.ByFormat(f)
	if s.codec == nil {
		return nil, fmt.Errorf("dialing %s: unknown serializer %d", url, f)
	}
	log := s.opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.log = log.With("realm", realm)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// start makes the first connection: its failure is Dial's.
func (s *Session) start(ctx context.Context) error {
	w, err := s.open(ctx)
	if err != nil {
		s.cancel()
		return err
	}
	s.mu.Lock()
	s.cur, s.last = w, w
	s.mu.Unlock()
	return nil
}

// open connects, joins the realm and starts the connection's reader.
func (s *Session) open(ctx context.Context) (*wire, error) {
	return s.openWith(ctx, s.connect, s.url)
}

// openWith is open with the connection connect makes to url.
func (s *Session) openWith(ctx context.Context, connect func(context.Context) (*link, error), url string) (*wire, error) {
	l, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	w := s.newWire(l)
	if err := guard(ctx, l.conn, func() error { return w.join(ctx) }); err != nil {
		l.conn.Close()
		return nil, fmt.Errorf("joining realm %q at %s: %w", s.realm, url, err)
	}
	w.start()
	return w, nil
}

// clientRoles are announced in HELLO: the four roles, with the features
// this client implements; payload_passthru_mode when the application asks.
func clientRoles(passthru bool) wamp.Dict {
	roles := wamp.Dict{
		"publisher": wamp.Dict{"features": wamp.Dict{
			"publisher_identification":      true,
			"publisher_exclusion":           true,
			"subscriber_blackwhite_listing": true,
		}},
		"subscriber": wamp.Dict{"features": wamp.Dict{
			"publisher_identification":   true,
			"pattern_based_subscription": true,
			"subscription_revocation":    true,
			"event_history":              true,
		}},
		"caller": wamp.Dict{"features": wamp.Dict{
			"call_canceling":               true,
			"call_timeout":                 true,
			"caller_identification":        true,
			"progressive_call_results":     true,
			"progressive_call_invocations": true,
		}},
		"callee": wamp.Dict{"features": wamp.Dict{
			"call_canceling":               true,
			"call_timeout":                 true,
			"caller_identification":        true,
			"progressive_call_results":     true,
			"progressive_call_invocations": true,
			"pattern_based_registration":   true,
			"shared_registration":          true,
			"registration_revocation":      true,
		}},
	}
	if passthru {
		for _, r := range roles {
			r.(wamp.Dict)["features"].(wamp.Dict)["payload_passthru_mode"] = true
		}
	}
	return roles
}

// ID returns the session id the router assigned; after a reconnect, the
// new session's.
func (s *Session) ID() wamp.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.id
}

// Details returns WELCOME.Details: the router's roles, the authid and
// authrole it gave this session (after a reconnect, the new session's). The
// map must not be changed.
func (s *Session) Details() wamp.Dict {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.details
}

// Connected reports whether the session has a connection now; it is false
// while a session reconnects and after it ended.
func (s *Session) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur != nil
}

// Done is closed when the session has ended: after Close, or when the
// router said GOODBYE or ABORT or the connection was lost and the session
// does not (or no longer) reconnect.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended: ErrClosed after Close, a *CloseError when
// the router ended it, another error when the connection failed. It is nil
// while the session is open.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// endedErr is what a method returns once the session has ended.
func (s *Session) endedErr() error {
	if err := s.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// wire returns the connection to send on, waiting for a reconnect (or ctx).
func (s *Session) wire(ctx context.Context) (*wire, error) {
	for {
		if s.closing.Load() || s.ended.Load() {
			return nil, s.endedErr()
		}
		s.mu.Lock()
		w, up := s.cur, s.up
		s.mu.Unlock()
		if w != nil {
			return w, nil
		}
		select {
		case <-up:
		case <-s.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w, reconnecting: %w", ErrConnectionLost, ctx.Err())
		}
	}
}

// Close says GOODBYE, waits for the router's GOODBYE (or ctx), closes the
// connection and waits for the session's goroutines, handlers included, to
// end (or ctx). It returns nil on a clean close, and may be called more than
// once and after the router ended the session. A session that reconnects
// stops reconnecting.
//
// A handler or callback of the session may close it. Close then waits for
// neither its own goroutine nor the session's others: it returns once the
// session has ended, and the handlers still running end on their own (an
// invocation's context is canceled). Called from OnEventDropped, which runs
// on the goroutine that reads the router's answer, Close says GOODBYE and
// returns at once; the session ends when the router answers (or when ctx
// ends).
func (s *Session) Close(ctx context.Context) error { return s.close(ctx, wamp.CloseRealm) }

// Logout is Close with GOODBYE reason wamp.close.logout: the router
// forgets the authentication cookie of the connection, so the next
// session with the same CookieJar must log in with a secret again.
func (s *Session) Logout(ctx context.Context) error { return s.close(ctx, wamp.CloseLogout) }

func (s *Session) close(ctx context.Context, reason wamp.URI) error {
	own, reading := calledBack()
	if s.closing.CompareAndSwap(false, true) {
		s.cancel() // stops a reconnect in progress
		if w := s.finishIdle(ErrClosed); w != nil && !w.ended.Load() {
			w.closing.Store(true)
			if err := w.send(ctx, &wamp.Goodbye{Reason: reason}, urgent); err != nil {
				w.finish(ErrClosed)
			}
		}
	}
	if reading {
		// Waiting here would keep the router's GOODBYE from being read.
		if !s.ended.Load() && ctx.Done() != nil {
			// ctx may outlive the session by far (an application's
			// root context): what it holds for the session goes when
			// the session ends.
			stop := context.AfterFunc(ctx, func() { s.finish(ErrClosed) })
			go func() {
				<-s.done
				stop()
			}()
		}
		return nil
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		s.finish(ErrClosed) // and its connection
		return fmt.Errorf("closing session %d: no GOODBYE from the router: %w", s.ID(), ctx.Err())
	}
	if own {
		return nil
	}
	return s.wait(ctx)
}

// calledBack reports whether the caller runs on one of the goroutines that
// run the application's handlers and callbacks (own), which Close must not
// wait for, and whether that is the goroutine that reads from the router
// (reading: OnEventDropped). Go has no goroutine identity, so it looks at
// the caller's stack for the functions these goroutines run: this costs a
// few microseconds per Close and nothing per message. A goroutine of
// another Session's handlers looks the same.
func calledBack() (own, reading bool) {
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(2, pcs)
		if n < len(pcs) {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if name, ok := strings.CutPrefix(f.Function, pkgPrefix); ok {
			switch name {
			case "(*wire).dispatch":
				reading = true
			case "(*Subscription).run", "(*queuedInvocation).run", "(*Session).runNotes", "(*wire).readLoop":
				own = true
			}
		}
		if !more {
			return own, reading
		}
	}
}

// pkgPrefix is this package's prefix of function names in a stack.
var pkgPrefix = reflect.TypeFor[Session]().PkgPath() + "."

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
		return fmt.Errorf("closing session %d: handlers still running: %w", s.ID(), ctx.Err())
	}
}

// finish ends the session for good, once, and the connection it has.
func (s *Session) finish(err error) {
	s.mu.Lock()
	if s.ended.Load() {
		s.mu.Unlock()
		return
	}
	s.end(err)
}

// finishIdle ends the session when it has no connection (it is
// reconnecting) and returns nil; otherwise it returns the connection. The
// look and the end are one step under s.mu, as a reconnect's check that
// the session still wants its new connection is, so a reconnect that
// completes meanwhile either finds the session ended and drops its
// connection or is the connection returned: the session is never ended
// with a live connection it does not know about.
func (s *Session) finishIdle(err error) *wire {
	s.mu.Lock()
	if w := s.cur; w != nil || s.ended.Load() {
		s.mu.Unlock()
		return w
	}
	s.end(err)
	return nil
}

// end ends the session; s.mu is held, and end releases it.
func (s *Session) end(err error) {
	s.ended.Store(true)
	s.err = err
	w := s.cur
	s.cur = nil
	s.mu.Unlock()
	close(s.done)
	s.cancel()
	if w != nil {
		w.finish(err)
	}
}

// lost is told by a connection that it ended: the session ends, or
// reconnects on this goroutine.
func (s *Session) lost(w *wire, err error) {
	s.mu.Lock()
	if s.cur != w {
		// Not (or no longer) the session's connection: a reconnect attempt
		// that sees the failure itself.
		s.mu.Unlock()
		return
	}
	s.cur = nil
	s.up = make(chan struct{})
	s.mu.Unlock()
	if s.closing.Load() || s.opts.Reconnect == nil {
		if s.closing.Load() {
			err = ErrClosed
		} else {
			// What the requests in flight get, whichever of the wire
			// and the session ends them first (wire.endedErr).
			err = lostErr(err)
		}
		s.finish(err)
		return
	}
	s.reconnect(err)
}

// reconnect connects again with backoff until it succeeds, the session is
// closed or the attempts run out. It runs on the goroutine of the reader
// that lost its connection, which it replaces.
func (s *Session) reconnect(cause error) {
	rc := s.opts.Reconnect
	s.log.Info("connection lost, reconnecting", "err", cause)
	if rc.OnDisconnect != nil {
		s.notify(func() { rc.OnDisconnect(cause) })
	}
	lastErr := cause
	// What the router refused in any attempt: gone, even when a later
	// attempt connects (restore stops it), and so reported then.
	var failed []error
	for attempt := 1; ; attempt++ {
		if rc.MaxAttempts > 0 && attempt > rc.MaxAttempts {
			s.finish(fmt.Errorf("gave up reconnecting to %s after %d attempts: %w", s.url, rc.MaxAttempts, lastErr))
			return
		}
		t := time.NewTimer(rc.delay(attempt))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			s.finish(ErrClosed)
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, rc.dialTimeout())
		connect, url := s.connect, s.url
		if all := s.reconnectURLs(); len(all) > 1 {
			s.at = (s.at + 1) % len(all)
			url = all[s.at]
			connect = func(ctx context.Context) (*link, error) { return s.dialURL(ctx, url) }
		}
		w, err := s.openWith(ctx, connect, url)
		if err != nil {
			cancel()
			lastErr = err
			s.attemptFailed(attempt, err)
			continue
		}
		refused, err := s.restore(ctx, w)
		cancel()
		failed = append(failed, refused...)
		s.mu.Lock()
		ok := err == nil && !w.ended.Load() && !s.ended.Load()
		if ok {
			s.cur, s.last = w, w
			close(s.up)
		}
		s.mu.Unlock()
		if !ok {
			w.finish(ErrClosed)
			if s.closing.Load() || s.ended.Load() {
				s.finish(ErrClosed)
				return
			}
			if err == nil {
				err = w.Err()
			}
			lastErr = err
			s.attemptFailed(attempt, err)
			continue
		}
		s.undoStopped(w)
		s.log.Info("reconnected", "attempt", attempt, "url", url, "session", uint64(w.id), "not_restored", len(failed))
		if rc.OnReconnect != nil {
			r := Reconnected{Session: w.id, URL: url, Attempts: attempt, Failed: failed}
			s.notify(func() { rc.OnReconnect(r) })
		}
		return
	}
}

// attemptFailed logs a failed reconnect attempt and tells the
// application (Reconnect.OnAttemptFailed).
func (s *Session) attemptFailed(attempt int, err error) {
	s.log.Info("reconnect failed", "attempt", attempt, "err", err)
	if f := s.opts.Reconnect.OnAttemptFailed; f != nil {
		s.notify(func() { f(attempt, err) })
	}
}

// notify runs fn, a call of OnDisconnect, OnReconnect or OnAttemptFailed, on the session's
// notifying goroutine, after the calls before it: they keep their order, and
// the reconnect does not wait for them (one that waits for the session,
// which waits for the reconnect, would wait for ever).
func (s *Session) notify(fn func()) {
	s.mu.Lock()
	s.notes = append(s.notes, fn)
	if s.notifying {
		s.mu.Unlock()
		return
	}
	s.notifying = true
	s.mu.Unlock()
	s.wg.Add(1)
	go s.runNotes()
}

// runNotes runs the notifications queued until there are none.
func (s *Session) runNotes() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.notes) == 0 {
			s.notifying = false
			s.notes = nil
			s.mu.Unlock()
			return
		}
		fn := s.notes[0]
		s.notes[0] = nil
		s.notes = s.notes[1:]
		s.mu.Unlock()
		s.runNote(fn)
	}
}

// runNote runs one notification; a panic in it is recovered and logged, as
// a handler's is, rather than ending the application's process.
func (s *Session) runNote(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("a reconnect callback panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// reconnectURLs are the routers a reconnect tries in turn: the session's
// URL, then Reconnect.URLs (for Dial's sessions only).
func (s *Session) reconnectURLs() []string {
	if s.dialURL == nil || len(s.opts.Reconnect.URLs) == 0 {
		return nil
	}
	return append([]string{s.url}, s.opts.Reconnect.URLs...)
}

// restore subscribes and registers again, on a new connection, everything
// the application had; it returns what the router refused, and the first
// other error, which fails the attempt.
func (s *Session) restore(ctx context.Context, w *wire) (failed []error, err error) {
	s.mu.Lock()
	subs, regs := slices.Clone(s.subs), slices.Clone(s.regs)
	s.mu.Unlock()
	for _, sub := range subs {
		if sub.stopped.Load() {
			continue
		}
		if err := w.subscribe(ctx, sub, false); err != nil {
			err = fmt.Errorf("subscribing to %s again: %w", sub.topic, err)
			if !refused(err) {
				return failed, err
			}
			failed = append(failed, err)
			sub.stopped.Store(true)
			s.mu.Lock()
			s.subs = slices.DeleteFunc(s.subs, func(x *Subscription) bool { return x == sub })
			s.mu.Unlock()
		}
	}
	for _, reg := range regs {
		if reg.stopped.Load() {
			continue
		}
		if err := w.register(ctx, reg, false); err != nil {
			err = fmt.Errorf("registering %s again: %w", reg.procedure, err)
			if !refused(err) {
				return failed, err
			}
			failed = append(failed, err)
			reg.stopped.Store(true)
			s.mu.Lock()
			s.regs = slices.DeleteFunc(s.regs, func(x *Registration) bool { return x == reg })
			s.mu.Unlock()
		}
	}
	return failed, nil
}

// undoStopped undoes, on the connection a reconnect has just made the
// session's, the subscriptions and registrations restored on it that the
// application undid meanwhile: an Unsubscribe or Unregister whose context
// ended while it waited for the reconnect has stopped them, and after it
// no call has anything left to undo. One that stops them from now on finds
// the connection and undoes them itself (whichever takes them from the
// connection's tables sends the UNSUBSCRIBE or UNREGISTER).
func (s *Session) undoStopped(w *wire) {
	w.mu.Lock()
	var subs []*Subscription
	for _, list := range w.subs {
		for _, sub := range list {
			if sub.stopped.Load() {
				subs = append(subs, sub)
			}
		}
	}
	var regs []*Registration
	for _, reg := range w.regs {
		if reg.stopped.Load() {
			regs = append(regs, reg)
		}
	}
	w.mu.Unlock()
	for _, sub := range subs {
		if err := w.unsubscribe(s.ctx, sub); err != nil {
			s.log.Info("cannot undo a subscription restored meanwhile", "topic", sub.topic, "err", err)
		}
	}
	for _, reg := range regs {
		if err := w.unregister(s.ctx, reg); err != nil {
			s.log.Info("cannot undo a registration restored meanwhile", "procedure", reg.procedure, "err", err)
		}
	}
}

// refused reports whether err is the router's refusal (an ERROR): a
// subscription or registration it refused to restore is gone, as
// Reconnected.Failed says, and not tried again at the next reconnect
// (where it could take a procedure the application registered anew).
// Any other error (the connection failed meanwhile) fails the attempt.
func refused(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Reconnect configures automatic reconnection (Options.Reconnect).
//
// When the connection is lost (the router restarted, the network failed,
// the router said GOODBYE) the session waits a delay, connects again and
// joins the realm as a new WAMP session, then subscribes and registers
// again, with their options, every subscription and registration it had;
// Subscription and Registration values stay valid (their IDs change). Only
// then do waiting requests go out. The delay doubles from MinDelay to
// MaxDelay with each failed attempt, with jitter: a random 50-100% of it.
//
// Requests in flight when the connection was lost fail with an error that
// wraps ErrConnectionLost (the router may or may not have handled them: a
// call is not sent twice). Requests made while the session reconnects wait
// for the new connection, within their context. Invocation handlers
// running on the lost connection see their context canceled.
type Reconnect struct {
	// MinDelay is the first delay; 0 means 100ms.
	MinDelay time.Duration
	// MaxDelay bounds the delay; 0 means 30s.
	MaxDelay time.Duration
	// MaxAttempts is the number of attempts after which the session ends
	// with the last error; 0 means no limit.
	MaxAttempts int
	// AttemptTimeout bounds one attempt: connect, join and restore; 0 means
	// 10s.
	AttemptTimeout time.Duration
	// URLs are other routers to reconnect to: the other nodes of a
	// cluster, say. The session's URL and these are tried in turn, one
	// per attempt, beginning with the one after the URL of the lost
	// connection, so that a session whose router stops moves to the next
	// at once. Sessions of Dial only (not in-process ones); every URL
	// uses the session's Options.
	URLs []string

	// OnDisconnect, if set, is called when the connection is lost, with
	// the cause.
	OnDisconnect func(err error)
	// OnReconnect, if set, is called when the session is connected again and
	// its subscriptions and registrations are restored.
	OnReconnect func(Reconnected)
	// OnAttemptFailed, if set, is called after each attempt that failed,
	// with its number and error: a *CloseError when the router refused
	// the join (an ABORT such as wamp.error.authentication_failed, when
	// the session's credential was revoked), which the application may
	// take as a reason to Close rather than try again and again.
	//
	// OnDisconnect, OnReconnect and OnAttemptFailed run on a goroutine of
	// the session's, one at a time and in order, not on the one that
	// reconnects: the reconnect does not wait for them, so they may wait
	// for the session (a Publish waits for the reconnect) or close it. A
	// panic in them is recovered and logged.
	OnAttemptFailed func(attempt int, err error)
}

// Reconnected tells the application that a session is connected again.
type Reconnected struct {
	// Session is the new WAMP session id.
	Session wamp.ID
	// URL is the router connected to (one of Reconnect.URLs, or the
	// session's URL).
	URL string
	// Attempts is how many attempts it took.
	Attempts int
	// Failed lists the subscriptions and registrations that could not be
	// restored because the router refused them (a procedure registered
	// meanwhile by another session, say); they are gone: stopped, and not
	// tried again at a later reconnect.
	Failed []error
}

func (rc *Reconnect) delay(attempt int) time.Duration {
	lo, hi := rc.MinDelay, rc.MaxDelay
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi <= 0 {
		hi = 30 * time.Second
	}
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

func (rc *Reconnect) dialTimeout() time.Duration {
	if rc.AttemptTimeout > 0 {
		return rc.AttemptTimeout
	}
	return 10 * time.Second
}
