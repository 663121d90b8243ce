package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

var _ router.Backbone = (*Node)(nil)

// A message of a call crosses NATS (N.call.<node>) as a version byte, the
// serializer's format byte, the sending node's id (8 bytes), the realm's
// length (uvarint) and name, the call's origin (router.CallOrigin), and
// the WAMP message in that serializer: the one its payload arrived in, so
// that it crosses unconverted, or MessagePack for a payload the router
// built. The origin is a byte, 0 for none (any message but an
// INVOCATION), else 1 (2 for a further chunk of a progressive call
// invocation, CallOrigin.Continued) followed by the caller's session id (uvarint), the
// procedure, authid, authrole and resource key, each after its length
// (uvarint), and the timeout the caller's node enforces in milliseconds
// (uvarint, 0 for none): the callee's node reads it without decoding a
// dictionary.
//
// The messages for one node go in batches: a NATS message is the version
// byte callBatchVersion followed by any number of such messages, each
// after its length (4 bytes, big endian). Nodes of one cluster run the
// same build (README): a message of another version is counted as bad.
const (
	callVersion      = 5
	callBatchVersion = 2
)

// appendCallMessage appends m and its origin as they cross NATS to dst.
func appendCallMessage(dst []byte, from uint64, realm wamp.URI, m wamp.Message, origin *router.CallOrigin) ([]byte, error) {
	c := codec.MsgPack
	if p := payloadOf(m); p != nil && p.IsRaw() {
		if c = codec.ByFormat(p.Format); c == nil {
			return dst, fmt.Errorf("payload in unknown format %d", p.Format)
		}
	}
	dst = append(dst, callVersion, byte(c.Format()))
	dst = binary.BigEndian.AppendUint64(dst, from)
	dst = appendString(dst, string(realm))
	switch {
	case origin == nil:
		dst = append(dst, 0)
	case origin.Continued:
		dst = append(dst, 2)
	default:
		dst = append(dst, 1)
	}
	if origin != nil {
		dst = binary.AppendUvarint(dst, uint64(origin.Caller))
		for _, s := range [...]string{string(origin.Procedure), origin.AuthID, origin.AuthRole, origin.RKey} {
			dst = appendString(dst, s)
		}
		dst = binary.AppendUvarint(dst, uint64(max(origin.Timeout, 0)/time.Millisecond))
	}
	return c.Encode(dst, m)
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// callReader reads the fields of a call message in order; the first that
// does not fit sets err, and every read after returns zero values.
type callReader struct {
	b   []byte
	err error
}

func (r *callReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = errors.New("a call message ends inside a number")
		return 0
	}
	r.b = r.b[k:]
	return v
}

// bytes returns the next length-prefixed field, aliasing the message.
func (r *callReader) bytes() []byte {
	l := r.uvarint()
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < l {
		r.err = errors.New("a call message ends inside a string")
		return nil
	}
	f := r.b[:l]
	r.b = r.b[l:]
	return f
}

// origin reads the origin's presence byte and, when it is 1, the origin.
func (r *callReader) origin() *router.CallOrigin {
	if r.err != nil {
		return nil
	}
	if len(r.b) == 0 || r.b[0] > 2 {
		r.err = errors.New("a call message without its origin byte")
		return nil
	}
	present, continued := r.b[0] != 0, r.b[0] == 2
	r.b = r.b[1:]
	if !present {
		return nil
	}
	caller := r.uvarint()
	proc, authid, authrole, rkey := r.bytes(), r.bytes(), r.bytes(), r.bytes()
	timeout := r.uvarint()
	if r.err == nil && timeout > maxTimeoutMS {
		r.err = fmt.Errorf("a call message with a timeout of %d ms", timeout)
	}
	if r.err != nil {
		return nil
	}
	// One string (one allocation) for the four, sliced.
	var sb strings.Builder
	sb.Grow(len(proc) + len(authid) + len(authrole) + len(rkey))
	for _, f := range [...][]byte{proc, authid, authrole, rkey} {
		sb.Write(f)
	}
	all := sb.String()
	i, j, k := len(proc), len(proc)+len(authid), len(proc)+len(authid)+len(authrole)
	return &router.CallOrigin{Caller: wamp.ID(caller), Procedure: wamp.URI(all[:i]), AuthID: all[i:j], AuthRole: all[j:k], RKey: all[k:],
		Timeout: time.Duration(timeout) * time.Millisecond, Continued: continued}
}

