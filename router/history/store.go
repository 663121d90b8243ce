package history

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/junction-wamp/junction/internal/lograte"
	"github.com/junction-wamp/junction/wamp"
)

// Rule gives the topics that match Topic under Match a history of at most
// Limit events and, when MaxBytes is more than 0, at most MaxBytes bytes
// of records (Encode's); the oldest events go first. An event whose
// record alone is larger than MaxBytes is not kept (ErrTooLarge).
type Rule struct {
	Match    wamp.Match
	Topic    wamp.URI
	Limit    int
	MaxBytes int64
}

func (r *Rule) key() string { return r.Match.String() + ":" + string(r.Topic) }

// check says what is wrong with r, a rule of realm, or nil.
func (r *Rule) check(realm wamp.URI) error {
	switch {
	case r.Limit <= 0:
		return fmt.Errorf("history rule %s in realm %s: limit %d must be positive", r.key(), realm, r.Limit)
	case r.MaxBytes < 0:
		return fmt.Errorf("history rule %s in realm %s: max bytes %d must not be negative", r.key(), realm, r.MaxBytes)
	}
	return nil
}

// CheckSize returns an error wrapping ErrTooLarge when an event of topic
// in realm that takes size bytes in a store (its record here; a store
// elsewhere counts its own overhead too) is larger than r keeps, else nil.
func (r *Rule) CheckSize(realm, topic wamp.URI, size int) error {
	if r.MaxBytes <= 0 || int64(size) <= r.MaxBytes {
		return nil
	}
	return fmt.Errorf("event history of %s in realm %s: the event takes %d bytes, its rule (%s) keeps %d at most: %w",
		topic, realm, size, r.key(), r.MaxBytes, ErrTooLarge)
}

// Config configures a Store.
type Config struct {
	// Rules are the history rules of each realm.
	Rules map[wamp.URI][]Rule
	// QueueEvents and QueueBytes bound the events appended but not yet
	// written (the bytes are those of the encoded events); 0 takes
	// DefaultQueueEvents and DefaultQueueBytes. The writer holds at most one
	// more batch of the same size while it writes it.
	QueueEvents int
	QueueBytes  int
	// Logger receives the store's warnings; nil discards them.
	Logger *slog.Logger
	// BeforeWrite, when set, is called by the writer before it writes each
	// batch, on the writer's goroutine. Tests hold the writer back with it
	// to see what waits for the writes; nil in production.
	BeforeWrite func()
}

// Queue bounds used when Config leaves them 0.
const (
	DefaultQueueEvents = 8192
	DefaultQueueBytes  = 32 << 20
)

// Errors of Append and Query.
var (
	// ErrQueueFull: the event did not fit in the write queue and was
	// dropped (and counted in Stats.Dropped).
	ErrQueueFull = errors.New("history write queue full")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("history store closed")
	// ErrNoHistory: no rule of the realm covers any topic of the
	// subscription.
	ErrNoHistory = errors.New("no history rule covers the subscription")
	// ErrTooLarge: the event alone is larger than its rule's MaxBytes, so
	// it was not kept (and was counted in Stats.TooLarge).
	ErrTooLarge = errors.New("event larger than its history rule keeps")
)

// formatVersion is the layout of the file; Open refuses a file with another.
const formatVersion = 1

var (
	bucketMeta   = []byte("meta")
	bucketRealms = []byte("realms")
	keyVersion   = []byte("version")
)

// Store is an event history kept in a bbolt file. It is safe for
// concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	log  *slog.Logger

	realms map[wamp.URI]*realmRules // read-only after Open

	maxEvents, maxBytes int
	beforeWrite         func()

	mu      sync.Mutex
	pending []pendingEvent
	bytes   int    // encoded bytes in pending
	seq     uint64 // last sequence number handed out
	written uint64 // every event up to this sequence number is written (or lost, counted)
	closing bool
	wake    chan struct{} // capacity 1: there is work or closing is set
	waiters []waiter
	done    chan struct{} // closed when the writer has stopped

	closeOnce sync.Once
	closeErr  error

	// logLimit keeps a failing disk (full, gone) from writing a line per
	// batch it fails: the counters have every one.
	logLimit lograte.Limiter

	stats struct {
		appended, dropped, writeErrors, lost, tooLarge atomic.Uint64
	}
}

