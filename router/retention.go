package router

import (
	"cmp"
	"errors"
	"github.com/junction-wamp/junction/internal/lru"
	"log/slog"
	"maps"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/junction-wamp/junction/router/history"
	"github.com/junction-wamp/junction/wamp"
)

// Event retention and event history: the broker hands every publication it
// accepted to the realm, which keeps the last retained event per topic and
// the history the realm's rules ask for.
//
// Retained events live in memory, one per topic that has one, at most
// maxRetained topics and maxRetainedBytes of payload per realm: past either
// bound the topic retained longest ago loses its event (the specification
// makes retention best-effort), so memory is bounded whatever is published.
// They are not persisted: history is what survives a restart.
//
// Publications restricted to some subscribers are never retained (the
// specification limits retention to an event all subscribers would
// receive); one restricted by session id (exclude, eligible) is not kept in
// the history either, while one restricted by authid or authrole is kept
// with its audience and shown only to callers of get_events it admits
// (pubsub_event_history.md, Security Aspects).

// retainedEvent is a publication kept for subscribers that ask for it with
// get_retained.
type retainedEvent struct {
	topic       wamp.URI
	publication wamp.ID
	details     wamp.Dict // publisher disclosure, trustlevel, ppt_*: as in the EVENT
	payload     wamp.Payload
	size        int // what the realm's byte bound counts: encodedSize
}

// Bounds of a realm's retained events.
const (
	maxRetained      = 100_000
	maxRetainedBytes = 64 << 20
)

// realmHistory is a realm's retained events and its handle on the history
// store.
type realmHistory struct {
	store EventStore // nil when the realm has no history rules

	// retaining orders the publications that are retained against the
	// SUBSCRIBEs with get_retained: a publication holds it (read) from
	// its fan-out until it is retained, a SUBSCRIBE from reading the
	// retained events until its session is a subscriber. Without it a
	// subscriber could read the event a publication replaces, join once
	// the fan-out had passed it, and never get the publication. Plain
	// publications do not take it.
	retaining sync.RWMutex

	mu       sync.RWMutex
	retained lru.Map[wamp.URI, retainedEvent] // retained longest ago first
	bytes    int                              // raw payload bytes retained
	evicted  uint64                           // events dropped to keep the bounds

	// maxTopics and maxBytes override maxRetained and maxRetainedBytes
	// when set (tests).
	maxTopics, maxBytes int
}

// recordPublication is called by the broker for every publication it
// accepted, after it was delivered: it retains the publication when retain
// is set, and keeps it in the history, unless inHistory says that
// appendAcknowledged did already.
func (rl *realm) recordPublication(s *Session, m *wamp.Publish, pub wamp.ID, details wamp.Dict, retain, inHistory bool) {
	h := &rl.hist
	keep := !inHistory && h.store != nil && h.store.Keeps(rl.name, m.Topic)
	if !retain && !keep {
		return // the common case, without reading the options
	}
	bySession, audience, err := publicationAudience(m.Options)
	if err != nil {
		// The broker accepted the options; if they do not read here, keep
		// the publication out rather than guess its audience.
		s.logger().Warn("publication not retained nor kept in the history: its black/whitelisting options do not read",
			"topic", m.Topic, "err", err)
		return
	}
	if retain && !bySession && !audience.Restricted() {
		h.retain(m.Topic, pub, details, &m.Payload, rl.router.log)
		if sh := rl.router.shared; sh != nil {
			// The other nodes' subscribers get it too; this node's
			// copy came first, so that a subscriber here sees it at once.
			sh.Retain(rl.name, &history.Event{Topic: m.Topic, Publication: pub, Details: details, Payload: m.Payload})
		}
	}
	if !keep || bySession {
		return
	}
	err = h.store.Append(rl.name, history.Event{
		Topic: m.Topic, Publication: pub, Details: details, Payload: m.Payload, Audience: audience,
	})
	h.appendFailed(s, m.Topic, err)
}

