package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Result is a call's result, or what a callee's handler answers with.
type Result struct {
	// Details are RESULT.Details. Of a handler's answer only the ppt_*
	// entries are sent (payload passthru mode, see Passthru).
	Details wamp.Dict
	Args    wamp.List
	Kwargs  wamp.Dict
	// Raw is the payload as it arrived, in the session's serialization. A
	// handler may answer with a Result that has only Raw set (an Invocation's
	// Raw, say) to send those bytes on without encoding them again; Args and
	// Kwargs, when set, take precedence.
	Raw wamp.Payload
}

// yieldOptions are the YIELD.Options of a handler's answer: the ppt_*
// entries of its Details (payload passthru mode), nil without.
func (r *Result) yieldOptions() wamp.Dict {
	if r == nil {
		return nil
	}
	return PassthruOf(r.Details).Dict()
}

// Progress reports a progressive result: more results follow.
func (r *Result) Progress() bool { return wamp.Bool(r.Details, "progress", false) }

func (r *Result) payload() wamp.Payload {
	if r == nil {
		return wamp.Payload{}
	}
	if len(r.Args) > 0 || len(r.Kwargs) > 0 {
		return wamp.Payload{Args: r.Args, Kwargs: r.Kwargs}
	}
	return r.Raw
}

// Handler answers invocations of a registered procedure. Its context is
// canceled when the router interrupts the call (INTERRUPT: the caller
// canceled it, or the router's timeout for it passed), when the call's
// timeout (forwarded by the router) passes, and when the connection ends.
// After an INTERRUPT, context.Cause(ctx) is an *Error with its reason
// (wamp.error.canceled, wamp.error.timeout).
// Returning an *Error answers with that error URI; any other error answers
// with wamp.error.runtime_error (wamp.error.canceled for context.Canceled,
// wamp.error.timeout for context.DeadlineExceeded) and the error's text. A
// panic is recovered and logged, and answers with wamp.error.runtime_error.
type Handler func(ctx context.Context, inv *Invocation) (*Result, error)

// Call calls procedure and waits for its result. A WAMP error comes back as
// an *Error. opts are CALL.Options (CallOptions builds them).
//
// When ctx ends first, Call returns an error that wraps ctx's and, if the
// router supports call canceling, sends CANCEL with Options.CancelMode
// ("kill" unless set) so that the router interrupts the callee. Call returns
// at once, in every mode: it does not wait for the router's answer to the
// CANCEL (in kill mode an ERROR that comes once the callee has answered the
// INTERRUPT), and it keeps nothing for it; that answer, or a RESULT that
// crossed the CANCEL, is dropped when it arrives.
func (s *Session) Call(ctx context.Context, procedure string, args wamp.List, kwargs wamp.Dict, opts wamp.Dict) (*Result, error) {
	return s.call(ctx, procedure, args, kwargs, opts, nil)
}

// CallProgress calls procedure asking for progressive results: each one is
// passed to onProgress, on the calling goroutine and in order, as it
// arrives; the final result is returned. When onProgress returns an error
// the call is canceled and CallProgress returns that error.
func (s *Session) CallProgress(ctx context.Context, procedure string, args wamp.List, kwargs wamp.Dict, opts wamp.Dict,
	onProgress func(*Result) error) (*Result, error) {
	if onProgress == nil {
		return nil, errors.New("calling with progressive results: nil onProgress")
	}
	return s.call(ctx, procedure, args, kwargs, withOption(opts, "receive_progress", true), onProgress)
}

