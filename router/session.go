package router

import (
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

type sessionState uint8

const (
	stateNew         sessionState = iota // waiting for HELLO
	stateEstablished                     // WELCOME sent
	stateClosing                         // router sent GOODBYE, waiting for the echo
	stateClosed                          // gone: GOODBYE, ABORT, violation or detach
)

// Session is one client connection and, once it has joined, its WAMP
// session. Receive is called by one goroutine at a time (the transport's);
// the other methods are safe from any goroutine.
type Session struct {
	router *Router
	peer   Peer
	info   connInfo
	// handshake is the connection's TransportInfo when it has a TLS state
	// or an authentication cookie, which only authentication reads.
	handshake *TransportInfo

	// Set under mu when the session joins, never changed after; other
	// sessions see them only through the realm, after the join.
	id       wamp.ID
	realm    *realm
	authid   string
	authrole string
	// auth is the session's authentication, then authorization, state
	// (join.go, authz.go); nil in a realm that has neither.
	auth *sessionAuth

	// reqIDs numbers the requests the router makes of this client
	// (INVOCATION): session scope.
	reqIDs wamp.Sequence

	mu          sync.Mutex
	subs        *idSet[*subscription]  // nil until the session first subscribes
	regs        *idSet[*registration]  // nil until the session first registers
	invocations map[wamp.ID]invocation // calls in flight to this session as callee
	testaments  *testaments            // nil until the session adds one
	rpc         *callerState           // calls in flight from this session as caller; nil until it calls

	// The small fields last, together, where they pack without padding:
	// a Session is 256 bytes. (At 288 it shared a size class with the
	// maps every join leaves behind, and BenchmarkSessionMemory measured
	// ~600 bytes per session instead of ~500.)
	features clientFeatures // set at the join, never changed after
	roles    clientRoles    // set at the join, never changed after
	tls      bool           // the connection is TLS (TransportInfo.TLS)
	state    sessionState   // under mu
	// welcomed: WELCOME is queued (under mu). A session is established,
	// and a member of its realm, a moment before: a kill meanwhile would
	// send its GOODBYE before the WELCOME.
	welcomed  bool
	warned    bool              // under mu: a dropped EVENT was logged
	announced metaAnnouncements // under mu: orders on_join and on_leave
	shard     uint8             // the message counters of its loop (stats.go)
	// since is when the session joined (Unix nanoseconds), set with id.
	since int64
}

// ID is the session's WAMP id, 0 before it has joined a realm.
func (s *Session) ID() wamp.ID { return s.id }

func (s *Session) logger() *slog.Logger {
	s.mu.Lock()
	rlm, id, authid := s.realm, s.id, s.authid
	s.mu.Unlock()
	l := s.router.log.With("remote", s.info.RemoteAddr)
	if rlm != nil {
		l = l.With("realm", rlm.name, "session", uint64(id), "authid", authid)
	}
	return l
}

// Established reports whether the session has joined a realm and not left.
func (s *Session) Established() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateEstablished
}

// Receive handles one message from the client.
func (s *Session) Receive(m wamp.Message) {
	s.counts().received[msgSlot[m.Type()]].Add(1)
	s.mu.Lock()
	state := s.state
	s.mu.Unlock()
	switch state {
	case stateNew:
		s.joinMessage(m) // join.go: HELLO, then AUTHENTICATE
		return
	case stateClosing:
		s.closingMessage(m)
		return
	case stateClosed:
		return
	}
	if s.auth != nil && s.auth.checked && !s.admit(m) {
		return // authz.go: denied, or queued behind a pending decision
	}
	s.route(m)
}

// closingMessage handles a message that arrives after the router said
// GOODBYE: the echo ends the session, anything else is ignored (the
// specification's transition 14).
func (s *Session) closingMessage(m wamp.Message) {
	if _, ok := m.(*wamp.Goodbye); ok {
		s.end()
		s.peer.Close()
	}
}

