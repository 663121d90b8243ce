package client_test

import (
	"context"
	"slices"
	"testing"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestEventQueueBounded: a handler that does not return holds up its own
// events only. With EventQueue 2, two events wait for it and the others
// are dropped, counted and reported to OnEventDropped, while the session
// still calls; once the handler returns it gets the queued events in order,
// and later events again.
func TestEventQueueBounded(t *testing.T) {
	tr := startRouter(t)
	ctx := ctxT(t)
	drops := make(chan wamp.ID, 100)
	subS, err := client.Dial(ctx, tr.rs, "realm1", &client.Options{EventQueue: 2,
		OnEventDropped: func(sub *client.Subscription, pub wamp.ID) {
			if sub.Topic() == "test.queue" {
				drops <- pub
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer subS.Close(context.Background())
	pubS := dial(t, tr.ws, wamp.FormatJSON)
	if _, err := pubS.Register(ctx, "test.queue.ping", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{"pong"}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}

	got := make(chan wamp.ID, 100)
	started, release := make(chan struct{}), make(chan struct{})
	first := true
	sub, err := subS.Subscribe(ctx, "test.queue", func(ev *client.Event) {
		got <- ev.Publication
		if first {
			first = false
			close(started)
			<-release
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	publish := func() wamp.ID {
		t.Helper()
		id, err := pubS.Publish(ctx, "test.queue", wamp.List{"x"}, nil, wamp.Dict{"acknowledge": true})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	var pubs []wamp.ID
	pubs = append(pubs, publish())
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the first event did not arrive")
	}
	for range 10 {
		pubs = append(pubs, publish())
	}
	var dropped []wamp.ID
	for range 8 {
		select {
		case id := <-drops:
			dropped = append(dropped, id)
		case <-ctx.Done():
			t.Fatalf("dropped %v, want 8 events", dropped)
		}
	}
	if !slices.Equal(dropped, pubs[3:]) || sub.Dropped() != 8 {
		t.Errorf("dropped %v (Dropped %d), want %v", dropped, sub.Dropped(), pubs[3:])
	}
	// The blocked handler does not hold up the session.
	if res, err := subS.Call(ctx, "test.queue.ping", nil, nil, nil); err != nil || res.Args[0] != "pong" {
		t.Errorf("call while the handler is blocked: %v %v", res, err)
	}

	close(release)
	var delivered []wamp.ID
	next := func() {
		t.Helper()
		select {
		case id := <-got:
			delivered = append(delivered, id)
		case <-ctx.Done():
			t.Fatalf("delivered %v", delivered)
		}
	}
	for len(delivered) < 3 {
		next()
	}
	// The handler has taken the last queued event: there is room again.
	after := publish()
	next()
	if want := []wamp.ID{pubs[0], pubs[1], pubs[2], after}; !slices.Equal(delivered, want) {
		t.Errorf("delivered %v, want %v", delivered, want)
	}
	if sub.Dropped() != 8 || len(drops) != 0 {
		t.Errorf("Dropped %d, %d more reported", sub.Dropped(), len(drops))
	}
}
