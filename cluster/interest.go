package cluster

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/wamp"
)

// Control messages (N.ctl), JSON: they are small and rare.
const (
	kindHeartbeat = "hb"  // alive; Seq is the sender's latest interest change
	kindBye       = "bye" // stopping: forget the sender now
	kindInterest  = "int" // interest change number Seq: Entry added (Add) or removed
)

type control struct {
	Kind string `json:"k"`
	Node uint64 `json:"n"`
	// Wire is the sender's protocol version (wireVersion): a node of
	// another version is not a member (doc.go).
	Wire  int    `json:"w"`
	Name  string `json:"name,omitempty"`
	Seq   uint64 `json:"s,omitempty"`
	Entry *entry `json:"e,omitempty"`
	Add   bool   `json:"a,omitempty"`
	// SSeq numbers the sender's latest batch of session changes (Ops,
	// kindSessions; sessions.go).
	SSeq uint64      `json:"ss,omitempty"`
	Ops  []sessionOp `json:"ops,omitempty"`
	// Lost are the lost nodes whose sessions the sender announces
	// (kindAnnounced).
	Lost []uint64 `json:"l,omitempty"`
}

// entry is one subscription (match policy, topic or pattern) of a realm,
// or with Kind kindRegistration one registration (match policy, procedure
// or pattern).
type entry struct {
	Kind  string     `json:"k,omitempty"`
	Realm string     `json:"r"`
	Match wamp.Match `json:"m"`
	Topic string     `json:"t"`
	// Invoke is a registration's invocation policy.
	Invoke string `json:"i,omitempty"`
	// A callee's entry (kindCallee, policy.go): its session id, shard key
	// and stamp.
	Session uint64 `json:"c,omitempty"`
	Key     string `json:"y,omitempty"`
	At      uint64 `json:"at,omitempty"`
}

// kindRegistration is the Kind of an entry for a registration.
const kindRegistration = "r"

// syncRequest asks a node for its interest table (N.sync.<node>); the
// answer comes as snapshot chunks on the request's reply subject.
type syncRequest struct {
	Node  uint64 `json:"n"`
	Nonce uint64 `json:"x"`
	Table string `json:"t,omitempty"` // "" the interest table, tableSessions the session table
}

type snapshot struct {
	Node    uint64  `json:"n"`
	Nonce   uint64  `json:"x"`
	Seq     uint64  `json:"s"`
	Last    bool    `json:"l,omitempty"`
	Entries []entry `json:"e,omitempty"`
	// Table and Sessions: a chunk of the session table (sessions.go).
	Table    string      `json:"t,omitempty"`
	Sessions []sessionOp `json:"ss,omitempty"`
}

// snapshotChunk bounds a snapshot message, well below NATS's default
// max_payload (1 MiB).
const snapshotChunk = 256 << 10

func (n *Node) encodeControl(c *control) []byte {
	c.Wire = n.wire
	b, _ := json.Marshal(c) // plain fields: cannot fail
	return b
}

// wireVersion is the version of what nodes send one another: the control
// messages and tables here, call messages (call.go), publications
// (publish.go), meta queries (meta.go), cookies (cookies.go). Raise it
// with any change to one of them that a node of the version before would
// read wrongly or drop: nodes of different versions are not members of
// each other (doc.go, "Protocol version"). The event store's records in
// JetStream (store.go) are not covered: every node reads them, whatever
// its version.
const wireVersion = 4

// localInterest is this node's interest table: the subscriptions,
// registrations and callees its router has, and the number of the last
// change.
type localInterest struct {
	mu      sync.Mutex // held while a change or a heartbeat is sent, so they go out in order
	set     map[entry]struct{}
	callees map[calleeRef]entry // the callee entries of set, by callee
	seq     uint64
}

func (l *localInterest) init() {
	l.set = make(map[entry]struct{})
	l.callees = make(map[calleeRef]entry)
}

// Interest implements router.Backbone: it records the change and
// broadcasts it.
func (n *Node) Interest(realm wamp.URI, match wamp.Match, topic wamp.URI, added bool) {
	n.change(entry{Realm: string(realm), Match: match, Topic: string(topic)}, added)
}

