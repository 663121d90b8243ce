package router

import (
	"fmt"
	"sync"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
)

// Authorization: a session's PUBLISH, SUBSCRIBE, CALL and REGISTER are
// checked against its role here, in Session.Receive, before they reach the
// broker or the dealer (which do no authorization). Meta procedures and
// topics (wamp.*) are checked like any other URI.
//
// A static role decides at once. A dynamic authorizer answers later, on
// another goroutine; meanwhile the session's later messages are held in
// order and routed after the decision (by the goroutine that got it), so
// a session's messages keep their order. YIELD and ERROR answers to
// INVOCATIONs are not held: a callee whose CALL waits for an
// authorization may be the one the router waits on. At most maxHeld
// messages are held; one more is a protocol violation.

// maxHeld bounds the messages held behind a pending authorization.
const maxHeld = 256

// gate holds a session's messages while an authorization is pending.
type gate struct {
	mu      sync.Mutex
	pending bool
	queue   []wamp.Message
}

// admit reports whether s may route m now. When it may not, m was either
// denied (and answered) or held.
func (s *Session) admit(m wamp.Message) bool {
	g := &s.auth.gate
	g.mu.Lock()
	if g.pending {
		switch m.(type) {
		case *wamp.Yield, *wamp.Error:
			g.mu.Unlock()
			return true
		}
		if len(g.queue) >= maxHeld {
			g.mu.Unlock()
			s.violation(fmt.Sprintf("sent more than %d messages while an authorization was pending", maxHeld))
			return false
		}
		keep(m)
		g.queue = append(g.queue, m)
		g.mu.Unlock()
		return false
	}
	d, pending, checked := s.decideLocked(m)
	g.mu.Unlock()
	switch {
	case !checked || pending:
		return !pending
	case !d.Allowed:
		s.deny(m, d)
		return false
	}
	return true
}

// decideLocked asks the session's authorizer about m, with the gate's
// lock held (so that a decision arriving at once on another goroutine
// waits until the gate is marked pending). checked is false for a message
// that needs no authorization.
func (s *Session) decideLocked(m wamp.Message) (d auth.Decision, pending, checked bool) {
	action, uri, match, opts, ok := authzTarget(m)
	if !ok {
		return d, false, false
	}
	d, pending = s.auth.authz.Authorize(action, uri, match, opts, func(d auth.Decision) { s.decided(m, d) })
	if pending {
		s.auth.gate.pending = true
		keep(m) // decided waits for the gate's lock before it reads m
	}
	return d, pending, true
}

// keep makes m safe to hold past Receive: a raw payload aliases the
// transport's read buffer, which is reused once Receive returns.
func keep(m wamp.Message) {
	switch m := m.(type) {
	case *wamp.Publish:
		m.Payload.Own()
	case *wamp.Call:
		m.Payload.Own()
	}
}

// decided applies a decision that came later, then routes the messages
// held meanwhile. It runs on the goroutine that got the decision.
func (s *Session) decided(m wamp.Message, d auth.Decision) {
	g := &s.auth.gate
	g.mu.Lock() // decideLocked may still be making m its own
	g.mu.Unlock()
	if d.Allowed {
		s.routeHeld(m)
	} else {
		s.deny(m, d)
	}
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.pending = false
			g.mu.Unlock()
			return
		}
		m := g.queue[0]
		g.queue[0] = nil
		g.queue = g.queue[1:]
		d, pending, checked := s.decideLocked(m)
		g.mu.Unlock()
		switch {
		case pending:
			return // the next decision goes on from here
		case checked && !d.Allowed:
			s.deny(m, d)
		default:
			s.routeHeld(m)
		}
	}
}

// routeHeld routes a message that was held, as Receive would have.
func (s *Session) routeHeld(m wamp.Message) {
	s.mu.Lock()
	state := s.state
	s.mu.Unlock()
	switch state {
	case stateEstablished:
		s.route(m)
	case stateClosing:
		s.closingMessage(m)
	}
}

// authzTarget returns what m asks to do, or ok false when m is not
// authorized (it is not a PUBLISH, SUBSCRIBE, CALL or REGISTER).
func authzTarget(m wamp.Message) (a auth.Action, uri wamp.URI, match wamp.Match, opts wamp.Dict, ok bool) {
	switch m := m.(type) {
	case *wamp.Call:
		return auth.ActionCall, m.Procedure, wamp.MatchExact, m.Options, true
	case *wamp.Publish:
		return auth.ActionPublish, m.Topic, wamp.MatchExact, m.Options, true
	case *wamp.Subscribe:
		match, _ = wamp.ParseMatch(wamp.String(m.Options, "match"))
		return auth.ActionSubscribe, m.Topic, match, m.Options, true
	case *wamp.Register:
		match, _ = wamp.ParseMatch(wamp.String(m.Options, "match"))
		return auth.ActionRegister, m.Procedure, match, m.Options, true
	}
	return 0, "", 0, nil, false
}

// deny answers a refused message with ERROR wamp.error.not_authorized; an
// unacknowledged PUBLISH has no answer and is dropped.
func (s *Session) deny(m wamp.Message, d auth.Decision) {
	a, uri, _, _, _ := authzTarget(m)
	s.logger().Debug("not authorized", "action", a.String(), "uri", uri, "authrole", s.authrole, "reason", d.Reason)
	var t wamp.MessageType
	var req wamp.ID
	switch m := m.(type) {
	case *wamp.Call:
		t, req = wamp.TypeCall, m.Request
	case *wamp.Register:
		t, req = wamp.TypeRegister, m.Request
	case *wamp.Subscribe:
		t, req = wamp.TypeSubscribe, m.Request
	case *wamp.Publish:
		if !wamp.Bool(m.Options, "acknowledge", false) {
			return
		}
		t, req = wamp.TypePublish, m.Request
	}
	s.errorReply(t, req, wamp.ErrNotAuthorized, "session (authrole %q) is not authorized to %s %q", s.authrole, a, uri)
}