// CallIter calls procedure asking for progressive results and yields each
// result as it arrives, the final one last (its Progress is false). An
// error is yielded once and ends the sequence. Stopping the iteration early
// cancels the call.
//
//	for res, err := range s.CallIter(ctx, "com.example.count", wamp.List{10}, nil, nil) {
//		if err != nil { ... }
//		fmt.Println(res.Args)
//	}
func (s *Session) CallIter(ctx context.Context, procedure string, args wamp.List, kwargs wamp.Dict, opts wamp.Dict) iter.Seq2[*Result, error] {
	return func(yield func(*Result, error) bool) {
		errStop := errors.New("iteration stopped")
		res, err := s.CallProgress(ctx, procedure, args, kwargs, opts, func(r *Result) error {
			if !yield(r, nil) {
				return errStop
			}
			return nil
		})
		switch {
		case err == errStop:
		case err != nil:
			yield(nil, err)
		default:
			yield(res, nil)
		}
	}
}

// withOption returns a copy of opts with key set.
func withOption(opts wamp.Dict, key string, v any) wamp.Dict {
	o := make(wamp.Dict, len(opts)+1)
	for k, v := range opts {
		o[k] = v
	}
	o[key] = v
	return o
}

func (s *Session) call(ctx context.Context, procedure string, args wamp.List, kwargs wamp.Dict, opts wamp.Dict,
	onProgress func(*Result) error) (*Result, error) {
	w, err := s.wire(ctx)
	if err != nil {
		return nil, fmt.Errorf("calling %s: %w", procedure, err)
	}
	if err := w.checkPassthru(opts, w.features.dealerPassthru, "dealer"); err != nil {
		return nil, fmt.Errorf("calling %s: %w", procedure, err)
	}
	id := w.reqIDs.Next()
	req := newRequest(nil)
	req.progressive = onProgress != nil
	m := &wamp.Call{Request: id, Options: opts, Procedure: wamp.URI(procedure),
		Payload: wamp.Payload{Args: args, Kwargs: kwargs}}
	if err := w.begin(ctx, id, m, req); err != nil {
		return nil, fmt.Errorf("calling %s: %w", procedure, err)
	}
	return w.finishCall(ctx, procedure, id, req, onProgress)
}

// finishCall waits for a call's results.
func (w *wire) finishCall(ctx context.Context, procedure string, id wamp.ID, req *request,
	onProgress func(*Result) error) (*Result, error) {
	for {
		r, err := w.await(ctx, id, req)
		if err != nil {
			if ctx.Err() != nil {
				w.cancelCall(id)
			}
			return nil, fmt.Errorf("calling %s: %w", procedure, err)
		}
		switch r := r.(type) {
		case *wamp.Result:
			args, kwargs, err := codec.DecodePayload(&r.Payload)
			if err != nil {
				if isProgress(r) {
					w.forget(id)
					w.cancelCall(id)
				}
				return nil, fmt.Errorf("calling %s: result: %w", procedure, err)
			}
			res := &Result{Details: r.Details, Args: args, Kwargs: kwargs, Raw: r.Payload}
			if !isProgress(r) || onProgress == nil {
				return res, nil
			}
			if err := onProgress(res); err != nil {
				w.forget(id)
				w.cancelCall(id)
				return nil, err
			}
		case *wamp.Error:
			return nil, wampError(r)
		default:
			return nil, fmt.Errorf("calling %s: unexpected answer %s", procedure, r.Type())
		}
	}
}

// cancelCall asks the router to cancel call id, when it can.
func (w *wire) cancelCall(id wamp.ID) {
	if !w.features.callCanceling || w.ended.Load() {
		return
	}
	mode := w.s.opts.CancelMode
	if mode == "" {
		mode = CancelKill
	}
	w.send(context.Background(), &wamp.Cancel{Request: id, Options: wamp.Dict{"mode": mode}}, urgent)
}

// Cancel modes (Options.CancelMode), as the specification defines them.
const (
	// CancelKill interrupts the callee; the router answers the call once
	// the callee has (the default, as in Autobahn).
	CancelKill = "kill"
	// CancelKillNoWait interrupts the callee and answers the call at once.
	CancelKillNoWait = "killnowait"
	// CancelSkip answers the call at once and lets the callee finish.
	CancelSkip = "skip"
)

