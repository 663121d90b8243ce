package router

import (
	"errors"
	"fmt"
	"sync"

	"github.com/junction-wamp/junction/wamp"
)

// dealer routes CALL to the session that registered the procedure and the
// callee's YIELD or ERROR back to the caller.
type dealer struct {
	router *Router

	mu    sync.RWMutex // guards procs and byID
	procs map[wamp.URI]*registration
	byID  map[wamp.ID]*registration
}

type registration struct {
	id        wamp.ID
	procedure wamp.URI
	callee    *Session
}

// invocation is a call in flight, kept by its callee under the INVOCATION's
// request id.
type invocation struct {
	caller        *Session
	callerRequest wamp.ID
}

// The messages sent once per CALL or acknowledged PUBLISH are reused:
// Peer.Send encodes a message before it returns, so the router needs each
// one only for that long.
var (
	invocationPool = sync.Pool{New: func() any { return new(wamp.Invocation) }}
	resultPool     = sync.Pool{New: func() any { return new(wamp.Result) }}
	publishedPool  = sync.Pool{New: func() any { return new(wamp.Published) }}
)

// dealerFeatures is what WELCOME announces for the dealer role.
func dealerFeatures() wamp.Dict {
	return wamp.Dict{
		"caller_identification": true,
	}
}

func (d *dealer) init(r *Router) {
	d.router = r
	d.procs = make(map[wamp.URI]*registration)
	d.byID = make(map[wamp.ID]*registration)
}

func (d *dealer) register(s *Session, m *wamp.Register) {
	if match := wamp.String(m.Options, "match"); match != "" && match != "exact" {
		s.errorReply(wamp.TypeRegister, m.Request, wamp.ErrOptionNotAllowed,
			"match %q: only exact procedure matching is supported", match)
		return
	}
	if invoke := wamp.String(m.Options, "invoke"); invoke != "" && invoke != "single" {
		s.errorReply(wamp.TypeRegister, m.Request, wamp.ErrOptionNotAllowed,
			"invoke %q: only single registrations are supported", invoke)
		return
	}
	if !s.checkURI(wamp.TypeRegister, m.Request, m.Procedure, "procedure") {
		return
	}
	d.mu.Lock()
	if _, taken := d.procs[m.Procedure]; taken {
		d.mu.Unlock()
		s.errorReply(wamp.TypeRegister, m.Request, wamp.ErrProcedureAlreadyExists,
			"procedure %q is already registered", m.Procedure)
		return
	}
	reg := &registration{id: d.router.regIDs.Next(), procedure: m.Procedure, callee: s}
	s.mu.Lock()
	joined := s.state == stateEstablished
	if joined {
		s.regs = append(s.regs, reg)
	}
	s.mu.Unlock()
	if !joined {
		d.mu.Unlock()
		return
	}
	d.procs[m.Procedure] = reg
	d.byID[reg.id] = reg
	// REGISTERED is queued before any caller can find the registration, so
	// no INVOCATION reaches the callee ahead of it.
	err := s.peer.Send(&wamp.Registered{Request: m.Request, Registration: reg.id})
	d.mu.Unlock()
	if err != nil {
		s.sendFailed(wamp.TypeRegistered, err)
	}
}

func (d *dealer) unregister(s *Session, m *wamp.Unregister) {
	s.mu.Lock()
	var reg *registration
	s.regs, reg = removeID(s.regs, m.Registration)
	s.mu.Unlock()
	if reg == nil {
		s.errorReply(wamp.TypeUnregister, m.Request, wamp.ErrNoSuchRegistration,
			"registration %d is not active on this session", m.Registration)
		return
	}
	d.remove(reg)
	s.send(&wamp.Unregistered{Request: m.Request})
}

func (d *dealer) remove(reg *registration) {
	d.mu.Lock()
	if d.procs[reg.procedure] == reg {
		delete(d.procs, reg.procedure)
		delete(d.byID, reg.id)
	}
	d.mu.Unlock()
}

