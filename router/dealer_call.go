package router

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// invocation is a call in flight, kept by its callee under the INVOCATION's
// request id.
type invocation struct {
	caller        *Session
	callerRequest wamp.ID
	registration  wamp.ID
	flags         invFlags
	// start is when the call was routed on the router's clock (stats.go),
	// for one call in CallSampling; 0 for the others.
	start int64
	// ext holds what only calls with a router-enforced timeout or
	// progressive invocations need; nil for plain calls, which so cost no
	// allocation.
	ext *invExtra
}

type invFlags uint8

const (
	// flagReceiveProgress: the caller asked for progressive results.
	flagReceiveProgress invFlags = 1 << iota
	// flagProgressiveCall: the caller streams the call in chunks
	// (progressive call invocations).
	flagProgressiveCall
	// flagInterrupted: the caller canceled with mode kill; the callee has
	// been sent INTERRUPT and its answer is awaited.
	flagInterrupted
)

// invExtra is the state of a call beyond who to answer. Its fields are
// guarded by the callee's mu.
type invExtra struct {
	procedure wamp.URI    // as called: continuations must name it again
	details   wamp.Dict   // INVOCATION.Details frozen by the first CALL of a progressive call
	origin    *CallOrigin // with the details, for a callee on another node
	timeout   time.Duration
	deadline  time.Time   // moved by every progressive result
	timer     *time.Timer // router-enforced timeout; nil when none
}

func (inv *invocation) stopTimer() {
	if inv.ext != nil && inv.ext.timer != nil {
		inv.ext.timer.Stop()
	}
}

// outCall is a call in flight, kept by its caller under the CALL's request
// id: what a CANCEL, a continuation of a progressive call or the caller
// leaving needs to find the invocation.
type outCall struct {
	callee *Session
	invID  wamp.ID
	// streaming: a progressive call invocation whose final chunk has not
	// come yet.
	streaming bool
}

// callerState is the dealer's per-session state of the session as caller,
// guarded by Session.mu.
type callerState struct {
	calls map[wamp.ID]outCall
	// ended remembers the last progressive call invocations that ended, so
	// that a continuation which crossed the end on the wire is dropped
	// rather than taken for a new call (the specification's grace table).
	ended *endedCalls
	// left is set when the session leaves and hands its calls to
	// dealer.leave (takeTables): invoke looks at it, without the
	// session's lock, once the INVOCATION is out.
	left atomic.Bool
}

// get returns the call in flight under req; cs may be nil (a session that
// never called).
func (cs *callerState) get(req wamp.ID) (outCall, bool) {
	if cs == nil {
		return outCall{}, false
	}
	oc, ok := cs.calls[req]
	return oc, ok
}

// endedCalls is a small ring of request ids.
type endedCalls struct {
	ids  [16]wamp.ID
	next int
}

func (e *endedCalls) has(id wamp.ID) bool {
	if e == nil {
		return false
	}
	for _, x := range e.ids {
		if x == id {
			return true
		}
	}
	return false
}

func (e *endedCalls) add(id wamp.ID) {
	e.ids[e.next] = id
	e.next = (e.next + 1) % len(e.ids)
}

// callOptions are the CALL options the dealer reads.
type callOptions struct {
	receiveProgress bool
	progress        bool
	discloseMe      bool
	partition       bool
	timeout         time.Duration
	rkey            string
	ppt             wamp.Dict
}

// maxTimeoutMS bounds CALL.Options.timeout to what a time.Duration holds.
const maxTimeoutMS = uint64(math.MaxInt64 / int64(time.Millisecond))

