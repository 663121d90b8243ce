package cluster

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Sessions of other nodes. Each node tells the others which sessions it
// has (realm, id, authid, authrole) and the testaments they hold, so that
// when it dies without a goodbye (kill -9, a cut network) one survivor
// announces their leave: it publishes their testaments and
// wamp.session.on_leave for each (router.Router.SessionsLost), as the
// dead node would have. The survivor is the live node with the lowest id
// (as this node sees the membership), so that each lost session is
// announced once: it tells the others first (kindAnnounced), and they
// forget the lost node's table. Each other survivor keeps that table
// until then, and announces it itself once it is the lowest of the live
// nodes (the lowest was lost too) or after rank x NodeTimeout (rank: the
// live nodes below it; the lowest never knew the lost node, or its claim
// went missing). So a lost node's sessions are announced when the lowest
// node dies too, at the price of a second announcement when a claim is
// lost or the announcer dies in the middle of one. A node that stops says
// goodbye after its sessions left (their leave announced by itself), and
// the others just forget its table.
//
// The changes (join, leave, testaments set) are batched: the first change
// arms a timer of sessionBatchDelay, after which everything that came
// meanwhile goes out on N.ctl in messages of at most sessionBatchBytes
// (sooner, once that much is waiting: a connect storm is sent as it
// comes, and what it leaves to the garbage collector stays small),
// each with the next number of the node's session sequence; heartbeats
// repeat the latest. A node that sees a gap asks for the whole table (the
// interest sync, for the table "s") and applies the batches that came
// meanwhile on top: joins, leaves and testament sets are idempotent, so a
// table that already holds some of them ends up the same.
//
// Cost: a node keeps nothing per session of its own: it answers a table
// request from its router's tables (router.Router.AnnouncedSessions). It
// keeps one entry per session of every other node, about 100 bytes plus
// the authid (TestSessionTableMemory measures it), and each testament
// wherever its session is known. A session's join and leave cost each
// other node some 60 bytes of a batch message. A single node, without a
// cluster, keeps nothing of this.

const (
	kindSessions  = "ses" // a batch of session changes, number SSeq
	kindAnnounced = "ann" // the sender announces the sessions of the nodes Lost

	opJoin       = "j"
	opLeave      = "l"
	opTestaments = "t"

	// tableSessions names the session table in a sync request.
	tableSessions = "s"

	sessionBatchDelay = 50 * time.Millisecond
	sessionBatchBytes = 32 << 10
)

// sessionOp is one change of a node's session table, as it crosses NATS.
type sessionOp struct {
	Op       string `json:"o"`
	Realm    string `json:"r"`
	ID       uint64 `json:"i"`
	AuthID   string `json:"a,omitempty"`
	AuthRole string `json:"ar,omitempty"`
	// Testaments are the session's testaments, each a PUBLISH in
	// MessagePack, in the order they are to be published (with opJoin in
	// a table, and opTestaments).
	Testaments [][]byte `json:"t,omitempty"`
}

func (o *sessionOp) size() int {
	s := len(o.Realm) + len(o.AuthID) + len(o.AuthRole) + 48
	for _, t := range o.Testaments {
		s += len(t)*4/3 + 4
	}
	return s
}

// sessionInfo is what a node keeps of another node's session, to announce
// its leave.
type sessionInfo struct {
	realm, authid, authrole string
}

// localSessions holds the changes of this node's sessions not sent yet;
// the sessions themselves are the router's. mu guards pending; sendMu
// orders what goes out (the batches, numbered, and the heartbeats that
// repeat the number) and guards seq. Lock order: localInterest.mu,
// sendMu, mu.
type localSessions struct {
	mu      sync.Mutex
	pending []sessionOp
	size    int           // of pending, as sessionOp.size counts
	kick    chan struct{} // the first change since the last batch: arm the timer
	full    chan struct{} // sessionBatchBytes are waiting: send now

	sendMu sync.Mutex
	seq    uint64
}

func (l *localSessions) init() {
	l.kick = make(chan struct{}, 1)
	l.full = make(chan struct{}, 1)
}

