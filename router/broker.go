package router

import (
	"errors"
	"sync"

	"github.com/junction-wamp/junction/wamp"
)

// broker routes PUBLISH to the subscribers of a topic. One subscription id
// stands for a topic and is shared by all of its subscribers.
type broker struct {
	router *Router

	mu     sync.RWMutex // guards topics and byID
	topics map[wamp.URI]*subscription
	byID   map[wamp.ID]*subscription
}

type subscription struct {
	id    wamp.ID // router scope
	topic wamp.URI

	mu          sync.RWMutex
	subscribers map[*Session]struct{}
}

// brokerFeatures is what WELCOME announces for the broker role.
func brokerFeatures() wamp.Dict {
	return wamp.Dict{
		"publisher_exclusion":      true,
		"publisher_identification": true,
	}
}

func (b *broker) init(r *Router) {
	b.router = r
	b.topics = make(map[wamp.URI]*subscription)
	b.byID = make(map[wamp.ID]*subscription)
}

func (b *broker) subscribe(s *Session, m *wamp.Subscribe) {
	if match := wamp.String(m.Options, "match"); match != "" && match != "exact" {
		s.errorReply(wamp.TypeSubscribe, m.Request, wamp.ErrOptionNotAllowed,
			"match %q: only exact topic matching is supported", match)
		return
	}
	if !s.checkURI(wamp.TypeSubscribe, m.Request, m.Topic, "topic") {
		return
	}
	b.mu.Lock()
	sub := b.topics[m.Topic]
	if sub == nil {
		sub = &subscription{id: b.router.subIDs.Next(), topic: m.Topic, subscribers: make(map[*Session]struct{}, 1)}
		b.topics[m.Topic] = sub
		b.byID[sub.id] = sub
	}
	sub.mu.Lock()
	b.mu.Unlock()

	s.mu.Lock()
	joined := s.state == stateEstablished
	if joined {
		if indexOf(s.subs, sub.id) < 0 {
			s.subs = append(s.subs, sub)
		}
	}
	s.mu.Unlock()
	if joined {
		sub.subscribers[s] = struct{}{}
	}
	// SUBSCRIBED is queued while publishers are held off, so that no EVENT
	// for the subscription can reach the client before it.
	var err error
	if joined {
		err = s.peer.Send(&wamp.Subscribed{Request: m.Request, Subscription: sub.id})
	}
	sub.mu.Unlock()
	if !joined {
		b.remove(s, sub) // drops the subscription if it was created for s alone
		return
	}
	if err != nil {
		s.sendFailed(wamp.TypeSubscribed, err)
	}
}

func (b *broker) unsubscribe(s *Session, m *wamp.Unsubscribe) {
	s.mu.Lock()
	var sub *subscription
	s.subs, sub = removeID(s.subs, m.Subscription)
	s.mu.Unlock()
	if sub == nil {
		s.errorReply(wamp.TypeUnsubscribe, m.Request, wamp.ErrNoSuchSubscription,
			"subscription %d is not active on this session", m.Subscription)
		return
	}
	b.remove(s, sub)
	s.send(&wamp.Unsubscribed{Request: m.Request})
}

// remove takes s off sub and drops sub when it was the last subscriber.
func (b *broker) remove(s *Session, sub *subscription) {
	b.mu.Lock()
	sub.mu.Lock()
	delete(sub.subscribers, s)
	empty := len(sub.subscribers) == 0
	sub.mu.Unlock()
	if empty && b.topics[sub.topic] == sub {
		delete(b.topics, sub.topic)
		delete(b.byID, sub.id)
	}
	b.mu.Unlock()
}

func (b *broker) publish(s *Session, m *wamp.Publish) {
	ack := wamp.Bool(m.Options, "acknowledge", false)
	if !wamp.ValidURI(m.Topic, s.realm.strict, false) {
		if ack {
			s.errorReply(wamp.TypePublish, m.Request, wamp.ErrInvalidURI, "topic %q is not a valid URI", m.Topic)
		}
		return
	}
	pubID := wamp.GlobalID()

	b.mu.RLock()
	sub := b.topics[m.Topic]
	b.mu.RUnlock()
	if sub != nil {
		var details wamp.Dict
		if wamp.Bool(m.Options, "disclose_me", false) {
			details = wamp.Dict{"publisher": uint64(s.id), "publisher_authid": s.authid, "publisher_authrole": s.authrole}
		}
		ev := wamp.NewShared(&wamp.Event{Subscription: sub.id, Publication: pubID, Details: details, Payload: m.Payload})
		excludeMe := wamp.Bool(m.Options, "exclude_me", true)

		var failed []failedSend
		sub.mu.RLock()
		for target := range sub.subscribers {
			if target == s && excludeMe {
				continue
			}
			if err := target.peer.Send(ev); err != nil {
				failed = append(failed, failedSend{target, err})
			}
		}
		sub.mu.RUnlock()
		// Applied outside the lock: a disconnect removes the subscriber.
		for _, f := range failed {
			f.session.eventFailed(f.err)
		}
	}
	if ack {
		ack := publishedPool.Get().(*wamp.Published)
		*ack = wamp.Published{Request: m.Request, Publication: pubID}
		s.send(ack)
		publishedPool.Put(ack)
	}
}

// publishMeta sends a meta event, published by the router itself, to the
// subscribers of topic.
func (b *broker) publishMeta(topic wamp.URI, payload wamp.Payload) {
	b.mu.RLock()
	sub := b.topics[topic]
	b.mu.RUnlock()
	if sub == nil {
		return
	}
	ev := wamp.NewShared(&wamp.Event{Subscription: sub.id, Publication: wamp.GlobalID(), Payload: payload})
	var failed []failedSend
	sub.mu.RLock()
	for target := range sub.subscribers {
		if err := target.peer.Send(ev); err != nil {
			failed = append(failed, failedSend{target, err})
		}
	}
	sub.mu.RUnlock()
	for _, f := range failed {
		f.session.eventFailed(f.err)
	}
}

type failedSend struct {
	session *Session
	err     error
}

// eventFailed applies the slow-consumer policy to an EVENT that could not be
// queued for s.
func (s *Session) eventFailed(err error) {
	if errors.Is(err, ErrClosed) {
		return
	}
	if errors.Is(err, ErrQueueFull) && s.router.cfg.SlowConsumer == Disconnect {
		s.sendFailed(wamp.TypeEvent, err)
		return
	}
	s.router.stats.EventsDropped.Add(1)
	s.mu.Lock()
	s.droppedEvents++
	first := s.droppedEvents == 1
	s.mu.Unlock()
	if first {
		s.logger().Warn("dropping events for a slow or unsuitable subscriber", "err", err)
	}
}

func (sub *subscription) ident() wamp.ID { return sub.id }