// CallStream is a call whose arguments are sent in chunks (progressive call
// invocations): Send sends each chunk but the last, Finish the last and
// waits for the result. A CallStream is used by one goroutine at a time.
type CallStream struct {
	s         *Session
	ctx       context.Context
	procedure string
	opts      wamp.Dict
	w         *wire
	id        wamp.ID
	req       *request
	done      bool
}

// Stream starts a call to procedure with progressive call invocations;
// nothing is sent until the first Send or Finish. ctx bounds the whole call:
// when it ends the call is canceled.
func (s *Session) Stream(ctx context.Context, procedure string, opts wamp.Dict) *CallStream {
	return &CallStream{s: s, ctx: ctx, procedure: procedure, opts: opts}
}

// Send sends one chunk of arguments; the callee gets it as a progressive
// invocation. When the call has already been answered (the callee failed,
// say) Send returns that answer's error.
func (cs *CallStream) Send(args wamp.List, kwargs wamp.Dict) error {
	return cs.send(args, kwargs, true)
}

func (cs *CallStream) send(args wamp.List, kwargs wamp.Dict, progress bool) error {
	if cs.done {
		return fmt.Errorf("calling %s: the call is over", cs.procedure)
	}
	opts := cs.opts
	if progress {
		opts = withOption(opts, "progress", true)
	}
	m := &wamp.Call{Options: opts, Procedure: wamp.URI(cs.procedure), Payload: wamp.Payload{Args: args, Kwargs: kwargs}}
	if cs.w == nil {
		w, err := cs.s.wire(cs.ctx)
		if err == nil {
			err = w.checkPassthru(opts, w.features.dealerPassthru, "dealer")
		}
		if err != nil {
			cs.done = true
			return fmt.Errorf("calling %s: %w", cs.procedure, err)
		}
		cs.w, cs.id, cs.req = w, w.reqIDs.Next(), newRequest(nil)
		m.Request = cs.id
		if err := w.begin(cs.ctx, cs.id, m, cs.req); err != nil {
			cs.done = true
			return fmt.Errorf("calling %s: %w", cs.procedure, err)
		}
		return nil
	}
	// An early answer ends the call.
	if r := cs.req.pop(); r != nil {
		cs.done = true
		if e, ok := r.(*wamp.Error); ok {
			return wampError(e)
		}
		return fmt.Errorf("calling %s: the callee answered before the last chunk", cs.procedure)
	}
	m.Request = cs.id
	if err := cs.w.send(cs.ctx, m, normal); err != nil {
		cs.done = true
		cs.w.forget(cs.id)
		if cs.ctx.Err() != nil {
			cs.w.cancelCall(cs.id)
		}
		return fmt.Errorf("calling %s: %w", cs.procedure, err)
	}
	return nil
}

// Finish sends the last chunk and waits for the call's result.
func (cs *CallStream) Finish(args wamp.List, kwargs wamp.Dict) (*Result, error) {
	if err := cs.send(args, kwargs, false); err != nil {
		return nil, err
	}
	cs.done = true
	return cs.w.finishCall(cs.ctx, cs.procedure, cs.id, cs.req, nil)
}

// Cancel gives the call up: the router is asked to cancel it.
func (cs *CallStream) Cancel() {
	if cs.done || cs.w == nil {
		cs.done = true
		return
	}
	cs.done = true
	if cs.w.forget(cs.id) {
		cs.w.cancelCall(cs.id)
	}
}

// Registration is a procedure registered by this session.
type Registration struct {
	s         *Session
	id        atomic.Uint64
	procedure string
	opts      wamp.Dict
	handler   Handler
	ordered   bool
	stopped   atomic.Bool

	mu      sync.Mutex
	queue   []queuedInvocation
	running bool
}

type queuedInvocation struct {
	w   *wire
	ctx context.Context
	st  *invocation
	m   *wamp.Invocation
}

// ID returns the router's registration id; it changes when a session
// reconnects.
func (reg *Registration) ID() wamp.ID { return wamp.ID(reg.id.Load()) }

