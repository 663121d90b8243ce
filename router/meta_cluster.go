package router

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// The meta API in a cluster. The session, subscription and registration
// meta procedures answer for the whole cluster by scatter-gather: the
// node that received the CALL computes its own part, asks every other
// live node for theirs (Backbone.Gather, one NATS request each node
// answers from its own tables, Router.AnswerMeta) and merges the parts.
// Nothing is kept about other nodes' sessions for this, so an idle
// session costs nothing more; a meta call costs a round trip to every
// node. Ids are cluster-wide (session ids are random in [1, 2^53],
// subscription and registration ids the same on every node for the same
// realm, match and URI: clusterID), so the parts merge without
// ambiguity: a count is the sum, a list the union, a get the one entry.
//
// The wait for the other nodes runs as a background task (background.go),
// never on the event loop that read the CALL; the router answers from
// there. A node that does not answer within the cluster's query timeout
// is left out: the answer is made of the parts that came, its RESULT
// says how many nodes are missing (detailMissingNodes), and the cluster
// logs and counts them. So during the few seconds between a
// node's death and its being noticed, a count may miss its sessions and
// a get or kill of one of them answers no_such_session.
//
// The procedures that act on one thing (session.get, session.kill,
// subscription.remove_subscriber, registration.remove_callee) answer at
// once when the thing is on this node; otherwise each node tries, and
// the one that has it answers, as soon as it does: a kill of a session
// on another node is carried out by that node. The lookups
// (subscription.lookup, registration.lookup) do the same, since every
// node gives a topic or a procedure the same id: the first node that
// has it answers, and a node's null (not here) does not end the wait.
// Only when no node has it does the answer wait for every node (or the
// query timeout).

// metaGather says how a meta procedure answers for the cluster.
type metaGather struct {
	// part is this node's part of the answer, run here and by every
	// other node; nil means the procedure itself.
	part metaProcedure
	// absent are the errors of a node that does not have the thing
	// asked about: no error of the merged answer unless no node has it.
	absent []wamp.URI
	// first: the answer of the node that has the thing (an answer that
	// is neither an error nor null: MetaAnswer.Found) is the answer; a
	// local one is given at once, without asking the others, and another
	// node's as soon as it comes (MetaQuery.First), without waiting for
	// the rest: a node that is slow, or dead and not yet noticed, delays
	// only the calls about what it has, and those that find nothing.
	first bool
	// merge builds the answer from the nodes' parts that succeeded (this
	// node's first); not called when there is none.
	merge func(parts []wamp.List) wamp.Payload
}

// metaGathers returns the realm's meta procedures that answer for the
// whole cluster, by URI.
func (rl *realm) metaGathers() map[wamp.URI]*metaGather {
	sum := &metaGather{merge: mergeSum}
	union := &metaGather{merge: mergeUnion}
	return map[wamp.URI]*metaGather{
		"wamp.session.count":            sum,
		"wamp.session.list":             union,
		"wamp.session.get":              {absent: []wamp.URI{wamp.ErrNoSuchSession}, first: true, merge: mergeFirst},
		"wamp.session.kill":             {absent: []wamp.URI{wamp.ErrNoSuchSession}, first: true, merge: mergeFirst},
		"wamp.session.kill_by_authid":   union,
		"wamp.session.kill_by_authrole": sum,
		"wamp.session.kill_all":         sum,

		"wamp.subscription.list":              {merge: mergeByMatch},
		"wamp.subscription.lookup":            {first: true, merge: mergeFirstNonNull},
		"wamp.subscription.match":             {merge: mergeUnionOrNull},
		"wamp.subscription.get":               {absent: []wamp.URI{wamp.ErrNoSuchSubscription}, merge: mergeEarliest},
		"wamp.subscription.list_subscribers":  {absent: []wamp.URI{wamp.ErrNoSuchSubscription}, merge: mergeUnion},
		"wamp.subscription.count_subscribers": {absent: []wamp.URI{wamp.ErrNoSuchSubscription}, merge: mergeSum},
		"wamp.subscription.remove_subscriber": {absent: []wamp.URI{wamp.ErrNoSuchSubscription, wamp.ErrNoSuchSession}, first: true, merge: mergeFirst},
		"wamp.registration.list":              {merge: mergeByMatch},
		"wamp.registration.lookup":            {first: true, merge: mergeFirstNonNull},
		"wamp.registration.match":             {part: rl.registrationMatchPart, merge: mergeBestRegistration},
		"wamp.registration.get":               {absent: []wamp.URI{wamp.ErrNoSuchRegistration}, merge: mergeEarliest},
		"wamp.registration.list_callees":      {absent: []wamp.URI{wamp.ErrNoSuchRegistration}, merge: mergeUnion},
		"wamp.registration.count_callees":     {absent: []wamp.URI{wamp.ErrNoSuchRegistration}, merge: mergeSum},
		"wamp.registration.remove_callee":     {absent: []wamp.URI{wamp.ErrNoSuchRegistration, wamp.ErrNoSuchSession}, first: true, merge: mergeFirst},
	}
}

