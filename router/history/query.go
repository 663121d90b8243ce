package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/junction-wamp/junction/wamp"
)

// Query selects events of a subscription's history: the options of
// wamp.subscription.get_events (pubsub_event_history.md), all combined with
// a logical AND. Zero values are absent options.
type Query struct {
	// Match and Pattern are the subscription's.
	Match   wamp.Match
	Pattern wamp.URI
	// Topic keeps only the publications to this topic (for pattern-based
	// subscriptions).
	Topic wamp.URI
	// Reverse returns the most recent events first.
	Reverse bool
	// Limit is the maximum number of events returned; 0 is no limit (the
	// rules' limits bound the answer).
	Limit int
	// FromTime (>=), AfterTime (>), BeforeTime (<) and UntilTime (<=)
	// compare with the time each publication was accepted.
	FromTime, AfterTime, BeforeTime, UntilTime time.Time
	// FromPublication (at or after), AfterPublication (after),
	// BeforePublication (before) and UntilPublication (at or before) place
	// the events relative to the event of that publication in the
	// subscription's history; a publication that is not in it (never
	// published to the subscription's topics, trimmed by the limit, or not
	// visible to the caller) is an *UnknownPublicationError.
	FromPublication, AfterPublication, BeforePublication, UntilPublication wamp.ID
	// AuthID and AuthRole are the caller's: events published for an
	// audience that excludes them are left out.
	AuthID, AuthRole string
}

// UnknownPublicationError says that a *_publication option names a
// publication that is not in the subscription's history.
type UnknownPublicationError struct {
	Option      string
	Publication wamp.ID
}

func (e *UnknownPublicationError) Error() string {
	return fmt.Sprintf("%s: publication %d is not in the subscription's history (never published to its topics, or already trimmed by the history limit)",
		e.Option, e.Publication)
}

// Covers reports whether some rule of realm keeps events that a
// subscription (m, pattern) receives, i.e. whether it has a history.
func (s *Store) Covers(realm wamp.URI, m wamp.Match, pattern wamp.URI) bool {
	return len(s.rulesFor(realm, m, pattern)) > 0
}

// rulesFor returns the rules whose buckets may hold events for (m, pattern).
func (s *Store) rulesFor(realm wamp.URI, m wamp.Match, pattern wamp.URI) []*ruleState {
	rr := s.realms[realm]
	if rr == nil {
		return nil
	}
	if m == wamp.MatchExact {
		// Every event of the topic is under the rule that wins for it.
		if _, _, rs, ok := rr.index.Best(pattern); ok {
			return []*ruleState{rs}
		}
		return nil
	}
	var out []*ruleState
	for _, rs := range rr.rules {
		if overlap(rs.Match, rs.Topic, m, pattern) {
			out = append(out, rs)
		}
	}
	return out
}

// overlap reports whether some URI matches both patterns.
func overlap(m1 wamp.Match, p1 wamp.URI, m2 wamp.Match, p2 wamp.URI) bool {
	if m1 > m2 { // order the cases: exact < prefix < wildcard
		m1, p1, m2, p2 = m2, p2, m1, p1
	}
	switch {
	case m1 == wamp.MatchExact:
		return m2.Matches(p2, p1)
	case m1 == wamp.MatchPrefix && m2 == wamp.MatchPrefix:
		return wamp.MatchPrefix.Matches(p1, p2) || wamp.MatchPrefix.Matches(p2, p1)
	case m1 == wamp.MatchPrefix: // and a wildcard
		// Some URI starts with p1 and matches p2: p2 has at least p1's
		// components, agrees with p1's whole components, and its component
		// where p1 ends may continue p1's last (partial) one.
		pc := strings.Split(string(p1), ".")
		wc := strings.Split(string(p2), ".")
		if len(wc) < len(pc) {
			return false
		}
		last := len(pc) - 1
		for i, c := range pc[:last] {
			if wc[i] != "" && wc[i] != c {
				return false
			}
		}
		return wc[last] == "" || strings.HasPrefix(wc[last], pc[last])
	}
	a, b := strings.Split(string(p1), "."), strings.Split(string(p2), ".")
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != "" && b[i] != "" && a[i] != b[i] {
			return false
		}
	}
	return true
}

// Query returns the events of the history of subscription (q.Match,
// q.Pattern) in realm that q selects, oldest first (newest first with
// q.Reverse). It first waits for the events appended before it to be
// written, or for ctx; once ctx is done it also stops reading (with ctx's
// error). It fails with ErrNoHistory when no rule covers the subscription.
func (s *Store) Query(ctx context.Context, realm wamp.URI, q *Query) ([]Event, error) {
	rules := s.rulesFor(realm, q.Match, q.Pattern)
	if len(rules) == 0 {
		return nil, ErrNoHistory
	}
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	var events []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketRealms).Bucket([]byte(realm))
		buckets := make([]*bolt.Bucket, len(rules))
		for i, rs := range rules {
			buckets[i] = rb.Bucket(rs.bucket)
		}
		lo, hi, err := bounds(ctx, buckets, q)
		if err != nil {
			return err
		}
		events, err = scan(ctx, buckets, q, lo, hi)
		return err
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return nil, ErrClosed
	}
	if err != nil {
		var up *UnknownPublicationError
		if errors.As(err, &up) {
			return nil, err
		}
		return nil, fmt.Errorf("reading the event history of %s in realm %s: %w", q.Pattern, realm, err)
	}
	return events, nil
}

