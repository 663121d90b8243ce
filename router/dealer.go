package router

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// dealer routes CALL to a session that registered the procedure and the
// callee's YIELD or ERROR back to the caller.
//
// Registrations are kept under (match policy, procedure) in one
// wamp.PatternIndex: a call is routed to the best match by the
// specification's precedence (exact, longest prefix, wildcard). One
// registration id stands for all the callees of a shared registration.
//
// The state of a call in flight is kept twice, once by each end, as plain
// values in maps of the sessions (no allocation per call): the callee keeps
// an invocation under the INVOCATION's request id (Session.invocations),
// the caller an outCall under the CALL's (Session.rpc.calls). Whoever ends
// the call (the final YIELD or ERROR, a CANCEL, a timeout, either end
// leaving) takes the invocation out of the callee's map under the callee's
// lock: only one of them wins, and only the winner answers the caller
// (lock order: doc.go).
type dealer struct {
	router *Router

	mu   sync.RWMutex // guards regs, byID and every registration's callees
	regs wamp.PatternIndex[*registration]
	byID map[wamp.ID]*registration
	// meta queues the registration meta events in the order of the
	// changes, made under mu, and publishes them after: the broker's
	// queue, so that they keep their order with the subscription meta
	// events and wamp.session.on_leave (newRealm).
	meta *metaQueue
}

// invokePolicy is a shared registration's invocation policy
// (REGISTER.Options.invoke).
type invokePolicy uint8

const (
	invokeSingle invokePolicy = iota
	invokeRoundRobin
	invokeRandom
	invokeFirst
	invokeLast
)

var invokeNames = [...]string{"single", "roundrobin", "random", "first", "last"}

func (p invokePolicy) String() string { return invokeNames[p] }

// registration is one (match, procedure) with the callees attached to it.
type registration struct {
	id        wamp.ID
	procedure wamp.URI
	match     wamp.Match
	invoke    invokePolicy
	created   time.Time

	// callees in the order they registered. The slice is replaced, never
	// changed in place, under dealer.mu.
	callees []calleeEntry
	next    atomic.Uint64 // roundrobin position
}

// calleeEntry is one callee of a registration, with its REGISTER options.
type calleeEntry struct {
	session        *Session
	discloseCaller bool   // REGISTER.Options.disclose_caller
	forwardTimeout bool   // REGISTER.Options.forward_timeout
	nkey           string // REGISTER.Options.nkey: shard key ("" is the session id in decimal, shardKey)
}

// The messages sent once per CALL or acknowledged PUBLISH are reused:
// Peer.Send encodes a message before it returns, so the router needs each
// one only for that long.
var (
	invocationPool = sync.Pool{New: func() any { return new(wamp.Invocation) }}
	resultPool     = sync.Pool{New: func() any { return new(wamp.Result) }}
	publishedPool  = sync.Pool{New: func() any { return new(wamp.Published) }}
)

// progressDetails is RESULT.Details (and INVOCATION.Details) of a
// progressive message that carries nothing else. Encoders only read it.
var progressDetails = wamp.Dict{"progress": true}

// dealerFeatures is what WELCOME announces for the dealer role: each
// feature is listed once it works and is tested.
func dealerFeatures() wamp.Dict {
	return wamp.Dict{
		"caller_identification":        true,
		"call_trustlevels":             true,
		"pattern_based_registration":   true,
		"shared_registration":          true,
		"sharded_registration":         true,
		"progressive_call_results":     true,
		"progressive_call_invocations": true,
		"call_timeout":                 true,
		"call_canceling":               true,
		"registration_revocation":      true,
		"registration_meta_api":        true,
		"payload_passthru_mode":        true,
	}
}

func (d *dealer) init(r *Router) {
	d.router = r
	d.byID = make(map[wamp.ID]*registration)
}

// registerOptions are the REGISTER options the dealer reads.
type registerOptions struct {
	match wamp.Match
	calleeEntry
	invoke invokePolicy
}