func (d *dealer) call(s *Session, m *wamp.Call) {
	if !s.checkURI(wamp.TypeCall, m.Request, m.Procedure, "procedure") {
		return
	}
	if p := s.realm.meta[m.Procedure]; p != nil {
		s.realm.callMeta(s, m, p)
		return
	}
	d.mu.RLock()
	reg := d.procs[m.Procedure]
	d.mu.RUnlock()
	if reg == nil {
		s.errorReply(wamp.TypeCall, m.Request, wamp.ErrNoSuchProcedure,
			"no callee has registered procedure %q", m.Procedure)
		return
	}
	callee := reg.callee
	invID := callee.reqIDs.Next()
	callee.mu.Lock()
	if callee.state != stateEstablished {
		callee.mu.Unlock()
		s.errorReply(wamp.TypeCall, m.Request, wamp.ErrNoSuchProcedure,
			"the callee of procedure %q has left", m.Procedure)
		return
	}
	if callee.invocations == nil {
		callee.invocations = make(map[wamp.ID]invocation)
	}
	callee.invocations[invID] = invocation{caller: s, callerRequest: m.Request}
	callee.mu.Unlock()

	var details wamp.Dict
	if wamp.Bool(m.Options, "disclose_me", false) {
		details = wamp.Dict{"caller": uint64(s.id), "caller_authid": s.authid, "caller_authrole": s.authrole}
	}
	inv := invocationPool.Get().(*wamp.Invocation)
	*inv = wamp.Invocation{Request: invID, Registration: reg.id, Details: details, Payload: m.Payload}
	err := callee.peer.Send(inv)
	*inv = wamp.Invocation{}
	invocationPool.Put(inv)
	if err == nil {
		return
	}
	// Nothing was queued: take the call back and tell the caller why.
	callee.mu.Lock()
	delete(callee.invocations, invID)
	callee.mu.Unlock()
	uri, why := wamp.ErrCanceled, err.Error()
	switch {
	case errors.Is(err, ErrQueueFull):
		why = "the callee is not reading: its outbound queue is full"
	case errors.Is(err, ErrTooLarge):
		uri, why = wamp.ErrPayloadSizeExceeded, "the call is larger than the callee accepts"
	case errors.Is(err, ErrClosed):
		uri, why = wamp.ErrNoSuchProcedure, fmt.Sprintf("the callee of procedure %q has left", m.Procedure)
	default:
		uri, why = wamp.ErrInvalidArgument, fmt.Sprintf("the arguments cannot be delivered to the callee: %v", err)
	}
	s.errorReply(wamp.TypeCall, m.Request, uri, "%s", why)
	if errors.Is(err, ErrQueueFull) {
		callee.sendFailed(wamp.TypeInvocation, err)
	}
}

// take removes and returns the invocation s (the callee) answers with req.
// It reports a protocol violation for a request id the router never issued.
func (d *dealer) take(s *Session, req wamp.ID, what wamp.MessageType) (invocation, bool) {
	s.mu.Lock()
	inv, ok := s.invocations[req]
	delete(s.invocations, req)
	s.mu.Unlock()
	if !ok && (req == 0 || req > s.reqIDs.Last()) {
		s.violation(fmt.Sprintf("%s for INVOCATION %d, which was never sent", what, req))
	}
	return inv, ok
}

func (d *dealer) yield(s *Session, m *wamp.Yield) {
	inv, ok := d.take(s, m.Request, wamp.TypeYield)
	if !ok {
		return
	}
	res := resultPool.Get().(*wamp.Result)
	*res = wamp.Result{Request: inv.callerRequest, Payload: m.Payload}
	err := inv.caller.peer.Send(res)
	*res = wamp.Result{}
	resultPool.Put(res)
	if err != nil {
		inv.caller.replyFailed(wamp.TypeResult, inv.callerRequest, err)
	}
}

func (d *dealer) invocationError(s *Session, m *wamp.Error) {
	inv, ok := d.take(s, m.Request, wamp.TypeError)
	if !ok {
		return
	}
	if !wamp.ValidURI(m.Error, false, false) {
		inv.caller.errorReply(wamp.TypeCall, inv.callerRequest, wamp.ErrInvalidURI,
			"the callee answered with an error URI that is not valid: %q", m.Error)
		return
	}
	e := &wamp.Error{RequestType: wamp.TypeCall, Request: inv.callerRequest, Details: m.Details, Error: m.Error, Payload: m.Payload}
	if err := inv.caller.peer.Send(e); err != nil {
		inv.caller.replyFailed(wamp.TypeError, inv.callerRequest, err)
	}
}

// replyFailed handles a RESULT or ERROR that could not be queued for the
// caller s: when it was too large or could not be converted, the caller gets
// an ERROR that says so instead; when the queue is full, the caller is
// disconnected (a lost result must not pass in silence).
func (s *Session) replyFailed(t wamp.MessageType, req wamp.ID, err error) {
	switch {
	case errors.Is(err, ErrTooLarge):
		s.errorReply(wamp.TypeCall, req, wamp.ErrPayloadSizeExceeded, "the %s is larger than this session accepts", t)
	case errors.Is(err, ErrQueueFull), errors.Is(err, ErrClosed):
		s.sendFailed(t, err)
	default:
		s.errorReply(wamp.TypeCall, req, wamp.ErrInvalidArgument, "the %s cannot be delivered: %v", t, err)
	}
}

func (reg *registration) ident() wamp.ID { return reg.id }
