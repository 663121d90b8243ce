package client_test

// Advanced Profile PubSub features that the router implements on other
// branches (pattern-based subscriptions, subscriber black and white listing,
// event retention, event history): these tests fail until those branches
// are merged.

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// collect subscribes and returns a function that waits for n events.
func collect(t *testing.T, s *client.Session, topic string, opts wamp.Dict) (*client.Subscription, func(n int) []*client.Event) {
	t.Helper()
	ch := make(chan *client.Event, 64)
	sub, err := s.Subscribe(ctxT(t), topic, func(ev *client.Event) { ch <- ev }, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sub, func(n int) []*client.Event {
		t.Helper()
		var evs []*client.Event
		timeout := time.After(5 * time.Second)
		for len(evs) < n {
			select {
			case ev := <-ch:
				evs = append(evs, ev)
			case <-timeout:
				t.Fatalf("%s: %d events, want %d", topic, len(evs), n)
			}
		}
		return evs
	}
}

func TestAdvancedPatternSubscription(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	s := local(t, r, nil)
	pub := local(t, r, nil)
	_, prefix := collect(t, s, "test.fleet.", client.SubscribeOptions{Match: client.MatchPrefix}.Dict())
	_, wild := collect(t, s, "test..config", client.SubscribeOptions{Match: client.MatchWildcard}.Dict())
	for _, topic := range []string{"test.fleet.a", "test.fleet.b.c", "test.other.config"} {
		if _, err := pub.Publish(ctx, topic, wamp.List{topic}, nil, client.PublishOptions{Acknowledge: true}.Dict()); err != nil {
			t.Fatal(err)
		}
	}
	var topics []string
	for _, ev := range prefix(2) {
		topics = append(topics, ev.Topic)
	}
	sort.Strings(topics)
	if fmt.Sprint(topics) != "[test.fleet.a test.fleet.b.c]" {
		t.Errorf("prefix subscription got %v", topics)
	}
	if ev := wild(1)[0]; ev.Topic != "test.other.config" {
		t.Errorf("wildcard subscription got %q", ev.Topic)
	}
}

func TestAdvancedBlackWhiteListing(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	pub := local(t, r, nil)
	a := local(t, r, &client.Options{AuthID: "alice"})
	b := local(t, r, &client.Options{AuthID: "bob"})
	_, gotA := collect(t, a, "test.bw", nil)
	_, gotB := collect(t, b, "test.bw", nil)
	send := func(label string, o client.PublishOptions) {
		o.Acknowledge = true
		if _, err := pub.Publish(ctx, "test.bw", wamp.List{label}, nil, o.Dict()); err != nil {
			t.Fatal(err)
		}
	}
	send("not a", client.PublishOptions{Exclude: []wamp.ID{a.ID()}})
	send("only a", client.PublishOptions{Eligible: []wamp.ID{a.ID()}})
	send("not bob", client.PublishOptions{ExcludeAuthID: []string{"bob"}})
	send("all", client.PublishOptions{})
	var la, lb []any
	for _, ev := range gotA(3) {
		la = append(la, ev.Args[0])
	}
	for _, ev := range gotB(2) {
		lb = append(lb, ev.Args[0])
	}
	if fmt.Sprint(la) != "[only a not bob all]" || fmt.Sprint(lb) != "[not a all]" {
		t.Errorf("a got %v, b got %v", la, lb)
	}
}

func TestAdvancedRetained(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	pub := local(t, r, nil)
	if _, err := pub.Publish(ctx, "test.retained", wamp.List{"old"}, nil, client.PublishOptions{Acknowledge: true, Retain: true}.Dict()); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, "test.retained", wamp.List{"kept"}, nil, client.PublishOptions{Acknowledge: true, Retain: true}.Dict()); err != nil {
		t.Fatal(err)
	}
	s := local(t, r, nil)
	_, got := collect(t, s, "test.retained", client.SubscribeOptions{GetRetained: true}.Dict())
	ev := got(1)[0]
	if ev.Args[0] != "kept" || !ev.Retained() {
		t.Errorf("retained event %v, retained=%v", ev.Args, ev.Retained())
	}
	if _, err := pub.Publish(ctx, "test.retained", wamp.List{"new"}, nil, client.PublishOptions{Acknowledge: true}.Dict()); err != nil {
		t.Fatal(err)
	}
	if ev := got(1)[0]; ev.Args[0] != "new" || ev.Retained() {
		t.Errorf("live event %v, retained=%v", ev.Args, ev.Retained())
	}
}

func TestAdvancedEventHistory(t *testing.T) {
	r, err := router.New(router.Config{
		HistoryPath: filepath.Join(t.TempDir(), "history.db"),
		Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true,
			History: []router.HistoryRule{{Match: wamp.MatchPrefix, Topic: "test.", Limit: 100}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		r.Close()
	})
	ctx := ctxT(t)
	s := local(t, r, nil)
	pub := local(t, r, nil)
	sub, got := collect(t, s, "test.history", nil)
	var ids []wamp.ID
	for i := range 5 {
		id, err := pub.Publish(ctx, "test.history", wamp.List{int64(i)}, nil, client.PublishOptions{Acknowledge: true}.Dict())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	got(5)
	all, err := s.EventHistory(ctx, sub.ID(), client.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("%d events in the history, want 5", len(all))
	}
	for i, ev := range all {
		if ev.Publication != ids[i] || ev.Args[0] != int64(i) || ev.Timestamp.IsZero() {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	page, err := s.EventHistory(ctx, sub.ID(), client.HistoryQuery{Limit: 2, AfterPublication: ids[1]})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Publication != ids[2] || page[1].Publication != ids[3] {
		t.Errorf("page after the second event: %+v", page)
	}
	last, err := s.EventHistory(ctx, sub.ID(), client.HistoryQuery{Limit: 1, Reverse: true})
	if err != nil || len(last) != 1 || last[0].Publication != ids[4] {
		t.Errorf("newest event: %+v %v", last, err)
	}
}
