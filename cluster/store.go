package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/router/history"
	"github.com/junction-wamp/junction/wamp"
)

// The cluster's event store (router.SharedStore): event history and
// retained events in JetStream, which every node reads, so that a
// subscriber gets the retained event whichever node it joins, and
// get_events answers the same whichever node is asked. See doc.go.

// Bounds of the store.
const (
	// storeQueueEvents and storeQueueBytes bound what waits to be stored
	// (history and retained events together); past them an Append fails
	// with history.ErrQueueFull, counted in Dropped.
	storeQueueEvents = 8192
	storeQueueBytes  = 32 << 20
	// storeBatch is the most messages the writer has in flight at once.
	storeBatch = 1024
	// storeTimeout bounds one store (JetStream's acknowledgement of a
	// message) and the creation of the streams.
	storeTimeout = 10 * time.Second
	// ensureTry bounds how long the writer tries to make the streams
	// before it fails a batch.
	ensureTry = 2 * time.Second
	// The retained-events stream keeps the last event of each topic, at
	// most retainedMaxTopics topics and retainedMaxBytes bytes for the
	// whole cluster; past either the topic retained longest ago loses its
	// event, as on a single node (whose per-realm bounds also apply to
	// each node's copy).
	retainedMaxTopics = 1 << 20
	retainedMaxBytes  = 256 << 20
	// historyReadBatch is the most events a get_events read fetches at
	// once: each fetch of an ordered consumer makes a new consumer on the
	// server (and deletes the one before), so a stream is read in one
	// fetch up to this many events (the fetch's buffer, 16 bytes an
	// event, is sized by the stream).
	historyReadBatch = 1 << 16
)

// storeItem is one message waiting to be stored.
type storeItem struct {
	subj    string
	data    []byte
	seq     uint64
	durable func(error) // AppendDurable's; nil otherwise
}

type storeWaiter struct {
	seq uint64
	ch  chan struct{}
}

// jsStore is the cluster's store: one stream per history rule (its limit
// and MaxBytes are the stream's), one stream of retained events (the last
// per topic), watched by every node into its router's retained events.
type jsStore struct {
	n      *Node
	js     jetstream.JetStream
	rules  *history.Rules
	log    *slog.Logger
	apply  func(wamp.URI, *history.Event)
	ctx    context.Context // ends at Close
	cancel context.CancelFunc

	retainedStream, retainedPrefix string
	// subjects are the history rules' subjects (streamFor), made once:
	// Append looks its rule's up for every event.
	subjects map[ruleKey]string

	ensuring chan struct{} // a one-slot lock on making the streams, given up with a context
	ready    atomic.Bool   // the streams exist and the watch runs

	lastStamp atomic.Uint64 // stamp's
	watch     jetstream.ConsumeContext

	mu      sync.Mutex
	pending []storeItem
	bytes   int
	seq     uint64 // last sequence number handed out
	written uint64 // every item up to it is stored or failed
	closing bool
	waiters []storeWaiter
	wake    chan struct{}
	done    chan struct{} // the writer and the ensure loop have stopped

	stats struct {
		appended, dropped, writeErrors, lost, tooLarge atomic.Uint64
		retainedFailed, badRecords                     atomic.Uint64
	}
}

var _ router.SharedStore = (*Node)(nil)