func parseCallOptions(o wamp.Dict) (co callOptions, err error) {
	if co.receiveProgress, err = wamp.OptBool(o, "receive_progress", false); err != nil {
		return co, err
	}
	if co.progress, err = wamp.OptBool(o, "progress", false); err != nil {
		return co, err
	}
	if co.discloseMe, err = wamp.OptBool(o, "disclose_me", false); err != nil {
		return co, err
	}
	ms, _, err := wamp.OptUint(o, "timeout")
	if err != nil {
		return co, err
	}
	if ms > maxTimeoutMS {
		return co, &wamp.OptionError{Key: "timeout", Reason: fmt.Sprintf("is %d ms, more than the %d ms allowed", ms, maxTimeoutMS)}
	}
	co.timeout = time.Duration(ms) * time.Millisecond
	runmode, err := wamp.OptString(o, "runmode", "")
	if err != nil {
		return co, err
	}
	switch runmode {
	case "":
	case "partition":
		co.partition = true
	case "all":
		// The specification leaves "all" calls unwritten: what a call
		// answered by every shard returns is not defined.
		return co, callErrorf(wamp.ErrOptionNotAllowed, "runmode \"all\" is not supported: the specification does not define it; use \"partition\" with an rkey")
	default:
		return co, &wamp.OptionError{Key: "runmode", Reason: fmt.Sprintf("is %q; it must be \"partition\"", runmode)}
	}
	_, hasKey := o["rkey"]
	if co.rkey, err = wamp.OptString(o, "rkey", ""); err != nil {
		return co, err
	}
	switch {
	case co.partition && (!hasKey || co.rkey == ""):
		return co, &wamp.OptionError{Key: "rkey", Reason: "must be a non-empty string when runmode is \"partition\""}
	case hasKey && !co.partition:
		return co, &wamp.OptionError{Key: "rkey", Reason: "is only allowed with runmode \"partition\""}
	}
	if co.ppt, err = passthru(o); err != nil {
		return co, err
	}
	return co, nil
}

func (d *dealer) call(s *Session, m *wamp.Call) {
	// Only a caller that announced progressive call invocations may
	// continue a call; for any other, a CALL is a new call (and one that
	// reuses the id of a call in flight is caught when it is recorded).
	if s.features.has(caller, featProgressiveCallInvocations) {
		s.mu.Lock()
		oc, active := s.rpc.get(m.Request)
		ended := !active && s.rpc != nil && s.rpc.ended.has(m.Request)
		s.mu.Unlock()
		switch {
		case active:
			d.continueCall(s, m, oc)
			return
		case ended:
			// A continuation of a progressive call that ended while it
			// was on the wire: the caller has its answer, or is about to
			// get it.
			return
		}
	}
	if !s.checkURI(wamp.TypeCall, m.Request, m.Procedure, "procedure") {
		return
	}
	if p := s.realm.meta[m.Procedure]; p != nil {
		s.realm.callMeta(s, m, p)
		return
	}
	if wamp.Reserved(m.Procedure) {
		// Not a meta procedure (or the realm serves none): no callee may
		// answer in the router's name, whatever pattern it registered.
		s.errorReply(wamp.TypeCall, m.Request, wamp.ErrNoSuchProcedure, "no procedure %q: the wamp.* procedures are the router's", m.Procedure)
		return
	}
	var co callOptions
	if len(m.Options) > 0 {
		var err error
		if co, err = parseCallOptions(m.Options); err != nil {
			s.requestError(wamp.TypeCall, m.Request, err)
			return
		}
		if co.progress && !s.features.has(caller, featProgressiveCallInvocations) {
			s.violation("CALL with progress=true from a caller that did not announce progressive_call_invocations")
			return
		}
		if co.ppt != nil && !s.features.has(caller, featPayloadPassthruMode) {
			s.violation("CALL in payload passthru mode from a caller that did not announce payload_passthru_mode")
			return
		}
		if policy, _ := s.disclosure(); co.discloseMe && policy == DiscloseNever {
			s.errorReply(wamp.TypeCall, m.Request, wamp.ErrDiscloseMeDisallowed, "this realm never discloses callers")
			return
		}
	}

	d.mu.RLock()
	match, pattern, reg, ok := d.regs.Best(m.Procedure) // reg is nil when !ok
	node, remote := d.route(s.realm, m.Procedure, &co, reg, match, pattern)
	var entry calleeEntry
	var regID wamp.ID
	if ok && !remote {
		entry = *reg.pick(&co)
		regID = reg.id
	}
	d.mu.RUnlock()
	if remote {
		// The callee is on another node (remote_call.go), which finds it
		// and says which pattern matched.
		entry, regID, match, ok = calleeEntry{session: s.realm.proxy(node, callee, true)}, 0, wamp.MatchExact, true
	}
	if !ok {
		s.errorReply(wamp.TypeCall, m.Request, wamp.ErrNoSuchProcedure,
			"no callee has registered procedure %q", m.Procedure)
		return
	}
	to := entry.session
	if calleeRefuses(s, m.Request, m.Procedure, &co, to) {
		return
	}
	details, forwarded := invocationDetails(s, &co, &entry, match, m.Procedure)
	d.invoke(s, m.Request, m.Procedure, m.Payload, &co, to, regID, details, forwarded)
}