// Registered implements router.Backbone, as Interest for registrations.
// A registration that conflicts with another node's (see conflicts) is
// settled here too, for the case where that node's was learnt between the
// router's check and this call.
func (n *Node) Registered(realm wamp.URI, match wamp.Match, procedure wamp.URI, invoke string, added bool) {
	e := entry{Kind: kindRegistration, Realm: string(realm), Match: match, Topic: string(procedure), Invoke: invoke}
	n.change(e, added)
	if !added {
		return
	}
	ms := &n.members
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	if idx := ms.regs[e.Realm]; idx != nil {
		if set, ok := idx.Get(match, procedure); ok {
			for _, id := range set.ids {
				if conflicts(e.Invoke, set.invoke) && n.id > id {
					n.settle(e)
					return
				}
			}
		}
	}
}

// Registration implements router.Backbone: another node's registration
// (match, procedure) and its invocation policy.
func (n *Node) Registration(realm wamp.URI, match wamp.Match, procedure wamp.URI) (string, bool) {
	ms := &n.members
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	idx := ms.regs[string(realm)]
	if idx == nil {
		return "", false
	}
	set, ok := idx.Get(match, procedure)
	if !ok {
		return "", false
	}
	return set.invoke, true
}

// conflicts reports whether registrations of one (match, procedure) with
// policies a and b cannot both stand: a single registration is unique in
// the cluster, and a shared one has one policy. Two nodes that registered
// conflicting registrations at once (each before it learnt of the other's)
// settle it the same way on both sides: the node with the lower id keeps
// its registration, the other revokes its own (registration revocation,
// reason wamp.error.procedure_already_exists).
func conflicts(a, b string) bool { return a == "single" || b == "single" || a != b }

// settle queues the revocation of this node's registration e, which lost
// a conflict, for the node's goroutine (the router must not be called
// back from here: the dealer's lock may be held).
func (n *Node) settle(e entry) {
	n.revokeMu.Lock()
	n.revokes = append(n.revokes, e)
	n.revokeMu.Unlock()
	select {
	case n.revokeC <- struct{}{}:
	default:
	}
}

// revokeLost revokes the registrations queued by settle.
func (n *Node) revokeLost() {
	n.revokeMu.Lock()
	es := n.revokes
	n.revokes = nil
	n.revokeMu.Unlock()
	rt := n.rt.Load()
	for _, e := range es {
		n.log.Warn("cluster: revoking a registration that conflicts with another node's, made at the same time",
			"realm", e.Realm, "procedure", e.Topic, "match", e.Match, "invoke", e.Invoke)
		if rt != nil {
			rt.RevokeRegistration(wamp.URI(e.Realm), e.Match, wamp.URI(e.Topic), string(wamp.ErrProcedureAlreadyExists)+": registered on another node at the same time")
		}
	}
}

func (n *Node) change(e entry, added bool) {
	n.local.mu.Lock()
	defer n.local.mu.Unlock()
	n.changeLocked(e, added)
}

// changeLocked is change under local.mu.
func (n *Node) changeLocked(e entry, added bool) {
	l := &n.local
	if _, has := l.set[e]; has == added {
		return
	}
	if added {
		l.set[e] = struct{}{}
	} else {
		delete(l.set, e)
	}
	l.seq++
	n.send(n.subj.ctl, n.encodeControl(&control{Kind: kindInterest, Node: n.id, Seq: l.seq, Entry: &e, Add: added}))
}

// heartbeat broadcasts that this node is alive, with its latest interest
// change.
func (n *Node) heartbeat() {
	l := &n.local
	l.mu.Lock()
	defer l.mu.Unlock()
	n.sessions.sendMu.Lock()
	defer n.sessions.sendMu.Unlock()
	n.send(n.subj.ctl, n.encodeControl(&control{Kind: kindHeartbeat, Node: n.id, Name: n.cfg.NodeName, Seq: l.seq, SSeq: n.sessions.seq}))
}

