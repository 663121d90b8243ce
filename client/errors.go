package client

import (
	"errors"
	"fmt"

	"github.com/junction-wamp/junction/wamp"
)

// ErrClosed is returned by a Session's methods after Close, and by Err when
// the session ended because of Close.
var ErrClosed = errors.New("session closed")

// ErrTooLarge is returned for a message larger than the router accepts.
var ErrTooLarge = errors.New("message larger than the router accepts")

// errRuntime is the error URI sent for a handler's error that is not an
// *Error (the one Autobahn and nexus use).
const errRuntime wamp.URI = "wamp.error.runtime_error"

// Error is a WAMP ERROR: a failed call, publication, subscription or
// registration. A callee's handler returns one to answer with a chosen URI.
type Error struct {
	URI     wamp.URI
	Args    wamp.List
	Kwargs  wamp.Dict
	Details wamp.Dict
}

// Error returns the URI and, when the first argument is a string (as most
// routers and clients send), that message.
func (e *Error) Error() string {
	if len(e.Args) > 0 {
		if s, ok := e.Args[0].(string); ok {
			return fmt.Sprintf("%s: %s", e.URI, s)
		}
	}
	return string(e.URI)
}

// CloseError is how the router ended a session or refused to open one: an
// ABORT or a GOODBYE with its reason.
type CloseError struct {
	Goodbye bool // GOODBYE rather than ABORT
	Reason  wamp.URI
	Details wamp.Dict
}

func (e *CloseError) Error() string {
	what := "aborted"
	if e.Goodbye {
		what = "closed"
	}
	if msg := wamp.String(e.Details, "message"); msg != "" {
		return fmt.Sprintf("session %s by the router: %s: %s", what, e.Reason, msg)
	}
	return fmt.Sprintf("session %s by the router: %s", what, e.Reason)
}
