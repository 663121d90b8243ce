package router

import (
	"maps"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Testament meta API (pubsub_testament.md): a session leaves events with the
// router, wamp.session.add_testament, that the broker publishes for it once
// it is gone, however it went: GOODBYE, a lost connection, a kill, a
// protocol violation, a slow-consumer disconnect. wamp.session.flush_testaments
// takes them back.
//
// Scopes. The specification publishes "detached" testaments when a session
// is detached from its transport (which, with session resumption, it may
// survive) and "destroyed" ones when the session itself ends. Junction has
// no session resumption: a session is detached and destroyed at the same
// moment, so both scopes are published whenever the session ends, detached
// ones first as the specification requires of such routers, each scope in
// the order its testaments were added. The two scopes are still kept apart
// so that flush_testaments can take back one and not the other.
//
// Testaments are published after the session's subscriptions and
// registrations are gone and it has left the realm, so that they never
// reach the session itself and a subscriber acting on one finds the session
// gone; wamp.session.on_leave follows them. Sessions killed by
// wamp.session.kill_all leave no testaments, as the specification says.
//
// Options. A testament's publish_options are checked at add_testament as
// its PUBLISH would check them (checkTestamentOptions): when the session
// has left, a refused publication is dropped with nobody to tell.
//
// Bounds. A session holds at most maxTestaments testaments (both scopes
// together), whose add_testament calls add up to at most maxTestamentBytes
// of encoded payload (testamentSize): a testament is kept for the whole life of its
// session, and without a bound each session could pin as much memory as it
// likes. Past either bound add_testament fails with
// wamp.error.invalid_argument and says which bound.

const (
	maxTestaments     = 16
	maxTestamentBytes = 256 << 10
)

// testament is one event to publish when its session ends.
type testament struct {
	topic   wamp.URI
	options wamp.Dict // PUBLISH options, acknowledge removed
	payload wamp.Payload
	size    int // encoded payload bytes of its add_testament call
}

// testaments are a session's testaments, per scope, in the order added.
type testaments struct {
	detached, destroyed []testament
	bytes               int // encoded payload bytes of the add_testament calls kept
}

func (t *testaments) count() int { return len(t.detached) + len(t.destroyed) }

// scope returns the list of scope name ("detached" or "destroyed").
func (t *testaments) scope(name string) *[]testament {
	if name == "detached" {
		return &t.detached
	}
	return &t.destroyed
}

// scopeKwarg reads the scope keyword argument: "destroyed" (the default) or
// "detached".
func (c *metaCall) scopeKwarg() (string, error) {
	v, ok := c.kwargs["scope"]
	if !ok || v == nil {
		return "destroyed", nil
	}
	s, ok := v.(string)
	if !ok || s != "destroyed" && s != "detached" {
		return "", callErrorf(wamp.ErrInvalidArgument, "%s: scope must be \"destroyed\" or \"detached\", not %s", c.call.Procedure, wamp.TypeName(v))
	}
	return s, nil
}

// addTestament answers wamp.session.add_testament(topic, args, kwargs,
// publish_options=, scope=) with no result.
func (rl *realm) addTestament(c *metaCall) (wamp.Payload, error) {
	proc := c.call.Procedure
	topic, err := c.stringArg(0, "the topic (a URI)")
	if err != nil {
		return wamp.Payload{}, err
	}
	if !wamp.ValidURI(wamp.URI(topic), rl.strict, false) {
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidURI, "%s: topic %q is not a valid URI", proc, topic)
	}
	if wamp.Reserved(wamp.URI(topic)) {
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidURI, "%s: topic %q is reserved: the wamp.* topics are published by the router alone", proc, topic)
	}
	if len(c.args) > 3 {
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s takes at most 3 positional arguments (topic, args, kwargs), got %d", proc, len(c.args))
	}
	var payload wamp.Payload
	if len(c.args) > 1 && c.args[1] != nil {
		l, ok := c.args[1].([]any)
		if !ok {
			return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s: argument 2 must be the event's args (a list), not %s", proc, wamp.TypeName(c.args[1]))
		}
		payload.Args = l
	}
	if len(c.args) > 2 && c.args[2] != nil {
		d, ok := c.args[2].(map[string]any)
		if !ok {
			return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s: argument 3 must be the event's kwargs (a dict), not %s", proc, wamp.TypeName(c.args[2]))
		}
		payload.Kwargs = d
	}
	var options wamp.Dict
	for k, v := range c.kwargs {
		switch k {
		case "scope":
		case "publish_options":
			if v == nil {
				continue
			}
			d, ok := v.(map[string]any)
			if !ok {
				return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s: publish_options must be a dict of PUBLISH options, not %s", proc, wamp.TypeName(v))
			}
			// Nobody is left to receive an acknowledgement.
			options = maps.Clone(d)
			delete(options, "acknowledge")
		default:
			return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s: unknown keyword argument %q (known: publish_options, scope)", proc, k)
		}
	}
	scope, err := c.scopeKwarg()
	if err != nil {
		return wamp.Payload{}, err
	}
	s := c.caller
	if err := s.checkTestamentOptions(proc, options); err != nil {
		return wamp.Payload{}, err
	}
	size, err := testamentSize(c.call, payload)
	if err != nil {
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s: the event's payload cannot be encoded: %v", proc, err)
	}
	store := func() (wamp.Payload, error) {
		return s.storeTestament(proc, scope, testament{topic: wamp.URI(topic), options: options, payload: payload, size: size})
	}
	// A testament is a publication the session makes when it leaves: it
	// is authorized now, as that PUBLISH would be, so that add_testament
	// is no way round the session's role.
	a := s.auth
	if a == nil || !a.checked {
		return store()
	}
	req := c.call.Request
	d, pending := a.authorizer().Authorize(auth.ActionPublish, wamp.URI(topic), wamp.MatchExact, options, func(d auth.Decision) {
		if !d.Allowed {
			s.answerMeta(req, wamp.Payload{}, testamentDenied(proc, topic, d))
			return
		}
		res, err := store()
		s.answerMeta(req, res, err)
	})
	switch {
	case pending:
		return wamp.Payload{}, errAnswerLater
	case !d.Allowed:
		return wamp.Payload{}, testamentDenied(proc, topic, d)
	}
	return store()
}