func parseRegisterOptions(s *Session, o wamp.Dict) (registerOptions, error) {
	var ro registerOptions
	if len(o) == 0 {
		return ro, nil
	}
	match, err := wamp.OptChoice(o, "match", "exact", "exact", "prefix", "wildcard")
	if err != nil {
		return ro, err
	}
	ro.match, _ = wamp.ParseMatch(match)
	invoke, err := wamp.OptChoice(o, "invoke", "single", invokeNames[:]...)
	if err != nil {
		return ro, err
	}
	ro.invoke = invokePolicy(slices.Index(invokeNames[:], invoke))
	if ro.discloseCaller, err = wamp.OptBool(o, "disclose_caller", false); err != nil {
		return ro, err
	}
	if ro.discloseCaller && s.realm.cfg.DiscloseCaller == DiscloseNever {
		return ro, callErrorf(wamp.ErrOptionNotAllowed, "disclose_caller: this realm never discloses callers")
	}
	if ro.forwardTimeout, err = wamp.OptBool(o, "forward_timeout", false); err != nil {
		return ro, err
	}
	if ro.nkey, err = wamp.OptString(o, "nkey", ""); err != nil {
		return ro, err
	}
	return ro, nil
}

// requestError answers request req of type t with err: a *callError with
// its URI, anything else (an *wamp.OptionError) with invalid_argument.
func (s *Session) requestError(t wamp.MessageType, req wamp.ID, err error) {
	var ce *callError
	if errors.As(err, &ce) {
		s.errorReply(t, req, ce.uri, "%s", ce.message)
		return
	}
	s.errorReply(t, req, wamp.ErrInvalidArgument, "%v", err)
}

func (d *dealer) register(s *Session, m *wamp.Register) {
	ro, err := parseRegisterOptions(s, m.Options)
	if err != nil {
		s.requestError(wamp.TypeRegister, m.Request, err)
		return
	}
	if !wamp.ValidPattern(ro.match, m.Procedure, s.realm.strict) {
		s.errorReply(wamp.TypeRegister, m.Request, wamp.ErrInvalidURI,
			"procedure %q is not a valid URI for %s matching", m.Procedure, ro.match)
		return
	}
	if wamp.Reserved(m.Procedure) {
		// The meta procedures are the router's: their callers trust the
		// answers as they trust the router (meta_api.md).
		s.errorReply(wamp.TypeRegister, m.Request, wamp.ErrInvalidURI,
			"procedure %q is reserved: the wamp.* procedures are the router's", m.Procedure)
		return
	}
	ro.session = s
	d.mu.Lock()
	reg, exists := d.regs.Get(ro.match, m.Procedure)
	if exists {
		why := ""
		switch {
		case reg.invoke == invokeSingle:
			why = "it is registered with invoke \"single\""
		case reg.invoke != ro.invoke:
			why = fmt.Sprintf("it is registered with invoke %q, not %q", reg.invoke, ro.invoke)
		case slices.ContainsFunc(reg.callees, func(c calleeEntry) bool { return c.session == s }):
			why = "this session has already registered it"
		}
		if why != "" {
			d.mu.Unlock()
			s.errorReply(wamp.TypeRegister, m.Request, wamp.ErrProcedureAlreadyExists,
				"procedure %q (%s match) cannot be registered: %s", m.Procedure, ro.match, why)
			return
		}
	} else if why := d.conflictElsewhere(s.realm.name, ro.match, m.Procedure, ro.invoke); why != "" {
		d.mu.Unlock()
		s.errorReply(wamp.TypeRegister, m.Request, wamp.ErrProcedureAlreadyExists,
			"procedure %q (%s match) cannot be registered: %s", m.Procedure, ro.match, why)
		return
	} else {
		reg = &registration{id: d.newID(s.realm.name, ro.match, m.Procedure), procedure: m.Procedure, match: ro.match,
			invoke: ro.invoke, created: time.Now()}
	}
	limit := d.router.cfg.Limits.Registrations
	s.mu.Lock()
	joined := s.state == stateEstablished
	refused := joined && s.regs.len() >= limit && !s.unlimited()
	if joined && !refused {
		if s.regs == nil {
			s.regs = new(idSet[*registration])
		}
		s.regs.add(reg)
	}
	s.mu.Unlock()
	if !joined || refused {
		d.mu.Unlock()
		if refused {
			s.limitExceeded(wamp.TypeRegister, m.Request,
				"REGISTER of %q: the session holds %d registrations, the most the router allows a session", m.Procedure, limit)
		}
		return
	}
	if !exists {
		d.regs.Put(ro.match, m.Procedure, reg)
		d.byID[reg.id] = reg
		if bb := d.router.cfg.Backbone; bb != nil {
			bb.Registered(s.realm.name, ro.match, m.Procedure, ro.invoke.String(), true)
		}
	}
	reg.callees = append(reg.callees[:len(reg.callees):len(reg.callees)], ro.calleeEntry)
	if bb := d.router.cfg.Backbone; bb != nil {
		bb.CalleeChanged(s.realm.name, ro.match, m.Procedure, reg.invoke.String(), s.id, ro.shardKey(), true)
	}
	// REGISTERED is queued before any caller can find the registration, so
	// no INVOCATION reaches the callee ahead of it.
	err = s.peer.Send(&wamp.Registered{Request: m.Request, Registration: reg.id})
	if !exists {
		d.meta.add("wamp.registration.on_create", uint64(s.id), reg.details())
	}
	d.meta.add("wamp.registration.on_register", uint64(s.id), uint64(reg.id))
	d.mu.Unlock()
	if err == nil {
		s.countSent(wamp.TypeRegistered)
	}
	d.meta.flush(s.realm)
	if err != nil {
		s.sendFailed(wamp.TypeRegistered, err)
	}
}

