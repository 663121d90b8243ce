package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// Event is one event delivered to a subscription.
type Event struct {
	Subscription wamp.ID
	Publication  wamp.ID
	Details      wamp.Dict
	Args         wamp.List
	Kwargs       wamp.Dict
	// Raw is the payload as it arrived, in the session's serialization.
	Raw wamp.Payload
}

// Publish publishes an event to topic. With opts {"acknowledge": true} it
// waits for the router's answer and returns the publication id (or the
// router's *Error); otherwise it returns 0 once the event is queued.
func (s *Session) Publish(ctx context.Context, topic string, args wamp.List, kwargs wamp.Dict, opts wamp.Dict) (wamp.ID, error) {
	id := s.reqIDs.Next()
	m := &wamp.Publish{Request: id, Options: opts, Topic: wamp.URI(topic),
		Payload: wamp.Payload{Args: args, Kwargs: kwargs}}
	if !wamp.Bool(opts, "acknowledge", false) {
		if err := s.send(ctx, m, normal); err != nil {
			return 0, fmt.Errorf("publishing to %s: %w", topic, err)
		}
		return 0, nil
	}
	r, err := s.request(ctx, id, m, nil)
	if err != nil {
		return 0, fmt.Errorf("publishing to %s: %w", topic, err)
	}
	switch r := r.(type) {
	case *wamp.Published:
		return r.Publication, nil
	case *wamp.Error:
		return 0, wampError(r)
	}
	return 0, fmt.Errorf("publishing to %s: unexpected answer %s", topic, r.Type())
}

// Subscription is one Subscribe call's handler on a topic. Events reach the
// handler in the order the router sent them, on a goroutine of the
// subscription's own, so the handler may block without holding up the
// session; events queue meanwhile.
type Subscription struct {
	s       *Session
	id      wamp.ID
	topic   string
	handler func(*Event)
	stopped atomic.Bool

	mu      sync.Mutex
	queue   []*wamp.Event
	running bool
}

// ID returns the router's subscription id. Subscriptions of one session to
// the same topic share it.
func (sub *Subscription) ID() wamp.ID { return sub.id }

// Topic returns the topic subscribed to.
func (sub *Subscription) Topic() string { return sub.topic }

// Subscribe subscribes handler to topic. opts are SUBSCRIBE.Options (nil for
// none). Events published after Subscribe returns reach the handler.
func (s *Session) Subscribe(ctx context.Context, topic string, handler func(*Event), opts wamp.Dict) (*Subscription, error) {
	if handler == nil {
		return nil, errors.New("subscribing: nil handler")
	}
	sub := &Subscription{s: s, topic: topic, handler: handler}
	id := s.reqIDs.Next()
	r, err := s.request(ctx, id, &wamp.Subscribe{Request: id, Options: opts, Topic: wamp.URI(topic)},
		func(m wamp.Message) {
			if ok, _ := m.(*wamp.Subscribed); ok != nil {
				sub.id = ok.Subscription
				s.mu.Lock()
				if s.subs == nil {
					s.subs = make(map[wamp.ID][]*Subscription, 1)
				}
				s.subs[sub.id] = append(slices.Clip(s.subs[sub.id]), sub)
				s.mu.Unlock()
			}
		})
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", topic, err)
	}
	switch r := r.(type) {
	case *wamp.Subscribed:
		return sub, nil
	case *wamp.Error:
		return nil, wampError(r)
	}
	return nil, fmt.Errorf("subscribing to %s: unexpected answer %s", topic, r.Type())
}

// Unsubscribe stops the handler; events already queued for it are dropped.
// The router is told when this was the session's last handler on the topic.
func (sub *Subscription) Unsubscribe(ctx context.Context) error {
	s := sub.s
	if sub.stopped.Swap(true) {
		return nil
	}
	s.mu.Lock()
	list := s.subs[sub.id]
	i := slices.Index(list, sub)
	last := false
	if i >= 0 {
		list = slices.Delete(slices.Clone(list), i, i+1)
		if len(list) == 0 {
			delete(s.subs, sub.id)
			last = true
		} else {
			s.subs[sub.id] = list
		}
	}
	s.mu.Unlock()
	if !last {
		return nil
	}
	id := s.reqIDs.Next()
	r, err := s.request(ctx, id, &wamp.Unsubscribe{Request: id, Subscription: sub.id}, nil)
	if err != nil {
		return fmt.Errorf("unsubscribing from %s: %w", sub.topic, err)
	}
	if e, ok := r.(*wamp.Error); ok {
		return wampError(e)
	}
	return nil
}

// event hands an EVENT to the subscription's handlers (reading goroutine).
func (s *Session) event(m *wamp.Event) {
	s.mu.Lock()
	list := s.subs[m.Subscription]
	s.mu.Unlock()
	if len(list) == 0 {
		s.log.Debug("event for an unknown subscription", "subscription", uint64(m.Subscription))
		return
	}
	for _, sub := range list {
		sub.deliver(m)
	}
}

func (sub *Subscription) deliver(m *wamp.Event) {
	sub.mu.Lock()
	sub.queue = append(sub.queue, m)
	if sub.running {
		sub.mu.Unlock()
		return
	}
	sub.running = true
	sub.mu.Unlock()
	sub.s.wg.Add(1)
	go sub.run()
}

// run delivers queued events until the queue is empty.
func (sub *Subscription) run() {
	defer sub.s.wg.Done()
	var batch []*wamp.Event
	for {
		sub.mu.Lock()
		if len(sub.queue) == 0 {
			sub.running = false
			sub.queue = nil
			sub.mu.Unlock()
			return
		}
		batch, sub.queue = sub.queue, batch[:0]
		sub.mu.Unlock()
		for i, m := range batch {
			batch[i] = nil
			if sub.stopped.Load() {
				continue
			}
			args, kwargs, err := codec.DecodePayload(&m.Payload)
			if err != nil {
				sub.s.log.Warn("dropping an event whose arguments do not decode",
					"topic", sub.topic, "publication", uint64(m.Publication), "err", err)
				continue
			}
			sub.handler(&Event{Subscription: m.Subscription, Publication: m.Publication,
				Details: m.Details, Args: args, Kwargs: kwargs, Raw: m.Payload})
		}
	}
}

// revokeSubscription handles [UNSUBSCRIBED, 0, Details]: the router ended a
// subscription.
func (s *Session) revokeSubscription(details wamp.Dict) {
	id, ok := idFrom(details, "subscription")
	if !ok {
		return
	}
	s.mu.Lock()
	list := s.subs[id]
	delete(s.subs, id)
	s.mu.Unlock()
	for _, sub := range list {
		sub.stopped.Store(true)
	}
	s.log.Info("subscription revoked by the router", "subscription", uint64(id), "reason", wamp.String(details, "reason"))
}

// idFrom reads an id from a decoded dict.
func idFrom(d wamp.Dict, key string) (wamp.ID, bool) {
	switch v := d[key].(type) {
	case int64:
		return wamp.ID(v), v > 0
	case uint64:
		return wamp.ID(v), true
	case float64:
		return wamp.ID(v), v > 0
	}
	return 0, false
}
