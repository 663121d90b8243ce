package router

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// Calls across nodes. The dealers of two nodes talk through a pair of
// router-side sessions per realm, which have no connection: on the caller's
// node, a callee proxy stands for the other node (the dealer routes a call
// to it as to any callee, and its Peer forwards the INVOCATIONs and
// INTERRUPTs it is sent); on the callee's node, a caller proxy stands for
// the caller's node (it makes the calls there, and its Peer forwards the
// RESULTs and ERRORs back). What arrives from the other node is handed to
// the dealer as the proxy's own message: a RESULT as the callee proxy's
// YIELD, an ERROR as its ERROR, an INTERRUPT as the caller proxy's CANCEL.
// So timeouts, cancelation, progressive results and invocations, and
// either end leaving, work as on one node, with the caller's node keeping
// the call's state and enforcing its timeout.
//
// Where a call goes is the cluster's decision (Backbone.Callee): the best
// registration of any node by the specification's precedence, and among
// the callees of every node that has it, the one its policy picks.
// The caller's identity and the procedure travel beside the INVOCATION
// (CallOrigin, Backbone.Forward): the callee's node needs them to find the
// callee and to disclose the caller to a callee that registered with
// disclose_caller.

// CallOrigin says who made a call that crosses nodes and what it called,
// for the callee's node. It goes with the call's INVOCATIONs (every chunk
// of a progressive call invocation), not in their details, so that
// crossing costs no dictionary.
type CallOrigin struct {
	Procedure wamp.URI
	// Caller, AuthID and AuthRole are the caller's identity, for a
	// callee that registered with disclose_caller; zero when the caller
	// is never disclosed.
	Caller           wamp.ID
	AuthID, AuthRole string
	// RKey is a partitioned call's resource key, so that the callee's
	// node picks the callee the caller's node meant; "" otherwise.
	RKey string
	// Timeout is the call's timeout when the caller's node enforces it
	// (0: none, or the callee enforces it). The callee's node enforces it
	// too, remoteTimeoutGrace later, in case the caller node's INTERRUPT
	// is lost on the way (NATS drops what a slow consumer misses): the
	// invocation would stay here until the callee answered, which one
	// that ignores it never does.
	Timeout time.Duration
	// Continued marks a further chunk of a progressive call invocation:
	// the callee's node drops one whose call has ended there, rather than
	// take it for a new call (its caller proxy makes the calls of every
	// caller of the other node: what it remembers of their ended calls
	// may no longer hold this one).
	Continued bool
}

// remoteTimeoutGrace is how long after the caller's node the callee's node
// ends a call that timed out: long enough for the caller node's INTERRUPT
// to arrive first on a working cluster (milliseconds), so that it is the
// one to answer the caller.
const remoteTimeoutGrace = time.Second

// remotePeer is the Peer of a proxy session: what the dealer sends it goes
// to the node at the other end.
type remotePeer struct {
	r     *Router
	bb    Backbone
	realm wamp.URI
	node  uint64
}

// Send forwards the messages of a call: INVOCATION and INTERRUPT from a
// callee proxy, RESULT and ERROR for a CALL from a caller proxy. The
// dealer's complaints about what came from the other node (an ERROR for
// a YIELD, an ERROR or a CANCEL it refused) stay here: the other node
// would take an ERROR for an answer to one of its own calls. They are
// counted and logged when the message that caused them is (refused).
func (p *remotePeer) Send(m wamp.Message) error {
	switch m := m.(type) {
	case *wamp.Invocation, *wamp.Interrupt, *wamp.Result:
	case *wamp.Error:
		if m.RequestType != wamp.TypeCall {
			p.refused(p.r, "an ERROR for another node's "+m.RequestType.String()+" is not sent", string(m.Error))
			return nil
		}
	default:
		return nil // ABORT, GOODBYE: a proxy has no session to end
	}
	return p.forward(m, nil)
}

// refused counts and logs (rate-limited) a message of a call with the
// node that the router refused.
func (p *remotePeer) refused(r *Router, what, reason string) {
	r.stats.InvalidRequests.Add(1)
	if ok, held := r.logLimit.Allow("node message refused"); ok {
		r.log.Warn(what, "realm", p.realm, "node", strconv.FormatUint(p.node, 16), "reason", reason, "held_back", held)
	}
}