// onSyncRequest answers a node that asked for this node's interest table.
func (n *Node) onSyncRequest(m *nats.Msg) {
	var req syncRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || m.Reply == "" {
		n.stats.BadMessages.Add(1)
		return
	}
	if n.members.stranger(req.Node) {
		return
	}
	if req.Table == tableSessions {
		n.answerSessionTable(m, &req)
		return
	}
	n.local.mu.Lock()
	entries := make([]entry, 0, len(n.local.set))
	for e := range n.local.set {
		entries = append(entries, e)
	}
	seq := n.local.seq
	n.local.mu.Unlock()
	for {
		chunk := snapshot{Node: n.id, Nonce: req.Nonce, Seq: seq}
		size := 0
		limit := min(snapshotChunk, int(n.maxPayload.Load()/2))
		for len(entries) > 0 && (size < limit || len(chunk.Entries) == 0) {
			e := entries[len(entries)-1]
			entries = entries[:len(entries)-1]
			chunk.Entries = append(chunk.Entries, e)
			size += len(e.Realm) + len(e.Topic) + len(e.Key) + 64
		}
		chunk.Last = len(entries) == 0
		b, _ := json.Marshal(&chunk)
		if !n.send(m.Reply, b) || chunk.Last {
			return
		}
	}
}

// members is what this node knows of the others: who is alive, and which
// subscriptions each has.
type members struct {
	mu    sync.RWMutex
	peers map[uint64]*peer
	// strangers are the nodes heard from that run another protocol
	// version, not members (incompatible).
	strangers map[uint64]*stranger
	// subs and regs index the other nodes' subscriptions and
	// registrations: which nodes have (match, uri) in a realm.
	subs, regs map[string]*wamp.PatternIndex[*nodeSet]
	// callees holds the callees of shared registrations by node, this
	// node's too; nkeys the node keys of the other nodes' sharded
	// subscribers, with the number of nodes that have each (policy.go).
	callees map[regKey]*calleeSet
	nkeys   map[regKey]map[string]int
	// strs are the realms and authroles of other nodes' sessions, each
	// kept once (intern).
	strs map[string]string
	// unannounced are the session tables of lost nodes that another node
	// should announce, kept until it says it does (sessions.go).
	unannounced []lostTable
	// claimed are the lost nodes whose sessions another node said it
	// announces, when it said so (kept for 10 node timeouts).
	claimed map[uint64]time.Time
}

// nodeSet lists the nodes that have one subscription or registration
// (with invoke, the registration's policy on the first of them); it is
// replaced, not changed in place, so that readers may keep it after the
// lock.
type nodeSet struct {
	ids    []uint64
	invoke string
}

type peer struct {
	id   uint64
	name string
	// named: a heartbeat told this node p's name (other messages do not
	// carry it, and may come first); "node joined" is logged then.
	named bool
	seen  time.Time
	seq   uint64 // interest changes applied up to here

	// A sync under way: the table asked for (nonce), the chunks come so
	// far, and the changes that came meanwhile.
	syncing bool
	nonce   uint64
	asked   time.Time
	snap    []entry
	pending []control

	interest map[entry]struct{}
	sessions *sessionReplica
}

func (ms *members) init() {
	ms.peers = make(map[uint64]*peer)
	ms.strangers = make(map[uint64]*stranger)
	ms.subs = make(map[string]*wamp.PatternIndex[*nodeSet])
	ms.regs = make(map[string]*wamp.PatternIndex[*nodeSet])
	ms.callees = make(map[regKey]*calleeSet)
	ms.nkeys = make(map[regKey]map[string]int)
	ms.strs = make(map[string]string)
}