// maxTimeoutMS is the longest timeout a Duration holds, in milliseconds.
const maxTimeoutMS = uint64(math.MaxInt64 / int64(time.Millisecond))

func decodeCallMessage(data []byte) (from uint64, realm wamp.URI, m wamp.Message, origin *router.CallOrigin, err error) {
	if len(data) < 11 || data[0] != callVersion {
		return 0, "", nil, nil, errors.New("not a call message of this version")
	}
	c := codec.ByFormat(wamp.Format(data[1]))
	if c == nil {
		return 0, "", nil, nil, fmt.Errorf("unknown serializer %d", data[1])
	}
	from = binary.BigEndian.Uint64(data[2:10])
	r := callReader{b: data[10:]}
	realm = wamp.URI(r.bytes())
	origin = r.origin()
	if r.err != nil {
		return 0, "", nil, nil, r.err
	}
	m, err = c.Decode(r.b)
	return from, realm, m, origin, err
}

// splitCallBatch calls fn with each message of a NATS message on
// N.call.<node>, a batch or a message alone, and reports a batch whose
// framing is broken (the messages before the break were given to fn).
func splitCallBatch(data []byte, fn func([]byte)) error {
	if len(data) == 0 || data[0] != callBatchVersion {
		fn(data) // a message alone, or not a call message: decodeCallMessage says
		return nil
	}
	for rest := data[1:]; len(rest) > 0; {
		if len(rest) < 4 {
			return errors.New("a batch of call messages ends inside a length")
		}
		l := binary.BigEndian.Uint32(rest)
		if uint64(len(rest)-4) < uint64(l) {
			return errors.New("a batch of call messages ends inside a message")
		}
		fn(rest[4 : 4+l])
		rest = rest[4+l:]
	}
	return nil
}

// callBatches are the messages of calls held back for other nodes until
// the end of the batches of received messages under way
// (router.Backbone.BeginBatch): a busy event loop's round of reads gives
// many messages for the same node, and each NATS message costs both servers
// and both clients a parse, a hand-off between goroutines and some
// allocations, whatever it carries. Outside a batch a message goes at
// once, so a lone call waits for nothing.
//
// BeginBatch and EndBatch come with every round of every event loop of
// the node (every read in goroutine mode), local traffic too: they touch only
// the atomics active and nwaiting, and EndBatch takes mu only when
// something waits. A Forward that holds a message back stores nwaiting
// and then loads active, an EndBatch stores active and then loads
// nwaiting: one of the two sees the other's store (Go's atomics are
// sequentially consistent), so a message held back while the last batch
// ends is sent by one of them, never left behind.
//
// mu guards byNode and waiting, and is held while a batch is handed to
// the outbox (a copy: nothing that waits on NATS, doc.go), so that the
// batches for one node go out in order.
type callBatches struct {
	active   atomic.Int32 // batches of received messages under way
	nwaiting atomic.Int32 // len(waiting)

	mu      sync.Mutex
	byNode  map[uint64]*callBatch // the nodes messages went to
	waiting []*callBatch          // those with messages held back
	// lost are the nodes taken for lost in the last minute, when: the
	// router may route a call to one just before it is lost and make
	// its proxy just after (router.Router.NodeLost has run by then, so
	// nothing would end the call). Forward refuses them until the node
	// is heard from again (found).
	lost map[uint64]time.Time
}

// callBatch is what is held back for one node.
type callBatch struct {
	node   uint64
	subj   string
	buf    []byte // callBatchVersion, then each message after its length
	n      int    // messages in buf
	queued bool   // in callBatches.waiting
}

// callBatchBytes is the size past which a batch goes without waiting for
// the end of the batches under way.
const callBatchBytes = 64 << 10

// batchFor returns node's batch, made on first use. Called under mu.
func (n *Node) batchFor(node uint64) *callBatch {
	b := &n.calls
	cb := b.byNode[node]
	if cb == nil {
		if b.byNode == nil {
			b.byNode = make(map[uint64]*callBatch)
		}
		cb = &callBatch{node: node, subj: n.subj.callPrefix + strconv.FormatUint(node, 16)}
		b.byNode[node] = cb
	}
	return cb
}