// visible reports whether the record is in the subscription's history for
// the caller.
func visible(v *recordView, q *Query) (bool, error) {
	if !q.Match.Matches(q.Pattern, wamp.URI(v.topic)) {
		return false, nil
	}
	if v.flags&flagAudience == 0 {
		return true, nil
	}
	a, err := v.audience()
	if err != nil {
		return false, err
	}
	return a.Admits(q.AuthID, q.AuthRole), nil
}

// bounds turns the *_publication options into an inclusive range of
// sequence numbers.
func bounds(ctx context.Context, buckets []*bolt.Bucket, q *Query) (lo, hi uint64, err error) {
	lo, hi = 0, math.MaxUint64
	anchors := []struct {
		option string
		pub    wamp.ID
		apply  func(seq uint64)
	}{
		{"from_publication", q.FromPublication, func(seq uint64) { lo = max(lo, seq) }},
		{"after_publication", q.AfterPublication, func(seq uint64) { lo = max(lo, seq+1) }},
		{"before_publication", q.BeforePublication, func(seq uint64) {
			if seq == 0 {
				hi, lo = 0, 1 // empty
				return
			}
			hi = min(hi, seq-1)
		}},
		{"until_publication", q.UntilPublication, func(seq uint64) { hi = min(hi, seq) }},
	}
	for _, a := range anchors {
		if a.pub == 0 {
			continue
		}
		seq, found, err := find(ctx, buckets, q, a.pub)
		if err != nil {
			return 0, 0, err
		}
		if !found {
			return 0, 0, &UnknownPublicationError{Option: a.option, Publication: a.pub}
		}
		a.apply(seq)
	}
	return lo, hi, nil
}

// find returns the sequence number of publication pub in the
// subscription's history.
func find(ctx context.Context, buckets []*bolt.Bucket, q *Query, pub wamp.ID) (uint64, bool, error) {
	var read int
	for _, b := range buckets {
		c := b.Cursor()
		for k, val := c.Last(); k != nil; k, val = c.Prev() {
			if err := stopped(ctx, &read); err != nil {
				return 0, false, err
			}
			p, err := recordPublication(val)
			if err != nil {
				return 0, false, err
			}
			if p != pub {
				continue
			}
			v, err := viewRecord(val)
			if err != nil {
				return 0, false, err
			}
			ok, err := visible(&v, q)
			if err != nil {
				return 0, false, err
			}
			if ok {
				return binary.BigEndian.Uint64(k), true, nil
			}
		}
	}
	return 0, false, nil
}

// scan merges the buckets in order of sequence numbers within [lo, hi] and
// returns the events q selects.
func scan(ctx context.Context, buckets []*bolt.Bucket, q *Query, lo, hi uint64) ([]Event, error) {
	if lo > hi {
		return nil, nil
	}
	var loKey, hiKey [8]byte
	binary.BigEndian.PutUint64(loKey[:], lo)
	binary.BigEndian.PutUint64(hiKey[:], hi)
	type head struct {
		c    *bolt.Cursor
		k, v []byte
	}
	heads := make([]head, 0, len(buckets))
	for _, b := range buckets {
		h := head{c: b.Cursor()}
		if q.Reverse {
			h.k, h.v = h.c.Seek(hiKey[:])
			if h.k == nil {
				h.k, h.v = h.c.Last()
			} else if bytes.Compare(h.k, hiKey[:]) > 0 {
				h.k, h.v = h.c.Prev()
			}
		} else {
			h.k, h.v = h.c.Seek(loKey[:])
		}
		heads = append(heads, h)
	}
	inRange := func(k []byte) bool {
		return k != nil && bytes.Compare(k, loKey[:]) >= 0 && bytes.Compare(k, hiKey[:]) <= 0
	}
	var events []Event
	var read int
	for q.Limit == 0 || len(events) < q.Limit {
		if err := stopped(ctx, &read); err != nil {
			return nil, err
		}
		next := -1
		for i := range heads {
			if !inRange(heads[i].k) {
				continue
			}
			if next < 0 || (bytes.Compare(heads[i].k, heads[next].k) < 0) != q.Reverse {
				next = i
			}
		}
		if next < 0 {
			break
		}
		h := &heads[next]
		val := h.v
		if q.Reverse {
			h.k, h.v = h.c.Prev()
		} else {
			h.k, h.v = h.c.Next()
		}
		v, err := viewRecord(val)
		if err != nil {
			return nil, err
		}
		if ok, err := selected(&v, q); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		ev, err := v.event()
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}

// stopped returns ctx's error, looking at it once every 256 records read
// (counted in *read): a query holds bbolt's read transaction, which holds
// up the writer when the file grows, so one whose caller has given up
// stops.
func stopped(ctx context.Context, read *int) error {
	*read++
	if *read&255 != 1 {
		return nil
	}
	return ctx.Err()
}

// selected applies every filter but the publication range.
func selected(v *recordView, q *Query) (bool, error) {
	if q.Topic != "" && string(v.topic) != string(q.Topic) {
		return false, nil
	}
	t := time.UnixMilli(v.time)
	switch {
	case !q.FromTime.IsZero() && t.Before(q.FromTime),
		!q.AfterTime.IsZero() && !t.After(q.AfterTime),
		!q.BeforeTime.IsZero() && !t.Before(q.BeforeTime),
		!q.UntilTime.IsZero() && t.After(q.UntilTime):
		return false, nil
	}
	return visible(v, q)
}
