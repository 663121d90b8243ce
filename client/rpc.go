package client

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Result is a call's result, or what a callee's handler answers with.
type Result struct {
	Details wamp.Dict
	Args    wamp.List
	Kwargs  wamp.Dict
	// Raw is the payload as it arrived, in the session's serialization. A
	// handler may answer with a Result that has only Raw set (an Invocation's
	// Raw, say) to send those bytes on without encoding them again; Args and
	// Kwargs, when set, take precedence.
	Raw wamp.Payload
}

func (r *Result) payload() wamp.Payload {
	if r == nil {
		return wamp.Payload{}
	}
	if len(r.Args) > 0 || len(r.Kwargs) > 0 {
		return wamp.Payload{Args: r.Args, Kwargs: r.Kwargs}
	}
	return r.Raw
}

// Invocation is a call routed to a procedure this session registered.
type Invocation struct {
	Request      wamp.ID
	Registration wamp.ID
	Details      wamp.Dict
	Args         wamp.List
	Kwargs       wamp.Dict
	// Raw is the payload as it arrived, in the session's serialization.
	Raw wamp.Payload
}

// Handler answers invocations of a registered procedure. Its context is
// canceled when the caller cancels the call (INTERRUPT) or the session ends.
// Returning an *Error answers with that error URI; any other error answers
// with wamp.error.runtime_error (wamp.error.canceled for context.Canceled)
// and the error's text.
type Handler func(ctx context.Context, inv *Invocation) (*Result, error)

// Call calls procedure and waits for its result. A WAMP error comes back as
// an *Error. When ctx ends first, Call returns ctx's error and, if the
// router supports call canceling, asks it to cancel the call.
func (s *Session) Call(ctx context.Context, procedure string, args wamp.List, kwargs wamp.Dict, opts wamp.Dict) (*Result, error) {
	id := s.reqIDs.Next()
	r, err := s.request(ctx, id, &wamp.Call{Request: id, Options: opts, Procedure: wamp.URI(procedure),
		Payload: wamp.Payload{Args: args, Kwargs: kwargs}}, nil)
	if err != nil {
		if ctx.Err() != nil && s.canCancel && !s.ended.Load() {
			s.send(context.Background(), &wamp.Cancel{Request: id, Options: wamp.Dict{"mode": "killnowait"}}, normal)
		}
		return nil, fmt.Errorf("calling %s: %w", procedure, err)
	}
	switch r := r.(type) {
	case *wamp.Result:
		args, kwargs, err := codec.DecodePayload(&r.Payload)
		if err != nil {
			return nil, fmt.Errorf("calling %s: result: %w", procedure, err)
		}
		return &Result{Details: r.Details, Args: args, Kwargs: kwargs, Raw: r.Payload}, nil
	case *wamp.Error:
		return nil, wampError(r)
	}
	return nil, fmt.Errorf("calling %s: unexpected answer %s", procedure, r.Type())
}

// Registration is a procedure registered by this session.
type Registration struct {
	s         *Session
	id        wamp.ID
	procedure string
	handler   Handler
}

// ID returns the router's registration id.
func (reg *Registration) ID() wamp.ID { return reg.id }

// Procedure returns the procedure registered.
func (reg *Registration) Procedure() string { return reg.procedure }

// Register registers handler for procedure. opts are REGISTER.Options (nil
// for none). Each invocation runs on a goroutine of its own.
func (s *Session) Register(ctx context.Context, procedure string, handler Handler, opts wamp.Dict) (*Registration, error) {
	if handler == nil {
		return nil, errors.New("registering: nil handler")
	}
	reg := &Registration{s: s, procedure: procedure, handler: handler}
	id := s.reqIDs.Next()
	r, err := s.request(ctx, id, &wamp.Register{Request: id, Options: opts, Procedure: wamp.URI(procedure)},
		func(m wamp.Message) {
			if ok, _ := m.(*wamp.Registered); ok != nil {
				reg.id = ok.Registration
				s.mu.Lock()
				if s.regs == nil {
					s.regs = make(map[wamp.ID]*Registration, 1)
				}
				s.regs[reg.id] = reg
				s.mu.Unlock()
			}
		})
	if err != nil {
		return nil, fmt.Errorf("registering %s: %w", procedure, err)
	}
	switch r := r.(type) {
	case *wamp.Registered:
		return reg, nil
	case *wamp.Error:
		return nil, wampError(r)
	}
	return nil, fmt.Errorf("registering %s: unexpected answer %s", procedure, r.Type())
}