// Forward implements router.Backbone: it sends a message of a call in
// flight to the node at the call's other end, or holds it back until the
// end of the batches under way.
func (n *Node) Forward(node uint64, realm wamp.URI, m wamp.Message, origin *router.CallOrigin) error {
	b := &n.calls
	b.mu.Lock()
	if _, gone := b.lost[node]; gone {
		b.mu.Unlock()
		return fmt.Errorf("sending a %s to node %x: %w", m.Type(), node, errNodeLost)
	}
	cb := n.batchFor(node)
	if len(cb.buf) == 0 {
		cb.buf = append(cb.buf, callBatchVersion)
	}
	at := len(cb.buf)
	buf, err := appendCallMessage(append(cb.buf, 0, 0, 0, 0), n.id, realm, m, origin)
	size := len(buf) - at - 4
	limit := n.maxPayload.Load()
	if limit <= 0 {
		limit = maxNATSPayload // not connected yet: NATS says when it is
	}
	if err == nil && int64(size)+5 > limit {
		n.log.Warn("cluster: a call message is larger than NATS takes", "type", m.Type(), "bytes", size, "max_payload", limit)
		err = fmt.Errorf("%w: %d bytes, more than NATS takes (%d)", router.ErrTooLarge, size, limit)
	}
	if err != nil {
		cb.buf = cb.buf[:at]
		b.mu.Unlock()
		n.stats.SendFailures.Add(1)
		return fmt.Errorf("sending a %s to another node: %w", m.Type(), err)
	}
	binary.BigEndian.PutUint32(buf[at:], uint32(size))
	cb.buf = buf
	var refused []refusedBatch
	if int64(len(cb.buf)) > limit {
		// Too large with the others: they go first, this one after.
		msg := slices.Clone(cb.buf[at:])
		cb.buf = cb.buf[:at]
		refused = n.sendBatch(cb, refused)
		cb.buf = append(append(cb.buf, callBatchVersion), msg...)
	}
	cb.n++
	n.stats.CallMessagesSent.Add(1)
	if b.active.Load() == 0 || len(cb.buf) >= callBatchBytes {
		// Outside a batch (a timer's INTERRUPT, a lone message), or
		// enough for one NATS message: sent now.
		refused = n.sendBatch(cb, refused)
	} else if !cb.queued {
		cb.queued = true
		b.waiting = append(b.waiting, cb)
		b.nwaiting.Store(int32(len(b.waiting)))
		if b.active.Load() == 0 {
			// The last batch ended meanwhile, maybe before it could
			// see this one waiting.
			refused = n.sendWaiting(refused)
		}
	}
	b.mu.Unlock()
	n.failCalls(refused)
	return nil
}

// BeginBatch implements router.Backbone.
func (n *Node) BeginBatch() { n.calls.active.Add(1) }

// EndBatch implements router.Backbone: what was held back goes.
func (n *Node) EndBatch() {
	b := &n.calls
	b.active.Add(-1)
	if b.nwaiting.Load() == 0 {
		return
	}
	b.mu.Lock()
	refused := n.sendWaiting(nil)
	b.mu.Unlock()
	n.failCalls(refused)
}

// sendWaiting sends every batch held back. Called under calls.mu.
func (n *Node) sendWaiting(refused []refusedBatch) []refusedBatch {
	b := &n.calls
	for i, cb := range b.waiting {
		b.waiting[i] = nil
		cb.queued = false
		refused = n.sendBatch(cb, refused)
	}
	b.waiting = b.waiting[:0]
	b.nwaiting.Store(0)
	return refused
}

// sendBatch hands cb's messages to NATS and empties it (its buffer is
// reused: nats.go copies what it is given); a batch NATS refused is
// counted, logged and appended to refused, for failCalls. Called under
// calls.mu.
func (n *Node) sendBatch(cb *callBatch, refused []refusedBatch) []refusedBatch {
	if cb.n == 0 {
		return refused
	}
	if !n.out.put(cb.subj, cb.buf, cb.node, cb.n) { // counted and logged there
		refused = append(refused, refusedBatch{cb.node, slices.Clone(cb.buf)})
	}
	cb.n = 0
	if cap(cb.buf) > 2*callBatchBytes {
		cb.buf = nil // a large batch's buffer is not kept
	} else {
		cb.buf = cb.buf[:0]
	}
	return refused
}