// OpenStore implements router.SharedStore: the router's event store, kept
// in JetStream. It returns at once; the streams are made (or updated to
// rules' limits) in the background, since JetStream may not be ready
// before the other nodes are up. Until it is, stores fail (an acknowledged
// publication gets an ERROR) and get_events waits for it up to its own
// timeout. Without JetStream (an existing NATS that does not run it) it
// fails when rules is not empty, and otherwise returns nil: retained
// events then stay on their node.
func (n *Node) OpenStore(rules map[wamp.URI][]router.HistoryRule, log *slog.Logger, apply func(wamp.URI, *history.Event)) (router.SharedEventStore, error) {
	rs, err := history.NewRules(rules)
	if err != nil {
		return nil, err
	}
	if n.js == nil {
		if !rs.Empty() {
			return nil, fmt.Errorf("realms keep event history, which a cluster keeps in JetStream, but %v", n.jsErr)
		}
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &jsStore{
		n: n, js: n.js, rules: rs, log: n.log, apply: apply, ctx: ctx, cancel: cancel,
		retainedStream: n.cfg.Name + "_retained", retainedPrefix: n.cfg.Name + ".retained.",
		wake: make(chan struct{}, 1), done: make(chan struct{}), ensuring: make(chan struct{}, 1),
	}
	s.subjects = make(map[ruleKey]string)
	rs.Each(func(realm wamp.URI, r history.Rule) {
		_, s.subjects[ruleKey{realm, r.Match, r.Topic}] = s.streamFor(realm, r)
	})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.writer() }()
	go func() { defer wg.Done(); s.ensureLoop() }()
	go func() { wg.Wait(); close(s.done) }()
	n.st.Store(s)
	return s, nil
}

// store is the node's event store, nil until the router opened it.
func (n *Node) store() *jsStore { return n.st.Load() }

// streamFor names the stream and subject of a realm's history rule: a
// hash of the realm and the rule, since neither is a valid stream name.
func (s *jsStore) streamFor(realm wamp.URI, r history.Rule) (stream, subj string) {
	h := fnv.New64a()
	h.Write([]byte(realm))
	h.Write([]byte{0, byte(r.Match), 0})
	h.Write([]byte(r.Topic))
	x := strconv.FormatUint(h.Sum64(), 16)
	return s.n.cfg.Name + "_history_" + x, s.n.cfg.Name + ".history." + x
}

// ruleKey names a realm's history rule.
type ruleKey struct {
	realm wamp.URI
	match wamp.Match
	topic wamp.URI
}

// retainedSubject is the subject of a topic's retained event: a hash of
// realm and topic (URIs may hold what subjects may not), 128 bits, so that
// two topics sharing one is not a practical concern.
func (s *jsStore) retainedSubject(realm, topic wamp.URI) string {
	h := sha256.New()
	h.Write([]byte(realm))
	h.Write([]byte{0})
	h.Write([]byte(topic))
	return s.retainedPrefix + hex.EncodeToString(h.Sum(nil)[:16])
}