// forward sends m, and with an INVOCATION its call's origin, to the node.
func (p *remotePeer) forward(m wamp.Message, origin *CallOrigin) error {
	err := p.bb.Forward(p.node, p.realm, m, origin)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrTooLarge):
		return err
	}
	return fmt.Errorf("%w: to another node: %v", ErrClosed, err)
}

func (p *remotePeer) Close() {}

// proxies are a realm's proxy sessions by node.
type proxies struct {
	mu      sync.Mutex
	callees map[uint64]*Session // on this, the caller's node
	callers map[uint64]*Session // on this, the callee's node
}

// The features a proxy announces: everything the dealer checks, so that it
// is the real session at the other end that decides.
const (
	proxyCalleeFeatures = featProgressiveCallResults | featProgressiveCallInvocations | featCallCanceling | featPayloadPassthruMode
	proxyCallerFeatures = featProgressiveCallInvocations | featCallCanceling | featPayloadPassthruMode | featProgressiveCallResults
)

// nodeKind is the transport kind of the proxies (TransportInfo.Kind).
const nodeKind = "node"

// proxy returns the realm's proxy for node in role (callee or caller),
// made if create is set.
func (rl *realm) proxy(node uint64, role roleIndex, create bool) *Session {
	px := &rl.proxies
	px.mu.Lock()
	defer px.mu.Unlock()
	m := &px.callers
	if role == callee {
		m = &px.callees
	}
	if s := (*m)[node]; s != nil || !create {
		return s
	}
	if *m == nil {
		*m = make(map[uint64]*Session)
	}
	s := &Session{router: rl.router, peer: &remotePeer{r: rl.router, bb: rl.router.cfg.Backbone, realm: rl.name, node: node},
		info: connInfo{Kind: nodeKind}}
	s.realm, s.id, s.authid, s.authrole = rl, wamp.GlobalID(), "junction", "junction"
	// A callee proxy's INVOCATION ids start anywhere: the other node may
	// still hold calls of an earlier proxy for this node (it took this
	// node for lost, or this one it, and not the other way round), whose
	// ids must not be taken for this one's, nor their late answers.
	s.reqIDs.Skip(wamp.ID(mrand.Uint64N(uint64(wamp.MaxID) / 2)))
	if role == callee {
		s.roles, s.features[callee] = roleCallee, proxyCalleeFeatures
	} else {
		s.roles, s.features[caller] = roleCaller, proxyCallerFeatures
	}
	s.state = stateEstablished
	(*m)[node] = s
	return s
}

// route asks the Backbone, when there is one, whether a call to procedure
// goes to another node (remote_call.go: the cluster applies the
// registration's policy to the callees of every node). local, match and
// pattern are this node's best registration for procedure. Called under
// d.mu's read lock.
func (d *dealer) route(rl *realm, procedure wamp.URI, co *callOptions, reg *registration, match wamp.Match, pattern wamp.URI) (node uint64, remote bool) {
	bb := d.router.cfg.Backbone
	if bb == nil {
		return 0, false
	}
	c := CallRoute{Procedure: procedure, Local: reg != nil, Match: match, Pattern: pattern}
	if reg != nil {
		c.Invoke = reg.invoke.String()
	}
	if co.partition {
		c.RKey = co.rkey
	}
	node, _, _, remote = bb.Callee(rl.name, c)
	return node, remote
}

// originOf is the origin of s's call of procedure, for another node. A
// caller that is never disclosed (its role's or realm's policy) crosses
// without its identity: the callee's node, which does not know that
// policy, then has none to disclose to a callee that registered with
// disclose_caller.
func originOf(s *Session, procedure wamp.URI, co *callOptions) *CallOrigin {
	o := &CallOrigin{Procedure: procedure}
	if policy, _ := s.disclosure(); policy != DiscloseNever {
		o.Caller, o.AuthID, o.AuthRole = s.id, s.authid, s.authrole
	}
	if co.partition {
		o.RKey = co.rkey
	}
	return o
}