// metaGatherTimeout bounds a background meta call that gathers the other
// nodes' parts; the cluster's own query timeout, shorter, applies first.
const metaGatherTimeout = 30 * time.Second

// callMetaCluster answers c with meta procedure p for the whole cluster,
// as g says. Called on the goroutine that routed the CALL.
func (rl *realm) callMetaCluster(c *metaCall, p metaProcedure, g *metaGather) {
	part := g.part
	if part == nil {
		part = p
	}
	s, req, proc := c.caller, c.call.Request, c.call.Procedure
	res, err := part(c)
	var ce *callError
	switch {
	case err != nil && (!errors.As(err, &ce) || !slices.Contains(g.absent, ce.uri)):
		s.answerMeta(req, res, err) // bad arguments: no node would answer otherwise
		return
	case err == nil && g.first && !isNull(res.Args):
		s.answerMeta(req, g.merge([]wamp.List{res.Args}), nil)
		return
	}
	q := &MetaQuery{Realm: rl.name, Procedure: proc, Args: c.args, Kwargs: c.kwargs, Caller: s.id, First: g.first}
	bb := rl.router.cfg.Backbone
	started := rl.router.bg.start(metaGatherTimeout, func(ctx context.Context) {
		var parts []wamp.List
		if err == nil {
			parts = append(parts, res.Args)
		}
		answers, missing := bb.Gather(ctx, q)
		for _, a := range answers {
			if a.Error == "" {
				parts = append(parts, a.Args)
			}
		}
		switch {
		case len(parts) == 0:
			s.answerMeta(req, wamp.Payload{}, err)
		case missing > 0:
			s.answerIncomplete(req, g.merge(parts), missing)
		default:
			s.answerMeta(req, g.merge(parts), nil)
		}
	})
	switch {
	case errors.Is(started, errBusy):
		s.answerMeta(req, wamp.Payload{}, rl.router.busyError(proc))
	case started != nil:
		s.answerMeta(req, wamp.Payload{}, callErrorf(wamp.ErrCanceled, "%s: %v", proc, started))
	}
}

// detailMissingNodes is the RESULT detail of a meta procedure answered
// for the cluster without the parts of some nodes (they did not answer
// in time, or their part was too large): how many. A custom attribute,
// as the specification names them, so that a count or a list that is
// short says so; clients that do not know it ignore it.
const detailMissingNodes = "_missing_nodes"

// answerIncomplete is answerMeta of a result made without the parts of
// missing nodes.
func (s *Session) answerIncomplete(req wamp.ID, res wamp.Payload, missing int) {
	r := &wamp.Result{Request: req, Details: wamp.Dict{detailMissingNodes: missing}, Payload: res}
	if err := s.sendAnswer(r); err != nil {
		s.replyFailed(wamp.TypeResult, req, err)
		return
	}
	s.countSent(wamp.TypeResult)
}

// AnswerMeta answers, for this node's own sessions, subscriptions and
// registrations, a meta procedure call made on another node (the cluster
// calls it for Backbone.Gather). A kill carried out here is this node's.
func (r *Router) AnswerMeta(q *MetaQuery) MetaAnswer {
	rl := r.realmNamed(q.Realm)
	if rl == nil || rl.meta == nil {
		return MetaAnswer{Error: wamp.ErrNoSuchRealm, Message: "no realm " + string(q.Realm) + " with the meta API on this node"}
	}
	p, g := rl.meta[q.Procedure], rl.gathers[q.Procedure]
	if p == nil || g == nil {
		return MetaAnswer{Error: wamp.ErrNoSuchProcedure, Message: "meta procedure " + string(q.Procedure) + " does not answer across nodes"}
	}
	if g.part != nil {
		p = g.part
	}
	res, err := p(&metaCall{call: &wamp.Call{Procedure: q.Procedure}, args: q.Args, kwargs: q.Kwargs})
	if err != nil {
		ce, ok := err.(*callError)
		if !ok {
			ce = &callError{uri: wamp.ErrInvalidArgument, message: err.Error()}
		}
		return MetaAnswer{Error: ce.uri, Message: ce.message}
	}
	return MetaAnswer{Args: res.Args}
}