// onControl handles a heartbeat, goodbye or interest change. All of them
// come on this one subscription, so in the order each node sent them.
func (n *Node) onControl(m *nats.Msg) {
	var c control
	if err := json.Unmarshal(m.Data, &c); err != nil {
		n.stats.BadMessages.Add(1)
		return
	}
	if c.Node == n.id {
		return
	}
	ms := &n.members
	now := time.Now()
	ms.mu.Lock()
	if c.Wire != n.wire {
		first := n.incompatible(&c, now)
		ms.mu.Unlock()
		if first {
			n.log.Error("cluster: a node runs another version of the cluster protocol and is not taken as a member: nodes of one cluster must run the same build",
				"peer", c.Name, "peer_id", strconv.FormatUint(c.Node, 16), "peer_version", c.Wire, "version", n.wire)
		}
		return
	}
	p, known := ms.peers[c.Node]
	if c.Kind == kindBye {
		if known {
			n.forget(p)
		}
		ms.mu.Unlock()
		if known {
			n.log.Info("cluster: node left", "peer", p.name, "peer_id", strconv.FormatUint(p.id, 16))
			n.lost(p.id)
		}
		return
	}
	if !known {
		p = &peer{id: c.Node, name: c.Name, interest: make(map[entry]struct{}), sessions: newSessionReplica()}
		ms.peers[c.Node] = p
		n.found(c.Node) // lock order: members.mu, then calls.mu
	}
	p.seen = now
	greet := false
	switch c.Kind {
	case kindHeartbeat:
		greet = !p.named
		p.name, p.named = c.Name, true
		switch {
		case !p.syncing && c.Seq > p.seq:
			n.askTable(p, now) // a change went missing
		case p.syncing && now.Sub(p.asked) > 2*n.cfg.HeartbeatInterval:
			n.askTable(p, now) // the table did not come: ask again
		}
		n.checkSessions(p, c.SSeq, now)
	case kindSessions:
		n.onSessions(p, &c, now)
	case kindAnnounced:
		ms.onAnnounced(&c, now)
	case kindInterest:
		if c.Entry == nil {
			n.stats.BadMessages.Add(1)
			break
		}
		switch {
		case p.syncing:
			p.pending = append(p.pending, c)
		case c.Seq == p.seq+1:
			n.apply(p, *c.Entry, c.Add)
			p.seq = c.Seq
		case c.Seq > p.seq+1:
			p.pending = append(p.pending, c)
			n.askTable(p, now)
		}
	}
	ms.mu.Unlock()
	if greet {
		n.log.Info("cluster: node joined", "peer", c.Name, "peer_id", strconv.FormatUint(c.Node, 16))
	}
	if !known {
		n.heartbeat() // so that a new node learns of this one at once
		n.askCookies(c.Node)
	}
}

// incompatible counts a control message of a node that runs another
// protocol version and reports whether the node is heard from for the
// first time (to be logged). Such a node is never a member; expire
// forgets it when it falls silent. Called under members.mu.
func (n *Node) incompatible(c *control, now time.Time) bool {
	ms := &n.members
	n.stats.Incompatible.Add(1)
	s := ms.strangers[c.Node]
	if s == nil {
		s = &stranger{}
		ms.strangers[c.Node] = s
	}
	s.seen = now
	// Logged at its first heartbeat, the message that names the node.
	if s.logged || c.Kind != kindHeartbeat {
		return false
	}
	s.logged = true
	return true
}

// A stranger is a node heard from that runs another protocol version.
type stranger struct {
	seen   time.Time
	logged bool
}

// stranger reports whether id is a node known to run another protocol
// version: what it asks of this node (tables, meta answers, cookies) is
// not answered, and its cookie logins are not taken.
func (ms *members) stranger(id uint64) bool {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	return ms.strangers[id] != nil
}

// askTable asks p for its whole interest table. Called under members.mu.
func (n *Node) askTable(p *peer, now time.Time) {
	p.syncing, p.nonce, p.asked, p.snap = true, rand.Uint64(), now, nil
	n.stats.Syncs.Add(1)
	b, _ := json.Marshal(&syncRequest{Node: n.id, Nonce: p.nonce})
	// Through the outbox, never nats.go under members.mu (a NATS that
	// stopped reading would hold every publication of the node); one
	// refused is asked again after two heartbeats, as one unanswered.
	n.out.request(n.subj.syncPrefix+strconv.FormatUint(p.id, 16), n.subj.snapPrefix+n.idString(), b)
}

