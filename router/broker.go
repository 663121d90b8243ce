package router

import (
	"errors"
	"sync"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// broker routes PUBLISH to the subscribers of the subscriptions that match
// the topic. A subscription is a (match policy, topic or pattern) pair with
// one id shared by all of its subscribers; an event reaches a session once
// per matching subscription it holds (pattern_based_subscription.md).
//
// Publishing holds mu only to find the subscriptions and each
// subscription's mu (read) while it fans out, so publishers of different
// topics never wait for each other (lock order: doc.go).
type broker struct {
	router *Router

	mu       sync.RWMutex // guards subs, byID and patterns
	subs     wamp.PatternIndex[*subscription]
	byID     map[wamp.ID]*subscription
	patterns int // prefix and wildcard subscriptions: 0 keeps publishing to one map lookup

	meta metaQueue
}

// subscription is laid out small: a realm may hold one per session.
type subscription struct {
	id      wamp.ID  // router scope
	topic   wamp.URI // the topic, or the pattern for prefix and wildcard
	created int64    // Unix nanoseconds
	match   wamp.Match

	mu sync.RWMutex
	// announced is set once wamp.subscription.on_create went out, so that
	// on_subscribe never comes first and on_delete never comes alone.
	announced   bool
	subscribers map[*Session]struct{}
	// nkeys holds the node key of the subscribers that gave one (sharded
	// subscription); nil until one does, so plain subscriptions pay nothing.
	nkeys map[*Session]string
	// catchingUp holds the live events for the subscribers that are being
	// sent the retained events of this or another of their subscriptions
	// (with no lock held), to be sent after them (catchUp); nil while
	// there are none, so the fan-out pays one comparison.
	catchingUp map[*Session]*heldEvents
}

// brokerFeatures is what WELCOME announces for the broker role.
func brokerFeatures() wamp.Dict {
	return wamp.Dict{
		"publisher_exclusion":           true,
		"publisher_identification":      true,
		"subscriber_blackwhite_listing": true,
		"publication_trustlevels":       true,
		"pattern_based_subscription":    true,
		"sharded_subscription":          true,
		"subscription_revocation":       true,
		"subscription_meta_api":         true,
		"event_retention":               true,
		"payload_passthru_mode":         true,
	}
}

func (b *broker) init(r *Router) {
	b.router = r
	b.byID = make(map[wamp.ID]*subscription)
}

// subscribeOptions are SUBSCRIBE.Options as the broker reads them. Keys it
// does not know are ignored, as the basic profile says (messages.md).
type subscribeOptions struct {
	match       wamp.Match
	getRetained bool
	nkey        string
}

func readSubscribeOptions(opts wamp.Dict) (subscribeOptions, error) {
	var o subscribeOptions
	if len(opts) == 0 {
		return o, nil
	}
	match, err := wamp.OptChoice(opts, "match", "exact", "exact", "prefix", "wildcard")
	if err != nil {
		return o, err
	}
	o.match, _ = wamp.ParseMatch(match)
	if o.getRetained, err = wamp.OptBool(opts, "get_retained", false); err != nil {
		return o, err
	}
	if o.nkey, err = wamp.OptString(opts, "nkey", ""); err != nil {
		return o, err
	}
	if _, present := opts["nkey"]; present && o.nkey == "" {
		return o, &wamp.OptionError{Key: "nkey", Reason: "must not be empty: it names the subscriber's node of a sharded subscription"}
	}
	return o, nil
}

func (b *broker) subscribe(s *Session, m *wamp.Subscribe) {
	o, err := readSubscribeOptions(m.Options)
	if err != nil {
		s.errorReply(wamp.TypeSubscribe, m.Request, wamp.ErrInvalidArgument, "SUBSCRIBE to %q: %v", m.Topic, err)
		return
	}
	if !wamp.ValidPattern(o.match, m.Topic, s.realm.strict) {
		s.errorReply(wamp.TypeSubscribe, m.Request, wamp.ErrInvalidURI,
			"topic %q is not a valid URI for %s matching", m.Topic, o.match)
		return
	}
	// Retained events are fetched before any broker lock is taken: the
	// retention store has its own lock and must not nest inside ours.
	// retaining is held until s is a subscriber, so that a retained
	// publication under way is either found retained or reaches s live
	// (realmHistory.retaining).
	var retained []retainedEvent
	var held *heldEvents
	var holding []*subscription // the subscriptions held holds the events of
	if o.getRetained {
		s.realm.hist.retaining.Lock()
		retained = s.realm.retainedEvents(o.match, m.Topic)
		if len(retained) > 0 {
			// The live events of every subscription of s are held
			// back while the retained events are sent, not only the
			// new one's: a publisher's events keep their order across
			// topics (catchUp).
			held = new(heldEvents)
			holding = s.holdEvents(held)
		}
	}
	meta := s.realm.meta != nil

	b.mu.Lock()
	sub, ok := b.subs.Get(o.match, m.Topic)
	if !ok {
		sub = &subscription{id: b.newID(s.realm.name, o.match, m.Topic), match: o.match, topic: m.Topic,
			created: time.Now().UnixNano(), subscribers: make(map[*Session]struct{}, 1)}
		b.subs.Put(o.match, m.Topic, sub)
		b.byID[sub.id] = sub
		if o.match != wamp.MatchExact {
			b.patterns++
		}
		if bb := b.router.cfg.Backbone; bb != nil {
			bb.Interest(s.realm.name, o.match, m.Topic, true)
		}
	}
	sub.mu.Lock()
	b.mu.Unlock()

	limit := b.router.cfg.Limits.Subscriptions
	s.mu.Lock()
	joined := s.state == stateEstablished
	added, refused := false, false
	if joined && !s.subs.has(sub.id) {
		if refused = s.subs.len() >= limit && !s.unlimited(); !refused {
			if s.subs == nil {
				s.subs = new(idSet[*subscription])
			}
			s.subs.add(sub)
			added = true
		}
	}
	s.mu.Unlock()
	if joined && !refused {
		sub.subscribers[s] = struct{}{}
		sub.setNkey(s, o.nkey)
		// SUBSCRIBED is queued while publishers are held off, so that no
		// live EVENT reaches the client before it. The live events that
		// come while the retained ones are sent, with no lock held, are
		// held back and sent after them (catchUp).
		err = s.peer.Send(&wamp.Subscribed{Request: m.Request, Subscription: sub.id})
		if err == nil {
			s.countSent(wamp.TypeSubscribed)
		}
		if err == nil && held != nil {
			sub.hold(s, held)
			holding = append(holding, sub)
		}
		if meta && added {
			if !sub.announced {
				sub.announced = true
				b.meta.add("wamp.subscription.on_create", uint64(s.id), sub.details())
			}
			b.meta.add("wamp.subscription.on_subscribe", uint64(s.id), uint64(sub.id))
		}
	}
	sub.mu.Unlock()
	if o.getRetained {
		s.realm.hist.retaining.Unlock()
	}
	if !joined || refused {
		b.detach(s, sub, nil) // drops the subscription if it was created for s alone
		if held != nil {
			s.catchUp(nil, nil, held, holding) // the other subscriptions' events
		}
		if refused {
			s.limitExceeded(wamp.TypeSubscribe, m.Request,
				"SUBSCRIBE to %q: the session holds %d subscriptions, the most the router allows a session", m.Topic, limit)
		}
		return
	}
	b.flushMeta(s.realm)
	if err != nil {
		s.sendFailed(wamp.TypeSubscribed, err)
		retained = nil
	}
	if held != nil {
		s.catchUp(sub, retained, held, holding)
	}
}

// holdEvents makes every subscription s holds hold back its live events
// for s in held, and returns them.
func (s *Session) holdEvents(held *heldEvents) []*subscription {
	s.mu.Lock()
	subs := make([]*subscription, 0, s.subs.len()+1)
	for sub := range s.subs.all() {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.mu.Lock()
		sub.hold(s, held)
		sub.mu.Unlock()
	}
	return subs
}

// hold makes sub hold back its live events for s in held. Called under
// sub.mu.
func (sub *subscription) hold(s *Session, held *heldEvents) {
	if sub.catchingUp == nil {
		sub.catchingUp = make(map[*Session]*heldEvents, 1)
	}
	sub.catchingUp[s] = held
}

// setNkey records (or, with "", forgets) the node key s subscribed with;
// the latest SUBSCRIBE of a session decides. In a cluster, a node key that
// comes to the subscription or leaves it is announced to the other nodes,
// which rank it with their own (Backbone.NodeKey). Called under sub.mu.
func (sub *subscription) setNkey(s *Session, nkey string) {
	old, had := sub.nkeys[s]
	if had && old == nkey || !had && nkey == "" {
		return
	}
	if nkey == "" {
		delete(sub.nkeys, s)
	} else {
		if sub.nkeys == nil {
			sub.nkeys = make(map[*Session]string, 1)
		}
		sub.nkeys[s] = nkey
	}
	bb := s.router.cfg.Backbone
	if bb == nil {
		return
	}
	if had && !sub.hasNkey(old) {
		bb.NodeKey(s.realm.name, sub.match, sub.topic, old, false)
	}
	if nkey != "" && sub.nkeyCount(nkey) == 1 {
		bb.NodeKey(s.realm.name, sub.match, sub.topic, nkey, true)
	}
}

// nkeyCount counts the subscribers of sub with node key nkey; hasNkey says
// whether there is one. Called under sub.mu.
func (sub *subscription) nkeyCount(nkey string) int {
	n := 0
	for _, k := range sub.nkeys {
		if k == nkey {
			n++
		}
	}
	return n
}

func (sub *subscription) hasNkey(nkey string) bool { return sub.nkeyCount(nkey) > 0 }

// Bounds of what a SUBSCRIBE with get_retained sends and holds back.
const (
	// maxRetainedSent is the most retained events one SUBSCRIBE is sent:
	// the most recent ones, when a pattern matches more topics that have
	// one (a realm keeps up to maxRetained).
	maxRetainedSent = 1000
	// maxHeldEvents and maxHeldBytes (raw payload) bound the live events
	// held back for a subscriber while its retained events are sent;
	// those past them are dropped as if its outbound queue were full.
	maxHeldEvents = 1024
	maxHeldBytes  = 4 << 20
)

// heldEvents are the live events held back for one subscriber, from all
// of its subscriptions, while it is sent the retained events of a new
// one. Fan-outs hold their subscription's read lock, and several add at
// once: mu orders them. Once done (sent), hold refuses, and the fan-out
// sends the event itself.
type heldEvents struct {
	mu      sync.Mutex
	events  []*wamp.Event // payloads owned: the publisher's buffer is reused
	bytes   int
	dropped int
	done    bool
}

// hold keeps ev to be sent later, or drops it past the bounds; it reports
// false, keeping nothing, once the held events were sent.
func (h *heldEvents) hold(ev wamp.Message) bool {
	e := *wamp.Unwrap(ev).(*wamp.Event)
	e.Payload.Own()
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.done:
		return false
	case len(h.events) >= maxHeldEvents || h.bytes+e.Payload.Size() > maxHeldBytes:
		h.dropped++
	default:
		h.events = append(h.events, &e)
		h.bytes += e.Payload.Size()
	}
	return true
}