// calleeRefuses answers the caller and reports true when callee to cannot
// take the call as asked.
func calleeRefuses(s *Session, req wamp.ID, procedure wamp.URI, co *callOptions, to *Session) bool {
	if co.progress && !(to.features.has(callee, featProgressiveCallInvocations) && to.features.has(callee, featCallCanceling)) {
		s.errorReply(wamp.TypeCall, req, wamp.ErrFeatureNotSupported,
			"the callee of %q does not support progressive call invocations (with call canceling)", procedure)
		return true
	}
	if co.ppt != nil && !to.features.has(callee, featPayloadPassthruMode) {
		s.errorReply(wamp.TypeCall, req, wamp.ErrFeatureNotSupported,
			"the callee of %q does not support payload passthru mode", procedure)
		return true
	}
	return false
}

// invoke records the call req of s to callee to and sends the INVOCATION
// (with the call's origin when to stands for another node's callees).
func (d *dealer) invoke(s *Session, req wamp.ID, procedure wamp.URI, payload wamp.Payload, co *callOptions, to *Session, regID wamp.ID, details wamp.Dict, forwarded bool) {
	enforce := co.timeout > 0 && !forwarded
	var origin *CallOrigin
	if _, remote := to.peer.(*remotePeer); remote {
		origin = originOf(s, procedure, co)
		if enforce {
			origin.Timeout = co.timeout
		}
	}
	inv := invocation{caller: s, callerRequest: req, registration: regID}
	if co.receiveProgress {
		inv.flags |= flagReceiveProgress
	}
	if co.progress || enforce {
		inv.ext = &invExtra{procedure: procedure}
		if co.progress {
			inv.flags |= flagProgressiveCall
			inv.ext.details = details
			if origin != nil {
				continued := *origin
				continued.Continued = true
				inv.ext.origin = &continued
			}
		}
	}

	invID := to.reqIDs.Next()
	inv.start = callStart(invID)
	s.mu.Lock()
	if s.state != stateEstablished {
		s.mu.Unlock()
		return
	}
	if _, dup := s.rpc.get(req); dup {
		s.mu.Unlock()
		s.violation(fmt.Sprintf("CALL %d reuses the request id of a call in flight", req))
		return
	}
	if limit := s.router.cfg.Limits.CallsInFlight; s.rpc != nil && len(s.rpc.calls) >= limit && !s.unlimited() {
		s.mu.Unlock()
		s.limitExceeded(wamp.TypeCall, req,
			"CALL to %q: the session has %d calls in flight, the most the router allows a session", procedure, limit)
		return
	}
	if s.rpc == nil {
		s.rpc = &callerState{}
	}
	if s.rpc.calls == nil {
		s.rpc.calls = make(map[wamp.ID]outCall)
	}
	s.rpc.calls[req] = outCall{callee: to, invID: invID, streaming: co.progress}
	rpc := s.rpc
	s.mu.Unlock()

	// A local callee's INVOCATION is queued under its lock, after a
	// check that it is still established and still a callee of the
	// registration: a callee that unregisters or is told GOODBYE leaves
	// under the same lock before its UNREGISTERED or GOODBYE is queued,
	// so no INVOCATION follows either (a client may take one as a
	// protocol violation; Autobahn|Python does). Another node's proxy
	// needs no such check (its node has the registration) and is not held
	// across the send, which hands the INVOCATION to NATS.
	remote := origin != nil
	to.mu.Lock()
	if to.state != stateEstablished || !remote && !to.regs.has(regID) {
		to.mu.Unlock()
		d.forgetCall(s, req, to, invID, 0, nil)
		s.errorReply(wamp.TypeCall, req, wamp.ErrNoSuchProcedure,
			"the callee of procedure %q has left", procedure)
		return
	}
	if to.invocations == nil {
		to.invocations = make(map[wamp.ID]invocation)
	}
	to.invocations[invID] = inv
	locked := !remote
	if !locked {
		to.mu.Unlock()
	}

	if co.progress {
		details = withProgress(details)
	}
	msg := invocationPool.Get().(*wamp.Invocation)
	*msg = wamp.Invocation{Request: invID, Registration: regID, Details: details, Payload: payload}
	err := sendInvocation(to, msg, origin)
	*msg = wamp.Invocation{}
	invocationPool.Put(msg)
	if enforce && err == nil {
		// Armed once the INVOCATION is queued, so that an INTERRUPT for
		// the timeout cannot overtake it.
		if !locked {
			to.mu.Lock()
			locked = true
		}
		if cur, ok := to.invocations[invID]; ok && cur.ext == inv.ext {
			d.arm(to, invID, inv.ext, co.timeout)
		}
	}
	if locked {
		to.mu.Unlock()
	}
	if err != nil {
		d.invocationFailed(s, req, procedure, to, invID, err, false)
		return
	}
	s.countSent(wamp.TypeInvocation)
	// A caller that left between its call's record and the invocation's
	// found nothing to interrupt at the callee (dealer.leave): the
	// invocation is interrupted here instead of left there for good (or
	// not at all, when the leave found it). Its leave set left before it
	// looked at the callee, under the callee's lock, as the invocation
	// was recorded: if it missed the invocation, left is seen here.
	if rpc.left.Load() {
		d.abandon(to, invID, s, req)
	}
}