// route hands an established session's message to the broker or dealer.
func (s *Session) route(m wamp.Message) {
	switch m := m.(type) {
	case *wamp.Publish:
		s.realm.broker.publish(s, m)
	case *wamp.Subscribe:
		s.realm.broker.subscribe(s, m)
	case *wamp.Unsubscribe:
		s.realm.broker.unsubscribe(s, m)
	case *wamp.Call:
		s.realm.dealer.call(s, m)
	case *wamp.Yield:
		s.realm.dealer.yield(s, m)
	case *wamp.Cancel:
		s.realm.dealer.cancel(s, m)
	case *wamp.Error:
		if m.RequestType != wamp.TypeInvocation {
			s.violation(fmt.Sprintf("ERROR for a %s: a client sends ERROR only in answer to an INVOCATION", m.RequestType))
			return
		}
		s.realm.dealer.invocationError(s, m)
	case *wamp.Register:
		s.realm.dealer.register(s, m)
	case *wamp.Unregister:
		s.realm.dealer.unregister(s, m)
	case *wamp.Goodbye:
		if m.Reason == wamp.CloseLogout {
			s.forgetCookie()
		}
		// Out of every table first: once end returns, no EVENT can
		// still be on its way to the session (a delivery holds its
		// subscription's lock, which end takes to unsubscribe), so the
		// reply is the last thing the client gets. The other way round,
		// an EVENT published meanwhile could follow the reply, after the
		// session has ended (wampy.js aborts with a protocol violation).
		s.end()
		s.send(&wamp.Goodbye{Reason: wamp.CloseGoodbyeAndOut})
		s.logger().Debug("session left", "reason", m.Reason)
		s.peer.Close()
	case *wamp.Abort:
		s.logger().Debug("client aborted", "reason", m.Reason)
		s.end()
		s.peer.Close()
	case *wamp.Hello:
		s.violation("received HELLO after the session was established")
	default:
		s.violation(fmt.Sprintf("a client does not send %s to a router", m.Type()))
	}
}

// Fail ends the session with ABORT wamp.error.protocol_violation because of
// something the transport found (bytes that do not decode, a HELLO that
// never came); reason is for a person to read.
func (s *Session) Fail(reason string) { s.violation(reason) }

// Detach ends the session because its connection is gone.
func (s *Session) Detach() {
	s.end()
	s.router.forget(s)
}

// violation aborts the session as the specification's protocol errors
// section says: ABORT, dispose of everything, drop the connection.
//
// A proxy (remote_call.go) is not ended: it stands for every call with
// another node in the realm, and what breaks the protocol is one message
// of one call from that node (a bug or a corrupted message). The message
// is dropped, counted (Stats.InvalidRequests) and logged; the call it
// belonged to, if any, ends by its timeout, its cancelation or its node's
// loss.
func (s *Session) violation(reason string) {
	if p, ok := s.peer.(*remotePeer); ok {
		p.refused(s.router, "a message from another node breaks the protocol; dropped", reason)
		return
	}
	s.logger().Info("protocol violation", "reason", reason)
	s.abort(wamp.ErrProtocolViolation, reason)
}

func (s *Session) abort(reason wamp.URI, message string) {
	s.mu.Lock()
	closed := s.state == stateClosed
	s.mu.Unlock()
	if !closed && s.peer.Send(&wamp.Abort{Details: wamp.Dict{"message": message}, Reason: reason}) == nil {
		s.countSent(wamp.TypeAbort)
	}
	s.end()
	s.peer.Close()
}

// shutdown says GOODBYE with reason and waits for the echo (Receive).
func (s *Session) shutdown(reason wamp.URI) {
	s.mu.Lock()
	state := s.state
	if state == stateEstablished {
		s.state = stateClosing
	}
	s.mu.Unlock()
	switch state {
	case stateEstablished:
		s.withdraw()
		if s.send(&wamp.Goodbye{Details: wamp.Dict{"message": "the router is shutting down"}, Reason: reason}) {
			return
		}
		s.end()
		s.peer.Close()
	case stateNew:
		s.abort(reason, "the router is shutting down")
	}
}

// send delivers a reply that must not be lost: when it does not fit the
// session is disconnected as a slow consumer. It reports whether m was
// queued.
func (s *Session) send(m wamp.Message) bool {
	err := s.peer.Send(m)
	if err == nil {
		s.countSent(m.Type())
		return true
	}
	s.sendFailed(m.Type(), err)
	return false
}

func (s *Session) sendFailed(t wamp.MessageType, err error) {
	switch {
	case errors.Is(err, ErrClosed):
	case errors.Is(err, ErrQueueFull):
		s.slowConsumer(t)
		// The transport never refuses an ABORT for a full queue: a client
		// that catches up reads why it was dropped.
		s.abort(wamp.ErrLimitExceeded, fmt.Sprintf("slow consumer: outbound queue full (a %s did not fit)", t))
	default:
		s.logger().Warn("message could not be delivered", "message", t, "err", err)
	}
}

// withdraw takes a session the router is about to say GOODBYE to (its
// state already stateClosing) off its subscriptions and registrations
// and ends its calls in flight: the session ends when the client echoes,
// but nothing may follow the router's GOODBYE (a client may take an
// EVENT or a RESULT after it as a protocol violation; wampy.js does).
// So a call meanwhile goes to another callee, or fails at once, rather
// than to one that is leaving; a call the session is answering fails at
// once with wamp.error.canceled (its YIELD would be ignored: a closing
// session's messages are, but its GOODBYE); a call it made is
// interrupted at its callee (the client fails it when it reads the
// GOODBYE). A closing session takes no new calls (the dealer checks its
// state), so end finds nothing of this left.
func (s *Session) withdraw() {
	s.mu.Lock()
	t := s.takeTables()
	s.mu.Unlock()
	s.leaveTables(t)
}