// Procedure returns the procedure (or pattern) registered.
func (reg *Registration) Procedure() string { return reg.procedure }

// Register registers handler for procedure. opts are REGISTER.Options (nil
// for none; RegisterOptions builds them). Each invocation runs on a
// goroutine of its own, so a slow one holds up neither the session nor other
// invocations; they may finish in any order. RegisterOrdered runs them one
// at a time instead.
func (s *Session) Register(ctx context.Context, procedure string, handler Handler, opts wamp.Dict) (*Registration, error) {
	return s.register(ctx, procedure, handler, opts, false)
}

// RegisterOrdered is Register for a handler that must see invocations one
// at a time, in the order the router sent them: the next invocation starts
// when the handler has returned. Invocations of other registrations still
// run concurrently with it.
func (s *Session) RegisterOrdered(ctx context.Context, procedure string, handler Handler, opts wamp.Dict) (*Registration, error) {
	return s.register(ctx, procedure, handler, opts, true)
}

func (s *Session) register(ctx context.Context, procedure string, handler Handler, opts wamp.Dict, ordered bool) (*Registration, error) {
	if handler == nil {
		return nil, errors.New("registering: nil handler")
	}
	reg := &Registration{s: s, procedure: procedure, opts: opts, handler: handler, ordered: ordered}
	w, err := s.wire(ctx)
	if err != nil {
		return nil, fmt.Errorf("registering %s: %w", procedure, err)
	}
	if err := w.register(ctx, reg, true); err != nil {
		return nil, err
	}
	return reg, nil
}

// register sends REGISTER for reg; track adds reg to what the session
// restores after a reconnect.
func (w *wire) register(ctx context.Context, reg *Registration, track bool) error {
	id := w.reqIDs.Next()
	r, err := w.request(ctx, id, &wamp.Register{Request: id, Options: reg.opts, Procedure: wamp.URI(reg.procedure)},
		func(m wamp.Message) {
			ok, _ := m.(*wamp.Registered)
			if ok == nil {
				return
			}
			reg.id.Store(uint64(ok.Registration))
			w.mu.Lock()
			if w.regs == nil {
				w.regs = make(map[wamp.ID]*Registration, 1)
			}
			w.regs[ok.Registration] = reg
			w.mu.Unlock()
			if track {
				w.s.mu.Lock()
				w.s.regs = append(w.s.regs, reg)
				w.s.mu.Unlock()
			}
		})
	if err != nil {
		return fmt.Errorf("registering %s: %w", reg.procedure, err)
	}
	switch r := r.(type) {
	case *wamp.Registered:
		return nil
	case *wamp.Error:
		return wampError(r)
	}
	return fmt.Errorf("registering %s: unexpected answer %s", reg.procedure, r.Type())
}

// Unregister removes the registration. Invocations already running finish.
// While the session reconnects, Unregister waits for it (or ctx).
func (reg *Registration) Unregister(ctx context.Context) error {
	s := reg.s
	if reg.stopped.Swap(true) {
		return nil
	}
	s.mu.Lock()
	if i := slices.Index(s.regs, reg); i >= 0 {
		s.regs = slices.Delete(s.regs, i, i+1)
	}
	s.mu.Unlock()
	w, err := s.wire(ctx)
	if err != nil {
		if s.ended.Load() {
			return nil
		}
		return fmt.Errorf("unregistering %s: %w", reg.procedure, err)
	}
	return w.unregister(ctx, reg)
}

// unregister takes reg from the connection's registrations and tells the
// router, when the connection has it.
func (w *wire) unregister(ctx context.Context, reg *Registration) error {
	rid := reg.ID()
	w.mu.Lock()
	mine := w.regs[rid] == reg
	if mine {
		delete(w.regs, rid)
	}
	w.mu.Unlock()
	if !mine {
		return nil
	}
	id := w.reqIDs.Next()
	r, err := w.request(ctx, id, &wamp.Unregister{Request: id, Registration: rid}, nil)
	if err != nil {
		return fmt.Errorf("unregistering %s: %w", reg.procedure, err)
	}
	if e, ok := r.(*wamp.Error); ok {
		return wampError(e)
	}
	return nil
}