// catchUp sends s, which has just subscribed to sub, the retained events
// it asked for, with no broker lock held: there may be many, and
// publishers must not wait for them. Meanwhile the live events of all of
// s's subscriptions (holding) were held back (held): they follow, in the
// order they came, so that none overtakes a retained event and a
// publisher's events keep their order whatever their topics (the
// ordering guarantee is per publisher and subscriber). Each event goes
// under s's own lock while s is established and holds its subscription,
// so that none follows the GOODBYE of a router that says goodbye to s
// (kill and shutdown set its state under that lock before they say it),
// nor the UNSUBSCRIBED of a revocation (which takes the subscription out
// of s under that lock before it says it). sub is nil when the
// subscription failed: only the held events are sent.
func (s *Session) catchUp(sub *subscription, evs []retainedEvent, held *heldEvents, holding []*subscription) {
	var failed []failedSend
	for i := range evs {
		ev := &evs[i]
		if ev.details["ppt_scheme"] != nil && !s.features.has(subscriber, featPayloadPassthruMode) {
			continue // see fanout: passthru payloads only go to subscribers that announced the mode
		}
		if sub.match != wamp.MatchExact {
			ev.details["topic"] = string(ev.topic) // details are the caller's own (retainedEvents)
		}
		sent, err := s.sendEvent(&wamp.Event{Subscription: sub.id, Publication: ev.publication, Details: ev.details, Payload: ev.payload})
		if err != nil {
			failed = append(failed, failedSend{s, err})
		}
		if !sent {
			break // the router said GOODBYE, s is gone or no longer subscribed
		}
	}
	held.mu.Lock()
	for _, ev := range held.events {
		if _, err := s.sendEvent(ev); err != nil {
			failed = append(failed, failedSend{s, err})
			break
		}
	}
	held.done = true
	held.events = nil
	dropped := held.dropped
	held.mu.Unlock()
	for _, sub := range holding {
		sub.mu.Lock()
		if sub.catchingUp[s] == held { // else s left the subscription meanwhile
			delete(sub.catchingUp, s)
			if len(sub.catchingUp) == 0 {
				sub.catchingUp = nil
			}
		}
		sub.mu.Unlock()
	}
	for range dropped {
		failed = append(failed, failedSend{s, ErrQueueFull})
	}
	for _, f := range failed {
		f.session.eventFailed(f.err)
	}
}

