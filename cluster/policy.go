package cluster

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// Shared and sharded registrations across nodes. Each node announces, in
// its interest table, one kindCallee entry per callee of each of its shared
// registrations (not of single ones: they have one callee): the callee's
// session id, its shard key and its stamp, a hybrid logical clock reading
// taken when it registered. From these every node knows, for a
// registration, the callees of every node in the order they registered,
// and the caller's node applies the registration's policy to all of them:
// it picks the node, and that node's dealer picks among its own callees by
// the same policy, which lands on the callee the caller's node meant.
//
//   - roundrobin: the caller's node goes round the nodes weighted by their
//     callee counts (smooth weighted round robin: of every W calls, W the
//     callees of the cluster, a node with c callees gets c, interleaved),
//     and each node goes round its own callees. With a stable set of
//     callees each callee gets 1/W of a node's calls, within one call per
//     W calls and per caller node; it is not one global sequence.
//   - random: a node with probability c/W, then one of its callees at
//     random: each callee with probability 1/W.
//   - first and last: the callee with the smallest (largest) stamp, ties
//     between nodes broken by the lower (higher) node id.
//   - a partitioned call (runmode "partition"): the callee whose shard key
//     scores highest for the call's rkey (router.ShardScore, the dealer's
//     own rule), ties to the smallest stamp: the same callee from every
//     node that has the same table.
//
// Stamps. A node's clock reads max(wall clock in ns, last reading + 1) and
// moves past every stamp it learns from another node, so a callee that
// registers after its node learnt of another's is stamped later, whatever
// the nodes' wall clocks say; callees that registered at about the same
// time on nodes that had not heard of each other yet are ordered by their
// wall clocks (then node ids).

// kindCallee is the Kind of an entry for one callee of a shared
// registration (Session, Key and At set); kindNodeKey of one node key
// (Key) that subscribers of a subscription on the node have.
const (
	kindCallee  = "c"
	kindNodeKey = "k"
)

// regKey names one registration (or subscription) of a realm.
type regKey struct {
	realm string
	match wamp.Match
	uri   string
}

// calleeRef names one of this node's callees of a registration.
type calleeRef struct {
	regKey
	session uint64
}

// calleeSet is what a node knows of the callees of one registration, by
// node. It is changed in place under members.mu and read under its read
// lock.
type calleeSet struct {
	nodes []nodeCallees // by node id
	total int
	// next is the roundrobin cursor of the calls this node makes; order
	// the nodes' smooth weighted round robin schedule, built on first use
	// after a change (nil until then).
	next  atomic.Uint64
	order atomic.Pointer[[]uint64]
}

type nodeCallees struct {
	id      uint64
	callees []stampedCallee // by stamp
}

type stampedCallee struct {
	session uint64
	key     string
	at      uint64
}

// stamp reads the node's hybrid logical clock.
func (n *Node) stamp() uint64 {
	for {
		last := n.clock.Load()
		t := max(uint64(time.Now().UnixNano()+n.skew.Load()), last+1)
		if n.clock.CompareAndSwap(last, t) {
			return t
		}
	}
}

// observe moves the clock past a stamp learnt from another node.
func (n *Node) observe(at uint64) {
	for {
		last := n.clock.Load()
		if at <= last || n.clock.CompareAndSwap(last, at) {
			return
		}
	}
}

// CalleeChanged implements router.Backbone: it announces a callee of a
// shared registration, stamped, and records it with the other nodes'.
func (n *Node) CalleeChanged(realm wamp.URI, match wamp.Match, procedure wamp.URI, invoke string, session wamp.ID, key string, added bool) {
	if invoke == "single" {
		return
	}
	ref := calleeRef{regKey{string(realm), match, string(procedure)}, uint64(session)}
	l := &n.local
	l.mu.Lock()
	e, had := l.callees[ref]
	switch {
	case added && !had:
		e = entry{Kind: kindCallee, Realm: ref.realm, Match: match, Topic: ref.uri, Session: ref.session, Key: key, At: n.stamp()}
		l.callees[ref] = e
	case !added && had:
		delete(l.callees, ref)
	default:
		l.mu.Unlock()
		return
	}
	n.changeLocked(e, added)
	l.mu.Unlock()
	// Not under local.mu: apply takes it under members.mu. The router
	// holds the dealer's lock, so no call of this node sees the two apart.
	ms := &n.members
	ms.mu.Lock()
	ms.putCallee(n.id, e, added)
	ms.mu.Unlock()
}

