package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// Caller calls WAMP procedures on the router's behalf, for dynamic
// authenticators and authorizers. The router implements it.
type Caller interface {
	// Call calls procedure in realm with args and kwargs. It returns at
	// once, without waiting for the callee, and later calls done exactly
	// once, on a goroutine of its own (never the caller's), with the
	// RESULT, the ERROR (a *CallError), or ErrCallTimeout once timeout has
	// passed without an answer.
	Call(realm, procedure string, args wamp.List, kwargs wamp.Dict, timeout time.Duration, done func(CallResult))
}

// CallResult is the outcome of a Caller.Call.
type CallResult struct {
	Args   wamp.List
	Kwargs wamp.Dict
	Err    error
}

// CallError is an ERROR answer to a call.
type CallError struct {
	URI  wamp.URI
	Args wamp.List
}

func (e *CallError) Error() string {
	if len(e.Args) > 0 {
		if s, ok := e.Args[0].(string); ok {
			return string(e.URI) + ": " + s
		}
	}
	return string(e.URI)
}

// ErrCallTimeout is the error of a call that got no answer in time.
var ErrCallTimeout = errors.New("no answer in time")

// DefaultCallTimeout bounds a call to a dynamic authenticator or
// authorizer when its Timeout is zero.
const DefaultCallTimeout = 5 * time.Second

// callWait calls and waits for the answer or for ctx; for goroutines that
// may wait (authentication), never for the router's own.
func callWait(ctx context.Context, c Caller, realm, procedure string, args wamp.List, kwargs wamp.Dict, timeout time.Duration) CallResult {
	if c == nil {
		return CallResult{Err: errors.New("no caller: the router cannot call procedures here")}
	}
	ch := make(chan CallResult, 1)
	c.Call(realm, procedure, args, kwargs, timeout, func(r CallResult) { ch <- r })
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return CallResult{Err: ctx.Err()}
	}
}

// Subject is a session as an authorizer sees it.
type Subject struct {
	Session      wamp.ID
	Realm        string
	AuthID       string
	AuthRole     string
	AuthMethod   string
	AuthProvider string
	Transport    *Transport
}

// Dict is the session details a dynamic authorizer is called with.
func (s *Subject) Dict() wamp.Dict {
	return wamp.Dict{
		"session":      uint64(s.Session),
		"realm":        s.Realm,
		"authid":       s.AuthID,
		"authrole":     s.AuthRole,
		"authmethod":   s.AuthMethod,
		"authprovider": s.AuthProvider,
		"transport":    s.Transport.Dict(),
	}
}

// procedureRef names a procedure a dynamic authenticator or authorizer
// calls.
type procedureRef struct {
	Realm     string // where it is registered; "" for the realm being joined
	Procedure string
	Timeout   time.Duration
}

func (p procedureRef) realm(own string) string {
	if p.Realm != "" {
		return p.Realm
	}
	return own
}

func (p procedureRef) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultCallTimeout
}

func (p procedureRef) String() string { return fmt.Sprintf("%s in realm %s", p.Procedure, p.Realm) }