// sendEvent sends ev to s if s is established and holds ev's
// subscription, under s's lock (catchUp). sent is false when it did not
// go: s is leaving, no longer subscribed, or err.
func (s *Session) sendEvent(ev *wamp.Event) (sent bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateEstablished || !s.subs.has(ev.Subscription) {
		return false, nil
	}
	if err = s.peer.Send(ev); err != nil {
		return false, err
	}
	s.countSent(wamp.TypeEvent)
	return true, nil
}

func (b *broker) unsubscribe(s *Session, m *wamp.Unsubscribe) {
	s.mu.Lock()
	sub := s.subs.remove(m.Subscription)
	s.mu.Unlock()
	if sub == nil {
		s.errorReply(wamp.TypeUnsubscribe, m.Request, wamp.ErrNoSuchSubscription,
			"subscription %d is not active on this session", m.Subscription)
		return
	}
	if err := b.detach(s, sub, &wamp.Unsubscribed{Request: m.Request}); err != nil {
		s.sendFailed(wamp.TypeUnsubscribed, err)
	}
}

// remove takes s off sub (s is leaving) and drops sub when it was the last
// subscriber.
func (b *broker) remove(s *Session, sub *subscription) { b.detach(s, sub, nil) }

// detach takes s off sub, drops sub when it was the last subscriber, sends
// s the reply (UNSUBSCRIBED) if there is one, and then publishes the meta
// events. It returns the reply's Send error for the caller to act on once
// no lock is held.
func (b *broker) detach(s *Session, sub *subscription, reply wamp.Message) error {
	var err error
	b.mu.Lock()
	sub.mu.Lock()
	_, was := sub.subscribers[s]
	delete(sub.subscribers, s)
	sub.setNkey(s, "")
	if sub.catchingUp != nil {
		delete(sub.catchingUp, s)
	}
	deleted := false
	if len(sub.subscribers) == 0 {
		if cur, ok := b.subs.Get(sub.match, sub.topic); ok && cur == sub {
			b.subs.Delete(sub.match, sub.topic)
			delete(b.byID, sub.id)
			if sub.match != wamp.MatchExact {
				b.patterns--
			}
			deleted = true
			if bb := b.router.cfg.Backbone; bb != nil {
				bb.Interest(s.realm.name, sub.match, sub.topic, false)
			}
		}
	}
	if reply != nil {
		// A revocation's comes from an admin's goroutine: not after the
		// GOODBYE of a kill or of the session's leave (sendAnswer).
		if err = s.sendAnswer(reply); err == nil {
			s.countSent(reply.Type())
		}
	}
	// Queued under the locks, so that they keep the order of the changes;
	// a subscription created again for the topic comes after on_delete.
	meta := s.realm.meta != nil
	if meta && was && sub.announced {
		b.meta.add("wamp.subscription.on_unsubscribe", uint64(s.id), uint64(sub.id))
	}
	if meta && deleted && sub.announced {
		b.meta.add("wamp.subscription.on_delete", uint64(s.id), uint64(sub.id))
	}
	sub.mu.Unlock()
	b.mu.Unlock()
	if meta {
		b.flushMeta(s.realm)
	}
	return err
}