// putCallee adds or removes callee entry e of node id. Called under
// members.mu.
func (ms *members) putCallee(id uint64, e entry, add bool) {
	k := regKey{e.Realm, e.Match, e.Topic}
	cs := ms.callees[k]
	if cs == nil {
		if !add {
			return
		}
		cs = new(calleeSet)
		ms.callees[k] = cs
	}
	i, found := slices.BinarySearchFunc(cs.nodes, id, func(nc nodeCallees, id uint64) int { return cmp.Compare(nc.id, id) })
	if !found {
		if !add {
			return
		}
		cs.nodes = slices.Insert(cs.nodes, i, nodeCallees{id: id})
	}
	nc := &cs.nodes[i]
	c := stampedCallee{session: e.Session, key: e.Key, at: e.At}
	j, has := slices.BinarySearchFunc(nc.callees, c, func(a, b stampedCallee) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.session, b.session))
	})
	switch {
	case add && !has:
		nc.callees = slices.Insert(nc.callees, j, c)
		cs.total++
	case !add && has:
		nc.callees = slices.Delete(nc.callees, j, j+1)
		cs.total--
		if len(nc.callees) == 0 {
			cs.nodes = slices.Delete(cs.nodes, i, i+1)
		}
		if cs.total == 0 {
			delete(ms.callees, k)
			return
		}
	default:
		return
	}
	cs.order.Store(nil)
}

// Callee implements router.Backbone: the best registration of the cluster
// for the call, and the node whose callee the registration's policy (or
// the call's rkey) picks among the callees of every node that has it.
func (n *Node) Callee(realm wamp.URI, c router.CallRoute) (uint64, wamp.Match, wamp.URI, bool) {
	ms := &n.members
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	idx := ms.regs[string(realm)]
	if idx == nil {
		return 0, 0, "", false
	}
	m, p, set, ok := idx.Best(c.Procedure)
	if !ok || len(set.ids) == 0 {
		return 0, 0, "", false
	}
	self := c.Local && m == c.Match && p == c.Pattern
	if c.Local && !self && !wamp.Precedes(m, p, c.Match, c.Pattern) {
		return 0, 0, "", false // this node's registration is the better one
	}
	invoke := set.invoke
	if self {
		invoke = c.Invoke
	}
	node := n.pickNode(ms.callees[regKey{string(realm), m, string(p)}], set, self, invoke, c.RKey)
	if node == n.id {
		return 0, 0, "", false
	}
	return node, m, p, true
}

// pickNode applies a registration's policy to the callees of every node
// that has it (cs; self says whether this node is one of them) and returns
// the node of the callee it picks. Called under members.mu's read lock.
func (n *Node) pickNode(cs *calleeSet, set *nodeSet, self bool, invoke, rkey string) uint64 {
	switch {
	case invoke == "single":
		// One node has it; or, for a moment, two that registered it at
		// once: the lower id, which keeps it.
		low := slices.Min(set.ids)
		if self {
			low = min(low, n.id)
		}
		return low
	case cs == nil && self:
		return n.id
	case cs == nil:
		// A shared registration whose callees are not known here yet:
		// round the nodes that have it.
		return set.ids[n.nextCallee.Add(1)%uint64(len(set.ids))]
	}
	var node uint64
	switch {
	case rkey != "":
		node = cs.shard(rkey)
	case invoke == "roundrobin":
		node = cs.roundRobin()
	case invoke == "random":
		node = cs.weighted(rand.IntN(cs.total))
	case invoke == "last":
		node = cs.last()
	default: // first
		node = cs.first()
	}
	if node == n.id && !self {
		// This node's callees are of another registration than the best
		// one (a moment's disagreement of the tables): not here.
		return set.ids[0]
	}
	return node
}

// weighted returns the node of the i-th callee in node order.
func (cs *calleeSet) weighted(i int) uint64 {
	for _, nc := range cs.nodes {
		if i < len(nc.callees) {
			return nc.id
		}
		i -= len(nc.callees)
	}
	return cs.nodes[len(cs.nodes)-1].id
}