// ensureLoop makes the streams and starts the watch, retrying until it
// succeeds or the store closes.
func (s *jsStore) ensureLoop() {
	wait := 250 * time.Millisecond
	for failures := 1; ; failures++ {
		err := s.ensure(s.ctx)
		if err == nil || s.ctx.Err() != nil {
			return
		}
		if bits.OnesCount(uint(failures)) == 1 { // at 1, 2, 4, ... failures
			s.log.Warn("cluster: JetStream not ready for the event store yet; retrying", "failures", failures, "err", err)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// ensure makes (or updates) the streams and starts the retained watch,
// once.
func (s *jsStore) ensure(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	select {
	case s.ensuring <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.ensuring }()
	if s.ready.Load() {
		return nil
	}
	var err error
	s.rules.Each(func(realm wamp.URI, r history.Rule) {
		if err != nil {
			return
		}
		name, subj := s.streamFor(realm, r)
		err = s.makeStream(ctx, jetstream.StreamConfig{
			Name:        name,
			Description: fmt.Sprintf("junction event history of realm %s, rule %s %s", realm, r.Match, r.Topic),
			Subjects:    []string{subj},
			MaxMsgs:     int64(r.Limit),
			MaxBytes:    streamMaxBytes(r),
			Discard:     jetstream.DiscardOld,
			Storage:     jetstream.FileStorage,
			Replicas:    s.n.replicas,
		})
		if err != nil {
			err = fmt.Errorf("making stream %s for the history of %s %s in realm %s: %w", name, r.Match, r.Topic, realm, err)
		}
	})
	if err != nil {
		return err
	}
	err = s.makeStream(ctx, jetstream.StreamConfig{
		Name:              s.retainedStream,
		Description:       "junction retained events, the last of each topic",
		Subjects:          []string{s.retainedPrefix + ">"},
		MaxMsgsPerSubject: 1,
		MaxMsgs:           retainedMaxTopics,
		MaxBytes:          retainedMaxBytes,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          s.n.replicas,
	})
	if err != nil {
		return fmt.Errorf("making stream %s for the retained events: %w", s.retainedStream, err)
	}
	if s.watch == nil {
		wctx, cancel := context.WithTimeout(ctx, ensureTry)
		defer cancel()
		if err := s.startWatch(wctx); err != nil {
			return err
		}
	}
	s.ready.Store(true)
	s.log.Info("cluster: event store ready in JetStream", "replicas", s.n.replicas)
	return nil
}

// streamMaxBytes is the MaxBytes of a history rule's stream: the rule's,
// or -1 (no bound) when it has none.
func streamMaxBytes(r history.Rule) int64 {
	if r.MaxBytes > 0 {
		return r.MaxBytes
	}
	return -1
}

// storedSize is the size JetStream's file store counts for a message of
// subj and data without headers against a stream's MaxBytes (nats-server's
// fileStoreMsgSize: length, sequence, time, subject length, subject, data
// and hash). A message larger than MaxBytes on its own would be stored,
// then deleted with every message before it.
func storedSize(subj string, data []byte) int {
	return 4 + 8 + 8 + 2 + len(subj) + len(data) + 8
}

// makeStream makes a stream, or updates it to cfg, within ensureTry: a
// request sent while JetStream elects its leader, or while other nodes
// make the same stream, may go unanswered, and is better sent again soon
// than waited for long.
func (s *jsStore) makeStream(ctx context.Context, cfg jetstream.StreamConfig) error {
	ctx, cancel := context.WithTimeout(ctx, ensureTry)
	defer cancel()
	_, err := s.js.CreateOrUpdateStream(ctx, cfg)
	return err
}

// startWatch reads the retained events into the router: the last of each
// topic, then each new one.
func (s *jsStore) startWatch(ctx context.Context) error {
	cons, err := s.js.OrderedConsumer(ctx, s.retainedStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{s.retainedPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("watching the retained events: %w", err)
	}
	if s.watch, err = cons.Consume(s.onRetained); err != nil {
		return fmt.Errorf("watching the retained events: %w", err)
	}
	return nil
}

// onRetained applies a retained event from the stream to the router: the
// last of each topic at first, then every new one, in the stream's order,
// so that every node ends with the one stored last.
func (s *jsStore) onRetained(m jetstream.Msg) {
	realm, ev, err := decodeRetained(m.Data())
	if err != nil {
		s.n.stats.BadMessages.Add(1)
		s.log.Warn("cluster: a retained event in JetStream does not decode", "subject", m.Subject(), "err", err)
		return
	}
	s.n.stats.RetainedReceived.Add(1)
	s.apply(realm, &ev)
}

// A retained event is stored as the realm (uvarint length, bytes) and the
// event's history record.
func encodeRetained(realm wamp.URI, ev *history.Event) ([]byte, error) {
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(realm)+256), uint64(len(realm)))
	b = append(b, realm...)
	return history.AppendEncode(b, ev)
}

func decodeRetained(b []byte) (wamp.URI, history.Event, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", history.Event{}, errors.New("bad realm")
	}
	realm := wamp.URI(b[k : k+int(n)])
	ev, err := history.Decode(b[k+int(n):])
	return realm, ev, err
}

// Keeps implements router.EventStore.
func (s *jsStore) Keeps(realm, topic wamp.URI) bool {
	_, ok := s.rules.For(realm, topic)
	return ok
}

// Append implements router.EventStore.
func (s *jsStore) Append(realm wamp.URI, ev history.Event) error {
	err := s.appendEvent(realm, &ev, nil)
	if errors.Is(err, history.ErrNoHistory) {
		return nil
	}
	return err
}

// AppendDurable implements router.EventStore: durable is called once
// JetStream acknowledged the event, that is once the stream's leader and
// a majority of its replicas stored it, each synced to disk first (the
// embedded server runs with SyncAlways; an existing NATS syncs as its
// configuration says).
func (s *jsStore) AppendDurable(realm wamp.URI, ev history.Event, durable func(error)) error {
	return s.appendEvent(realm, &ev, durable)
}

func (s *jsStore) appendEvent(realm wamp.URI, ev *history.Event, durable func(error)) error {
	r, ok := s.rules.For(realm, ev.Topic)
	if !ok {
		return history.ErrNoHistory
	}
	data, err := history.AppendEncode(binary.BigEndian.AppendUint64(make([]byte, 0, 256), s.stamp()), ev)
	if err != nil {
		return fmt.Errorf("event history of %s in realm %s: %w", ev.Topic, realm, err)
	}
	subj := s.subjects[ruleKey{realm, r.Match, r.Topic}]
	if err := r.CheckSize(realm, ev.Topic, storedSize(subj, data)); err != nil {
		s.stats.tooLarge.Add(1)
		return err
	}
	return s.enqueue(subj, data, durable)
}

// stamp returns the stamp a history record is stored behind: 8 bytes
// big-endian, this node's clock in nanoseconds, made strictly increasing.
// Queries merge several rules' streams by it, so that the events one node
// kept come back in the order it kept them (and those of different nodes
// in the order of their clocks), the same whichever node merges.
func (s *jsStore) stamp() uint64 {
	now := uint64(time.Now().UnixNano())
	for {
		last := s.lastStamp.Load()
		if st := max(now, last+1); s.lastStamp.CompareAndSwap(last, st) {
			return st
		}
	}
}

// Retain implements router.SharedEventStore.
func (s *jsStore) Retain(realm wamp.URI, ev *history.Event) {
	data, err := encodeRetained(realm, ev)
	if err == nil {
		err = s.enqueue(s.retainedSubject(realm, ev.Topic), data, nil)
	}
	if err != nil && !errors.Is(err, history.ErrClosed) {
		if n := s.stats.retainedFailed.Add(1); bits.OnesCount64(n) == 1 {
			s.log.Warn("cluster: a retained event is kept on this node only", "topic", ev.Topic, "err", err, "failed_total", n)
		}
	}
}

// enqueue queues a message for the writer; it never blocks.
func (s *jsStore) enqueue(subj string, data []byte, durable func(error)) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return history.ErrClosed
	}
	if len(s.pending) >= storeQueueEvents || (s.bytes > 0 && s.bytes+len(data) > storeQueueBytes) {
		s.mu.Unlock()
		s.stats.dropped.Add(1)
		return history.ErrQueueFull
	}
	s.seq++
	s.pending = append(s.pending, storeItem{subj: subj, data: data, seq: s.seq, durable: durable})
	s.bytes += len(data)
	s.mu.Unlock()
	s.stats.appended.Add(1)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// writer stores the queue in batches until the store is closed and the
