package cluster

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Meta queries (router.Backbone.Gather). A node that answers a meta
// procedure for the whole cluster broadcasts the call on N.meta with a
// reply subject of its own (N.ans.<node>.<nonce>); every other node
// answers there with its part (router.Router.AnswerMeta). The asking node
// waits for the nodes it takes for alive when it asks, at most
// QueryTimeout; a node that has not answered by then is left out,
// counted (Stats.MetaNodesMissing) and logged.
//
// Both cross in MessagePack: the query as a CALL (Request the nonce,
// Options the realm, the asking node and the caller) after a version
// byte; the answer as a RESULT or an ERROR, cut into chunks that each fit
// in NATS's max_payload (a wamp.session.list of a node with 100,000
// sessions is about 1 MiB, NATS's default), each after a header:
//
//	version (1 byte) | answering node (8) | chunk index (4) | chunk count (4)
//
// big-endian. The chunks of one answer come in order (one publisher, one
// subject), so a chunk out of place means one was lost: that node's part
// is then missing. A node's part is at most metaAnswerMax bytes, and the
// asking node holds at most that much of all parts of one query: a node
// whose part is larger answers payload_size_exceeded instead, and is
// counted missing, as is one whose chunks would take the asking node
// past the bound. The chunks go through the outbox at the pace NATS
// takes them (outbox.putPaced), for at most QueryTimeout.
const metaVersion = 2

const (
	metaChunkHeader = 1 + 8 + 4 + 4
	// metaChunkBytes bounds a chunk, as snapshotChunk does a table's.
	metaChunkBytes = snapshotChunk
	// metaAnswerMax bounds a node's part of a meta answer, and what the
	// asking node holds of the parts of one query: a wamp.session.list of
	// about 1.8 million sessions.
	metaAnswerMax = 16 << 20
)

func encodeMetaQuery(from, nonce uint64, q *router.MetaQuery) ([]byte, error) {
	m := &wamp.Call{Request: wamp.ID(nonce), Procedure: q.Procedure,
		Options: wamp.Dict{"realm": string(q.Realm), "from": from, "caller": uint64(q.Caller)},
		Payload: wamp.Payload{Args: q.Args, Kwargs: q.Kwargs}}
	return codec.MsgPack.Encode([]byte{metaVersion}, m)
}

func decodeMetaQuery(data []byte) (from, nonce uint64, q *router.MetaQuery, err error) {
	if len(data) < 1 || data[0] != metaVersion {
		return 0, 0, nil, errors.New("not a meta query of this version")
	}
	m, err := codec.MsgPack.Decode(data[1:])
	if err != nil {
		return 0, 0, nil, err
	}
	call, ok := m.(*wamp.Call)
	if !ok {
		return 0, 0, nil, fmt.Errorf("a %s, not a CALL", m.Type())
	}
	realm, _ := call.Options["realm"].(string)
	from, _ = wamp.AsUint(call.Options["from"])
	caller, _ := wamp.AsUint(call.Options["caller"])
	args, kwargs, err := codec.DecodePayload(&call.Payload)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("arguments: %w", err)
	}
	return from, uint64(call.Request), &router.MetaQuery{Realm: wamp.URI(realm), Procedure: call.Procedure, Args: args, Kwargs: kwargs, Caller: wamp.ID(caller)}, nil
}

// encodeMetaAnswer encodes a node's part of an answer, whole (the chunks
// are cut from it).
func encodeMetaAnswer(nonce uint64, a *router.MetaAnswer) ([]byte, error) {
	var m wamp.Message = &wamp.Result{Request: wamp.ID(nonce), Payload: wamp.Payload{Args: a.Args}}
	if a.Error != "" {
		m = &wamp.Error{RequestType: wamp.TypeCall, Request: wamp.ID(nonce), Error: a.Error, Payload: wamp.Payload{Args: wamp.List{a.Message}}}
	}
	return codec.MsgPack.Encode(nil, m)
}

// decodeMetaAnswer decodes a node's part, its chunks put together.
func decodeMetaAnswer(data []byte) (a router.MetaAnswer, err error) {
	m, err := codec.MsgPack.Decode(data)
	if err != nil {
		return a, err
	}
	var p *wamp.Payload
	switch m := m.(type) {
	case *wamp.Result:
		p = &m.Payload
	case *wamp.Error:
		p, a.Error = &m.Payload, m.Error
	default:
		return a, fmt.Errorf("a %s, not a RESULT or ERROR", m.Type())
	}
	args, _, err := codec.DecodePayload(p)
	if err != nil {
		return a, fmt.Errorf("result: %w", err)
	}
	if a.Error != "" {
		if len(args) > 0 {
			a.Message, _ = args[0].(string)
		}
	} else {
		a.Args = args
	}
	return a, nil
}