// invocationDetails builds INVOCATION.Details for a call from s to entry
// (nil when there is nothing to say, the common case), and reports whether
// the timeout was forwarded to the callee, which then enforces it itself.
func invocationDetails(s *Session, co *callOptions, entry *calleeEntry, match wamp.Match, procedure wamp.URI) (details wamp.Dict, forwarded bool) {
	to := entry.session
	cfg := &s.realm.cfg
	policy, _ := s.disclosure() // the caller's role, else the realm
	switch policy {
	case DiscloseAlways:
		details = discloseCaller(details, s)
	case DiscloseOnRequest:
		if co.discloseMe || entry.discloseCaller {
			details = discloseCaller(details, s)
		}
	}
	if len(cfg.TrustLevels) > 0 {
		if level, ok := cfg.TrustLevels[s.authrole]; ok {
			details = put(details, "trustlevel", level)
		}
	}
	if match != wamp.MatchExact {
		details = put(details, "procedure", string(procedure))
	}
	// A callee without call canceling is taken not to support progressive
	// results (progressive call results, "Ignoring Requests").
	if co.receiveProgress && to.features.has(callee, featProgressiveCallResults) && to.features.has(callee, featCallCanceling) {
		details = put(details, "receive_progress", true)
	}
	// The callee enforces the timeout when it asked for it with
	// forward_timeout and announced call_timeout (call timeout,
	// "Callee-Initiated Timeouts"); the router does otherwise.
	if co.timeout > 0 && entry.forwardTimeout && to.features.has(callee, featCallTimeout) {
		details = put(details, "timeout", uint64(co.timeout/time.Millisecond))
		forwarded = true
	}
	return withPassthru(details, co.ppt), forwarded
}

func discloseCaller(details wamp.Dict, s *Session) wamp.Dict {
	details = put(details, "caller", uint64(s.id))
	details["caller_authid"] = s.authid
	details["caller_authrole"] = s.authrole
	return details
}

func put(d wamp.Dict, k string, v any) wamp.Dict {
	if d == nil {
		d = make(wamp.Dict, 4)
	}
	d[k] = v
	return d
}

// withProgress returns a copy of details with progress=true.
func withProgress(details wamp.Dict) wamp.Dict {
	if len(details) == 0 {
		return progressDetails
	}
	c := make(wamp.Dict, len(details)+1)
	for k, v := range details {
		c[k] = v
	}
	c["progress"] = true
	return c
}

// continueCall forwards a further chunk of the progressive call
// invocation oc to its callee, with the same INVOCATION request id and the
// details of the first chunk; only the progress option of a continuation
// counts (progressive call invocations, "Freezing of Options").
func (d *dealer) continueCall(s *Session, m *wamp.Call, oc outCall) {
	if !oc.streaming {
		s.violation(fmt.Sprintf("CALL %d reuses the request id of a call in flight that is not a progressive call invocation in progress", m.Request))
		return
	}
	to := oc.callee
	progress, err := wamp.OptBool(m.Options, "progress", false)
	if err != nil {
		// The stream cannot go on: the call ends with the error.
		if _, ok := d.complete(to, oc.invID); ok {
			d.interrupt(to, oc.invID, "killnowait", wamp.ErrCanceled)
			s.requestError(wamp.TypeCall, m.Request, err)
		}
		return
	}
	if !progress {
		s.mu.Lock()
		if cur, ok := s.rpc.get(m.Request); ok && cur == oc {
			cur.streaming = false
			s.rpc.calls[m.Request] = cur
		}
		s.mu.Unlock()
	}
	to.mu.Lock()
	inv, ok := to.invocations[oc.invID]
	if !ok || inv.caller != s || inv.callerRequest != m.Request || inv.flags&flagInterrupted != 0 {
		// Ended or canceled meanwhile: the chunk has nowhere to go.
		to.mu.Unlock()
		return
	}
	if inv.ext.procedure != m.Procedure {
		to.mu.Unlock()
		s.violation(fmt.Sprintf("CALL %d continues a progressive call to %q with procedure %q", m.Request, inv.ext.procedure, m.Procedure))
		return
	}
	details := inv.ext.details
	if progress {
		details = withProgress(details)
	}
	msg := invocationPool.Get().(*wamp.Invocation)
	*msg = wamp.Invocation{Request: oc.invID, Registration: inv.registration, Details: details, Payload: m.Payload}
	// Sent under the callee's lock: whatever ends the call (and may send
	// INTERRUPT) comes after this chunk.
	err = sendInvocation(to, msg, inv.ext.origin)
	to.mu.Unlock()
	*msg = wamp.Invocation{}
	invocationPool.Put(msg)
	if err != nil {
		d.invocationFailed(s, m.Request, m.Procedure, to, oc.invID, err, true)
		return
	}
	s.countSent(wamp.TypeInvocation)
}