// onSnapshot collects the chunks of a table this node asked for and, with
// the last, replaces what it knew of the peer's subscriptions and applies
// the changes that came meanwhile.
func (n *Node) onSnapshot(m *nats.Msg) {
	var s snapshot
	if err := json.Unmarshal(m.Data, &s); err != nil {
		n.stats.BadMessages.Add(1)
		return
	}
	ms := &n.members
	ms.mu.Lock()
	defer ms.mu.Unlock()
	p := ms.peers[s.Node]
	if p != nil && s.Table == tableSessions {
		n.onSessionSnapshot(p, &s)
		return
	}
	if p == nil || !p.syncing || p.nonce != s.Nonce {
		return // a table asked for before, or of a node forgotten since
	}
	p.snap = append(p.snap, s.Entries...)
	if !s.Last {
		return
	}
	fresh := make(map[entry]struct{}, len(p.snap))
	for _, e := range p.snap {
		fresh[e] = struct{}{}
	}
	for e := range p.interest {
		if _, keep := fresh[e]; !keep {
			n.apply(p, e, false)
		}
	}
	for e := range fresh {
		n.apply(p, e, true)
	}
	p.seq, p.syncing, p.snap = s.Seq, false, nil
	pending := p.pending
	p.pending = nil
	slices.SortFunc(pending, func(a, b control) int { return cmp.Compare(a.Seq, b.Seq) })
	for i, c := range pending {
		switch {
		case c.Seq <= p.seq:
		case c.Seq == p.seq+1:
			n.apply(p, *c.Entry, c.Add)
			p.seq = c.Seq
		default:
			p.pending = append(p.pending, pending[i:]...)
			n.askTable(p, time.Now())
			return
		}
	}
}

// apply adds or removes one of p's subscriptions. Called under members.mu.
func (n *Node) apply(p *peer, e entry, add bool) {
	ms := &n.members
	if _, has := p.interest[e]; has == add {
		return
	}
	switch e.Kind {
	case kindCallee, kindNodeKey:
		if add {
			p.interest[e] = struct{}{}
		} else {
			delete(p.interest, e)
		}
		if e.Kind == kindNodeKey {
			ms.putNodeKey(e, add)
			return
		}
		if add {
			n.observe(e.At)
		}
		ms.putCallee(p.id, e, add)
		return
	}
	realms := ms.subs
	if e.Kind == kindRegistration {
		realms = ms.regs
	}
	idx := realms[e.Realm]
	if idx == nil {
		if !add {
			return
		}
		idx = new(wamp.PatternIndex[*nodeSet])
		realms[e.Realm] = idx
	}
	topic := wamp.URI(e.Topic)
	cur, _ := idx.Get(e.Match, topic)
	var ids []uint64
	if cur != nil {
		ids = cur.ids
	}
	invoke := e.Invoke
	if cur != nil && len(cur.ids) > 0 {
		invoke = cur.invoke
	}
	if add {
		p.interest[e] = struct{}{}
		idx.Put(e.Match, topic, &nodeSet{ids: append(slices.Clone(ids), p.id), invoke: invoke})
		if e.Kind == kindRegistration && n.id > p.id {
			n.local.mu.Lock()
			for _, mine := range invokePolicies {
				le := e
				le.Invoke = mine
				if _, has := n.local.set[le]; has && conflicts(mine, e.Invoke) {
					n.settle(le)
				}
			}
			n.local.mu.Unlock()
		}
		return
	}
	delete(p.interest, e)
	ids = slices.DeleteFunc(slices.Clone(ids), func(id uint64) bool { return id == p.id })
	if len(ids) > 0 {
		if e.Kind == kindRegistration {
			// p may have been the first, whose policy the set had: a
			// node that lost a conflict revoked its registration.
			invoke = ms.invokeOf(ids[0], e)
		}
		idx.Put(e.Match, topic, &nodeSet{ids: ids, invoke: invoke})
		return
	}
	idx.Delete(e.Match, topic)
	if idx.Len() == 0 {
		delete(realms, e.Realm)
	}
}