// registrationMatchPart is this node's part of wamp.registration.match:
// the registration a call would go to here, with its match policy and
// pattern, so that the asking node picks the best of the cluster's.
func (rl *realm) registrationMatchPart(c *metaCall) (wamp.Payload, error) {
	proc, err := c.stringArg(0, "the procedure URI")
	if err != nil {
		return wamp.Payload{}, err
	}
	d := &rl.dealer
	d.mu.RLock()
	m, pattern, reg, ok := d.regs.Best(wamp.URI(proc))
	d.mu.RUnlock()
	if !ok {
		return result(nil), nil
	}
	return result(uint64(reg.id), m.String(), string(pattern)), nil
}

// The merges. A part is the RESULT arguments of one node: built here
// (Go ints, wamp.List) or decoded from another node (int64 or uint64,
// []any), so they read numbers with wamp.AsUint and lists as []any.

func mergeFirst(parts []wamp.List) wamp.Payload { return wamp.Payload{Args: parts[0]} }

func arg0(p wamp.List) any {
	if len(p) == 0 {
		return nil
	}
	return p[0]
}

func mergeSum(parts []wamp.List) wamp.Payload {
	var n uint64
	for _, p := range parts {
		v, _ := wamp.AsUint(arg0(p))
		n += v
	}
	return result(n)
}

// unionIDs appends the ids of list l not in seen to dst.
func unionIDs(dst []any, l any, seen map[uint64]struct{}) []any {
	ids, _ := l.([]any)
	for _, v := range ids {
		id, ok := wamp.AsUint(v)
		if !ok {
			continue
		}
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			dst = append(dst, id)
		}
	}
	return dst
}

func mergeUnion(parts []wamp.List) wamp.Payload {
	out, seen := []any{}, map[uint64]struct{}{}
	for _, p := range parts {
		out = unionIDs(out, arg0(p), seen)
	}
	return result(out)
}

func mergeUnionOrNull(parts []wamp.List) wamp.Payload {
	r := mergeUnion(parts)
	if len(r.Args[0].([]any)) == 0 {
		return result(nil)
	}
	return r
}

func mergeFirstNonNull(parts []wamp.List) wamp.Payload {
	for _, p := range parts {
		if arg0(p) != nil {
			return wamp.Payload{Args: p}
		}
	}
	return result(nil)
}

// mergeByMatch merges the {exact, prefix, wildcard} id lists of list.
func mergeByMatch(parts []wamp.List) wamp.Payload {
	out := wamp.Dict{}
	for _, key := range []string{"exact", "prefix", "wildcard"} {
		ids, seen := []any{}, map[uint64]struct{}{}
		for _, p := range parts {
			if d, ok := arg0(p).(map[string]any); ok {
				ids = unionIDs(ids, d[key], seen)
			}
		}
		slices.SortFunc(ids, func(a, b any) int { return cmp.Compare(a.(uint64), b.(uint64)) })
		out[key] = ids
	}
	return result(out)
}

// mergeEarliest picks the details of a subscription or registration with
// the earliest "created" (the same format on every node, so the strings
// compare as the times do): the time the cluster first had it.
func mergeEarliest(parts []wamp.List) wamp.Payload {
	best, bestAt := parts[0], ""
	for _, p := range parts {
		d, _ := arg0(p).(map[string]any)
		at, _ := d["created"].(string)
		if bestAt == "" || at != "" && at < bestAt {
			best, bestAt = p, at
		}
	}
	return wamp.Payload{Args: best}
}