// invocationFailed ends a call whose INVOCATION could not be queued for
// callee to and tells the caller why. started says whether the callee had
// already been invoked (a later chunk of a progressive call failed).
func (d *dealer) invocationFailed(from *Session, req wamp.ID, procedure wamp.URI, to *Session, invID wamp.ID, err error, started bool) {
	if _, ok := d.complete(to, invID); !ok {
		return
	}
	uri, why := wamp.ErrCanceled, err.Error()
	switch {
	case errors.Is(err, ErrQueueFull):
		why = "the callee is not reading: its outbound queue is full"
	case errors.Is(err, ErrTooLarge):
		uri, why = wamp.ErrPayloadSizeExceeded, "the call is larger than the callee accepts"
	case errors.Is(err, ErrClosed):
		uri, why = wamp.ErrNoSuchProcedure, fmt.Sprintf("the callee of procedure %q has left", procedure)
	default:
		uri, why = wamp.ErrInvalidArgument, fmt.Sprintf("the arguments cannot be delivered to the callee: %v", err)
	}
	if started && !errors.Is(err, ErrQueueFull) && !errors.Is(err, ErrClosed) {
		d.interrupt(to, invID, "killnowait", wamp.ErrCanceled)
	}
	from.errorReply(wamp.TypeCall, req, uri, "%s", why)
	if errors.Is(err, ErrQueueFull) {
		to.sendFailed(wamp.TypeInvocation, err)
	}
}

// complete ends the call that callee to knows as invID: it takes the
// invocation out of the callee's map, stops its timer and forgets the
// caller's record. ok is false when something else ended it first. (The
// caller's own goroutine answers it then; an answer from elsewhere goes
// with the forgetting: take, then finish.)
func (d *dealer) complete(to *Session, invID wamp.ID) (invocation, bool) {
	inv, ok := d.take(to, invID)
	if ok {
		d.finish(to, invID, &inv, nil)
	}
	return inv, ok
}

// take is complete's first half: it takes the invocation invID out of
// callee to's map and stops its timer. ok is false when something else
// ended the call first; else finish must follow.
func (d *dealer) take(to *Session, invID wamp.ID) (invocation, bool) {
	to.mu.Lock()
	inv, ok := to.invocations[invID]
	if ok {
		delete(to.invocations, invID)
	}
	to.mu.Unlock()
	if !ok {
		return inv, false
	}
	inv.stopTimer()
	d.router.callEnded(inv.start)
	return inv, true
}

// finish is complete's second half: it forgets the caller's record of
// inv, taken from callee to as invID, and queues answer (if not nil) for
// the caller in the same step (forgetCall).
func (d *dealer) finish(to *Session, invID wamp.ID, inv *invocation, answer wamp.Message) (sent bool, err error) {
	return d.forgetCall(inv.caller, inv.callerRequest, to, invID, inv.flags, answer)
}

// forgetCall removes the caller's record of the call req, if it still is
// the one invoked as invID at callee to: then the caller still waits for
// an answer (a caller that is leaving has taken its records already), and
// answer, if not nil, is queued for it under the same lock, when it is
// still established, as sendAnswer would: one lock for both, on the
// path of every RESULT. sent reports whether answer was queued, err why
// the transport refused it; neither is set when the call was not owed.
func (d *dealer) forgetCall(from *Session, req wamp.ID, to *Session, invID wamp.ID, flags invFlags, answer wamp.Message) (sent bool, err error) {
	from.mu.Lock()
	if oc, ok := from.rpc.get(req); ok && oc.callee == to && oc.invID == invID {
		delete(from.rpc.calls, req)
		if flags&flagProgressiveCall != 0 {
			if from.rpc.ended == nil {
				from.rpc.ended = new(endedCalls)
			}
			from.rpc.ended.add(req)
		}
		if answer != nil && from.state == stateEstablished {
			err = from.peer.Send(answer)
			sent = err == nil
		}
	}
	from.mu.Unlock()
	return sent, err
}

