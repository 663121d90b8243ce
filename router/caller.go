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

// internalCaller is the router-side caller session of one realm.
type internalCaller struct {
	session *Session

	mu      sync.Mutex
	pending map[wamp.ID]*pendingCall
}

type pendingCall struct {
	done  func(auth.CallResult)
	timer *time.Timer
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
	p := &pendingCall{done: done}
	c.mu.Lock()
	c.pending[req] = p
	c.mu.Unlock()
	p.timer = time.AfterFunc(timeout, func() {
		if c.take(req) != nil {
			done(auth.CallResult{Err: auth.ErrCallTimeout})
		}
	})
	c.session.realm.dealer.call(c.session, &wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: procedure,
		Payload: wamp.Payload{Args: args, Kwargs: kwargs}})
}

func (c *internalCaller) take(req wamp.ID) *pendingCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[req]
	delete(c.pending, req)
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
	p.timer.Stop()
	go p.done(res)
	return nil
}

// Close does nothing: the router-side session has no connection.
func (c *internalCaller) Close() {}