// queue is empty. The messages of a batch are published at once and their
// acknowledgements awaited in order, so one node's events keep their
// order in each stream.
func (s *jsStore) writer() {
	for {
		s.mu.Lock()
		for len(s.pending) == 0 && !s.closing {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if len(s.pending) == 0 {
			s.mu.Unlock()
			return
		}
		k := min(len(s.pending), storeBatch)
		batch := make([]storeItem, k)
		copy(batch, s.pending)
		s.pending = append(s.pending[:0], s.pending[k:]...)
		for i := range batch {
			s.bytes -= len(batch[i].data)
		}
		s.mu.Unlock()

		s.store(batch)

		s.mu.Lock()
		s.written = batch[k-1].seq
		kept := s.waiters[:0]
		for _, w := range s.waiters {
			if w.seq <= s.written {
				close(w.ch)
			} else {
				kept = append(kept, w)
			}
		}
		s.waiters = kept
		s.mu.Unlock()
	}
}

// store publishes a batch to JetStream and reports each message's fate.
func (s *jsStore) store(batch []storeItem) {
	errs := make([]error, len(batch))
	// While JetStream is not ready (a cluster still electing its
	// JetStream leader, or a node whose peers are all down) the batch
	// fails after a short try, so that publishers learn it soon; the
	// ensure loop keeps trying meanwhile.
	ectx, ecancel := context.WithTimeout(context.Background(), ensureTry)
	err := s.ensure(ectx)
	ecancel()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("JetStream is not ready (a cluster node needs another node up to have JetStream): %w", err)
		}
	} else {
		futs := make([]jetstream.PubAckFuture, len(batch))
		for i := range batch {
			futs[i], errs[i] = s.js.PublishAsync(batch[i].subj, batch[i].data)
		}
		for i, f := range futs {
			if errs[i] != nil {
				continue
			}
			select {
			case <-f.Ok():
			case errs[i] = <-f.Err():
			case <-ctx.Done(): // the acknowledgement timeout should have come first
				errs[i] = fmt.Errorf("no acknowledgement from JetStream within %v", storeTimeout)
			}
		}
	}
	failed := 0
	for i := range batch {
		err := errs[i]
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			// The stream is gone (deleted by hand?): make it again
			// before the next batch.
			s.ready.Store(false)
		}
		if err != nil {
			failed++
			err = fmt.Errorf("storing in JetStream: %w", err)
		}
		if batch[i].durable != nil {
			batch[i].durable(err)
		}
	}
	if failed > 0 {
		s.stats.writeErrors.Add(1)
		n := s.stats.lost.Add(uint64(failed))
		if bits.OnesCount64(n) == 1 || bits.OnesCount64(n-uint64(failed)) == 0 {
			s.log.Warn("cluster: events not stored in JetStream (history or retained events)", "failed", failed, "lost_total", n, "err", firstErr(errs))
		}
	}
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// flush waits until everything queued before the call is stored (or has
// failed), or ctx ends.
func (s *jsStore) flush(ctx context.Context) error {
	s.mu.Lock()
	if s.written >= s.seq {
		s.mu.Unlock()
		return nil
	}
	w := storeWaiter{seq: s.seq, ch: make(chan struct{})}
	s.waiters = append(s.waiters, w)
	s.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the event history writes: %w", ctx.Err())
	}
}