// finishWithError is finish with an ERROR for the caller's CALL, sent
// (and counted) as answerError would.
func (d *dealer) finishWithError(to *Session, invID wamp.ID, inv *invocation, uri wamp.URI, format string, args ...any) {
	sent, err := d.finish(to, invID, inv, errorMessage(wamp.TypeCall, inv.callerRequest, uri, format, args...))
	switch {
	case sent:
		inv.caller.countSent(wamp.TypeError)
	case err != nil:
		inv.caller.sendFailed(wamp.TypeError, err)
	}
}

// interrupt sends INTERRUPT for invID to callee to, if it supports call
// canceling; otherwise it gets nothing (the specification's skip mode).
// It comes from another session's goroutine or a timer, so it goes as an
// answer does (Session.sendAnswer): not to a callee that is leaving or
// was told GOODBYE, whose calls its leave ends anyway.
func (d *dealer) interrupt(to *Session, invID wamp.ID, mode string, reason wamp.URI) {
	if !to.features.has(callee, featCallCanceling) {
		return
	}
	m := &wamp.Interrupt{Request: invID, Options: wamp.Dict{"mode": mode, "reason": string(reason)}}
	if err := to.sendAnswer(m); err != nil {
		to.sendFailed(wamp.TypeInterrupt, err)
		return
	}
	to.countSent(wamp.TypeInterrupt)
}

// arm starts the router's timer for a call with a timeout. Timers are
// runtime timers, not goroutines; the callback runs only if it fires. It
// is called under the callee's lock.
func (d *dealer) arm(to *Session, invID wamp.ID, x *invExtra, timeout time.Duration) {
	x.timeout = timeout
	x.deadline = time.Now().Add(timeout)
	x.timer = time.AfterFunc(timeout, func() { d.expire(to, invID, x) })
}

// expire ends a call whose timeout has passed: ERROR wamp.error.timeout to
// the caller, INTERRUPT (killnowait) to a callee that supports canceling
// (call timeout, "Dealer-Initiated Timeouts").
func (d *dealer) expire(to *Session, invID wamp.ID, x *invExtra) {
	to.mu.Lock()
	inv, ok := to.invocations[invID]
	if !ok || inv.ext != x {
		to.mu.Unlock()
		return
	}
	if wait := time.Until(x.deadline); wait > 0 {
		// A progressive result moved the deadline since the timer was set.
		x.timer.Reset(wait)
		to.mu.Unlock()
		return
	}
	delete(to.invocations, invID)
	to.mu.Unlock()
	d.router.stats.callTimeouts.Add(1)
	d.router.callEnded(inv.start)
	d.finishWithError(to, invID, &inv, wamp.ErrTimeout, "the callee did not answer within %v", x.timeout)
	d.interrupt(to, invID, "killnowait", wamp.ErrTimeout)
}

// cancel handles CANCEL from caller s (call canceling): skip answers the
// caller at once and forgets the invocation; killnowait does the same and
// sends INTERRUPT; kill sends INTERRUPT and lets the callee's answer end the
// call. A callee that does not support canceling always gets skip.
func (d *dealer) cancel(s *Session, m *wamp.Cancel) { d.interruptCall(s, m, wamp.ErrCanceled) }

// interruptCall is cancel with the reason the INTERRUPT gives the callee:
// wamp.error.canceled for a CANCEL, what the caller's node said for a
// call of another node (wamp.error.timeout when its timeout passed).
func (d *dealer) interruptCall(s *Session, m *wamp.Cancel, reason wamp.URI) {
	mode, err := wamp.OptChoice(m.Options, "mode", "killnowait", "skip", "kill", "killnowait")
	if err != nil {
		s.requestError(wamp.TypeCancel, m.Request, err)
		return
	}
	s.mu.Lock()
	oc, ok := s.rpc.get(m.Request)
	s.mu.Unlock()
	if !ok {
		// Already answered (the answer crossed the CANCEL on the wire), or
		// never made: nothing to cancel.
		return
	}
	to := oc.callee
	if !to.features.has(callee, featCallCanceling) {
		mode = "skip"
	}
	if mode == "kill" {
		to.mu.Lock()
		inv, ok := to.invocations[oc.invID]
		first := ok && inv.flags&flagInterrupted == 0
		if first {
			inv.flags |= flagInterrupted
			to.invocations[oc.invID] = inv
		}
		to.mu.Unlock()
		if first {
			d.router.stats.callCancels.Add(1)
			d.interrupt(to, oc.invID, "kill", reason)
		}
		return
	}
	if _, ok := d.complete(to, oc.invID); !ok {
		return
	}
	d.router.stats.callCancels.Add(1)
	s.errorReply(wamp.TypeCall, m.Request, wamp.ErrCanceled, "the call was canceled (mode %s)", mode)
	if mode == "killnowait" {
		d.interrupt(to, oc.invID, "killnowait", reason)
	}
}