// checkTestamentOptions refuses the publish options of a testament that
// its PUBLISH (broker.publish, when the session has left) would refuse:
// then nobody would hear of it, so it is refused now, with the error the
// PUBLISH would get (eventDetails refuses disclose_me the same way).
func (s *Session) checkTestamentOptions(proc wamp.URI, options wamp.Dict) error {
	if len(options) == 0 {
		return nil
	}
	var o publishOptions
	if err := o.readOptions(options); err != nil {
		return callErrorf(wamp.ErrInvalidArgument, "%s: publish_options: %v", proc, err)
	}
	if o.ppt != nil && !s.features.has(publisher, featPayloadPassthruMode) {
		return callErrorf(wamp.ErrInvalidArgument,
			"%s: publish_options put the event in payload passthru mode (ppt_scheme %q), which needs the session to announce the publisher feature payload_passthru_mode",
			proc, o.ppt["ppt_scheme"])
	}
	if _, policy := s.disclosure(); o.discloseMe && policy == DiscloseNever {
		return callErrorf(wamp.ErrDiscloseMeDisallowed, "%s: publish_options ask for disclose_me, but this realm does not disclose publishers to subscribers", proc)
	}
	return nil
}

// testamentSize is the size the byte bound counts for a testament: the
// encoded payload of its add_testament call as it arrived from a transport
// (or from client.ConnectLocal, which encodes too); or, for a call that
// arrived decoded (a session in the router's process handing Go values to
// Receive), which has no encoded size to read, the testament's payload
// encoded in MessagePack: exact, and cheap enough for a call a session
// makes a few times in its life.
func testamentSize(call *wamp.Call, payload wamp.Payload) (int, error) {
	if call.Payload.IsRaw() {
		return call.Payload.Size(), nil
	}
	return encodedSize(payload)
}

// encodedSize is the size of payload as it crosses the wire: its bytes
// when it is raw (as it arrived), else those of its MessagePack encoding,
// for a payload that arrived decoded (a session in the router's process
// handing Go values to Receive), which has no size to read. The bounds on
// what a session may keep for later (testaments, retained events) count
// it, so that they hold whatever the payload's form.
func encodedSize(payload wamp.Payload) (int, error) {
	if payload.IsRaw() {
		return payload.Size(), nil
	}
	b, err := codec.MsgPack.Encode(nil, &wamp.Event{Payload: payload})
	return len(b), err
}

func testamentDenied(proc wamp.URI, topic string, d auth.Decision) error {
	return callErrorf(wamp.ErrNotAuthorized, "%s: the session may not publish to %q (%s), nor leave a testament there", proc, topic, d.Reason)
}

// storeTestament keeps t for s in scope, within the session's bounds.
func (s *Session) storeTestament(proc wamp.URI, scope string, t testament) (wamp.Payload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateEstablished {
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s: the session is leaving", proc)
	}
	size := t.size
	if s.testaments == nil {
		s.testaments = &testaments{}
	}
	tms := s.testaments
	if tms.count() >= maxTestaments {
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument,
			"%s: the session already holds %d testaments, the most a session may hold; flush some with wamp.session.flush_testaments", proc, maxTestaments)
	}
	if tms.bytes+size > maxTestamentBytes {
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument,
			"%s: the session's testaments would hold %d bytes, more than the %d a session may hold", proc, tms.bytes+size, maxTestamentBytes)
	}
	tms.bytes += size
	l := tms.scope(scope)
	*l = append(*l, t)
	s.testamentsChanged()
	return wamp.Payload{}, nil
}

// flushTestaments answers wamp.session.flush_testaments(scope=) with the
// number of testaments removed. (The specification gives it no result;
// the count, as Crossbar.io returns it, costs a client that ignores it
// nothing.)
func (rl *realm) flushTestaments(c *metaCall) (wamp.Payload, error) {
	if len(c.args) > 0 {
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s takes no positional arguments; give the scope as a keyword argument", c.call.Procedure)
	}
	for k := range c.kwargs {
		if k != "scope" {
			return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s: unknown keyword argument %q (known: scope)", c.call.Procedure, k)
		}
	}
	scope, err := c.scopeKwarg()
	if err != nil {
		return wamp.Payload{}, err
	}
	s := c.caller
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.testaments == nil {
		return result(0), nil
	}
	l := s.testaments.scope(scope)
	n := len(*l)
	for _, t := range *l {
		s.testaments.bytes -= t.size
	}
	*l = nil
	if s.testaments.count() == 0 {
		s.testaments = nil
	}
	if n > 0 {
		s.testamentsChanged()
	}
	return result(n), nil
}

// publishTestaments publishes tms, detached ones first, through the
// broker, as s's publications (publisher identification and trust levels
// apply as to any PUBLISH of s). s has left: it is no subscriber any more.
func (s *Session) publishTestaments(tms *testaments) {
	if tms == nil {
		return
	}
	for _, l := range [][]testament{tms.detached, tms.destroyed} {
		for _, t := range l {
			s.realm.broker.publish(s, &wamp.Publish{Topic: t.topic, Options: t.options, Payload: t.payload})
		}
	}
}