// subscriptionByID returns the match policy and topic (or pattern) of
// subscription id, for the event history's meta procedures.
func (b *broker) subscriptionByID(id wamp.ID) (match wamp.Match, pattern wamp.URI, ok bool) {
	b.mu.RLock()
	sub := b.byID[id]
	b.mu.RUnlock()
	if sub == nil {
		return wamp.MatchExact, "", false
	}
	return sub.match, sub.topic, true
}

// matching appends to dst the subscriptions whose pattern matches topic.
func (b *broker) matching(topic wamp.URI, dst []*subscription) []*subscription {
	b.mu.RLock()
	if b.patterns == 0 {
		if sub, ok := b.subs.Get(wamp.MatchExact, topic); ok {
			dst = append(dst, sub)
		}
	} else {
		b.subs.Matching(topic, func(_ wamp.Match, _ wamp.URI, sub *subscription) bool {
			dst = append(dst, sub)
			return true
		})
	}
	b.mu.RUnlock()
	return dst
}

func (b *broker) publish(s *Session, m *wamp.Publish) {
	o := publishOptions{excludeMe: true}
	if len(m.Options) > 0 && !o.read(s, m) {
		return
	}
	if o.rkey != "" {
		o.realm = s.realm.name
	}
	if !wamp.ValidURI(m.Topic, s.realm.strict, false) {
		o.refuse(s, m, wamp.ErrInvalidURI, "topic %q is not a valid URI", m.Topic)
		return
	}
	if wamp.Reserved(m.Topic) && !s.unlimited() {
		// The meta events are the router's: their subscribers trust them
		// as they trust the router (meta_api.md), so no client forges one.
		o.refuse(s, m, wamp.ErrInvalidURI, "topic %q is reserved: the wamp.* topics are published by the router alone", m.Topic)
		return
	}
	details, ok := o.eventDetails(s, m)
	if !ok {
		return
	}
	pubID := wamp.GlobalID()
	// An acknowledged publication to a topic with history goes to the
	// history first: PUBLISHED promises that it is kept, so it is sent
	// once the history writer has it on disk (durableAck), and one the
	// history cannot take is refused before anyone receives it.
	var durable *durableAck
	if o.ack {
		var err error
		if durable, err = s.realm.appendAcknowledged(s, m, pubID, details); err != nil {
			o.refuseUnkept(s, m, err)
			return
		}
	}
	// A restricted publication is not retained: retainedEvents cannot tell
	// which later subscriber would have been eligible, and the
	// specification forbids sending a retained event to one that would
	// not (a broker MAY decline to retain).
	retain := o.retain && !o.restricted
	if retain {
		// From the fan-out until retained: no get_retained SUBSCRIBE
		// reads the event this one replaces and then joins after the
		// fan-out has passed (realmHistory.retaining).
		s.realm.hist.retaining.RLock()
	}
	failed := b.deliver(s, m.Topic, pubID, details, m.Payload, &o)
	b.forward(s.realm, m.Topic, pubID, details, m.Payload, &o, m.Options)
	// Retained before PUBLISHED goes: a publisher that waits for it and
	// then subscribes with get_retained (or tells another session to)
	// must get this publication, not the one it replaced.
	s.realm.recordPublication(s, m, pubID, details, retain, durable != nil)
	if retain {
		s.realm.hist.retaining.RUnlock()
	}
	// Applied outside the locks: a disconnect removes the subscriber.
	for _, f := range failed {
		f.session.eventFailed(f.err)
	}
	switch {
	case durable != nil:
		durable.done()
	case o.ack:
		ack := publishedPool.Get().(*wamp.Published)
		*ack = wamp.Published{Request: m.Request, Publication: pubID}
		s.send(ack)
		publishedPool.Put(ack)
	}
}