// record adds a change, to go out with the next batch. Called under mu.
func (l *localSessions) record(op sessionOp) {
	l.pending = append(l.pending, op)
	l.size += op.size()
	var c chan struct{}
	switch {
	case len(l.pending) == 1:
		c = l.kick
	case l.size >= sessionBatchBytes:
		c = l.full
	}
	select {
	case c <- struct{}{}:
	default: // signalled already (or c is nil)
	}
}

// SessionJoined implements router.Backbone.
func (n *Node) SessionJoined(realm wamp.URI, id wamp.ID, authid, authrole string) {
	l := &n.sessions
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record(sessionOp{Op: opJoin, Realm: string(realm), ID: uint64(id), AuthID: authid, AuthRole: authrole})
}

// SessionLeft implements router.Backbone: the router calls it only for a
// session it called SessionJoined for.
func (n *Node) SessionLeft(realm wamp.URI, id wamp.ID) {
	l := &n.sessions
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record(sessionOp{Op: opLeave, Realm: string(realm), ID: uint64(id)})
}

// SessionTestaments implements router.Backbone: the router calls it only
// for a session it called SessionJoined for and not SessionLeft.
func (n *Node) SessionTestaments(realm wamp.URI, id wamp.ID, ts []router.Testament) {
	enc := n.encodeTestaments(realm, id, ts)
	l := &n.sessions
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record(sessionOp{Op: opTestaments, Realm: string(realm), ID: uint64(id), Testaments: enc})
}

// encodeTestaments encodes a session's testaments as they cross NATS:
// each a PUBLISH in MessagePack. One that cannot be encoded is left out,
// and logged.
func (n *Node) encodeTestaments(realm wamp.URI, id wamp.ID, ts []router.Testament) [][]byte {
	if len(ts) == 0 {
		return nil
	}
	enc := make([][]byte, 0, len(ts))
	for _, t := range ts {
		b, err := codec.MsgPack.Encode(nil, &wamp.Publish{Topic: t.Topic, Options: t.Options, Payload: t.Payload})
		if err != nil {
			n.log.Warn("cluster: a testament cannot be told to the other nodes; it is lost if this node dies",
				"realm", realm, "session", uint64(id), "topic", t.Topic, "err", err)
			continue
		}
		enc = append(enc, b)
	}
	return enc
}

// flushSessions sends the changes recorded since the last batch.
func (n *Node) flushSessions() {
	l := &n.sessions
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	l.mu.Lock()
	ops := l.pending
	l.pending, l.size = nil, 0
	l.mu.Unlock()
	for len(ops) > 0 {
		size, i := 0, 0
		for i < len(ops) && (i == 0 || size+ops[i].size() <= sessionBatchBytes) {
			size += ops[i].size()
			i++
		}
		l.seq++
		n.stats.SessionBatchesSent.Add(1)
		n.send(n.subj.ctl, n.encodeControl(&control{Kind: kindSessions, Node: n.id, SSeq: l.seq, Ops: ops[:i]}))
		ops = ops[i:]
	}
}

// answerSessionTable answers a node that asked for this node's session
// table, in chunks, as onSyncRequest does for the interest table. The
// table is read from the router after the sequence number is taken: a
// change it misses is recorded after the session was looked at, so it goes
// out in a later batch, which the asking node applies on top; one it
// reflects and that comes again in a later batch is applied twice, which
// changes nothing (joins, leaves and testament sets are idempotent).
func (n *Node) answerSessionTable(m *nats.Msg, req *syncRequest) {
	l := &n.sessions
	l.sendMu.Lock()
	seq := l.seq
	l.sendMu.Unlock()
	var ops []sessionOp
	if rt := n.rt.Load(); rt != nil {
		rt.AnnouncedSessions(func(s *router.ReplicatedSession) {
			ops = append(ops, sessionOp{Op: opJoin, Realm: string(s.Realm), ID: uint64(s.ID), AuthID: s.AuthID, AuthRole: s.AuthRole,
				Testaments: n.encodeTestaments(s.Realm, s.ID, s.Testaments)})
		})
	}
	limit := min(snapshotChunk, int(n.maxPayload.Load()/2))
	for {
		chunk := snapshot{Node: n.id, Nonce: req.Nonce, Seq: seq, Table: tableSessions}
		size := 0
		for len(ops) > 0 && (size < limit || len(chunk.Sessions) == 0) {
			op := ops[len(ops)-1]
			ops = ops[:len(ops)-1]
			chunk.Sessions = append(chunk.Sessions, op)
			size += op.size()
		}
		chunk.Last = len(ops) == 0
		b, _ := json.Marshal(&chunk)
		if !n.send(m.Reply, b) || chunk.Last {
			return
		}
	}
}

