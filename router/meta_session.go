package router

import (
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// Session meta API (meta_api_sessions.md): the procedures wamp.session.count,
// list, get, kill, kill_by_authid, kill_by_authrole and kill_all, and the
// events wamp.session.on_join and on_leave.
//
// count, list and get see the sessions that are established: a session the
// router has said GOODBYE to (killed, or the router shutting down) is
// leaving and no longer counts, although its on_leave goes out only once it
// is gone (its GOODBYE echoed, or its connection lost).

// Meta topics and procedures of the session meta API.
const (
	topicSessionOnJoin  wamp.URI = "wamp.session.on_join"
	topicSessionOnLeave wamp.URI = "wamp.session.on_leave"
)

// killGrace is how long a killed session has to echo GOODBYE before its
// connection is closed anyway: a client that does not answer must not hold
// on to its session. A variable so that tests need not wait as long.
var killGrace = 5 * time.Second

// metaFeatures is what WELCOME announces for the meta API, on both the
// broker and the dealer role (the session meta API needs both; the
// testament meta API is the dealer's by the specification, and announcing
// it on the broker, which publishes the testaments, does no harm).
func metaFeatures() wamp.Dict {
	return wamp.Dict{
		"session_meta_api":   true,
		"testament_meta_api": true,
	}
}

func (rl *realm) addSessionMeta(procs map[wamp.URI]metaProcedure) {
	procs["wamp.session.count"] = rl.sessionCount
	procs["wamp.session.list"] = rl.sessionList
	procs["wamp.session.get"] = rl.sessionGet
	procs["wamp.session.kill"] = rl.sessionKill
	procs["wamp.session.kill_by_authid"] = rl.sessionKillByAuthID
	procs["wamp.session.kill_by_authrole"] = rl.sessionKillByAuthRole
	procs["wamp.session.kill_all"] = rl.sessionKillAll
	procs["wamp.session.add_testament"] = rl.addTestament
	procs["wamp.session.flush_testaments"] = rl.flushTestaments
}

// metaAnnouncements orders a session's on_join and on_leave. on_join goes
// out after WELCOME was queued, on the goroutine that handled HELLO, and the
// session may end meanwhile on another one (a slow-consumer disconnect, a
// lost connection). The session's testaments and on_leave wait for both
// on_join and the session's being gone from the realm's tables, and
// whichever of the two comes second publishes them: on_leave never precedes
// on_join, and a testament added between WELCOME and on_join is kept.
// Guarded by the session's mu.
type metaAnnouncements struct {
	joined bool        // on_join went out
	owed   bool        // the session ended before on_join went out
	gone   bool        // an owed session is gone from the realm's tables
	quiet  bool        // killed by wamp.session.kill_all: no on_leave, no testaments
	tms    *testaments // an owed session's testaments, until published
}

// leaving is called by the session's end, under its mu, with the
// testaments it took: it reports whether end itself announces the leave
// once the session is gone from the realm's tables. When on_join has not
// gone out yet, it keeps tms for whichever of joined and gone comes second.
func (a *metaAnnouncements) leaving(tms *testaments) bool {
	if !a.joined {
		a.owed, a.tms = true, tms
		return false
	}
	return !a.quiet
}

// takeOwed returns the testaments of an owed announcement and whether it
// is to be made now: by the second of joined and gone, each of which sets
// its flag under the session's mu before it asks.
func (a *metaAnnouncements) takeOwed() (*testaments, bool) {
	if !a.owed || !a.joined || !a.gone || a.quiet {
		return nil, false
	}
	tms := a.tms
	a.tms = nil
	return tms, true
}

// joined publishes wamp.session.on_join once WELCOME is queued, and the
// testaments and on_leave after it if the session has ended and gone
// meanwhile.
func (s *Session) joined() {
	s.realm.metaEvent(topicSessionOnJoin, s.details())
	s.mu.Lock()
	s.announced.joined = true
	tms, owed := s.announced.takeOwed()
	if bb := s.router.cfg.Backbone; bb != nil && !s.announced.owed {
		// The other nodes learn of the session, so that one of them
		// announces its leave if this node dies (SessionsLost).
		bb.SessionJoined(s.realm.name, s.id, s.authid, s.authrole)
		if s.testaments != nil {
			bb.SessionTestaments(s.realm.name, s.id, s.replicatedTestaments())
		}
	}
	s.mu.Unlock()
	if owed {
		s.left(tms)
	}
}

// gone is called by the end of a session that ended before its on_join
// went out, once it is gone from the realm's tables: it publishes the
// testaments and on_leave if joined has published on_join meanwhile, or
// else leaves them to joined.
func (s *Session) gone() {
	s.mu.Lock()
	s.announced.gone = true
	tms, owed := s.announced.takeOwed()
	s.mu.Unlock()
	if owed {
		s.left(tms)
	}
}

// left is called once the session has ended, is gone from the realm's
// tables and its on_join has gone out: it publishes the session's
// testaments (tms) and then wamp.session.on_leave.
func (s *Session) left(tms *testaments) {
	s.publishTestaments(tms)
	s.announceLeave()
}

// announceLeave publishes wamp.session.on_leave through the realm's queue
// of meta events, after those of the session's subscriptions and
// registrations (metaQueue): a goroutine that is publishing them (one
// that dropped the session as a slow consumer of a meta event, say) may
// hold them yet.
func (s *Session) announceLeave() {
	b := &s.realm.broker
	b.meta.add(topicSessionOnLeave, uint64(s.id), s.authid, s.authrole)
	b.flushMeta(s.realm)
}

// established returns the realm's established sessions that pass keep.
func (rl *realm) established(keep func(*Session) bool) []*Session {
	rl.mu.RLock()
	defer rl.mu.RUnlock()
	var out []*Session
	for _, s := range rl.sessions {
		if keep != nil && !keep(s) {
			continue
		}
		s.mu.Lock()
		ok := s.state == stateEstablished
		s.mu.Unlock()
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// authroleFilter reads the optional filter_authroles argument of count and
// list: nil (absent or null) means every session; a list, even an empty
// one, keeps the sessions whose authrole it holds.
func (c *metaCall) authroleFilter() (func(*Session) bool, error) {
	if len(c.args) == 0 || c.args[0] == nil {
		return nil, nil
	}
	l, ok := c.args[0].([]any)
	if !ok {
		return nil, callErrorf(wamp.ErrInvalidArgument, "%s: argument 1 must be filter_authroles (a list of strings)", c.call.Procedure)
	}
	roles := make(map[string]struct{}, len(l))
	for i, e := range l {
		r, ok := e.(string)
		if !ok {
			return nil, callErrorf(wamp.ErrInvalidArgument, "%s: filter_authroles[%d] must be an authrole (a string)", c.call.Procedure, i)
		}
		roles[r] = struct{}{}
	}
	return func(s *Session) bool {
		_, ok := roles[s.authrole]
		return ok
	}, nil
}

// sessionCount answers wamp.session.count([filter_authroles]).
func (rl *realm) sessionCount(c *metaCall) (wamp.Payload, error) {
	keep, err := c.authroleFilter()
	if err != nil {
		return wamp.Payload{}, err
	}
	return result(len(rl.established(keep))), nil
}

// sessionList answers wamp.session.list([filter_authroles]) with the
// session ids, in no particular order.
func (rl *realm) sessionList(c *metaCall) (wamp.Payload, error) {
	keep, err := c.authroleFilter()
	if err != nil {
		return wamp.Payload{}, err
	}
	ss := rl.established(keep)
	ids := make(wamp.List, len(ss))
	for i, s := range ss {
		ids[i] = uint64(s.id)
	}
	return result(ids), nil
}

// session returns the established session id of the realm.
func (rl *realm) session(c *metaCall, id wamp.ID) (*Session, error) {
	rl.mu.RLock()
	s := rl.sessions[id]
	rl.mu.RUnlock()
	if s != nil {
		s.mu.Lock()
		ok := s.state == stateEstablished
		s.mu.Unlock()
		if ok {
			return s, nil
		}
	}
	return nil, callErrorf(wamp.ErrNoSuchSession, "%s: no session %d in realm %s", c.call.Procedure, id, rl.name)
}

// sessionGet answers wamp.session.get(session) with the session's details.
func (rl *realm) sessionGet(c *metaCall) (wamp.Payload, error) {
	id, err := c.idArg(0, "a session id")
	if err != nil {
		return wamp.Payload{}, err
	}
	s, err := rl.session(c, id)
	if err != nil {
		return wamp.Payload{}, err
	}
	return result(s.details()), nil
}

// killArgs reads the reason and message keyword arguments of the kill
// procedures; null is as absent, as for any option.
func (c *metaCall) killArgs() (reason wamp.URI, message string, err error) {
	reason = wamp.CloseKilled
	for k, v := range c.kwargs {
		if v == nil && (k == "reason" || k == "message") {
			continue
		}
		switch k {
		case "reason":
			str, ok := v.(string)
			if !ok {
				return "", "", callErrorf(wamp.ErrInvalidArgument, "%s: reason must be a URI (a string)", c.call.Procedure)
			}
			if !wamp.ValidURI(wamp.URI(str), false, false) {
				return "", "", callErrorf(wamp.ErrInvalidURI, "%s: reason %q is not a valid URI", c.call.Procedure, str)
			}
			reason = wamp.URI(str)
		case "message":
			str, ok := v.(string)
			if !ok {
				return "", "", callErrorf(wamp.ErrInvalidArgument, "%s: message must be a string", c.call.Procedure)
			}
			message = str
		default:
			return "", "", callErrorf(wamp.ErrInvalidArgument, "%s: unknown keyword argument %q (known: reason, message)", c.call.Procedure, k)
		}
	}
	return reason, message, nil
}

// sessionKill answers wamp.session.kill(session, reason=, message=). The
// caller cannot kill itself: its own id is no other session's.
func (rl *realm) sessionKill(c *metaCall) (wamp.Payload, error) {
	id, err := c.idArg(0, "a session id")
	if err != nil {
		return wamp.Payload{}, err
	}
	reason, message, err := c.killArgs()
	if err != nil {
		return wamp.Payload{}, err
	}
	if c.caller != nil && id == c.caller.id {
		return wamp.Payload{}, callErrorf(wamp.ErrNoSuchSession, "%s: session %d is the caller's own; a session cannot kill itself", c.call.Procedure, id)
	}
	s, err := rl.session(c, id)
	if err == nil && !s.kill(killedByMeta, reason, message, false) {
		err = callErrorf(wamp.ErrNoSuchSession, "%s: session %d is already leaving", c.call.Procedure, id)
	}
	return wamp.Payload{}, err
}

// killMatching kills the realm's established sessions other than the
// caller's that pass keep, and returns their ids.
func (rl *realm) killMatching(c *metaCall, keep func(*Session) bool, quiet bool) ([]any, error) {
	reason, message, err := c.killArgs()
	if err != nil {
		return nil, err
	}
	ids := []any{}
	for _, s := range rl.established(func(s *Session) bool { return s != c.caller && keep(s) }) {
		if s.kill(killedByMeta, reason, message, quiet) {
			ids = append(ids, uint64(s.id))
		}
	}
	return ids, nil
}

// sessionKillByAuthID answers wamp.session.kill_by_authid(authid, reason=,
// message=) with the ids of the sessions killed.
func (rl *realm) sessionKillByAuthID(c *metaCall) (wamp.Payload, error) {
	authid, err := c.stringArg(0, "an authid")
	if err != nil {
		return wamp.Payload{}, err
	}
	ids, err := rl.killMatching(c, func(s *Session) bool { return s.authid == authid }, false)
	if err != nil {
		return wamp.Payload{}, err
	}
	return result(ids), nil
}

// sessionKillByAuthRole answers wamp.session.kill_by_authrole(authrole,
// reason=, message=) with the number of sessions killed.
func (rl *realm) sessionKillByAuthRole(c *metaCall) (wamp.Payload, error) {
	authrole, err := c.stringArg(0, "an authrole")
	if err != nil {
		return wamp.Payload{}, err
	}
	ids, err := rl.killMatching(c, func(s *Session) bool { return s.authrole == authrole }, false)
	if err != nil {
		return wamp.Payload{}, err
	}
	return result(len(ids)), nil
}

// sessionKillAll answers wamp.session.kill_all(reason=, message=) with the
// number of sessions killed. As the specification says, the sessions it
// kills leave without on_leave events and without publishing their
// testaments.
func (rl *realm) sessionKillAll(c *metaCall) (wamp.Payload, error) {
	ids, err := rl.killMatching(c, func(*Session) bool { return true }, true)
	if err != nil {
		return wamp.Payload{}, err
	}
	return result(len(ids)), nil
}

// What ended a session, in the log line of its kill.
const (
	killedByMeta      = "the meta API"
	killedByAdmin     = "Router.KillSession (the admin API)"
	killedByPrincipal = "the principals reloaded"
	killedByRemoval   = "the realm removed"
)

// kill says GOODBYE to an established session with reason and message
// (left out when empty) and reports whether it did. The session ends when
// the client echoes GOODBYE, as at the end of any session the router
// closes, or killGrace later, when the connection is closed. With quiet
// the session's leave is neither announced nor followed by its testaments.
// by says, for the log, what ended it.
func (s *Session) kill(by string, reason wamp.URI, message string, quiet bool) bool {
	s.mu.Lock()
	if s.state != stateEstablished || !s.welcomed { // not welcomed: it joins after the kill
		s.mu.Unlock()
		return false
	}
	s.state = stateClosing
	s.announced.quiet = quiet
	s.mu.Unlock()
	s.withdraw()

	s.logger().Info("session killed", "by", by, "reason", reason, "message", message)
	g := &wamp.Goodbye{Reason: reason, Details: wamp.Dict{}}
	if message != "" {
		g.Details["message"] = message
	}
	if !s.send(g) {
		s.end()
		s.peer.Close()
		return true
	}
	time.AfterFunc(killGrace, func() {
		s.end()
		s.peer.Close()
	})
	return true
}