// tables is what a session holds in its realm's tables and of the calls
// in flight to and from it, taken out of the session at once
// (takeTables) and then left with no session lock held (leaveTables).
type tables struct {
	subs  *idSet[*subscription]
	regs  *idSet[*registration]
	invs  map[wamp.ID]invocation
	calls map[wamp.ID]outCall
}

// takeTables takes what s holds out of it: withdraw early, end last, and
// a lost node's proxies (Router.NodeLost). Called under s.mu.
func (s *Session) takeTables() tables {
	t := tables{subs: s.subs, regs: s.regs, invs: s.invocations}
	s.subs, s.regs, s.invocations = nil, nil, nil
	if s.rpc != nil {
		t.calls, s.rpc.calls = s.rpc.calls, nil
		s.rpc.left.Store(true)
	}
	return t
}

// leaveTables takes the session off the subscriptions and registrations
// of t and ends its calls in flight.
func (s *Session) leaveTables(t tables) {
	for sub := range t.subs.all() {
		s.realm.broker.remove(s, sub)
	}
	s.realm.dealer.leave(s, t.regs, t.invs, t.calls)
}

// end disposes of everything the session holds, once.
func (s *Session) end() {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	wasJoined := s.state == stateEstablished || s.state == stateClosing
	s.state = stateClosed
	t, tms := s.takeTables(), s.testaments
	s.testaments = nil
	if bb := s.router.cfg.Backbone; bb != nil && s.announced.joined && !s.announced.owed {
		bb.SessionLeft(s.realm.name, s.id) // it was SessionJoined (joined)
	}
	announce := s.announced.leaving(tms)
	owed := s.announced.owed
	a := s.auth
	s.mu.Unlock()
	a.stop() // join.go: ends an authentication under way

	if !wasJoined {
		return
	}
	s.router.stats.Established.Add(-1)
	s.leaveTables(t)
	s.realm.leave(s)
	// Gone from every table: what is published now cannot reach it.
	switch {
	case announce:
		s.left(tms)
	case owed:
		s.gone() // or joined, if it has not published on_join yet
	}
}

// sendAnswer sends m, which comes from another session's message, a timer
// or a background task (an answer to one of s's requests: a RESULT, an
// ERROR, a PUBLISHED; or news of something done elsewhere: an INTERRUPT, a
// revocation's UNREGISTERED or UNSUBSCRIBED), unless s is no longer
// established: the state is looked at and m queued under s's lock, so that
// the GOODBYE of a kill, a shutdown or the session's own leave (which set
// the state under that lock first) never comes before it. Send under a
// session's lock is in the lock order (doc.go). (A call's final RESULT or
// ERROR goes the same way as the caller's record of the call is forgotten:
// dealer.forgetCall.)
func (s *Session) sendAnswer(m wamp.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateEstablished {
		return ErrClosed
	}
	return s.peer.Send(m)
}

// answerError is errorReply through sendAnswer.
func (s *Session) answerError(t wamp.MessageType, req wamp.ID, uri wamp.URI, format string, args ...any) {
	if err := s.sendAnswer(errorMessage(t, req, uri, format, args...)); err != nil {
		s.sendFailed(wamp.TypeError, err)
		return
	}
	s.countSent(wamp.TypeError)
}

// errorReply answers request req of type t with ERROR uri and a message.
func (s *Session) errorReply(t wamp.MessageType, req wamp.ID, uri wamp.URI, format string, args ...any) {
	s.send(errorMessage(t, req, uri, format, args...))
}

// errorMessage is the ERROR for request req of type t: uri, and a message
// for a person as its one argument.
func errorMessage(t wamp.MessageType, req wamp.ID, uri wamp.URI, format string, args ...any) *wamp.Error {
	return &wamp.Error{RequestType: t, Request: req, Error: uri, Payload: wamp.Payload{Args: wamp.List{fmt.Sprintf(format, args...)}}}
}

// limitExceeded refuses request req of type t, which would take the
// session past one of its limits: ERROR wamp.error.limit_exceeded with a
// message that says which, and a count.
func (s *Session) limitExceeded(t wamp.MessageType, req wamp.ID, format string, args ...any) {
	s.router.stats.LimitExceeded.Add(1)
	msg := fmt.Sprintf(format, args...)
	s.logger().Debug("request refused: session limit", "message", t, "reason", msg)
	s.errorReply(t, req, wamp.ErrLimitExceeded, "%s", msg)
}