// appendFailed logs why a publication was not kept in the history, if it
// was not. The lines a publisher can cause are counted and rate-limited:
// a steady bad publisher must not flood the log.
func (h *realmHistory) appendFailed(s *Session, topic wamp.URI, err error) {
	switch {
	case err == nil, errors.Is(err, history.ErrNoHistory):
	case errors.Is(err, history.ErrQueueFull):
		// Counted by the store; logged at 1, 2, 4, 8, ... drops.
		if n := h.store.Stats().Dropped; bits.OnesCount64(n) == 1 {
			s.logger().Warn("event history: write queue full, publications not kept in the history",
				"topic", topic, "dropped_total", n)
		}
	case errors.Is(err, history.ErrTooLarge):
		// Counted by the store; logged at 1, 2, 4, 8, ... of them.
		if n := h.store.Stats().TooLarge; bits.OnesCount64(n) == 1 {
			s.logger().Warn("event history: publication larger than its history rule keeps (max_bytes), not kept in the history",
				"topic", topic, "err", err, "too_large_total", n)
		}
	case errors.Is(err, history.ErrClosed):
		// The router is closing.
	default:
		// The store could not encode it (Go values no serializer takes,
		// from a session in the router's process).
		r := s.router
		r.stats.historyUnencodable.Add(1)
		if ok, held := r.logLimit.Allow("history unencodable"); ok {
			s.logger().Warn("event history: publication not kept", "topic", topic, "err", err, "held_back", held)
		}
	}
}

// appendAcknowledged keeps s's acknowledged publication m in the history,
// before it is delivered, when a rule of the realm keeps it. It returns the
// durableAck that answers the publisher once the publication is both
// delivered and on disk, or an error when the history cannot take it (the
// publication is then refused, not delivered); nil and no error when the
// history does not keep m.
func (rl *realm) appendAcknowledged(s *Session, m *wamp.Publish, pub wamp.ID, details wamp.Dict) (*durableAck, error) {
	h := &rl.hist
	if h.store == nil || !h.store.Keeps(rl.name, m.Topic) {
		return nil, nil
	}
	bySession, audience, err := publicationAudience(m.Options)
	if err != nil || bySession {
		return nil, nil // not kept (recordPublication says why)
	}
	a := &durableAck{s: s, req: m.Request, pub: pub}
	a.left.Store(2)
	err = h.store.AppendDurable(rl.name, history.Event{
		Topic: m.Topic, Publication: pub, Details: details, Payload: m.Payload, Audience: audience,
	}, a.written)
	if err != nil {
		h.appendFailed(s, m.Topic, err)
		return nil, err
	}
	return a, nil
}

// durableAck answers an acknowledged publication to a topic with history:
// PUBLISHED once it is delivered (the broker's fan-out is done) and on
// disk (the history writer's batch holding it committed), whichever comes
// last; so PUBLISHED promises that the publication survives a crash, and
// still comes after the publisher's own EVENT (exclude_me false). The
// answer is sent with Send, which never blocks, from the goroutine that
// finished last: nothing waits for the disk.
type durableAck struct {
	s        *Session
	req, pub wamp.ID
	left     atomic.Int32 // the fan-out and the write still to finish
	err      error        // the write's, set before its countdown
}

// written is the history writer's report (EventStore.AppendDurable).
func (a *durableAck) written(err error) {
	a.err = err
	a.done()
}

// done counts one of the two down; the last answers.
func (a *durableAck) done() {
	if a.left.Add(-1) != 0 {
		return
	}
	if a.err != nil {
		a.s.answerError(wamp.TypePublish, a.req, wamp.ErrHistoryUnavailable,
			"publication %d was delivered to the subscribers but could not be kept in the event history: %v", a.pub, a.err)
		return
	}
	ack := publishedPool.Get().(*wamp.Published)
	*ack = wamp.Published{Request: a.req, Publication: a.pub}
	if err := a.s.sendAnswer(ack); err != nil {
		a.s.sendFailed(wamp.TypePublished, err)
	} else {
		a.s.countSent(wamp.TypePublished)
	}
	publishedPool.Put(ack)
}