// roundRobin returns the next node of the set's schedule.
func (cs *calleeSet) roundRobin() uint64 {
	order := cs.order.Load()
	if order == nil {
		order = cs.schedule()
		cs.order.Store(order)
	}
	return (*order)[(cs.next.Add(1)-1)%uint64(len(*order))]
}

// schedule is smooth weighted round robin (nginx's) over the nodes with
// their callee counts as weights, one cycle: each node appears as often as
// it has callees, spread over the cycle rather than in a run.
func (cs *calleeSet) schedule() *[]uint64 {
	order := make([]uint64, 0, cs.total)
	current := make([]int, len(cs.nodes))
	for range cs.total {
		best := 0
		for i, nc := range cs.nodes {
			current[i] += len(nc.callees)
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= cs.total
		order = append(order, cs.nodes[best].id)
	}
	return &order
}

// first returns the node of the earliest callee, last of the latest.
func (cs *calleeSet) first() uint64 {
	best := cs.nodes[0]
	for _, nc := range cs.nodes[1:] {
		if nc.callees[0].at < best.callees[0].at {
			best = nc // equal stamps: the lower id, which comes first
		}
	}
	return best.id
}

func (cs *calleeSet) last() uint64 {
	best := cs.nodes[0]
	for _, nc := range cs.nodes[1:] {
		if nc.callees[len(nc.callees)-1].at >= best.callees[len(best.callees)-1].at {
			best = nc // equal stamps: the higher id, which comes later
		}
	}
	return best.id
}

// shard returns the node of the callee whose shard key scores highest for
// rkey, of equals the earliest.
func (cs *calleeSet) shard(rkey string) uint64 {
	var node, bestScore, bestAt uint64
	first := true
	for _, nc := range cs.nodes {
		for _, c := range nc.callees {
			score := router.ShardScore(rkey, c.key)
			if first || score > bestScore || score == bestScore && c.at < bestAt {
				node, bestScore, bestAt, first = nc.id, score, c.at, false
			}
		}
	}
	return node
}

// Sharded subscriptions across nodes. Each node announces the node keys its
// subscribers gave, per subscription (kindNodeKey: one entry per key, not
// per subscriber). A node that delivers an event with an rkey ranks its own
// node keys and the other nodes' alike (router.ShardScore, the smaller of
// equal scores), so that every node picks the same key, and delivers to its
// own subscribers of that key: of all the cluster's sharded subscribers of
// a subscription, those of one node key receive the event, as on one node.

// NodeKey implements router.Backbone: it announces a node key of a
// subscription.
func (n *Node) NodeKey(realm wamp.URI, match wamp.Match, topic wamp.URI, nkey string, added bool) {
	n.change(entry{Kind: kindNodeKey, Realm: string(realm), Match: match, Topic: string(topic), Key: nkey}, added)
}

// putNodeKey counts another node's node key e in or out. Called under
// members.mu.
func (ms *members) putNodeKey(e entry, add bool) {
	k := regKey{e.Realm, e.Match, e.Topic}
	keys := ms.nkeys[k]
	if add {
		if keys == nil {
			keys = make(map[string]int, 1)
			ms.nkeys[k] = keys
		}
		keys[e.Key]++
		return
	}
	if keys == nil {
		return
	}
	if keys[e.Key]--; keys[e.Key] <= 0 {
		delete(keys, e.Key)
		if len(keys) == 0 {
			delete(ms.nkeys, k)
		}
	}
}

// Shard implements router.Backbone: the other nodes' node key of the
// subscription that scores highest for rkey.
func (n *Node) Shard(realm wamp.URI, match wamp.Match, topic wamp.URI, rkey string) (string, uint64, bool) {
	ms := &n.members
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	var best string
	var bestScore uint64
	found := false
	for nkey := range ms.nkeys[regKey{string(realm), match, string(topic)}] {
		if score := router.ShardScore(rkey, nkey); !found || score > bestScore || score == bestScore && nkey < best {
			best, bestScore, found = nkey, score, true
		}
	}
	return best, bestScore, found
}