// appendMetaChunk appends chunk index of count of from's answer, header
// and data, to dst.
func appendMetaChunk(dst []byte, from uint64, index, count uint32, data []byte) []byte {
	dst = append(dst, metaVersion)
	dst = binary.BigEndian.AppendUint64(dst, from)
	dst = binary.BigEndian.AppendUint32(dst, index)
	dst = binary.BigEndian.AppendUint32(dst, count)
	return append(dst, data...)
}

// readMetaChunk reads a chunk's header; data aliases msg.
func readMetaChunk(msg []byte) (from uint64, index, count uint32, data []byte, err error) {
	if len(msg) < metaChunkHeader || msg[0] != metaVersion {
		return 0, 0, 0, nil, errors.New("not a meta answer of this version")
	}
	from = binary.BigEndian.Uint64(msg[1:])
	index = binary.BigEndian.Uint32(msg[9:])
	count = binary.BigEndian.Uint32(msg[13:])
	if index >= count {
		return 0, 0, 0, nil, fmt.Errorf("chunk %d of %d", index, count)
	}
	return from, index, count, msg[metaChunkHeader:], nil
}

// metaPart is a node's part of an answer as its chunks arrive.
type metaPart struct {
	buf         []byte
	next, count uint32
}

// gathering is one meta query's answers as they arrive, on nats.go's
// goroutine for the query's inbox; Gather waits for it to be done.
type gathering struct {
	n     *Node
	first bool // the query's First
	limit int  // of held

	mu      sync.Mutex
	expect  map[uint64]string // the nodes whose part is awaited, with their names
	parts   map[uint64]*metaPart
	held    int // bytes of parts, bounded by limit
	answers []router.MetaAnswer
	failed  []string // nodes whose part cannot come whole, and why
	done    bool     // every part came (or First's), or Gather stopped waiting

	finished chan struct{} // closed when done is set by an answer
}