// publicationAudience reads PUBLISH's black- and whitelisting options:
// bySession when they name session ids (an eligible list, even empty, or a
// non-empty exclude list), and the audience by authid and authrole.
func publicationAudience(opts wamp.Dict) (bySession bool, a history.Audience, err error) {
	if len(opts) == 0 {
		return false, a, nil
	}
	exclude, err := wamp.OptIDs(opts, "exclude")
	if err != nil {
		return false, a, err
	}
	eligible, err := wamp.OptIDs(opts, "eligible")
	if err != nil {
		return false, a, err
	}
	for _, o := range []struct {
		key string
		dst *[]string
	}{
		{"eligible_authid", &a.EligibleAuthIDs},
		{"eligible_authrole", &a.EligibleAuthRoles},
		{"exclude_authid", &a.ExcludeAuthIDs},
		{"exclude_authrole", &a.ExcludeAuthRoles},
	} {
		if *o.dst, err = wamp.OptStrings(opts, o.key); err != nil {
			return false, a, err
		}
	}
	return eligible != nil || len(exclude) > 0, a, nil
}

// retain makes the publication topic's retained event, copying what the
// router may reuse after the publication (the raw payload).
func (h *realmHistory) retain(topic wamp.URI, pub wamp.ID, details wamp.Dict, p *wamp.Payload, log *slog.Logger) {
	ev := retainedEvent{topic: topic, publication: pub, details: maps.Clone(details), payload: *p}
	ev.payload.Own()
	// A payload that cannot be encoded counts as nothing: no client can
	// be sent it anyway.
	ev.size, _ = encodedSize(ev.payload)
	h.mu.Lock()
	if old, ok := h.retained.Get(topic); ok {
		h.bytes -= old.size
	}
	h.retained.Put(topic, ev)
	h.bytes += ev.size
	maxTopics, maxBytes := cmp.Or(h.maxTopics, maxRetained), cmp.Or(h.maxBytes, maxRetainedBytes)
	evicted := uint64(0)
	for h.retained.Len() > 1 && (h.retained.Len() > maxTopics || h.bytes > maxBytes) {
		oldest, old, _ := h.retained.Oldest()
		h.retained.Delete(oldest)
		h.bytes -= old.size
		evicted++
	}
	first := h.evicted == 0 && evicted > 0
	h.evicted += evicted
	h.mu.Unlock()
	if first {
		log.Warn("retained events past the realm's bound: the oldest are dropped",
			"max_topics", maxTopics, "max_bytes", maxBytes)
	}
}

// retainShared makes a retained event the shared store holds (stored by
// any node) the topic's retained event, unless it is already: a node gets
// its own back from the store, and putting it again would only move it in
// the eviction order.
func (h *realmHistory) retainShared(topic wamp.URI, pub wamp.ID, details wamp.Dict, p *wamp.Payload, log *slog.Logger) {
	h.mu.RLock()
	cur, ok := h.retained.Get(topic)
	same := ok && cur.publication == pub
	h.mu.RUnlock()
	if !same {
		h.retain(topic, pub, details, p, log)
	}
}

// retainedEvents returns the retained events whose topics match pattern
// under policy match, oldest first: at most maxRetainedSent, the most
// recent. Each has its own details map, with "retained": true already set,
// which the caller may extend (with "topic" for a pattern-based
// subscription); the payloads are shared and must not be modified.
func (rl *realm) retainedEvents(match wamp.Match, pattern wamp.URI) []retainedEvent {
	h := &rl.hist
	h.mu.RLock()
	var out []retainedEvent
	next := 0 // once out is full, where the next (newer) event goes
	if match == wamp.MatchExact {
		if ev, ok := h.retained.Get(pattern); ok {
			out = append(out, *ev)
		}
	} else {
		for topic, ev := range h.retained.All() {
			if !match.Matches(pattern, topic) {
				continue
			}
			if len(out) < maxRetainedSent {
				out = append(out, ev)
				continue
			}
			out[next] = ev // a ring of the most recent
			next = (next + 1) % maxRetainedSent
		}
	}
	h.mu.RUnlock()
	out = slices.Concat(out[next:], out[:next])
	for i := range out {
		d := make(wamp.Dict, len(out[i].details)+2)
		maps.Copy(d, out[i].details)
		d["retained"] = true
		out[i].details = d
	}
	return out
}