// maxAnswered bounds the streamed calls answered before their last chunk
// that a connection remembers, to drop their further chunks.
const maxAnswered = 1024

// rememberAnswered remembers the streamed call id, answered before its
// last chunk, so that its further chunks are dropped; past maxAnswered the
// oldest is forgotten (the router sends no chunk after the answer, so only
// one that crossed it on the wire can come, soon after). Called under w.mu.
func (w *wire) rememberAnswered(id wamp.ID) {
	if w.answered == nil {
		w.answered = make(map[wamp.ID]struct{})
	}
	for len(w.answered) >= maxAnswered && len(w.answeredOrder) > 0 {
		delete(w.answered, w.answeredOrder[0])
		w.answeredOrder = w.answeredOrder[1:]
	}
	if len(w.answeredOrder) >= 2*maxAnswered {
		// Ids whose last chunk came (and left the map) are dropped here.
		w.answeredOrder = slices.DeleteFunc(w.answeredOrder, func(x wamp.ID) bool {
			_, ok := w.answered[x]
			return !ok
		})
	}
	w.answered[id] = struct{}{}
	w.answeredOrder = append(w.answeredOrder, id)
}

// invocation is the state of an invocation being handled.
type invocation struct {
	// ctx is the handler's context; cancel ends it, cause its
	// context.Cause (nil for context.Canceled).
	ctx    context.Context
	cancel func(cause error)

	mu     sync.Mutex
	chunks []*wamp.Invocation // progressive invocations not yet taken by Next
	final  bool               // the last chunk has arrived
	ready  chan struct{}      // capacity 1
}

// Invocation is a call routed to a procedure this session registered.
type Invocation struct {
	Request      wamp.ID
	Registration wamp.ID
	// Procedure is the procedure called: Details.procedure for a
	// pattern-based registration, the registered one otherwise.
	Procedure string
	Details   wamp.Dict
	Args      wamp.List
	Kwargs    wamp.Dict
	// Raw is the payload as it arrived, in the session's serialization.
	Raw wamp.Payload
	// Progress is true when the caller sends its arguments in chunks and
	// more follow: Next returns them.
	Progress bool

	w  *wire
	st *invocation
}

// Caller returns the caller's session id when the router disclosed it
// (Details.caller), 0 otherwise.
func (inv *Invocation) Caller() wamp.ID {
	id, _ := idFrom(inv.Details, "caller")
	return id
}

// ReceiveProgress reports whether the caller asked for progressive results,
// which SendProgress sends.
func (inv *Invocation) ReceiveProgress() bool {
	return wamp.Bool(inv.Details, "receive_progress", false)
}

// SendProgress sends a progressive result to the caller; the handler's
// return value is the final one. It fails when the caller did not ask for
// progressive results.
func (inv *Invocation) SendProgress(ctx context.Context, args wamp.List, kwargs wamp.Dict) error {
	if !inv.ReceiveProgress() {
		return errors.New("the caller did not ask for progressive results")
	}
	return inv.w.send(ctx, &wamp.Yield{Request: inv.Request, Options: wamp.Dict{"progress": true},
		Payload: wamp.Payload{Args: args, Kwargs: kwargs}}, normal)
}