// sessionReplica is what this node knows of another node's sessions.
type sessionReplica struct {
	seq uint64 // batches applied up to here

	// A table request under way, as for the interest table.
	syncing bool
	nonce   uint64
	asked   time.Time
	snap    []sessionOp
	pending []control

	set map[wamp.ID]sessionInfo
	tms map[wamp.ID][][]byte
}

func newSessionReplica() *sessionReplica {
	return &sessionReplica{set: make(map[wamp.ID]sessionInfo), tms: make(map[wamp.ID][][]byte)}
}

// maxInterned bounds the strings (realms, authroles) the members share
// among the sessions of other nodes.
const maxInterned = 4096

// intern returns the copy of s the members keep, so that the sessions of
// one realm or authrole share one string. Called under members.mu.
func (ms *members) intern(s string) string {
	if v, ok := ms.strs[s]; ok {
		return v
	}
	if len(ms.strs) < maxInterned {
		ms.strs[s] = s
	}
	return s
}

// applySession applies one change to p's sessions. Called under
// members.mu.
func (ms *members) applySession(r *sessionReplica, op *sessionOp) {
	id := wamp.ID(op.ID)
	switch op.Op {
	case opJoin:
		r.set[id] = sessionInfo{realm: ms.intern(op.Realm), authid: op.AuthID, authrole: ms.intern(op.AuthRole)}
		if len(op.Testaments) > 0 {
			r.tms[id] = op.Testaments
		}
	case opLeave:
		delete(r.set, id)
		delete(r.tms, id)
	case opTestaments:
		if _, ok := r.set[id]; !ok {
			return
		}
		if len(op.Testaments) == 0 {
			delete(r.tms, id)
		} else {
			r.tms[id] = op.Testaments
		}
	}
}

// onSessions handles a batch of p's session changes. Called under
// members.mu.
func (n *Node) onSessions(p *peer, c *control, now time.Time) {
	r := p.sessions
	switch {
	case r.syncing:
		r.pending = append(r.pending, *c)
	case c.SSeq == r.seq+1:
		for i := range c.Ops {
			n.members.applySession(r, &c.Ops[i])
		}
		r.seq = c.SSeq
	case c.SSeq > r.seq+1:
		r.pending = append(r.pending, *c)
		n.askSessions(p, now)
	}
}

// checkSessions asks p for its session table when its heartbeat says a
// batch went missing, or a request went unanswered. Called under
// members.mu.
func (n *Node) checkSessions(p *peer, sseq uint64, now time.Time) {
	r := p.sessions
	switch {
	case !r.syncing && sseq > r.seq:
		n.askSessions(p, now)
	case r.syncing && now.Sub(r.asked) > 2*n.cfg.HeartbeatInterval:
		n.askSessions(p, now)
	}
}

// askSessions asks p for its whole session table. Called under
// members.mu.
func (n *Node) askSessions(p *peer, now time.Time) {
	r := p.sessions
	r.syncing, r.nonce, r.asked, r.snap = true, rand.Uint64(), now, nil
	n.stats.Syncs.Add(1)
	b, _ := json.Marshal(&syncRequest{Node: n.id, Nonce: r.nonce, Table: tableSessions})
	n.out.request(n.subj.syncPrefix+strconv.FormatUint(p.id, 16), n.subj.snapPrefix+n.idString(), b) // as askTable
}