// fanout sends the event to the subscribers of every subscription matching
// topic; publisher is nil for meta events.
func (b *broker) fanout(publisher *Session, topic wamp.URI, pubID wamp.ID, details wamp.Dict, payload wamp.Payload, o *publishOptions) {
	// Applied outside the locks: a disconnect removes the subscriber.
	for _, f := range b.deliver(publisher, topic, pubID, details, payload, o) {
		f.session.eventFailed(f.err)
	}
}

// deliver is fanout but for the failed sends, which it returns for the
// caller to apply (eventFailed) once it holds no lock: the end of a
// session dropped as a slow consumer publishes (its testaments, on_leave).
func (b *broker) deliver(publisher *Session, topic wamp.URI, pubID wamp.ID, details wamp.Dict, payload wamp.Payload, o *publishOptions) []failedSend {
	var buf [4]*subscription
	subs := b.matching(topic, buf[:0])
	var failed []failedSend
	sent := 0
	bb := b.router.cfg.Backbone
	for _, sub := range subs {
		d := details
		if sub.match != wamp.MatchExact {
			// The concrete topic, which the subscriber of a pattern
			// cannot know otherwise.
			d = make(wamp.Dict, len(details)+1)
			for k, v := range details {
				d[k] = v
			}
			d["topic"] = string(topic)
		}
		ev := wamp.NewShared(&wamp.Event{Subscription: sub.id, Publication: pubID, Details: d, Payload: payload})
		var n int
		failed, n = sub.deliver(publisher, ev, o, bb, failed)
		sent += n
	}
	if sent > 0 {
		// Counted once per publication, in the publisher's shard (a meta
		// event's, which has none, in one picked by its id).
		shard := shardOf(int(pubID))
		if publisher != nil {
			shard = publisher.shard
		}
		b.router.stats.msgs[shard].sent[msgSlot[wamp.TypeEvent]].Add(uint64(sent))
	}
	return failed
}