// answered takes the invocation callee s answers with req (a final YIELD or
// an ERROR); finish must follow, with the caller's answer. A request id
// the router never issued is a protocol violation; one it has forgotten
// (the call was canceled, timed out or its caller left) is dropped in
// silence.
func (d *dealer) answered(s *Session, req wamp.ID, what wamp.MessageType) (invocation, bool) {
	inv, ok := d.take(s, req)
	if !ok {
		d.unknownAnswer(s, req, what)
	}
	return inv, ok
}

func (d *dealer) unknownAnswer(s *Session, req wamp.ID, what wamp.MessageType) {
	if req == 0 || req > s.reqIDs.Last() {
		s.violation(fmt.Sprintf("%s for INVOCATION %d, which was never sent", what, req))
	}
}

func (d *dealer) yield(s *Session, m *wamp.Yield) {
	var progress bool
	var ppt wamp.Dict
	if len(m.Options) > 0 {
		var err error
		progress, err = wamp.OptBool(m.Options, "progress", false)
		if err == nil {
			ppt, err = passthru(m.Options)
		}
		if err != nil {
			d.refuseAnswer(s, wamp.TypeYield, m.Request, err)
			return
		}
		if ppt != nil && !s.features.has(callee, featPayloadPassthruMode) {
			s.violation("YIELD in payload passthru mode from a callee that did not announce payload_passthru_mode")
			return
		}
	}
	if progress {
		d.progressiveYield(s, m, ppt)
		return
	}
	inv, ok := d.answered(s, m.Request, wamp.TypeYield)
	if !ok {
		return
	}
	back := inv.caller
	if ppt != nil && !back.features.has(caller, featPayloadPassthruMode) {
		s.errorReply(wamp.TypeYield, m.Request, wamp.ErrFeatureNotSupported, "the caller does not support payload passthru mode")
		d.finishWithError(s, m.Request, &inv, wamp.ErrFeatureNotSupported,
			"the callee answered in payload passthru mode, which this session did not announce")
		return
	}
	res := resultPool.Get().(*wamp.Result)
	*res = wamp.Result{Request: inv.callerRequest, Details: resultDetails(false, ppt), Payload: m.Payload}
	sent, err := d.finish(s, m.Request, &inv, res)
	*res = wamp.Result{}
	resultPool.Put(res)
	switch {
	case sent:
		s.countSent(wamp.TypeResult)
	case err != nil:
		back.replyFailed(wamp.TypeResult, inv.callerRequest, err)
	}
}

// progressiveYield forwards a progressive result to the caller, if it
// asked for them; the call goes on.
func (d *dealer) progressiveYield(s *Session, m *wamp.Yield, ppt wamp.Dict) {
	s.mu.Lock()
	inv, ok := s.invocations[m.Request]
	if !ok {
		s.mu.Unlock()
		d.unknownAnswer(s, m.Request, wamp.TypeYield)
		return
	}
	if inv.flags&flagReceiveProgress == 0 {
		// The caller did not ask for progressive results: it would take
		// this one for the final result.
		s.mu.Unlock()
		return
	}
	back := inv.caller
	if ppt != nil && !back.features.has(caller, featPayloadPassthruMode) {
		s.mu.Unlock()
		if inv, ok := d.take(s, m.Request); ok {
			s.errorReply(wamp.TypeYield, m.Request, wamp.ErrFeatureNotSupported, "the caller does not support payload passthru mode")
			d.interrupt(s, m.Request, "killnowait", wamp.ErrCanceled)
			d.finishWithError(s, m.Request, &inv, wamp.ErrFeatureNotSupported,
				"the callee answered in payload passthru mode, which this session did not announce")
		}
		return
	}
	if x := inv.ext; x != nil && x.timer != nil {
		x.deadline = time.Now().Add(x.timeout)
	}
	res := resultPool.Get().(*wamp.Result)
	*res = wamp.Result{Request: inv.callerRequest, Details: resultDetails(true, ppt), Payload: m.Payload}
	// Sent under the callee's lock: whatever ends the call (a CANCEL, the
	// timeout) answers the caller after this result, never before it.
	err := back.peer.Send(res)
	s.mu.Unlock()
	*res = wamp.Result{}
	resultPool.Put(res)
	if err == nil {
		s.countSent(wamp.TypeResult)
		return
	}
	// The caller cannot get the whole answer: the call ends here.
	if _, ok := d.complete(s, m.Request); ok {
		d.interrupt(s, m.Request, "killnowait", wamp.ErrCanceled)
		back.replyFailed(wamp.TypeResult, inv.callerRequest, err)
	}
}