// checkURI answers invalid_uri and reports false when u is not valid in the
// session's realm.
func (s *Session) checkURI(t wamp.MessageType, req wamp.ID, u wamp.URI, what string) bool {
	if wamp.ValidURI(u, s.realm.strict, false) {
		return true
	}
	s.errorReply(t, req, wamp.ErrInvalidURI, "%s %q is not a valid URI", what, u)
	return false
}

// authDetails adds who the session is to d: the keys WELCOME and the
// session meta API share.
func (s *Session) authDetails(d wamp.Dict) wamp.Dict {
	d["authid"] = s.authid
	d["authrole"] = s.authrole
	d["authmethod"], d["authprovider"] = s.authMethod()
	return d
}

// details is the session's details dict of the session meta API
// (wamp.session.on_join, wamp.session.get): its id, who it is and the
// transport it arrived on.
func (s *Session) details() wamp.Dict {
	d := s.authDetails(make(wamp.Dict, 6))
	d["session"] = uint64(s.id)
	d["transport"] = wamp.Dict{
		"type":       s.info.Kind,
		"serializer": s.info.Serializer,
		"peer":       s.info.RemoteAddr,
		"is_secure":  s.tls,
	}
	return d
}

// identified is what a session keeps sets of: subscriptions, registrations.
type identified interface{ ident() wamp.ID }

// idSet is what a session holds of one kind (its subscriptions, or its
// registrations), by id. Adding, finding and removing cost the same however
// many the session holds: the elements sit in a slice searched in order
// while there are at most idSetSmall of them, and in a map beyond. Most
// sessions hold a few, for which the slice costs 8 bytes an element and a
// map ~200 bytes even for one. A nil *idSet is empty; the session
// allocates its sets when it first needs them, under Session.mu.
type idSet[T identified] struct {
	list []T // while small; nil once m is in use
	m    map[wamp.ID]T
}

// idSetSmall is the most elements an idSet searches in order: 8 pointers,
// one cache line.
const idSetSmall = 8

func (x *idSet[T]) len() int {
	if x == nil {
		return 0
	}
	if x.m != nil {
		return len(x.m)
	}
	return len(x.list)
}

func (x *idSet[T]) has(id wamp.ID) bool {
	if x == nil {
		return false
	}
	if x.m != nil {
		_, ok := x.m[id]
		return ok
	}
	for _, e := range x.list {
		if e.ident() == id {
			return true
		}
	}
	return false
}

// add puts e in the set; e's id must not be in it already.
func (x *idSet[T]) add(e T) {
	switch {
	case x.m != nil:
		x.m[e.ident()] = e
	case len(x.list) < idSetSmall:
		x.list = append(x.list, e)
	default:
		x.m = make(map[wamp.ID]T, 2*idSetSmall)
		for _, old := range x.list {
			x.m[old.ident()] = old
		}
		x.m[e.ident()] = e
		x.list = nil
	}
}

// remove takes the element with id out of the set and returns it, or the
// zero value when there is none.
func (x *idSet[T]) remove(id wamp.ID) T {
	var zero T
	if x == nil {
		return zero
	}
	if x.m != nil {
		e := x.m[id]
		delete(x.m, id)
		return e
	}
	for i, e := range x.list {
		if e.ident() == id {
			last := len(x.list) - 1
			x.list[i] = x.list[last]
			x.list[last] = zero
			x.list = x.list[:last]
			return e
		}
	}
	return zero
}

// all yields the elements, in no particular order.
func (x *idSet[T]) all() iter.Seq[T] {
	return func(yield func(T) bool) {
		if x == nil {
			return
		}
		for _, e := range x.list {
			if !yield(e) {
				return
			}
		}
		for _, e := range x.m {
			if !yield(e) {
				return
			}
		}
	}
}

// DropSlowConsumer ends s as a slow consumer when its transport, not the
// router, found the queue full (a pong that did not fit): counted and
// logged like the router's own (slowConsumer), with the same ABORT,
// reason saying why. The transport then closes the connection.
func (s *Session) DropSlowConsumer(reason string) {
	s.slowConsumer(0)
	s.abort(wamp.ErrLimitExceeded, reason)
}

// slowConsumer counts and logs (rate-limited: a flood of them must not
// fill the disk) that s is disconnected because a message of type t did
// not fit in its queue.
func (s *Session) slowConsumer(t wamp.MessageType) {
	r := s.router
	r.stats.SlowConsumers.Add(1)
	s.mu.Lock()
	sc := SlowConsumer{Time: time.Now(), Session: s.id, AuthID: s.authid, Address: s.info.RemoteAddr, Message: t}
	if s.realm != nil {
		sc.Realm = s.realm.name
	}
	s.mu.Unlock()
	r.stats.slow.add(sc)
	if ok, skipped := r.logLimit.Allow("slow consumer"); ok {
		s.logger().Info("slow consumer disconnected: outbound queue full", "message", t, "not_logged_since", skipped)
	}
}
