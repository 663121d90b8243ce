package client

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
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
	// Topic is the topic the event was published to: Details.topic for a
	// pattern-based subscription, the subscribed topic otherwise.
	Topic   string
	Details wamp.Dict
	Args    wamp.List
	Kwargs  wamp.Dict
	// Raw is the payload as it arrived, in the session's serialization.
	Raw wamp.Payload
}

// Publisher returns the publisher's session id when the router disclosed it
// (Details.publisher), 0 otherwise.
func (ev *Event) Publisher() wamp.ID {
	id, _ := idFrom(ev.Details, "publisher")
	return id
}

// Retained reports an event the router kept and delivered on subscribing
// (get_retained), rather than one published since.
func (ev *Event) Retained() bool { return wamp.Bool(ev.Details, "retained", false) }

// Publish publishes an event to topic. With opts {"acknowledge": true} it
// waits for the router's answer and returns the publication id (or the
// router's *Error); otherwise it returns 0 once the event is queued.
// PublishOptions builds opts for the Advanced Profile's options.
func (s *Session) Publish(ctx context.Context, topic string, args wamp.List, kwargs wamp.Dict, opts wamp.Dict) (wamp.ID, error) {
	w, err := s.wire(ctx)
	if err != nil {
		return 0, fmt.Errorf("publishing to %s: %w", topic, err)
	}
	if err := w.checkPassthru(opts, w.features.brokerPassthru, "broker"); err != nil {
		return 0, fmt.Errorf("publishing to %s: %w", topic, err)
	}
	id := w.reqIDs.Next()
	m := &wamp.Publish{Request: id, Options: opts, Topic: wamp.URI(topic),
		Payload: wamp.Payload{Args: args, Kwargs: kwargs}}
	if !wamp.Bool(opts, "acknowledge", false) {
		if err := w.send(ctx, m, normal); err != nil {
			return 0, fmt.Errorf("publishing to %s: %w", topic, err)
		}
		return 0, nil
	}
	r, err := w.request(ctx, id, m, nil)
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
// session or other subscriptions; events queue meanwhile, up to
// Options.EventQueue, and those that find the queue full are dropped.
type Subscription struct {
	s       *Session
	id      atomic.Uint64
	topic   string
	opts    wamp.Dict
	handler func(*Event)
	stopped atomic.Bool

	dropped atomic.Uint64
	waiting atomic.Int64 // events queued and not yet handed to the handler

	mu       sync.Mutex
	queue    []*wamp.Event
	running  bool
	dropping bool // the last event was dropped
}

// ID returns the router's subscription id. Subscriptions of one session to
// the same topic share it; it changes when a session reconnects.
func (sub *Subscription) ID() wamp.ID { return wamp.ID(sub.id.Load()) }

// Topic returns the topic (or pattern) subscribed to.
func (sub *Subscription) Topic() string { return sub.topic }

// Dropped returns how many events were dropped because they found the
// handler's queue full (Options.EventQueue).
func (sub *Subscription) Dropped() uint64 { return sub.dropped.Load() }

// Subscribe subscribes handler to topic. opts are SUBSCRIBE.Options (nil for
// none; SubscribeOptions builds them). Events published after Subscribe
// returns reach the handler, and so do retained events when opts ask for
// them.
func (s *Session) Subscribe(ctx context.Context, topic string, handler func(*Event), opts wamp.Dict) (*Subscription, error) {
	if handler == nil {
		return nil, errors.New("subscribing: nil handler")
	}
	sub := &Subscription{s: s, topic: topic, opts: opts, handler: handler}
	w, err := s.wire(ctx)
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", topic, err)
	}
	if err := w.subscribe(ctx, sub, true); err != nil {
		return nil, err
	}
	return sub, nil
}

// subscribe sends SUBSCRIBE for sub; track adds sub to what the session
// restores after a reconnect.
func (w *wire) subscribe(ctx context.Context, sub *Subscription, track bool) error {
	id := w.reqIDs.Next()
	r, err := w.request(ctx, id, &wamp.Subscribe{Request: id, Options: sub.opts, Topic: wamp.URI(sub.topic)},
		func(m wamp.Message) {
			ok, _ := m.(*wamp.Subscribed)
			if ok == nil {
				return
			}
			sub.id.Store(uint64(ok.Subscription))
			w.mu.Lock()
			if w.subs == nil {
				w.subs = make(map[wamp.ID][]*Subscription, 1)
			}
			w.subs[ok.Subscription] = append(slices.Clip(w.subs[ok.Subscription]), sub)
			w.mu.Unlock()
			if track {
				w.s.mu.Lock()
				w.s.subs = append(w.s.subs, sub)
				w.s.mu.Unlock()
			}
		})
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", sub.topic, err)
	}
	switch r := r.(type) {
	case *wamp.Subscribed:
		return nil
	case *wamp.Error:
		return wampError(r)
	}
	return fmt.Errorf("subscribing to %s: unexpected answer %s", sub.topic, r.Type())
}

