package router

import (
	"sync"

	"github.com/junction-wamp/junction/wamp"
)

// Subscription meta API (meta_api_subscriptions.md): wamp.subscription.*
// procedures and events, and wamp.subscription.remove_subscriber, which
// revokes a subscription (pubsub_subscription_revocation.md; the
// specification names no procedure for it, this is Crossbar.io's).

func (rl *realm) addSubscriptionMeta(procs map[wamp.URI]metaProcedure) {
	b := &rl.broker
	procs["wamp.subscription.list"] = b.metaList
	procs["wamp.subscription.lookup"] = b.metaLookup
	procs["wamp.subscription.match"] = b.metaMatch
	procs["wamp.subscription.get"] = b.metaGet
	procs["wamp.subscription.list_subscribers"] = b.metaListSubscribers
	procs["wamp.subscription.count_subscribers"] = b.metaCountSubscribers
	procs["wamp.subscription.remove_subscriber"] = rl.subscriptionRemoveSubscriber
}

// metaList answers wamp.subscription.list() with the subscription ids by
// match policy.
func (b *broker) metaList(c *metaCall) (wamp.Payload, error) {
	lists := map[wamp.Match]wamp.List{wamp.MatchExact: {}, wamp.MatchPrefix: {}, wamp.MatchWildcard: {}}
	b.mu.RLock()
	b.subs.Each(func(m wamp.Match, _ wamp.URI, sub *subscription) bool {
		lists[m] = append(lists[m], uint64(sub.id))
		return true
	})
	b.mu.RUnlock()
	return result(wamp.Dict{
		"exact":    lists[wamp.MatchExact],
		"prefix":   lists[wamp.MatchPrefix],
		"wildcard": lists[wamp.MatchWildcard],
	}), nil
}

// metaLookup answers wamp.subscription.lookup(topic, options) with the id
// of the subscription to topic under options.match (exact by default), or
// null.
func (b *broker) metaLookup(c *metaCall) (wamp.Payload, error) {
	m, topic, err := c.patternArgs("the topic")
	if err != nil {
		return wamp.Payload{}, err
	}
	b.mu.RLock()
	sub, ok := b.subs.Get(m, topic)
	b.mu.RUnlock()
	if !ok {
		return result(nil), nil
	}
	return result(uint64(sub.id)), nil
}

// metaMatch answers wamp.subscription.match(topic) with the ids of all the
// subscriptions that match topic, or null when none does.
func (b *broker) metaMatch(c *metaCall) (wamp.Payload, error) {
	topic, err := c.stringArg(0, "the topic")
	if err != nil {
		return wamp.Payload{}, err
	}
	var ids wamp.List
	for _, sub := range b.matching(wamp.URI(topic), nil) {
		ids = append(ids, uint64(sub.id))
	}
	if ids == nil {
		return result(nil), nil
	}
	return result(ids), nil
}

// subscriptionArg returns the subscription whose id is argument i.
func (b *broker) subscriptionArg(c *metaCall, i int) (*subscription, error) {
	id, err := c.idArg(i, "a subscription id")
	if err != nil {
		return nil, err
	}
	b.mu.RLock()
	sub := b.byID[id]
	b.mu.RUnlock()
	if sub == nil {
		return nil, callErrorf(wamp.ErrNoSuchSubscription, "%s: no subscription %d in this realm", c.call.Procedure, id)
	}
	return sub, nil
}

// metaGet answers wamp.subscription.get(subscription) with its
// SubscriptionDetails.
func (b *broker) metaGet(c *metaCall) (wamp.Payload, error) {
	sub, err := b.subscriptionArg(c, 0)
	if err != nil {
		return wamp.Payload{}, err
	}
	return result(sub.details()), nil
}

// metaListSubscribers answers wamp.subscription.list_subscribers(subscription)
// with the ids of its sessions.
func (b *broker) metaListSubscribers(c *metaCall) (wamp.Payload, error) {
	sub, err := b.subscriptionArg(c, 0)
	if err != nil {
		return wamp.Payload{}, err
	}
	sub.mu.RLock()
	ids := make(wamp.List, 0, len(sub.subscribers))
	for s := range sub.subscribers {
		ids = append(ids, uint64(s.id))
	}
	sub.mu.RUnlock()
	return result(ids), nil
}

// metaCountSubscribers answers wamp.subscription.count_subscribers(subscription).
func (b *broker) metaCountSubscribers(c *metaCall) (wamp.Payload, error) {
	sub, err := b.subscriptionArg(c, 0)
	if err != nil {
		return wamp.Payload{}, err
	}
	sub.mu.RLock()
	n := len(sub.subscribers)
	sub.mu.RUnlock()
	return result(n), nil
}