// Query implements router.EventStore: it reads every stream of a rule
// that covers the subscription, merges them (by the time each event was
// published, then by rule; each stream in its own order) and selects as
// history.Store does. Every node reads the same streams and merges them
// the same way, so every node answers alike.
func (s *jsStore) Query(ctx context.Context, realm wamp.URI, q *history.Query) ([]history.Event, error) {
	rules := s.rules.Covering(realm, q.Match, q.Pattern)
	if len(rules) == 0 {
		return nil, history.ErrNoHistory
	}
	if err := s.flush(ctx); err != nil {
		return nil, err
	}
	if err := s.ensure(ctx); err != nil {
		return nil, fmt.Errorf("JetStream is not ready: %w", err)
	}
	streams := make([][]stored, len(rules))
	for i, r := range rules {
		name, _ := s.streamFor(realm, r)
		recs, err := s.readRetrying(ctx, realm, name)
		if err != nil {
			return nil, fmt.Errorf("reading the event history of %s %s in realm %s from stream %s: %w", r.Match, r.Topic, realm, name, err)
		}
		streams[i] = recs
	}
	recs := merge(streams)
	evs, err := history.Select(recs, q)
	var up *history.UnknownPublicationError
	if err == nil || errors.As(err, &up) {
		return evs, err
	}
	// A record that does not decode (one put in the stream by another
	// program, or by a build with another record format) is left out,
	// not allowed to fail every query of the rule while it is kept.
	// Looked for only once Select failed: decoding every record of every
	// query would copy each event's payload once more.
	good := recs[:0:0]
	for _, rec := range recs {
		if _, derr := history.Decode(rec); derr != nil {
			s.bad(realm, derr)
			continue
		}
		good = append(good, rec)
	}
	if len(good) == len(recs) {
		return nil, err
	}
	return history.Select(good, q)
}