// dropBatch forgets what is held back for a node that is gone.
func (n *Node) dropBatch(node uint64) {
	b := &n.calls
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for id, at := range b.lost {
		if now.Sub(at) > lostMemory {
			delete(b.lost, id)
		}
	}
	if b.lost == nil {
		b.lost = make(map[uint64]time.Time)
	}
	b.lost[node] = now
	if cb := b.byNode[node]; cb != nil {
		delete(b.byNode, node)
		if cb.queued {
			b.waiting = slices.DeleteFunc(b.waiting, func(x *callBatch) bool { return x == cb })
			b.nwaiting.Store(int32(len(b.waiting)))
		}
	}
}

// lostMemory is how long Forward refuses a lost node that is not heard
// from again: far longer than the moment between a call's routing and its
// forwarding.
const lostMemory = time.Minute

var errNodeLost = errors.New("the node is lost")

// found lets Forward send to node again: it is heard from after it was
// taken for lost (a partition healed, or it was silent too long).
func (n *Node) found(node uint64) {
	b := &n.calls
	b.mu.Lock()
	delete(b.lost, node)
	b.mu.Unlock()
}

// refusedBatch is a batch of call messages NATS refused, for failCalls.
type refusedBatch struct {
	node uint64
	data []byte
}

// failCalls ends the calls whose INVOCATIONs NATS refused (the
// connection closed, its reconnect buffer full): each caller gets an
// ERROR at once, as if the callee's node had sent it, rather than wait for
// its timeout or for the node to be taken for lost. RESULTs and ERRORs
// refused are lost: the caller's node ends those calls when it loses this
// node. It runs on a goroutine of its own, since Forward and EndBatch are
// called by a router that routes, which must not be called back; a node
// that is closing skips it (its router's sessions are ending), and Close
// waits for those under way.
func (n *Node) failCalls(refused []refusedBatch) {
	rt := n.rt.Load()
	if len(refused) == 0 || rt == nil {
		return
	}
	n.failMu.Lock()
	defer n.failMu.Unlock()
	if n.closing.Load() {
		return
	}
	n.failing.Add(1)
	go func() {
		defer n.failing.Done()
		for _, r := range refused {
			splitCallBatch(r.data, func(msg []byte) {
				_, realm, m, _, err := decodeCallMessage(msg)
				inv, ok := m.(*wamp.Invocation)
				if err != nil || !ok {
					return
				}
				rt.DeliverCallMessage(r.node, realm, &wamp.Error{RequestType: wamp.TypeInvocation, Request: inv.Request, Error: wamp.ErrCanceled,
					Payload: wamp.Payload{Args: wamp.List{"the call could not be sent to the callee's node: NATS refused it"}}}, nil)
			})
		}
	}()
}

func payloadOf(m wamp.Message) *wamp.Payload {
	switch m := m.(type) {
	case *wamp.Invocation:
		return &m.Payload
	case *wamp.Result:
		return &m.Payload
	case *wamp.Error:
		return &m.Payload
	}
	return nil
}

// onCall hands the router the messages of calls another node sent, a
// batch as one batch of received messages: what the router sends back
// for them goes together too.
func (n *Node) onCall(msg *nats.Msg) {
	rt := n.rt.Load()
	if rt == nil {
		return
	}
	n.BeginBatch()
	defer n.EndBatch()
	err := splitCallBatch(msg.Data, func(data []byte) {
		from, realm, m, origin, err := decodeCallMessage(data)
		if err != nil {
			n.stats.BadMessages.Add(1)
			n.log.Warn("cluster: a call message from another node does not decode", "err", err)
			return
		}
		n.stats.CallMessagesReceived.Add(1)
		if err := rt.DeliverCallMessage(from, realm, m, origin); err != nil {
			n.stats.BadMessages.Add(1)
			n.log.Warn("cluster: a call message from another node was refused", "realm", realm, "type", m.Type(), "err", err)
		}
	})
	if err != nil {
		n.stats.BadMessages.Add(1)
		n.log.Warn("cluster: a batch of call messages from another node is cut short", "err", err)
	}
}