// metaRemoveSubscriber answers wamp.subscription.remove_subscriber(
// subscription, session, reason) (reason optional, also as keyword
// argument): it revokes the session's subscription. The session is told
// with [UNSUBSCRIBED, 0, {subscription, reason}] only when it announced
// subscription_revocation; either way on_unsubscribe (and on_delete) are
// published.
//
// A session that exists but is not subscribed answers
// no_such_subscription, one that does not exist no_such_session: as
// Crossbar.io answers, and as wamp.registration.remove_callee does.
func (rl *realm) subscriptionRemoveSubscriber(c *metaCall) (wamp.Payload, error) {
	b := &rl.broker
	sub, err := b.subscriptionArg(c, 0)
	if err != nil {
		return wamp.Payload{}, err
	}
	sid, err := c.idArg(1, "a session id")
	if err != nil {
		return wamp.Payload{}, err
	}
	reason, present := c.kwargs["reason"]
	if len(c.args) > 2 {
		reason, present = c.args[2], true
	}
	why, ok := reason.(string)
	if present && reason != nil && !ok {
		return wamp.Payload{}, callErrorf(wamp.ErrInvalidArgument, "%s: the reason must be a string", c.call.Procedure)
	}

	var target *Session
	sub.mu.RLock()
	for s := range sub.subscribers {
		if s.id == sid {
			target = s
			break
		}
	}
	sub.mu.RUnlock()
	var taken *subscription
	if target != nil {
		target.mu.Lock()
		taken = target.subs.remove(sub.id)
		target.mu.Unlock()
	}
	if taken == nil {
		rl.mu.RLock()
		_, exists := rl.sessions[sid]
		rl.mu.RUnlock()
		if !exists {
			return wamp.Payload{}, callErrorf(wamp.ErrNoSuchSession, "%s: no session %d in this realm", c.call.Procedure, sid)
		}
		return wamp.Payload{}, callErrorf(wamp.ErrNoSuchSubscription, "%s: session %d is not subscribed to subscription %d", c.call.Procedure, sid, sub.id)
	}
	var notice wamp.Message
	if target.features.has(subscriber, featSubscriptionRevocation) {
		d := wamp.Dict{"subscription": uint64(sub.id)}
		if why != "" {
			d["reason"] = why
		}
		notice = &wamp.Unsubscribed{Request: 0, Details: d}
	}
	if err := b.detach(target, taken, notice); err != nil {
		target.sendFailed(wamp.TypeUnsubscribed, err)
	}
	return wamp.Payload{}, nil
}

// metaQueue holds the subscription meta events in the order of the changes
// they report. They are queued under the broker's locks, right after the
// change (and after the SUBSCRIBED or UNSUBSCRIBED that goes with it), and
// published once no lock is held: so on_create always comes before the
// subscription's on_subscribe events, on_delete after the last
// on_unsubscribe, even when sessions subscribe and leave at once. A realm
// has one, the broker's: the dealer queues its registration meta events
// there too, and a session's on_leave follows them all.
type metaQueue struct {
	mu       sync.Mutex
	pending  []metaEvent
	flushing bool // a goroutine is publishing the queue
}

type metaEvent struct {
	topic wamp.URI
	args  wamp.List
}

func (q *metaQueue) add(topic wamp.URI, args ...any) {
	q.mu.Lock()
	q.pending = append(q.pending, metaEvent{topic, args})
	q.mu.Unlock()
}

// flushMeta publishes the queued meta events. One goroutine publishes at a
// time, in order; one that finds another at work leaves its events to it.
// That includes a goroutine that reenters through a slow subscriber of a
// meta event being disconnected, so the flush never waits on itself.
func (b *broker) flushMeta(rl *realm) { b.meta.flush(rl) }

// flush publishes q's events in rl (see broker.flushMeta); the dealer's
// registration events go the same way.
func (q *metaQueue) flush(rl *realm) {
	for {
		q.mu.Lock()
		if q.flushing || len(q.pending) == 0 {
			q.mu.Unlock()
			return
		}
		evs := q.pending
		q.pending = nil
		q.flushing = true
		q.mu.Unlock()
		for _, e := range evs {
			rl.metaEvent(e.topic, e.args...)
		}
		q.mu.Lock()
		q.flushing = false
		q.mu.Unlock()
	}
}