// onSessionSnapshot collects the chunks of a session table and, with the
// last, replaces what this node knew of p's sessions and applies the
// batches that came meanwhile. Called under members.mu.
func (n *Node) onSessionSnapshot(p *peer, s *snapshot) {
	r := p.sessions
	if !r.syncing || r.nonce != s.Nonce {
		return
	}
	r.snap = append(r.snap, s.Sessions...)
	if !s.Last {
		return
	}
	clear(r.set)
	clear(r.tms)
	for i := range r.snap {
		n.members.applySession(r, &r.snap[i])
	}
	r.seq, r.syncing, r.snap = s.Seq, false, nil
	pending := r.pending
	r.pending = nil
	for i := range pending {
		n.onSessions(p, &pending[i], time.Now())
	}
}

// lostTable is the session table of a lost node whose sessions this node
// may have to announce (unannounced).
type lostTable struct {
	node     uint64
	sessions *sessionReplica
	due      time.Time // announced here then, unless claimed before
}

// announceLost takes the session tables of the nodes just lost (gone)
// and announces those it must (the package comment says which, and
// when): those that are due, and those that no live node below this one
// can announce any more. Called by expire, at now, with the tables gone
// (nil when it only looks at those it keeps).
func (n *Node) announceLost(gone []lostTable, now time.Time) {
	ms := &n.members
	ms.mu.Lock()
	rank := 0
	for id := range ms.peers {
		if id < n.id {
			rank++
		}
	}
	for id, at := range ms.claimed {
		if now.Sub(at) > 10*n.cfg.NodeTimeout {
			delete(ms.claimed, id)
		}
	}
	for _, t := range gone {
		if _, claimed := ms.claimed[t.node]; claimed {
			continue // another node announces them (it took the node for lost first)
		}
		if len(t.sessions.set) > 0 {
			t.due = now.Add(time.Duration(rank) * n.cfg.NodeTimeout)
			ms.unannounced = append(ms.unannounced, t)
		}
	}
	var due []lostTable
	ms.unannounced = slices.DeleteFunc(ms.unannounced, func(t lostTable) bool {
		if rank == 0 || !now.Before(t.due) {
			due = append(due, t)
			return true
		}
		return false
	})
	ms.mu.Unlock()
	if len(due) == 0 {
		return
	}
	claim := &control{Kind: kindAnnounced, Node: n.id}
	for _, t := range due {
		claim.Lost = append(claim.Lost, t.node)
	}
	n.send(n.subj.ctl, n.encodeControl(claim))
	n.announcers.Add(1)
	go func() {
		defer n.announcers.Done()
		rt := n.rt.Load()
		if rt == nil {
			return
		}
		var lost []router.ReplicatedSession
		for _, t := range due {
			for id, s := range t.sessions.set {
				ls := router.ReplicatedSession{Realm: wamp.URI(s.realm), ID: id, AuthID: s.authid, AuthRole: s.authrole}
				for _, b := range t.sessions.tms[id] {
					m, err := codec.MsgPack.Decode(b)
					pub, ok := m.(*wamp.Publish)
					if err != nil || !ok {
						n.stats.BadMessages.Add(1)
						continue
					}
					ls.Testaments = append(ls.Testaments, router.Testament{Topic: pub.Topic, Options: pub.Options, Payload: pub.Payload})
				}
				lost = append(lost, ls)
			}
		}
		n.log.Info("cluster: announcing the leave of a lost node's sessions", "sessions", len(lost))
		rt.SessionsLost(lost)
		n.stats.SessionsAnnounced.Add(uint64(len(lost)))
	}()
}

// onAnnounced forgets the tables of the lost nodes another node announces
// (kindAnnounced), and remembers that it does: this node may take them
// for lost later than the announcer did. Called under members.mu.
func (ms *members) onAnnounced(c *control, now time.Time) {
	ms.unannounced = slices.DeleteFunc(ms.unannounced, func(t lostTable) bool {
		return slices.Contains(c.Lost, t.node)
	})
	if ms.claimed == nil {
		ms.claimed = make(map[uint64]time.Time)
	}
	for _, id := range c.Lost {
		ms.claimed[id] = now
	}
}

// RemoteSessions returns the number of other nodes' sessions this node
// knows of.
func (n *Node) RemoteSessions() int {
	ms := &n.members
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	total := 0
	for _, p := range ms.peers {
		total += len(p.sessions.set)
	}
	return total
}