// sendInvocation sends an INVOCATION to callee to: with its call's origin
// to a callee proxy (the callees of another node), as any message to a
// session of this node.
func sendInvocation(to *Session, m *wamp.Invocation, origin *CallOrigin) error {
	if p, ok := to.peer.(*remotePeer); ok {
		return p.forward(m, origin)
	}
	return to.peer.Send(m)
}

// DeliverCallMessage hands the dealer a message of a call in flight that
// node forwarded (Backbone.Forward) for realm, with its origin for an
// INVOCATION.
func (r *Router) DeliverCallMessage(node uint64, realm wamp.URI, m wamp.Message, origin *CallOrigin) error {
	rl := r.realmNamed(realm)
	if rl == nil {
		if inv, ok := m.(*wamp.Invocation); ok {
			// Answer, so that the caller does not wait for its timeout.
			return r.cfg.Backbone.Forward(node, realm, &wamp.Error{RequestType: wamp.TypeCall, Request: inv.Request,
				Error: wamp.ErrNoSuchRealm, Payload: wamp.Payload{Args: wamp.List{"realm " + string(realm) + " does not exist on the callee's node"}}}, nil)
		}
		return nil
	}
	d := &rl.dealer
	switch m := m.(type) {
	case *wamp.Invocation:
		return d.callFromNode(rl.proxy(node, caller, true), m, origin)
	case *wamp.Interrupt:
		if q := rl.proxy(node, caller, false); q != nil {
			mode, _ := m.Options["mode"].(string)
			reason := wamp.ErrCanceled
			if r, _ := m.Options["reason"].(string); wamp.ValidURI(wamp.URI(r), false, false) {
				reason = wamp.URI(r) // wamp.error.timeout when the caller's node timed the call out
			}
			d.interruptCall(q, &wamp.Cancel{Request: m.Request, Options: wamp.Dict{"mode": mode}}, reason)
		}
	case *wamp.Result:
		if p := rl.proxy(node, callee, false); p != nil {
			d.yield(p, &wamp.Yield{Request: m.Request, Options: m.Details, Payload: m.Payload})
		}
	case *wamp.Error:
		// The callee's node sends the call's error as the caller proxy
		// got it (for a CALL); the cluster's own (failCalls) answer the
		// INVOCATION. Anything else would be taken for an answer wrongly.
		if m.RequestType != wamp.TypeCall && m.RequestType != wamp.TypeInvocation {
			return fmt.Errorf("an ERROR for a %s is not part of a call from this node", m.RequestType)
		}
		if p := rl.proxy(node, callee, false); p != nil {
			d.invocationError(p, &wamp.Error{RequestType: wamp.TypeInvocation, Request: m.Request, Details: m.Details, Error: m.Error, Payload: m.Payload})
		}
	default:
		return fmt.Errorf("a %s is not part of a call", m.Type())
	}
	return nil
}

