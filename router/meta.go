package router

import (
	"errors"
	"fmt"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// The meta API (wamp.session.*, wamp.registration.*, wamp.subscription.*)
// is answered by the router itself: a CALL to one of these procedures never
// reaches a callee, and the meta events are published by the realm. Both can
// be switched off per realm (RealmConfig.DisableMetaAPI); authorization applies to
// them like to any other URI, before they reach the dealer or the broker.

// metaCall is a CALL to a meta procedure, with its arguments decoded.
type metaCall struct {
	caller *Session // nil when another node asks for this node's part (Router.AnswerMeta)
	call   *wamp.Call
	args   wamp.List
	kwargs wamp.Dict
}

// metaProcedure answers a meta call with the RESULT's payload, or an error;
// a *callError becomes ERROR with its URI and payload, any other error
// wamp.error.invalid_argument. A procedure that must wait for something
// (the event history) returns errAnswerLater and answers with
// Session.answerMeta from the goroutine that waited.
type metaProcedure func(c *metaCall) (wamp.Payload, error)

// errAnswerLater is returned by a meta procedure that answers later.
var errAnswerLater = errors.New("the meta procedure answers later")

// callError is an ERROR answer to a CALL.
type callError struct {
	uri     wamp.URI
	message string
}

func (e *callError) Error() string { return string(e.uri) + ": " + e.message }

// callErrorf builds a *callError with a readable message.
func callErrorf(uri wamp.URI, format string, args ...any) *callError {
	return &callError{uri: uri, message: fmt.Sprintf(format, args...)}
}

// result is a RESULT payload with positional results.
func result(args ...any) wamp.Payload { return wamp.Payload{Args: args} }

// arg returns positional argument i, or an invalid_argument error naming
// what it should be.
func (c *metaCall) arg(i int, what string) (any, error) {
	if i >= len(c.args) {
		return nil, callErrorf(wamp.ErrInvalidArgument, "%s takes %s as argument %d", c.call.Procedure, what, i+1)
	}
	return c.args[i], nil
}

// idArg returns positional argument i as an ID.
func (c *metaCall) idArg(i int, what string) (wamp.ID, error) {
	v, err := c.arg(i, what)
	if err != nil {
		return 0, err
	}
	n, ok := wamp.AsUint(v)
	if !ok || n == 0 || n > uint64(wamp.MaxID) {
		return 0, callErrorf(wamp.ErrInvalidArgument, "%s: argument %d must be %s (an integer in [1, 2^53])", c.call.Procedure, i+1, what)
	}
	return wamp.ID(n), nil
}

// stringArg returns positional argument i as a string.
func (c *metaCall) stringArg(i int, what string) (string, error) {
	v, err := c.arg(i, what)
	if err != nil {
		return "", err
	}
	str, ok := v.(string)
	if !ok {
		return "", callErrorf(wamp.ErrInvalidArgument, "%s: argument %d must be %s (a string)", c.call.Procedure, i+1, what)
	}
	return str, nil
}

// patternArgs reads the (uri, options) arguments of the lookup procedures
// of the registration and subscription meta APIs: the URI and
// options.match (exact by default).
func (c *metaCall) patternArgs(what string) (wamp.Match, wamp.URI, error) {
	uri, err := c.stringArg(0, what)
	if err != nil {
		return 0, "", err
	}
	var opts wamp.Dict
	if len(c.args) > 1 && c.args[1] != nil {
		o, ok := c.args[1].(map[string]any)
		if !ok {
			return 0, "", callErrorf(wamp.ErrInvalidArgument, "%s: argument 2 must be the options (a dict)", c.call.Procedure)
		}
		opts = o
	}
	match, err := wamp.OptChoice(opts, "match", "exact", "exact", "prefix", "wildcard")
	if err != nil {
		return 0, "", callErrorf(wamp.ErrInvalidArgument, "%s: %v", c.call.Procedure, err)
	}
	m, _ := wamp.ParseMatch(match)
	return m, wamp.URI(uri), nil
}

// metaProcedures returns the realm's meta procedures by URI.
func (rl *realm) metaProcedures() map[wamp.URI]metaProcedure {
	procs := make(map[wamp.URI]metaProcedure)
	rl.addSessionMeta(procs)
	rl.addRegistrationMeta(procs)
	rl.addSubscriptionMeta(procs)
	rl.addHistoryMeta(procs)
	return procs
}

// callMeta answers s's CALL m with meta procedure p.
func (rl *realm) callMeta(s *Session, m *wamp.Call, p metaProcedure) {
	args, kwargs, err := codec.DecodePayload(&m.Payload)
	if err != nil {
		s.errorReply(wamp.TypeCall, m.Request, wamp.ErrInvalidArgument, "%s: arguments do not decode: %v", m.Procedure, err)
		return
	}
	c := &metaCall{caller: s, call: m, args: args, kwargs: kwargs}
	if g := rl.gathers[m.Procedure]; g != nil {
		rl.callMetaCluster(c, p, g)
		return
	}
	res, err := p(c)
	if err == errAnswerLater {
		return
	}
	s.answerMeta(m.Request, res, err)
}

// answerMeta answers s's CALL req to a meta procedure with RESULT res, or
// with ERROR when err is set.
func (s *Session) answerMeta(req wamp.ID, res wamp.Payload, err error) {
	if err != nil {
		ce, ok := err.(*callError)
		if !ok {
			ce = &callError{uri: wamp.ErrInvalidArgument, message: err.Error()}
		}
		s.answerError(wamp.TypeCall, req, ce.uri, "%s", ce.message)
		return
	}
	r := &wamp.Result{Request: req, Payload: res}
	if err := s.sendAnswer(r); err != nil {
		s.replyFailed(wamp.TypeResult, req, err)
		return
	}
	s.countSent(wamp.TypeResult)
}

// metaEvent publishes a meta event on topic, unless the realm has the meta
// API switched off. Meta events have no publisher.
func (rl *realm) metaEvent(topic wamp.URI, args ...any) {
	if rl.meta == nil {
		return
	}
	rl.broker.publishMeta(rl, topic, wamp.Payload{Args: args})
}