// deliver sends ev to the subscribers of sub that o admits, and returns
// the failures and how many were sent; bb is the cluster, if any.
func (sub *subscription) deliver(publisher *Session, ev wamp.Message, o *publishOptions, bb Backbone, failed []failedSend) ([]failedSend, int) {
	sub.mu.RLock()
	sent := 0
	var shard string
	sharded := o.rkey != "" && len(sub.nkeys) > 0
	if sharded {
		shard = sub.shard(o.rkey, o.realm, bb)
	}
	catchingUp := sub.catchingUp
	for target := range sub.subscribers {
		if target == publisher && o.excludeMe {
			continue
		}
		if o.filtered && !o.admits(target) {
			continue
		}
		if sharded {
			if nkey, ok := sub.nkeys[target]; ok && nkey != shard {
				continue
			}
		}
		if catchingUp != nil {
			if h := catchingUp[target]; h != nil && h.hold(ev) {
				continue // sent after the target's retained events
			}
		}
		if err := target.peer.Send(ev); err != nil {
			failed = append(failed, failedSend{target, err})
			continue
		}
		sent++
	}
	sub.mu.RUnlock()
	return failed, sent
}

// publishMeta sends a meta event, published by the router itself, to the
// subscriptions matching topic, patterns included. It has no publisher, so
// none is excluded or disclosed.
func (b *broker) publishMeta(rl *realm, topic wamp.URI, payload wamp.Payload) {
	o := publishOptions{}
	pubID := wamp.GlobalID()
	b.fanout(nil, topic, pubID, nil, payload, &o)
	b.forward(rl, topic, pubID, nil, payload, &o, nil)
}

// newID returns the id of a new subscription (match, topic) of the realm:
// the next of the router's sequence on a single node, the same on every
// node in a cluster (clusterID). Called under b.mu.
func (b *broker) newID(realm wamp.URI, match wamp.Match, topic wamp.URI) wamp.ID {
	if b.router.cfg.Backbone == nil {
		return b.router.subIDs.Next()
	}
	return clusterID(realm, match, topic, func(id wamp.ID) bool { _, taken := b.byID[id]; return taken })
}

// details is the SubscriptionDetails of the meta API.
func (sub *subscription) details() wamp.Dict {
	return wamp.Dict{
		"id":      uint64(sub.id),
		"created": time.Unix(0, sub.created).UTC().Format("2006-01-02T15:04:05.000Z"),
		"uri":     string(sub.topic),
		"match":   sub.match.String(),
	}
}

type failedSend struct {
	session *Session
	err     error
}

// eventFailed applies the slow-consumer policy to an EVENT that could not be
// queued for s; one whose payload s's serializer cannot carry is a loss of
// its own kind (eventLost).
func (s *Session) eventFailed(err error) {
	if errors.Is(err, ErrClosed) {
		return
	}
	if !errors.Is(err, ErrQueueFull) && !errors.Is(err, ErrTooLarge) {
		s.eventLost(err) // invalid.go: a payload this serializer cannot carry
		return
	}
	if errors.Is(err, ErrQueueFull) && s.router.cfg.SlowConsumer == Disconnect {
		s.sendFailed(wamp.TypeEvent, err)
		return
	}
	s.router.stats.EventsDropped.Add(1)
	s.mu.Lock()
	first := !s.warned
	s.warned = true
	s.mu.Unlock()
	if first {
		s.logger().Warn("dropping events for a slow or unsuitable subscriber", "err", err)
	}
}

func (sub *subscription) ident() wamp.ID { return sub.id }