// mergeBestRegistration picks, among the nodes' registrationMatchPart, the
// registration a call would be routed to: the best match by the
// specification's precedence, this node's on a tie (as in routing).
func mergeBestRegistration(parts []wamp.List) wamp.Payload {
	var best any
	var bm wamp.Match
	var bp wamp.URI
	for _, p := range parts {
		if len(p) < 3 || p[0] == nil {
			continue
		}
		ms, _ := p[1].(string)
		pattern, _ := p[2].(string)
		m, ok := wamp.ParseMatch(ms)
		if !ok {
			continue
		}
		if best == nil || wamp.Precedes(m, wamp.URI(pattern), bm, bp) {
			best, bm, bp = p[0], m, wamp.URI(pattern)
		}
	}
	if id, ok := wamp.AsUint(best); ok {
		return result(id)
	}
	return result(nil)
}

// ReplicatedSession is a session as the other nodes of a cluster know it
// (Backbone.SessionJoined, SessionTestaments): what AnnouncedSessions
// gives of this node's sessions, and SessionsLost takes of a dead node's.
type ReplicatedSession struct {
	Realm            wamp.URI
	ID               wamp.ID
	AuthID, AuthRole string
	Testaments       []Testament
}

// SessionsLost announces the end of sessions whose node died without
// saying so: for each, its testaments are published as its own
// publications (publisher disclosure and trust levels as for a session of
// its authid and authrole), then wamp.session.on_leave, as its own node
// would have. The cluster calls it on one surviving node.
func (r *Router) SessionsLost(ss []ReplicatedSession) {
	for i := range ss {
		ls := &ss[i]
		rl := r.realmNamed(ls.Realm)
		if rl == nil {
			continue
		}
		if len(ls.Testaments) > 0 {
			g := &Session{router: r, peer: discardPeer{}, info: connInfo{Kind: nodeKind}}
			g.realm, g.id, g.authid, g.authrole = rl, ls.ID, ls.AuthID, ls.AuthRole
			g.roles, g.features[publisher] = rolePublisher, featPayloadPassthruMode
			g.state = stateClosed
			for _, t := range ls.Testaments {
				rl.broker.publish(g, &wamp.Publish{Topic: t.Topic, Options: t.Options, Payload: t.Payload})
			}
		}
		rl.metaEvent(topicSessionOnLeave, uint64(ls.ID), ls.AuthID, ls.AuthRole)
	}
}

// AnnouncedSessions calls fn with each session of this router that the
// Backbone has been told of (SessionJoined) and not yet told has left
// (SessionLeft), with its testaments as SessionTestaments last gave them:
// the session table the other nodes are to hold of this node, read from
// the router's own tables so that the Backbone need not keep a copy. Each
// session is looked at under its lock, which its calls to the Backbone
// hold too: each call comes wholly before the look (and is reflected in
// it) or after. fn must not call the router.
func (r *Router) AnnouncedSessions(fn func(*ReplicatedSession)) {
	var ss []*Session
	for _, rl := range r.allRealms() {
		rl.mu.RLock()
		ss = slices.Grow(ss[:0], len(rl.sessions))
		for _, s := range rl.sessions {
			ss = append(ss, s)
		}
		rl.mu.RUnlock()
		for i, s := range ss {
			ss[i] = nil
			s.mu.Lock()
			if !s.announced.joined || s.announced.owed || s.state == stateClosed {
				s.mu.Unlock()
				continue
			}
			rs := ReplicatedSession{Realm: rl.name, ID: s.id, AuthID: s.authid, AuthRole: s.authrole, Testaments: s.replicatedTestaments()}
			s.mu.Unlock()
			fn(&rs)
		}
	}
}

// discardPeer is the Peer of the stand-in for a lost session that
// publishes its testaments: nothing is sent to a session that is gone.
type discardPeer struct{}

func (discardPeer) Send(wamp.Message) error { return ErrClosed }
func (discardPeer) Close()                  {}

// replicatedTestaments returns s's testaments as they cross nodes,
// detached ones first. Called under s.mu.
func (s *Session) replicatedTestaments() []Testament {
	t := s.testaments
	if t == nil {
		return nil
	}
	out := make([]Testament, 0, t.count())
	for _, l := range [][]testament{t.detached, t.destroyed} {
		for _, x := range l {
			out = append(out, Testament{Topic: x.topic, Options: x.options, Payload: x.payload})
		}
	}
	return out
}

// testamentsChanged tells the other nodes s's testaments, once they know
// of s. Called under s.mu.
func (s *Session) testamentsChanged() {
	if bb := s.router.cfg.Backbone; bb != nil && s.announced.joined && !s.announced.owed {
		bb.SessionTestaments(s.realm.name, s.id, s.replicatedTestaments())
	}
}