func (d *dealer) unregister(s *Session, m *wamp.Unregister) {
	s.mu.Lock()
	reg := s.regs.remove(m.Registration)
	s.mu.Unlock()
	if reg == nil {
		s.errorReply(wamp.TypeUnregister, m.Request, wamp.ErrNoSuchRegistration,
			"registration %d is not active on this session", m.Registration)
		return
	}
	d.detach(reg, s)
	s.send(&wamp.Unregistered{Request: m.Request})
	d.unregisteredEvents(s)
}

// detach takes callee s off reg, and reg out of the index when s was its
// last callee, and queues the meta events of both (unregisteredEvents
// publishes them).
func (d *dealer) detach(reg *registration, s *Session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.IndexFunc(reg.callees, func(c calleeEntry) bool { return c.session == s })
	if i < 0 {
		return
	}
	d.meta.add("wamp.registration.on_unregister", uint64(s.id), uint64(reg.id))
	bb := d.router.cfg.Backbone
	if bb != nil {
		bb.CalleeChanged(s.realm.name, reg.match, reg.procedure, reg.invoke.String(), s.id, reg.callees[i].shardKey(), false)
	}
	reg.callees = slices.Delete(slices.Clone(reg.callees), i, i+1)
	if len(reg.callees) > 0 {
		return
	}
	reg.callees = nil
	d.meta.add("wamp.registration.on_delete", uint64(s.id), uint64(reg.id))
	if cur, ok := d.regs.Get(reg.match, reg.procedure); ok && cur == reg {
		d.regs.Delete(reg.match, reg.procedure)
		delete(d.byID, reg.id)
		if bb != nil {
			bb.Registered(s.realm.name, reg.match, reg.procedure, reg.invoke.String(), false)
		}
	}
}

// unregisteredEvents publishes the meta events of s leaving reg (queued
// by detach), after the UNREGISTERED (if any) was queued.
func (d *dealer) unregisteredEvents(s *Session) {
	d.meta.flush(s.realm)
}