// bad counts a history record that does not decode, left out of a query;
// logged at 1, 2, 4, ... of them.
func (s *jsStore) bad(realm wamp.URI, err error) {
	s.n.stats.BadMessages.Add(1)
	if n := s.stats.badRecords.Add(1); bits.OnesCount64(n) == 1 {
		s.log.Warn("cluster: a message in an event history stream is not a history record; left out of get_events",
			"realm", realm, "err", err, "total", n)
	}
}

// stored is a record read from a stream, with its stamp.
type stored struct {
	rec   []byte
	stamp uint64
}

// merge interleaves the streams' records by stamp, taking from the
// earlier stream on a tie, keeping each stream's order.
func merge(streams [][]stored) [][]byte {
	if len(streams) == 1 {
		out := make([][]byte, len(streams[0]))
		for i := range streams[0] {
			out[i] = streams[0][i].rec
		}
		return out
	}
	var out [][]byte
	at := make([]int, len(streams))
	for {
		next := -1
		for i, st := range streams {
			if at[i] < len(st) && (next < 0 || st[at[i]].stamp < streams[next][at[next]].stamp) {
				next = i
			}
		}
		if next < 0 {
			return out
		}
		out = append(out, streams[next][at[next]].rec)
		at[next]++
	}
}

// readRetrying reads a stream, trying again a few times after a failure:
// a stream whose leader is being elected (a node just started or stopped)
// does not answer for a moment.
func (s *jsStore) readRetrying(ctx context.Context, realm wamp.URI, name string) ([]stored, error) {
	wait := 50 * time.Millisecond
	for try := 1; ; try++ {
		recs, err := s.read(ctx, realm, name)
		if err == nil || try == 5 || ctx.Err() != nil {
			return recs, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// read returns every record of a history stream of realm, oldest first;
// a message too short to be one is left out (bad).
func (s *jsStore) read(ctx context.Context, realm wamp.URI, name string) ([]stored, error) {
	st, err := s.js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{InactiveThreshold: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	out := make([]stored, 0, info.State.Msgs)
	for {
		// FetchNoWait ends the batch with what the stream has now; the
		// last event's NumPending says whether more are left.
		batch, err := cons.FetchNoWait(int(min(max(info.State.Msgs, 1), historyReadBatch)))
		if err != nil {
			return nil, err
		}
		got, last := 0, false
		for m := range batch.Messages() {
			got++
			data := m.Data()
			if len(data) < 8 {
				s.bad(realm, fmt.Errorf("stream message of %d bytes is too short to be an event", len(data)))
			} else {
				out = append(out, stored{rec: data[8:], stamp: binary.BigEndian.Uint64(data)})
			}
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			last = md.NumPending == 0
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if last || got == 0 {
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// Stats implements router.EventStore.
func (s *jsStore) Stats() history.Stats {
	s.mu.Lock()
	queued := len(s.pending)
	s.mu.Unlock()
	return history.Stats{
		Appended: s.stats.appended.Load(), Dropped: s.stats.dropped.Load(),
		WriteErrors: s.stats.writeErrors.Load(), Lost: s.stats.lost.Load(), Queued: queued,
		TooLarge: s.stats.tooLarge.Load(),
	}
}

// Close implements router.EventStore: it stores what is queued (each
// message within storeTimeout), then stops the watch.
func (s *jsStore) Close() error {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	s.mu.Unlock()
	if !already {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	// The writer finishes the queue before the ensure loop is stopped:
	// it may still need the streams made.
	s.mu.Lock()
	for s.written < s.seq {
		s.mu.Unlock()
		s.flush(context.Background())
		s.mu.Lock()
	}
	s.mu.Unlock()
	s.cancel()
	<-s.done
	s.ensuring <- struct{}{}
	if s.watch != nil {
		s.watch.Stop()
		<-s.watch.Closed()
		s.watch = nil
	}
	<-s.ensuring
	return nil
}