// resultDetails is RESULT.Details for a YIELD with these options.
func resultDetails(progress bool, ppt wamp.Dict) wamp.Dict {
	if ppt == nil {
		if progress {
			return progressDetails
		}
		return nil
	}
	details := withPassthru(nil, ppt)
	if progress {
		details["progress"] = true
	}
	return details
}

// refuseAnswer handles a YIELD (or ERROR) whose options are wrong: the
// callee gets ERROR invalid_argument, and the call ends with the same
// error for the caller, since the answer cannot be delivered.
func (d *dealer) refuseAnswer(s *Session, t wamp.MessageType, req wamp.ID, err error) {
	inv, ok := d.answered(s, req, t)
	if !ok {
		return
	}
	s.requestError(t, req, err)
	d.finishWithError(s, req, &inv, wamp.ErrInvalidArgument, "the callee's answer was refused: %v", err)
}

func (d *dealer) invocationError(s *Session, m *wamp.Error) {
	ppt, err := passthru(m.Details)
	if err != nil {
		d.refuseAnswer(s, wamp.TypeError, m.Request, err)
		return
	}
	if ppt != nil && !s.features.has(callee, featPayloadPassthruMode) {
		s.violation("ERROR in payload passthru mode from a callee that did not announce payload_passthru_mode")
		return
	}
	inv, ok := d.answered(s, m.Request, wamp.TypeError)
	if !ok {
		return
	}
	back := inv.caller
	if !wamp.ValidURI(m.Error, false, false) {
		d.finishWithError(s, m.Request, &inv, wamp.ErrInvalidURI,
			"the callee answered with an error URI that is not valid: %q", m.Error)
		return
	}
	if ppt != nil && !back.features.has(caller, featPayloadPassthruMode) {
		d.finishWithError(s, m.Request, &inv, wamp.ErrFeatureNotSupported,
			"the callee answered with an error in payload passthru mode, which this session did not announce")
		return
	}
	e := &wamp.Error{RequestType: wamp.TypeCall, Request: inv.callerRequest, Details: m.Details, Error: m.Error, Payload: m.Payload}
	switch sent, err := d.finish(s, m.Request, &inv, e); {
	case sent:
		s.countSent(wamp.TypeError)
	case err != nil:
		back.replyFailed(wamp.TypeError, inv.callerRequest, err)
	}
}

// leave ends everything session s had in the dealer once it is closed: its
// registrations, the calls it was invoked for (their callers get
// wamp.error.canceled) and the calls it made (their callees get INTERRUPT
// killnowait if they support canceling, and are forgotten otherwise).
func (d *dealer) leave(s *Session, regs *idSet[*registration], invs map[wamp.ID]invocation, calls map[wamp.ID]outCall) {
	for reg := range regs.all() {
		d.detach(reg, s)
	}
	d.unregisteredEvents(s)
	for invID, inv := range invs {
		inv.stopTimer()
		// Not to a caller that is leaving too (or is s): nothing may
		// follow its GOODBYE.
		d.finishWithError(s, invID, &inv, wamp.ErrCanceled, "the callee left before it answered")
	}
	for req, oc := range calls {
		d.abandon(oc.callee, oc.invID, s, req)
	}
}

// abandon ends invocation invID at callee to, of caller's call req, when
// it is still there: the caller left, so the callee is interrupted
// (killnowait), as the specification asks.
func (d *dealer) abandon(to *Session, invID wamp.ID, caller *Session, req wamp.ID) {
	to.mu.Lock()
	inv, ok := to.invocations[invID]
	ok = ok && inv.caller == caller && inv.callerRequest == req
	if ok {
		delete(to.invocations, invID)
	}
	to.mu.Unlock()
	if ok {
		inv.stopTimer()
		d.interrupt(to, invID, "killnowait", wamp.ErrCanceled)
	}
}