// realmRules are a realm's rules, indexed by pattern.
type realmRules struct {
	name  []byte
	rules []*ruleState
	index wamp.PatternIndex[*ruleState]
}

// ruleState is one rule and its bucket.
type ruleState struct {
	Rule
	realm  *realmRules
	bucket []byte
	count  int   // events in the bucket; the writer's alone after Open
	bytes  int64 // and the bytes of their records
}

type pendingEvent struct {
	rule    *ruleState
	seq     uint64
	rec     []byte
	durable func(error) // AppendDurable's; nil for Append
}

type waiter struct {
	seq uint64
	ch  chan struct{}
}

// Stats are a store's counters.
type Stats struct {
	Appended    uint64 // events queued
	Dropped     uint64 // events refused because the queue was full
	WriteErrors uint64 // batches bbolt failed to write
	Lost        uint64 // queued events lost in those batches
	Queued      int    // events waiting to be written now
	TooLarge    uint64 // events not kept: larger on their own than their rule's MaxBytes

	// Unencodable counts the publications that could not be encoded for
	// the history (a decoded payload holding Go values no serializer
	// takes), so they were not kept. The router counts them, whichever
	// store refused them (Router.HistoryStats); Store.Stats leaves it 0.
	Unencodable uint64
}

// Open opens (creating it if needed) the history file at path for cfg's
// rules. It drops what the file holds for rules cfg no longer has and trims
// every rule to its limits.
func Open(path string, cfg Config) (*Store, error) {
	s := &Store{
		path:        path,
		log:         cfg.Logger,
		realms:      make(map[wamp.URI]*realmRules, len(cfg.Rules)),
		maxEvents:   cfg.QueueEvents,
		maxBytes:    cfg.QueueBytes,
		beforeWrite: cfg.BeforeWrite,
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxEvents <= 0 {
		s.maxEvents = DefaultQueueEvents
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultQueueBytes
	}
	for realm, rules := range cfg.Rules {
		rr := &realmRules{name: []byte(realm)}
		for _, r := range rules {
			if err := r.check(realm); err != nil {
				return nil, err
			}
			if _, dup := rr.index.Get(r.Match, r.Topic); dup {
				return nil, fmt.Errorf("history rule %s in realm %s: given twice", r.key(), realm)
			}
			rs := &ruleState{Rule: r, realm: rr, bucket: []byte(r.key())}
			rr.rules = append(rr.rules, rs)
			rr.index.Put(r.Match, r.Topic, rs)
		}
		if len(rr.rules) > 0 {
			s.realms[realm] = rr
		}
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	db, err := openBolt(path)
	if err != nil {
		return nil, fmt.Errorf("opening event history %s: %w", path, err)
	}
	s.db = db
	if err := update(db, s.prepare); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening event history %s: %w", path, err)
	}
	if created {
		// bbolt syncs the file, not the directory that names it: without
		// this, a crash could lose the new file and with it every
		// publication acknowledged as kept.
		if err := syncDir(filepath.Dir(path)); err != nil {
			s.log.Warn("event history: the new file's directory could not be synced; a crash soon after may lose the file", "file", path, "err", err)
		}
	}
	go s.writer()
	return s, nil
}

// openBolt opens the bbolt file at path. bbolt panics on some damaged
// pages (its freelist, for one) where it could return an error: a damaged
// file is an error here, the operator's to deal with, not a crash.
func openBolt(path string) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w (%v)", errDamaged, p)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolt.ErrTimeout) {
		err = fmt.Errorf("%w: another process (a second router?) has it open", err)
	}
	return db, err
}