// Next returns the next chunk of a call whose arguments come in chunks
// (progressive call invocations), waiting for it; its Progress says whether
// more follow. After the last chunk it returns io.EOF. It stops waiting
// when ctx ends, and when the invocation does (the router interrupted it,
// its timeout passed, the connection was lost: the handler's context's
// cause), whatever ctx it is given.
func (inv *Invocation) Next(ctx context.Context) (*Invocation, error) {
	st := inv.st
	for {
		st.mu.Lock()
		if len(st.chunks) > 0 {
			m := st.chunks[0]
			st.chunks = st.chunks[1:]
			st.mu.Unlock()
			args, kwargs, err := codec.DecodePayload(&m.Payload)
			if err != nil {
				return nil, &Error{URI: wamp.ErrInvalidArgument, Args: wamp.List{err.Error()}}
			}
			return &Invocation{Request: m.Request, Registration: inv.Registration, Procedure: inv.Procedure,
				Details: m.Details, Args: args, Kwargs: kwargs, Raw: m.Payload,
				Progress: wamp.Bool(m.Details, "progress", false), w: inv.w, st: st}, nil
		}
		final := st.final
		st.mu.Unlock()
		if final {
			return nil, io.EOF
		}
		select {
		case <-st.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-st.ctx.Done():
			return nil, context.Cause(st.ctx)
		}
	}
}

// invocation starts the handler for an INVOCATION, or hands a further
// chunk of a progressive invocation to its handler (reading goroutine).
func (w *wire) invocation(m *wamp.Invocation) {
	w.mu.Lock()
	if st := w.invs[m.Request]; st != nil {
		w.mu.Unlock()
		st.mu.Lock()
		if !st.final {
			st.chunks = append(st.chunks, m)
			st.final = !wamp.Bool(m.Details, "progress", false)
		}
		st.mu.Unlock()
		select {
		case st.ready <- struct{}{}:
		default:
		}
		return
	}
	if _, over := w.answered[m.Request]; over {
		// A chunk of a streamed call this session has answered already:
		// dropped, as progressive call invocations say.
		if !wamp.Bool(m.Details, "progress", false) {
			delete(w.answered, m.Request)
		}
		w.mu.Unlock()
		return
	}
	reg := w.regs[m.Registration]
	var (
		ctx context.Context
		st  *invocation
	)
	if reg != nil {
		var interrupt context.CancelCauseFunc
		ctx, interrupt = context.WithCancelCause(w.ctx)
		cancel := interrupt
		if ms, ok, _ := wamp.OptUint(m.Details, "timeout"); ok && ms > 0 {
			var stop context.CancelFunc
			ctx, stop = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
			cancel = func(cause error) { interrupt(cause); stop() }
		}
		st = &invocation{ctx: ctx, cancel: cancel, ready: make(chan struct{}, 1), final: !wamp.Bool(m.Details, "progress", false)}
		if w.invs == nil {
			w.invs = make(map[wamp.ID]*invocation)
		}
		w.invs[m.Request] = st
	}
	w.mu.Unlock()
	if reg == nil {
		w.send(context.Background(), &wamp.Error{RequestType: wamp.TypeInvocation, Request: m.Request,
			Error: wamp.ErrNoSuchRegistration, Payload: wamp.Payload{Args: wamp.List{"this session has no such registration"}}}, urgent)
		return
	}
	q := queuedInvocation{w: w, ctx: ctx, st: st, m: m}
	if !reg.ordered {
		w.s.wg.Add(1)
		go func() {
			defer w.s.wg.Done()
			q.run(reg)
		}()
		return
	}
	reg.mu.Lock()
	reg.queue = append(reg.queue, q)
	if reg.running {
		reg.mu.Unlock()
		return
	}
	reg.running = true
	reg.mu.Unlock()
	w.s.wg.Add(1)
	go reg.runQueue()
}

// runQueue runs an ordered registration's invocations one at a time.
func (reg *Registration) runQueue() {
	defer reg.s.wg.Done()
	for {
		reg.mu.Lock()
		if len(reg.queue) == 0 {
			reg.running = false
			reg.queue = nil
			reg.mu.Unlock()
			return
		}
		q := reg.queue[0]
		reg.queue[0] = queuedInvocation{}
		reg.queue = reg.queue[1:]
		reg.mu.Unlock()
		q.run(reg)
	}
}