// callFromNode makes the call that another node's INVOCATION m carries,
// with its caller proxy q: the first chunk finds a callee here, a further
// chunk of a progressive call invocation goes where the first went.
func (d *dealer) callFromNode(q *Session, m *wamp.Invocation, origin *CallOrigin) error {
	if origin == nil {
		return fmt.Errorf("an INVOCATION from another node without its origin")
	}
	procedure := origin.Procedure
	var co callOptions
	co.progress, _ = m.Details["progress"].(bool)
	co.receiveProgress, _ = m.Details["receive_progress"].(bool)
	co.ppt, _ = passthru(m.Details)
	co.rkey, co.partition = origin.RKey, origin.RKey != ""
	if origin.Timeout > 0 {
		co.timeout = min(origin.Timeout, time.Duration(maxTimeoutMS)*time.Millisecond-remoteTimeoutGrace) + remoteTimeoutGrace
	}

	q.mu.Lock()
	_, active := q.rpc.get(m.Request)
	ended := !active && q.rpc != nil && q.rpc.ended.has(m.Request)
	q.mu.Unlock()
	if active || ended || origin.Continued {
		// A further chunk of a progressive call invocation: call treats
		// it as one; one whose call has ended is dropped.
		if active {
			d.call(q, &wamp.Call{Request: m.Request, Options: wamp.Dict{"progress": co.progress}, Procedure: procedure, Payload: m.Payload})
		}
		return nil
	}

	// The INVOCATION's details but what this node sets again; made only
	// when there is something to keep (a call without trust levels or
	// disclosure carries none).
	var details wamp.Dict
	for k, v := range m.Details {
		switch k {
		case "progress", "procedure", "receive_progress":
			continue
		}
		if details == nil {
			details = make(wamp.Dict, len(m.Details))
		}
		details[k] = v
	}
	d.mu.RLock()
	match, _, reg, ok := d.regs.Best(procedure)
	var entry calleeEntry
	var regID wamp.ID
	if ok {
		entry = *reg.pick(&co)
		regID = reg.id
	}
	d.mu.RUnlock()
	if !ok {
		q.errorReply(wamp.TypeCall, m.Request, wamp.ErrNoSuchProcedure, "no callee has registered procedure %q", procedure)
		return nil
	}
	to := entry.session
	if calleeRefuses(q, m.Request, procedure, &co, to) {
		return nil
	}
	if match != wamp.MatchExact {
		details = put(details, "procedure", string(procedure))
	}
	if co.receiveProgress && to.features.has(callee, featProgressiveCallResults) && to.features.has(callee, featCallCanceling) {
		details = put(details, "receive_progress", true)
	}
	if _, disclosed := details["caller"]; !disclosed && entry.discloseCaller && origin.Caller != 0 {
		details = put(details, "caller", uint64(origin.Caller))
		details["caller_authid"], details["caller_authrole"] = origin.AuthID, origin.AuthRole
	}
	d.invoke(q, m.Request, procedure, m.Payload, &co, to, regID, details, false)
	return nil
}

// NodeLost ends everything this router has in flight with node, which is
// gone: callers of its callees get wamp.error.canceled, and the callees
// here that it had called are interrupted.
func (r *Router) NodeLost(node uint64) {
	for _, rl := range r.allRealms() {
		px := &rl.proxies
		px.mu.Lock()
		p, q := px.callees[node], px.callers[node]
		delete(px.callees, node)
		delete(px.callers, node)
		px.mu.Unlock()
		for _, s := range []*Session{p, q} {
			if s == nil {
				continue
			}
			s.mu.Lock()
			t := s.takeTables()
			s.state = stateClosed
			s.mu.Unlock()
			s.leaveTables(t)
		}
	}
}

// conflictElsewhere says why a new registration (match, procedure) with
// policy invoke conflicts with another node's, "" when it does not (or
// there is no other node): a single registration is unique in the
// cluster, and the nodes of a shared one agree on its policy. It sees the
// other nodes' registrations as announced; two REGISTERs that race on two
// nodes are settled when the nodes learn of each other (RevokeRegistration).
func (d *dealer) conflictElsewhere(realm wamp.URI, match wamp.Match, procedure wamp.URI, invoke invokePolicy) string {
	bb := d.router.cfg.Backbone
	if bb == nil {
		return ""
	}
	other, ok := bb.Registration(realm, match, procedure)
	switch {
	case !ok:
		return ""
	case other == invokeSingle.String():
		return "it is registered with invoke \"single\" on another node"
	case other != invoke.String():
		return fmt.Sprintf("it is registered with invoke %q on another node, not %q", other, invoke)
	}
	return ""
}

// RevokeRegistration takes the registration (match, procedure) of realm
// from every callee of this node (registration revocation, with reason):
// the cluster calls it on the node that loses when two nodes registered
// conflicting registrations at once.
func (r *Router) RevokeRegistration(realm wamp.URI, match wamp.Match, procedure wamp.URI, reason string) {
	rl := r.realmNamed(realm)
	if rl == nil {
		return
	}
	d := &rl.dealer
	d.mu.RLock()
	reg, ok := d.regs.Get(match, procedure)
	var callees []*Session
	if ok {
		for _, c := range reg.callees {
			callees = append(callees, c.session)
		}
	}
	d.mu.RUnlock()
	for _, s := range callees {
		d.revoke(s, reg.id, reason)
	}
}