// Unregister removes the registration. Invocations already running finish.
func (reg *Registration) Unregister(ctx context.Context) error {
	s := reg.s
	s.mu.Lock()
	mine := s.regs[reg.id] == reg
	if mine {
		delete(s.regs, reg.id)
	}
	s.mu.Unlock()
	if !mine {
		return nil
	}
	id := s.reqIDs.Next()
	r, err := s.request(ctx, id, &wamp.Unregister{Request: id, Registration: reg.id}, nil)
	if err != nil {
		return fmt.Errorf("unregistering %s: %w", reg.procedure, err)
	}
	if e, ok := r.(*wamp.Error); ok {
		return wampError(e)
	}
	return nil
}

// invocation starts the handler for an INVOCATION (reading goroutine).
func (s *Session) invocation(m *wamp.Invocation) {
	s.mu.Lock()
	reg := s.regs[m.Registration]
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	if reg != nil {
		ctx, cancel = context.WithCancel(s.ctx)
		if s.invs == nil {
			s.invs = make(map[wamp.ID]context.CancelFunc)
		}
		s.invs[m.Request] = cancel
	}
	s.mu.Unlock()
	if reg == nil {
		s.send(context.Background(), &wamp.Error{RequestType: wamp.TypeInvocation, Request: m.Request,
			Error: wamp.ErrNoSuchRegistration, Payload: wamp.Payload{Args: wamp.List{"this session has no such registration"}}}, urgent)
		return
	}
	s.wg.Add(1)
	go s.invoke(ctx, cancel, reg, m)
}

func (s *Session) invoke(ctx context.Context, cancel context.CancelFunc, reg *Registration, m *wamp.Invocation) {
	defer s.wg.Done()
	res, err := s.runHandler(ctx, reg, m)
	cancel()
	s.mu.Lock()
	delete(s.invs, m.Request)
	s.mu.Unlock()
	var reply wamp.Message
	if err != nil {
		reply = errorMessage(wamp.TypeInvocation, m.Request, err)
	} else {
		reply = &wamp.Yield{Request: m.Request, Payload: res.payload()}
	}
	err = s.send(s.ctx, reply, normal)
	if errors.Is(err, ErrTooLarge) {
		err = s.send(s.ctx, errorMessage(wamp.TypeInvocation, m.Request,
			&Error{URI: wamp.ErrPayloadSizeExceeded, Args: wamp.List{err.Error()}}), normal)
	}
	if err != nil && !s.ended.Load() && !errors.Is(err, ErrClosed) {
		s.log.Warn("cannot answer an invocation", "procedure", reg.procedure, "err", err)
	}
}

// runHandler decodes the arguments and runs the handler, turning a panic
// into an error for the caller.
func (s *Session) runHandler(ctx context.Context, reg *Registration, m *wamp.Invocation) (res *Result, err error) {
	args, kwargs, err := codec.DecodePayload(&m.Payload)
	if err != nil {
		return nil, &Error{URI: wamp.ErrInvalidArgument, Args: wamp.List{err.Error()}}
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("invocation handler panicked", "procedure", reg.procedure, "panic", p, "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("the callee failed: %v", p)
		}
	}()
	return reg.handler(ctx, &Invocation{Request: m.Request, Registration: m.Registration,
		Details: m.Details, Args: args, Kwargs: kwargs, Raw: m.Payload})
}

// revokeRegistration handles [UNREGISTERED, 0, Details]: the router ended a
// registration.
func (s *Session) revokeRegistration(details wamp.Dict) {
	id, ok := idFrom(details, "registration")
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.regs, id)
	s.mu.Unlock()
	s.log.Info("registration revoked by the router", "registration", uint64(id), "reason", wamp.String(details, "reason"))
}