// update runs fn in a read-write transaction of db, turning bbolt's panics
// on damaged pages into errDamaged (bbolt rolls the transaction back).
func update(db *bolt.DB, fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w (%v)", errDamaged, p)
		}
	}()
	return db.Update(fn)
}

// errDamaged says that bbolt found pages that are not what they should be.
var errDamaged = errors.New("the file is damaged; move it away to start with an empty history")

// syncDir makes the directory entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// prepare checks the format, drops unconfigured realms and rules, creates
// the buckets of the configured ones, trims them and finds the last
// sequence number.
func (s *Store) prepare(tx *bolt.Tx) error {
	var meta *bolt.Bucket
	if meta = tx.Bucket(bucketMeta); meta == nil {
		// A new file, or someone else's: take only an empty one.
		if k, _ := tx.Cursor().First(); k != nil {
			return errForeign
		}
		var err error
		if meta, err = tx.CreateBucket(bucketMeta); err != nil {
			return err
		}
		if err := meta.Put(keyVersion, []byte{formatVersion}); err != nil {
			return err
		}
	}
	switch v := meta.Get(keyVersion); {
	case v == nil:
		return errForeign
	case len(v) != 1 || v[0] != formatVersion:
		return fmt.Errorf("the file has format version %v; this router reads version %d", v, formatVersion)
	}
	realms, err := tx.CreateBucketIfNotExists(bucketRealms)
	if err != nil {
		return err
	}
	// Collect first: a bucket must not change while it is iterated.
	var staleRealms [][]byte
	staleRules := map[string][][]byte{}
	err = realms.ForEachBucket(func(name []byte) error {
		rr := s.realms[wamp.URI(name)]
		if rr == nil {
			staleRealms = append(staleRealms, append([]byte(nil), name...))
			return nil
		}
		return realms.Bucket(name).ForEachBucket(func(rule []byte) error {
			for _, rs := range rr.rules {
				if string(rs.bucket) == string(rule) {
					return nil
				}
			}
			staleRules[string(name)] = append(staleRules[string(name)], append([]byte(nil), rule...))
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, name := range staleRealms {
		s.log.Info("event history: dropping the history of a realm that has no rules any more", "realm", string(name))
		if err := realms.DeleteBucket(name); err != nil {
			return fmt.Errorf("dropping realm %s: %w", name, err)
		}
	}
	for realm, rules := range staleRules {
		for _, rule := range rules {
			s.log.Info("event history: dropping the history of a rule no longer configured", "realm", realm, "rule", string(rule))
			if err := realms.Bucket([]byte(realm)).DeleteBucket(rule); err != nil {
				return fmt.Errorf("dropping rule %s of realm %s: %w", rule, realm, err)
			}
		}
	}
	for _, rr := range s.realms {
		rb, err := realms.CreateBucketIfNotExists(rr.name)
		if err != nil {
			return fmt.Errorf("realm %s: %w", rr.name, err)
		}
		for _, rs := range rr.rules {
			b, err := rb.CreateBucketIfNotExists(rs.bucket)
			if err != nil {
				return fmt.Errorf("rule %s of realm %s: %w", rs.bucket, rr.name, err)
			}
			last, err := checkRule(b, rs)
			if err != nil {
				return fmt.Errorf("rule %s of realm %s: %w", rs.bucket, rr.name, err)
			}
			s.seq = max(s.seq, last)
			if err := trim(b, rs); err != nil {
				return fmt.Errorf("trimming rule %s of realm %s to its limits: %w", rs.bucket, rr.name, err)
			}
		}
	}
	s.written = s.seq
	return nil
}

// errForeign says that a file holds something other than an event history.
var errForeign = errors.New("the file is a bbolt database but not an event history (no format version): give the history a file of its own")

// checkRule returns the last sequence number of rs's bucket b and counts
// its events and their bytes into rs, checking that it holds only events:
// a key of anything else would stop Open or a query further on.
func checkRule(b *bolt.Bucket, rs *ruleState) (last uint64, err error) {
	rs.count, rs.bytes = 0, 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 || v == nil {
			return 0, fmt.Errorf("%w: key %x is not an event's", errDamaged, k)
		}
		last = binary.BigEndian.Uint64(k)
		rs.count++
		rs.bytes += int64(len(v))
	}
	return last, nil
}

// trim deletes the oldest events of rs's bucket b beyond its limit and
// its MaxBytes.
func trim(b *bolt.Bucket, rs *ruleState) error {
	c := b.Cursor()
	for rs.count > rs.Limit || rs.MaxBytes > 0 && rs.bytes > rs.MaxBytes {
		k, v := c.First()
		if k == nil {
			rs.count, rs.bytes = 0, 0
			return nil
		}
		if err := c.Delete(); err != nil {
			return err
		}
		rs.count--
		rs.bytes -= int64(len(v))
	}
	return nil
}

// Keeps reports whether a rule of realm keeps the events of topic.
func (s *Store) Keeps(realm, topic wamp.URI) bool {
	rr := s.realms[realm]
	if rr == nil {
		return false
	}
	_, _, _, ok := rr.index.Best(topic)
	return ok
}

// Append queues ev for the history of the rule of realm that covers its
// topic; it does nothing when no rule does. It does not wait for the write.
// It fails with ErrQueueFull when the queue is at its limit and with
// ErrTooLarge when ev alone is larger than the rule's MaxBytes (the event
// is dropped and counted), and with ErrClosed once the store is closed.
func (s *Store) Append(realm wamp.URI, ev Event) error {
	err := s.append(realm, &ev, nil)
	if errors.Is(err, ErrNoHistory) {
		return nil
	}
	return err
}

// AppendDurable queues ev like Append and calls durable once ev is on
// disk: on the writer's goroutine, right after the transaction that holds
// ev (and the batch queued with it) committed, with nil, or failed, with
// the error. So an acknowledgement sent from durable promises that the
// event survives a crash. Events are written, and durable called, in the
// order they were appended. durable must not block; it is not called when
// AppendDurable fails: with ErrNoHistory when no rule of realm covers ev's
// topic, ErrTooLarge, ErrQueueFull or ErrClosed.
func (s *Store) AppendDurable(realm wamp.URI, ev Event, durable func(error)) error {
	return s.append(realm, &ev, durable)
}

func (s *Store) append(realm wamp.URI, ev *Event, durable func(error)) error {
	rr := s.realms[realm]
	if rr == nil {
		return ErrNoHistory
	}
	_, _, rs, ok := rr.index.Best(ev.Topic)
	if !ok {
		return ErrNoHistory
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	rec, err := encodeRecord(nil, ev)
	if err != nil {
		return fmt.Errorf("event history of %s in realm %s: %w", ev.Topic, realm, err)
	}
	if err := rs.CheckSize(realm, ev.Topic, len(rec)); err != nil {
		// Kept, it would push every other event of the rule out, then
		// itself.
		s.stats.tooLarge.Add(1)
		return err
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	// An event larger than the byte bound on its own still goes into an
	// empty queue: the transport's message size limit bounds it.
	if len(s.pending) >= s.maxEvents || (s.bytes > 0 && s.bytes+len(rec) > s.maxBytes) {
		s.mu.Unlock()
		s.stats.dropped.Add(1)
		return ErrQueueFull
	}
	s.seq++
	s.pending = append(s.pending, pendingEvent{rule: rs, seq: s.seq, rec: rec, durable: durable})
	s.bytes += len(rec)
	s.mu.Unlock()
	s.stats.appended.Add(1)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Flush waits until every event appended before the call is written (or
// lost to a write error, which is counted), or ctx is done.
func (s *Store) Flush(ctx context.Context) error {
	s.mu.Lock()
	if s.written >= s.seq {
		s.mu.Unlock()
		return nil
	}
	if s.closing {
		s.mu.Unlock()
		select {
		case <-s.done: // Close writes what is queued before it stops the writer
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for the event history to be written: %w", ctx.Err())
		}
	}
	w := waiter{seq: s.seq, ch: make(chan struct{})}
	s.waiters = append(s.waiters, w)
	s.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the event history to be written: %w", ctx.Err())
	}
}

// writer writes the queue in batches until the store is closed and the
// queue is empty.
func (s *Store) writer() {
	defer close(s.done)
	var spare []pendingEvent
	for {
		s.mu.Lock()
		for len(s.pending) == 0 && !s.closing {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		batch := s.pending
		s.pending, s.bytes = spare[:0], 0
		closing := s.closing
		s.mu.Unlock()

		if len(batch) > 0 {
			if s.beforeWrite != nil {
				s.beforeWrite()
			}
			err := s.db.Update(func(tx *bolt.Tx) error { return write(tx, batch) })
			if err != nil {
				s.stats.writeErrors.Add(1)
				s.stats.lost.Add(uint64(len(batch)))
				if ok, skipped := s.logLimit.Allow("write"); ok {
					s.log.Error("event history: a batch of events could not be written and is lost",
						"file", s.path, "events", len(batch), "err", err, "failures_not_logged", skipped)
				}
				s.recount()
				err = fmt.Errorf("writing the event history to %s: %w", s.path, err)
			}
			for _, p := range batch {
				if p.durable != nil {
					p.durable(err)
				}
			}
		}
		s.mu.Lock()
		if len(batch) > 0 {
			s.written = batch[len(batch)-1].seq
		}
		kept := s.waiters[:0]
		for _, w := range s.waiters {
			if w.seq <= s.written {
				close(w.ch)
			} else {
				kept = append(kept, w)
			}
		}
		s.waiters = kept
		done := closing && len(s.pending) == 0
		s.mu.Unlock()
		clear(batch)
		spare = batch
		if done {
			return
		}
	}
}

// write stores a batch and trims each rule it touched.
func write(tx *bolt.Tx, batch []pendingEvent) error {
	realms := tx.Bucket(bucketRealms)
	var key [8]byte
	touched := make(map[*ruleState]*bolt.Bucket)
	for _, p := range batch {
		b := touched[p.rule]
		if b == nil {
			b = realms.Bucket(p.rule.realm.name).Bucket(p.rule.bucket)
			b.FillPercent = 1 // keys only ever grow: pack the pages
			touched[p.rule] = b
		}
		binary.BigEndian.PutUint64(key[:], p.seq)
		if err := b.Put(key[:], p.rec); err != nil {
			return err
		}
		p.rule.count++
		p.rule.bytes += int64(len(p.rec))
	}
	for rs, b := range touched {
		if err := trim(b, rs); err != nil {
			return err
		}
	}
	return nil
}

// recount reads the rule counts (events and bytes) again after a failed
// transaction, whose changes bbolt rolled back but whose counting did not.
func (s *Store) recount() {
	err := s.db.View(func(tx *bolt.Tx) error {
		realms := tx.Bucket(bucketRealms)
		for _, rr := range s.realms {
			for _, rs := range rr.rules {
				if _, err := checkRule(realms.Bucket(rr.name).Bucket(rs.bucket), rs); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		if ok, skipped := s.logLimit.Allow("recount"); ok {
			s.log.Error("event history: counting the events again after a failed write", "file", s.path, "err", err, "failures_not_logged", skipped)
		}
	}
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	queued := len(s.pending)
	s.mu.Unlock()
	return Stats{
		Appended:    s.stats.appended.Load(),
		Dropped:     s.stats.dropped.Load(),
		WriteErrors: s.stats.writeErrors.Load(),
		Lost:        s.stats.lost.Load(),
		Queued:      queued,
		TooLarge:    s.stats.tooLarge.Load(),
	}
}

// Close writes what is queued, stops the writer and closes the file.
// Appends after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		<-s.done
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("closing event history %s: %w", s.path, err)
		}
	})
	return s.closeErr
}
