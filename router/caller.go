package router

import (
	"sync"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// The router calls procedures itself for dynamic authenticators and
// authorizers. It does so as a client would, through the realm's dealer,
// with a router-side session whose Peer receives the RESULT or ERROR: the
// dealer needs no hook for it. The answer is handed to a continuation on a
// goroutine of its own, never on the goroutine that routed the YIELD (a
// Peer's Send must not call back into the router), so nothing waits on a
// goroutine that routes messages.

// Call implements auth.Caller: it calls procedure in realm with args and
// kwargs, and calls done with the outcome once the callee answers, or with
// auth.ErrCallTimeout after timeout. It never blocks.
func (r *Router) Call(realm, procedure string, args wamp.List, kwargs wamp.Dict, timeout time.Duration, done func(auth.CallResult)) {
	rl := r.realmNamed(wamp.URI(realm))
	if rl == nil {
		go done(auth.CallResult{Err: &auth.CallError{URI: wamp.ErrNoSuchRealm, Args: wamp.List{"realm " + realm + " does not exist"}}})
		return
	}
	rl.caller().call(wamp.URI(procedure), args, kwargs, timeout, done)
}

// internalKind is the transport kind of the router-side sessions.
const internalKind = "internal"

// internal reports whether s is the router's own (a realm's router-side
// caller): its calls are bounded by their timeouts, not by the session
// limits, which would refuse authentications under a burst of HELLOs.
func (s *Session) internal() bool { return s.info.Kind == internalKind }

// unlimited reports whether the per-session limits (Config.Limits) spare
// s: the router's own sessions, and the proxies of another node's sessions
// (remote_call.go), each of which stands for every session of its node.
func (s *Session) unlimited() bool { return s.info.Kind == internalKind || s.info.Kind == nodeKind }

// internalCaller is the router-side caller session of one realm.
type internalCaller struct {
	session *Session

	mu      sync.Mutex
	pending map[wamp.ID]*pendingCall
}

type pendingCall struct {
	procedure wamp.URI
	done      func(auth.CallResult)
	timer     *time.Timer // nil until the dealer has the call
}

// caller returns the realm's router-side caller, made on first use.
func (rl *realm) caller() *internalCaller {
	rl.callerOnce.Do(func() {
		c := &internalCaller{pending: make(map[wamp.ID]*pendingCall)}
		s := &Session{router: rl.router, peer: c, info: connInfo{Kind: internalKind}}
		s.realm, s.id, s.authid, s.authrole = rl, wamp.GlobalID(), "junction", "junction"
		s.roles = roleCaller
		s.state = stateEstablished
		c.session = s
		rl.internal = c
	})
	return rl.internal
}

func (c *internalCaller) call(procedure wamp.URI, args wamp.List, kwargs wamp.Dict, timeout time.Duration, done func(auth.CallResult)) {
	req := c.session.reqIDs.Next()
	p := &pendingCall{procedure: procedure, done: done}
	c.mu.Lock()
	c.pending[req] = p
	c.mu.Unlock()
	c.session.realm.dealer.call(c.session, &wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: procedure,
		Payload: wamp.Payload{Args: args, Kwargs: kwargs}})
	// Armed once the dealer has recorded the call (or answered it), so
	// that expire finds what there is to cancel.
	c.mu.Lock()
	if c.pending[req] == p {
		p.timer = time.AfterFunc(timeout, func() { c.expire(req, timeout) })
	}
	c.mu.Unlock()
}

// expire ends call req, which got no answer within timeout: the dealer
// forgets it as if the router had canceled it (the callee gets INTERRUPT
// if it supports canceling), and done learns of the timeout.
func (c *internalCaller) expire(req wamp.ID, timeout time.Duration) {
	p := c.take(req)
	if p == nil {
		return // answered meanwhile
	}
	c.session.realm.dealer.cancel(c.session, &wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "killnowait"}})
	c.session.logger().Warn("router-side call got no answer in time", "procedure", p.procedure, "timeout", timeout)
	p.done(auth.CallResult{Err: auth.ErrCallTimeout})
}

func (c *internalCaller) take(req wamp.ID) *pendingCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[req]
	delete(c.pending, req)
	if p != nil && p.timer != nil {
		p.timer.Stop()
	}
	return p
}

// Send receives the dealer's answer to a call: the payload is decoded
// before Send returns (the dealer reuses the message), and done runs on a
// new goroutine.
func (c *internalCaller) Send(m wamp.Message) error {
	var req wamp.ID
	var res auth.CallResult
	switch m := wamp.Unwrap(m).(type) {
	case *wamp.Result:
		if p, _ := m.Details["progress"].(bool); p {
			return nil // only the final result answers
		}
		req = m.Request
		res.Args, res.Kwargs, res.Err = codec.DecodePayload(&m.Payload)
	case *wamp.Error:
		req = m.Request
		args, _, _ := codec.DecodePayload(&m.Payload)
		res.Err = &auth.CallError{URI: m.Error, Args: args}
	default:
		return nil
	}
	p := c.take(req)
	if p == nil {
		return nil // timed out already
	}
	go p.done(res)
	return nil
}

// Close does nothing: the router-side session has no connection.
func (c *internalCaller) Close() {}