// invokePolicies are the invocation policies of registrations.
var invokePolicies = [...]string{"single", "roundrobin", "random", "first", "last"}

// invokeOf returns node id's policy for its registration e (e's own
// when it is not known). Called under members.mu.
func (ms *members) invokeOf(id uint64, e entry) string {
	if p := ms.peers[id]; p != nil {
		for _, invoke := range invokePolicies {
			e.Invoke = invoke
			if _, has := p.interest[e]; has {
				return invoke
			}
		}
	}
	return e.Invoke
}

// forget removes p and its subscriptions. Called under members.mu.
func (n *Node) forget(p *peer) {
	for e := range p.interest {
		n.apply(p, e, false)
	}
	delete(n.members.peers, p.id)
}

// expire takes the nodes silent for longer than NodeTimeout for dead.
func (n *Node) expire(now time.Time) {
	ms := &n.members
	var gone []uint64
	var tables []lostTable
	ms.mu.Lock()
	for id, st := range ms.strangers {
		if now.Sub(st.seen) > n.cfg.NodeTimeout {
			delete(ms.strangers, id)
		}
	}
	for _, p := range ms.peers {
		if now.Sub(p.seen) > n.cfg.NodeTimeout {
			n.forget(p)
			gone = append(gone, p.id)
			tables = append(tables, lostTable{node: p.id, sessions: p.sessions})
			n.stats.NodesLost.Add(1)
			n.log.Warn("cluster: node lost: no heartbeat within the node timeout; its subscriptions and registrations are dropped, calls in flight with it end",
				"peer", p.name, "peer_id", strconv.FormatUint(p.id, 16), "timeout", n.cfg.NodeTimeout)
		}
	}
	unannounced := len(ms.unannounced) > 0
	ms.mu.Unlock()
	for _, id := range gone {
		n.lost(id)
	}
	if len(tables) > 0 || unannounced {
		n.announceLost(tables, now)
	}
}

// lost tells the router that a node is gone, once it is out of the
// tables (so that no new call goes to it).
func (n *Node) lost(id uint64) {
	n.dropBatch(id)
	if rt := n.rt.Load(); rt != nil {
		rt.NodeLost(id)
	}
}

// interested appends to dst the nodes with a subscription in realm that
// matches topic, each once.
func (ms *members) interested(realm, topic wamp.URI, dst []uint64) []uint64 {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	idx := ms.subs[string(realm)]
	if idx == nil {
		return dst
	}
	idx.Matching(topic, func(_ wamp.Match, _ wamp.URI, s *nodeSet) bool {
		for _, id := range s.ids {
			if !slices.Contains(dst, id) {
				dst = append(dst, id)
			}
		}
		return true
	})
	return dst
}

// Peer is another node as this one knows it.
type Peer struct {
	Name          string
	ID            string
	LastSeen      time.Time
	Subscriptions int // (realm, match, topic) entries with subscribers there
	Registrations int // (realm, match, procedure) entries with callees there
	Callees       int // callees of shared registrations there
	// Sessions are the sessions there this node knows of, Testaments the
	// testaments they hold (sessions.go).
	Sessions, Testaments int
}

// Peers returns the other nodes this node takes for alive.
func (n *Node) Peers() []Peer {
	ms := &n.members
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	out := make([]Peer, 0, len(ms.peers))
	for _, p := range ms.peers {
		pr := Peer{Name: p.name, ID: strconv.FormatUint(p.id, 16), LastSeen: p.seen, Sessions: len(p.sessions.set)}
		for _, ts := range p.sessions.tms {
			pr.Testaments += len(ts)
		}
		for e := range p.interest {
			switch e.Kind {
			case kindRegistration:
				pr.Registrations++
			case kindCallee:
				pr.Callees++
			case "":
				pr.Subscriptions++
			}
		}
		out = append(out, pr)
	}
	slices.SortFunc(out, func(a, b Peer) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out
}