// take adds a chunk of a node's part.
func (g *gathering) take(m *nats.Msg) {
	from, index, count, chunk, err := readMetaChunk(m.Data)
	if err != nil {
		g.n.stats.BadMessages.Add(1)
		g.n.log.Warn("cluster: a meta answer from another node does not decode", "err", err)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.expect[from]; !ok || g.done {
		return
	}
	p := g.parts[from]
	if p == nil {
		p = &metaPart{count: count}
		g.parts[from] = p
	}
	switch {
	case index != p.next || count != p.count:
		g.fail(from, fmt.Sprintf("chunk %d of %d came when %d of %d was due: one was lost", index, count, p.next, p.count))
		return
	case g.held+len(chunk) > g.limit:
		g.fail(from, fmt.Sprintf("its part took the answer past %d bytes", g.limit))
		return
	}
	g.held += len(chunk)
	if count == 1 {
		p.buf = chunk // the whole part: no copy
	} else {
		p.buf = append(p.buf, chunk...)
	}
	if p.next++; p.next < p.count {
		return
	}
	a, err := decodeMetaAnswer(p.buf)
	switch {
	case err != nil:
		g.n.stats.BadMessages.Add(1)
		g.fail(from, "its part does not decode: "+err.Error())
		return
	case a.Error == wamp.ErrPayloadSizeExceeded:
		g.fail(from, a.Message)
		return
	}
	delete(g.expect, from)
	delete(g.parts, from)
	g.answers = append(g.answers, a)
	if g.first && a.Found() {
		g.finish() // the node that has it answered: the others need not
		return
	}
	if len(g.expect) == 0 {
		g.finish()
	}
}

// fail gives up on from's part. Called under g.mu.
func (g *gathering) fail(from uint64, why string) {
	g.failed = append(g.failed, g.expect[from]+" ("+why+")")
	delete(g.expect, from)
	if p := g.parts[from]; p != nil {
		g.held -= len(p.buf)
		delete(g.parts, from)
	}
	if len(g.expect) == 0 {
		g.finish()
	}
}

// finish marks the gathering done. Called under g.mu.
func (g *gathering) finish() {
	g.done = true
	close(g.finished)
}

// Gather implements router.Backbone: it asks the other live nodes for
// their part of a meta procedure's answer and waits for them, at most
// QueryTimeout (or until ctx ends); with q.First, only until one answers
// that it has the thing asked about (router.MetaAnswer.Found).
func (n *Node) Gather(ctx context.Context, q *router.MetaQuery) (answers []router.MetaAnswer, missing int) {
	expect := n.members.alive()
	if len(expect) == 0 {
		return nil, 0
	}
	n.stats.MetaQueries.Add(1)
	nonce := rand.Uint64N(uint64(wamp.MaxID)) + 1 // it crosses as a WAMP request id
	data, err := encodeMetaQuery(n.id, nonce, q)
	if err != nil {
		n.stats.SendFailures.Add(1)
		n.log.Warn("cluster: a meta query cannot cross to other nodes", "procedure", q.Procedure, "err", err)
		return nil, len(expect)
	}
	g := &gathering{n: n, first: q.First, limit: cmp.Or(n.cfg.metaAnswerMax, metaAnswerMax),
		expect: expect, parts: make(map[uint64]*metaPart, len(expect)), finished: make(chan struct{})}
	inbox := n.subj.ansPrefix + n.idString() + "." + strconv.FormatUint(nonce, 16)
	// An asynchronous subscription: nats.go queues what arrives for its
	// handler up to its pending limits (64 MiB, more than g holds), where
	// a channel's would drop the chunks that do not fit, and a
	// synchronous one allocates a channel of 64k slots.
	sub, err := n.nc.Subscribe(inbox, g.take)
	if err != nil {
		n.log.Warn("cluster: cannot subscribe for the answers of a meta query", "err", err)
		return nil, len(expect)
	}
	defer sub.Unsubscribe()
	if err := n.nc.PublishRequest(n.subj.meta, inbox, data); err != nil {
		n.stats.SendFailures.Add(1)
		n.log.Warn("cluster: NATS refused a meta query", "procedure", q.Procedure, "err", err)
		return nil, len(expect)
	}
	timer := time.NewTimer(n.cfg.QueryTimeout)
	defer timer.Stop()
	select {
	case <-g.finished:
	case <-timer.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	if !g.done {
		g.done = true // what comes later is not taken
	}
	answers, failed := g.answers, g.failed
	for _, name := range g.expect {
		failed = append(failed, name+" (no answer in time)")
	}
	if g.first && len(answers) > 0 && answers[len(answers)-1].Found() {
		failed = nil // not needed
	}
	g.mu.Unlock()
	if len(failed) > 0 {
		n.stats.MetaNodesMissing.Add(uint64(len(failed)))
		slices.Sort(failed)
		n.log.Warn("cluster: nodes' parts of a meta answer did not come; answered without them",
			"procedure", q.Procedure, "realm", q.Realm, "missing", strings.Join(failed, ", "), "timeout", n.cfg.QueryTimeout)
	}
	return answers, len(failed)
}

// onMeta answers another node's meta query with this node's part.
func (n *Node) onMeta(m *nats.Msg) {
	from, nonce, q, err := decodeMetaQuery(m.Data)
	if err != nil || m.Reply == "" {
		n.stats.BadMessages.Add(1)
		n.log.Warn("cluster: a meta query from another node does not decode", "err", err)
		return
	}
	if from == n.id || n.members.stranger(from) {
		return
	}
	a := router.MetaAnswer{Error: wamp.ErrNoSuchRealm, Message: "the node has no router yet"}
	if rt := n.rt.Load(); rt != nil {
		a = rt.AnswerMeta(q)
	}
	data, err := encodeMetaAnswer(nonce, &a)
	if limit := cmp.Or(n.cfg.metaAnswerMax, metaAnswerMax); err == nil && len(data) > limit {
		// Said rather than left to the query timeout: the asking node
		// counts this node missing at once.
		n.stats.SendFailures.Add(1)
		n.log.Warn("cluster: this node's part of a meta answer is larger than a node takes; not sent",
			"procedure", q.Procedure, "realm", q.Realm, "bytes", len(data), "max", limit)
		a = router.MetaAnswer{Error: wamp.ErrPayloadSizeExceeded, Message: fmt.Sprintf("its part is %d bytes, more than %d", len(data), limit)}
		data, err = encodeMetaAnswer(nonce, &a)
	}
	if err != nil {
		n.stats.SendFailures.Add(1)
		n.log.Warn("cluster: a meta answer cannot cross to the asking node", "procedure", q.Procedure, "err", err)
		return
	}
	n.sendMetaAnswer(m.Reply, data)
}

// sendMetaAnswer sends data, a node's part of a meta answer, to reply in
// chunks that fit in NATS's max_payload, at the pace NATS takes them, for
// at most QueryTimeout (the asking node waits no longer). On nats.go's
// goroutine for N.meta, which may wait.
func (n *Node) sendMetaAnswer(reply string, data []byte) {
	size := min(metaChunkBytes, int(n.maxPayload.Load())-metaChunkHeader)
	if size <= 0 {
		size = metaChunkBytes // not connected: refused anyway
	}
	count := max(1, (len(data)+size-1)/size)
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.QueryTimeout)
	defer cancel()
	buf := make([]byte, 0, metaChunkHeader+min(size, len(data)))
	for i := range count {
		chunk := data[i*size : min(len(data), (i+1)*size)]
		buf = appendMetaChunk(buf[:0], n.id, uint32(i), uint32(count), chunk) // the outbox copies it
		if !n.out.putPaced(ctx, reply, buf) {
			return // counted and logged; the asking node counts this one missing
		}
	}
}

// alive returns the nodes this node takes for alive, by id, with their
// names.
func (ms *members) alive() map[uint64]string {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	out := make(map[uint64]string, len(ms.peers))
	for id, p := range ms.peers {
		out[id] = p.name
	}
	return out
}