// interrupt cancels an invocation's context (INTERRUPT), its cause an
// *Error with the INTERRUPT's reason.
func (w *wire) interrupt(m *wamp.Interrupt) {
	w.mu.Lock()
	st := w.invs[m.Request]
	w.mu.Unlock()
	if st != nil {
		reason, _ := m.Options["reason"].(string)
		if reason == "" {
			reason = string(wamp.ErrCanceled)
		}
		st.cancel(&Error{URI: wamp.URI(reason), Args: wamp.List{"the router interrupted the call"}})
	}
}

// run runs the handler and answers the invocation.
func (q *queuedInvocation) run(reg *Registration) {
	w, m := q.w, q.m
	res, err := w.runHandler(q.ctx, reg, q.st, m)
	timedOut := errors.Is(q.ctx.Err(), context.DeadlineExceeded)
	q.st.cancel(nil)
	q.st.mu.Lock()
	final := q.st.final
	q.st.mu.Unlock()
	w.mu.Lock()
	delete(w.invs, m.Request)
	if !final {
		w.rememberAnswered(m.Request)
	}
	w.mu.Unlock()
	var reply wamp.Message
	if err != nil {
		if timedOut && errors.Is(err, context.DeadlineExceeded) {
			err = &Error{URI: wamp.ErrTimeout, Args: wamp.List{"the call timed out"}}
		}
		reply = errorMessage(wamp.TypeInvocation, m.Request, err)
	} else if opts := res.yieldOptions(); opts == nil {
		reply = &wamp.Yield{Request: m.Request, Payload: res.payload()}
	} else if err := w.checkPassthru(opts, w.features.dealerPassthru, "dealer"); err != nil {
		reply = errorMessage(wamp.TypeInvocation, m.Request, err)
	} else {
		reply = &wamp.Yield{Request: m.Request, Options: opts, Payload: res.payload()}
	}
	err = w.send(w.ctx, reply, normal)
	if errors.Is(err, ErrTooLarge) {
		err = w.send(w.ctx, errorMessage(wamp.TypeInvocation, m.Request,
			&Error{URI: wamp.ErrPayloadSizeExceeded, Args: wamp.List{err.Error()}}), normal)
	}
	if err != nil && !w.ended.Load() && !errors.Is(err, ErrClosed) {
		w.log.Warn("cannot answer an invocation", "procedure", reg.procedure, "err", err)
	}
}

// runHandler decodes the arguments and runs the handler, turning a panic
// into an error for the caller.
func (w *wire) runHandler(ctx context.Context, reg *Registration, st *invocation, m *wamp.Invocation) (res *Result, err error) {
	args, kwargs, err := codec.DecodePayload(&m.Payload)
	if err != nil {
		return nil, &Error{URI: wamp.ErrInvalidArgument, Args: wamp.List{err.Error()}}
	}
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("invocation handler panicked", "procedure", reg.procedure, "panic", p, "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("the callee failed: %v", p)
		}
	}()
	proc := wamp.String(m.Details, "procedure")
	if proc == "" {
		proc = reg.procedure
	}
	return reg.handler(ctx, &Invocation{Request: m.Request, Registration: m.Registration, Procedure: proc,
		Details: m.Details, Args: args, Kwargs: kwargs, Raw: m.Payload,
		Progress: wamp.Bool(m.Details, "progress", false), w: w, st: st})
}

// revokeRegistration handles [UNREGISTERED, 0, Details]: the router ended a
// registration.
func (w *wire) revokeRegistration(details wamp.Dict) {
	id, ok := idFrom(details, "registration")
	if !ok {
		return
	}
	w.mu.Lock()
	reg := w.regs[id]
	delete(w.regs, id)
	w.mu.Unlock()
	if reg != nil {
		reg.stopped.Store(true)
		s := w.s
		s.mu.Lock()
		if i := slices.Index(s.regs, reg); i >= 0 {
			s.regs = slices.Delete(s.regs, i, i+1)
		}
		s.mu.Unlock()
	}
	w.log.Info("registration revoked by the router", "registration", uint64(id), "reason", wamp.String(details, "reason"))
}