// Unsubscribe stops the handler; events already queued for it are dropped.
// The router is told when this was the session's last handler on the topic.
// While the session reconnects, Unsubscribe waits for it (or ctx).
func (sub *Subscription) Unsubscribe(ctx context.Context) error {
	s := sub.s
	if sub.stopped.Swap(true) {
		return nil
	}
	s.mu.Lock()
	if i := slices.Index(s.subs, sub); i >= 0 {
		s.subs = slices.Delete(s.subs, i, i+1)
	}
	s.mu.Unlock()
	w, err := s.wire(ctx)
	if err != nil {
		if s.ended.Load() {
			return nil // nothing left to undo at the router
		}
		return fmt.Errorf("unsubscribing from %s: %w", sub.topic, err)
	}
	return w.unsubscribe(ctx, sub)
}

// unsubscribe takes sub from the connection's subscriptions and tells the
// router when it was the last on its topic.
func (w *wire) unsubscribe(ctx context.Context, sub *Subscription) error {
	id := sub.ID()
	w.mu.Lock()
	list := w.subs[id]
	i := slices.Index(list, sub)
	last := false
	if i >= 0 {
		list = slices.Delete(slices.Clone(list), i, i+1)
		if len(list) == 0 {
			delete(w.subs, id)
			last = true
		} else {
			w.subs[id] = list
		}
	}
	w.mu.Unlock()
	if !last {
		return nil
	}
	req := w.reqIDs.Next()
	r, err := w.request(ctx, req, &wamp.Unsubscribe{Request: req, Subscription: id}, nil)
	if err != nil {
		return fmt.Errorf("unsubscribing from %s: %w", sub.topic, err)
	}
	if e, ok := r.(*wamp.Error); ok {
		return wampError(e)
	}
	return nil
}

// event hands an EVENT to the subscription's handlers (reading goroutine).
func (w *wire) event(m *wamp.Event) {
	w.mu.Lock()
	list := w.subs[m.Subscription]
	w.mu.Unlock()
	if len(list) == 0 {
		w.log.Debug("event for an unknown subscription", "subscription", uint64(m.Subscription))
		return
	}
	for _, sub := range list {
		sub.deliver(m)
	}
}

// deliver queues an event for the handler, or drops it when the queue is
// full (reading goroutine).
func (sub *Subscription) deliver(m *wamp.Event) {
	s := sub.s
	sub.mu.Lock()
	if sub.waiting.Load() >= int64(s.opts.eventQueue()) {
		first := !sub.dropping
		sub.dropping = true
		sub.mu.Unlock()
		sub.dropped.Add(1)
		if first {
			s.log.Warn("dropping events: the subscription's handler is behind and its queue is full",
				"topic", sub.topic, "queue", s.opts.eventQueue(), "dropped", sub.dropped.Load())
		}
		if s.opts.OnEventDropped != nil {
			s.opts.OnEventDropped(sub, m.Publication)
		}
		return
	}
	sub.dropping = false
	sub.waiting.Add(1)
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
			sub.waiting.Add(-1)
			if sub.stopped.Load() {
				continue
			}
			args, kwargs, err := codec.DecodePayload(&m.Payload)
			if err != nil {
				sub.s.log.Warn("dropping an event whose arguments do not decode",
					"topic", sub.topic, "publication", uint64(m.Publication), "err", err)
				continue
			}
			topic := wamp.String(m.Details, "topic")
			if topic == "" {
				topic = sub.topic
			}
			sub.handle(&Event{Subscription: m.Subscription, Publication: m.Publication, Topic: topic,
				Details: m.Details, Args: args, Kwargs: kwargs, Raw: m.Payload})
		}
	}
}

// handle runs the handler for one event. A panic is recovered and logged,
// and the next event is delivered: it would otherwise end the process.
func (sub *Subscription) handle(ev *Event) {
	defer func() {
		if p := recover(); p != nil {
			sub.s.log.Error("event handler panicked", "topic", sub.topic, "publication", uint64(ev.Publication),
				"panic", p, "stack", string(debug.Stack()))
		}
	}()
	sub.handler(ev)
}

// revokeSubscription handles [UNSUBSCRIBED, 0, Details]: the router ended a
// subscription.
func (w *wire) revokeSubscription(details wamp.Dict) {
	id, ok := idFrom(details, "subscription")
	if !ok {
		return
	}
	w.mu.Lock()
	list := w.subs[id]
	delete(w.subs, id)
	w.mu.Unlock()
	s := w.s
	s.mu.Lock()
	for _, sub := range list {
		sub.stopped.Store(true)
		if i := slices.Index(s.subs, sub); i >= 0 {
			s.subs = slices.Delete(s.subs, i, i+1)
		}
	}
	s.mu.Unlock()
	w.log.Info("subscription revoked by the router", "subscription", uint64(id), "reason", wamp.String(details, "reason"))
}

// idFrom reads an id from a decoded dict.
func idFrom(d wamp.Dict, key string) (wamp.ID, bool) {
	n, ok := wamp.AsUint(d[key])
	if !ok || n == 0 || n > uint64(wamp.MaxID) {
		return 0, false
	}
	return wamp.ID(n), true
}