// revoke takes callee s off the registration regID on the router's own
// initiative (registration revocation): a callee that announced
// registration_revocation is told with UNREGISTERED{0, {registration,
// reason}}, any other learns it from the meta events only, as the
// specification requires. It reports false when s is not a callee of regID.
func (d *dealer) revoke(s *Session, regID wamp.ID, reason string) bool {
	s.mu.Lock()
	reg := s.regs.remove(regID)
	s.mu.Unlock()
	if reg == nil {
		return false
	}
	d.detach(reg, s)
	if s.features.has(callee, featRegistrationRevocation) {
		details := wamp.Dict{"registration": uint64(regID)}
		if reason != "" {
			details["reason"] = reason
		}
		// From an admin's goroutine: not after the GOODBYE of a kill or
		// of the callee's leave (sendAnswer).
		if err := s.sendAnswer(&wamp.Unregistered{Details: details}); err != nil {
			s.sendFailed(wamp.TypeUnregistered, err)
		} else {
			s.countSent(wamp.TypeUnregistered)
		}
	}
	d.unregisteredEvents(s)
	return true
}

// details is the registration's RegistrationDetails of the meta API.
func (reg *registration) details() wamp.Dict {
	return wamp.Dict{
		"id":      uint64(reg.id),
		"created": reg.created.UTC().Format("2006-01-02T15:04:05.000Z"),
		"uri":     string(reg.procedure),
		"match":   reg.match.String(),
		"invoke":  reg.invoke.String(),
	}
}

// pick chooses the callee of a call by the registration's invocation
// policy, or by the resource key of a partitioned (sharded) call. It is
// called under dealer.mu.
func (reg *registration) pick(co *callOptions) *calleeEntry {
	n := len(reg.callees)
	switch {
	case n == 1:
		return &reg.callees[0]
	case co.partition:
		return reg.shard(co.rkey)
	}
	switch reg.invoke {
	case invokeRoundRobin:
		return &reg.callees[(reg.next.Add(1)-1)%uint64(n)]
	case invokeRandom:
		return &reg.callees[rand.IntN(n)]
	case invokeLast:
		return &reg.callees[n-1]
	}
	return &reg.callees[0]
}

// shard picks the callee for resource key rkey by rendezvous hashing over
// the callees' shard keys (ShardScore), the earliest registered of equals
// first: a key always reaches the same callee while that callee stays, and
// only the keys of a callee that leaves move elsewhere. A cluster ranks the
// callees of every node the same way (Backbone.Callee).
func (reg *registration) shard(rkey string) *calleeEntry {
	best, bestScore := 0, uint64(0)
	for i := range reg.callees {
		var score uint64
		if nk := reg.callees[i].nkey; nk != "" {
			score = ShardScore(rkey, nk)
		} else {
			var id [20]byte
			score = shardScore(rkey, strconv.AppendUint(id[:0], uint64(reg.callees[i].session.id), 10))
		}
		if i == 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return &reg.callees[best]
}

// shardKey is the callee's shard key as a string: its nkey, or its
// session id in decimal.
func (c *calleeEntry) shardKey() string {
	if c.nkey != "" {
		return c.nkey
	}
	return strconv.FormatUint(uint64(c.session.id), 10)
}

func (reg *registration) ident() wamp.ID { return reg.id }

// newID returns the id of a new registration (match, procedure) of the
// realm: the next of the router's sequence on a single node, the same on
// every node in a cluster (clusterID). Called under d.mu.
func (d *dealer) newID(realm wamp.URI, match wamp.Match, procedure wamp.URI) wamp.ID {
	if d.router.cfg.Backbone == nil {
		return d.router.regIDs.Next()
	}
	return clusterID(realm, match, procedure, func(id wamp.ID) bool { _, taken := d.byID[id]; return taken })
}

// replyFailed handles a RESULT or ERROR that could not be queued for the
// caller s: when it was too large or could not be converted, the caller gets
// an ERROR that says so instead; when the queue is full, the caller is
// disconnected (a lost result must not pass in silence).
func (s *Session) replyFailed(t wamp.MessageType, req wamp.ID, err error) {
	switch {
	case errors.Is(err, ErrTooLarge):
		s.errorReply(wamp.TypeCall, req, wamp.ErrPayloadSizeExceeded, "the %s is larger than this session accepts", t)
	case errors.Is(err, ErrQueueFull), errors.Is(err, ErrClosed):
		s.sendFailed(t, err)
	default:
		s.errorReply(wamp.TypeCall, req, wamp.ErrInvalidArgument, "the %s cannot be delivered: %v", t, err)
	}
}
