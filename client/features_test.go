package client_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestSlowHandlers checks that a handler that blocks holds up neither
// another subscription's handler nor other invocations, and that
// RegisterOrdered runs invocations one at a time in arrival order.
func TestSlowHandlers(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	s := local(t, r, nil)
	peer := local(t, r, nil)

	release := make(chan struct{})
	stuck := make(chan struct{}, 1)
	if _, err := s.Subscribe(ctx, "test.slow", func(*client.Event) {
		stuck <- struct{}{}
		<-release
	}, nil); err != nil {
		t.Fatal(err)
	}
	fast := make(chan string, 1)
	if _, err := s.Subscribe(ctx, "test.fast", func(ev *client.Event) { fast <- ev.Args[0].(string) }, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, "test.block", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		<-release
		return nil, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, "test.quick", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{"quick"}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	peer.Publish(ctx, "test.slow", nil, nil, nil)
	<-stuck
	blocked := make(chan error, 1)
	go func() {
		_, err := peer.Call(ctx, "test.block", nil, nil, nil)
		blocked <- err
	}()
	peer.Publish(ctx, "test.fast", wamp.List{"through"}, nil, nil)
	select {
	case v := <-fast:
		if v != "through" {
			t.Errorf("event %q", v)
		}
	case <-ctx.Done():
		t.Fatal("a blocked handler held up another subscription")
	}
	if res, err := peer.Call(ctx, "test.quick", nil, nil, nil); err != nil || res.Args[0] != "quick" {
		t.Fatalf("a blocked invocation held up another: %v %v", res, err)
	}
	close(release)
	if err := <-blocked; err != nil {
		t.Error(err)
	}

	// Ordered: one invocation at a time, in the order the router sent them
	// (its INVOCATION request ids count up), however many calls are in
	// flight at once.
	var (
		mu      sync.Mutex
		order   []wamp.ID
		running int
		overlap bool
	)
	if _, err := s.RegisterOrdered(ctx, "test.ordered", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		mu.Lock()
		running++
		overlap = overlap || running > 1
		order = append(order, inv.Request)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return nil, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	results := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := peer.Call(ctx, "test.ordered", nil, nil, nil)
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Error(err)
		}
	}
	if overlap {
		t.Error("ordered invocations overlapped")
	}
	if len(order) != n {
		t.Fatalf("%d invocations, want %d", len(order), n)
	}
	for i := 1; i < n; i++ {
		if order[i] <= order[i-1] {
			t.Fatalf("invocations handled out of order: %v", order)
		}
	}
}

// TestDisclosureAndExclusion uses what the router supports today: publisher
// and caller identification, publisher exclusion.
func TestDisclosureAndExclusion(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	s := local(t, r, nil)
	peer := local(t, r, &client.Options{Serializer: wamp.FormatJSON})

	events := make(chan *client.Event, 4)
	if _, err := s.Subscribe(ctx, "test.disclose", func(ev *client.Event) { events <- ev }, client.SubscribeOptions{}.Dict()); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Publish(ctx, "test.disclose", wamp.List{"a"}, nil, client.PublishOptions{Acknowledge: true, DiscloseMe: true}.Dict()); err != nil {
		t.Fatal(err)
	}
	ev := <-events
	if ev.Publisher() != peer.ID() {
		t.Errorf("publisher %d, want %d (details %v)", ev.Publisher(), peer.ID(), ev.Details)
	}
	// The publisher is excluded from its own events unless IncludeMe.
	if _, err := s.Publish(ctx, "test.disclose", wamp.List{"own"}, nil, client.PublishOptions{Acknowledge: true}.Dict()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, "test.disclose", wamp.List{"own, included"}, nil, client.PublishOptions{Acknowledge: true, IncludeMe: true}.Dict()); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.Args[0] != "own, included" || ev.Publisher() != 0 {
		t.Errorf("event %v from %d", ev.Args, ev.Publisher())
	}

	callers := make(chan wamp.ID, 1)
	if _, err := s.Register(ctx, "test.who", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		callers <- inv.Caller()
		return nil, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Call(ctx, "test.who", nil, nil, client.CallOptions{DiscloseMe: true}.Dict()); err != nil {
		t.Fatal(err)
	}
	if id := <-callers; id != peer.ID() {
		t.Errorf("caller %d, want %d", id, peer.ID())
	}
}

func TestOptionDicts(t *testing.T) {
	tests := []struct {
		got, want wamp.Dict
	}{
		{client.PublishOptions{}.Dict(), wamp.Dict{}},
		{client.PublishOptions{Acknowledge: true, IncludeMe: true, DiscloseMe: true, Retain: true,
			Exclude: []wamp.ID{1, 2}, Eligible: []wamp.ID{3}, ExcludeAuthID: []string{"a"}, EligibleAuthID: []string{"b"},
			ExcludeAuthRole: []string{"c"}, EligibleAuthRole: []string{"d"}}.Dict(),
			wamp.Dict{"acknowledge": true, "exclude_me": false, "disclose_me": true, "retain": true,
				"exclude": wamp.List{uint64(1), uint64(2)}, "eligible": wamp.List{uint64(3)},
				"exclude_authid": wamp.List{"a"}, "eligible_authid": wamp.List{"b"},
				"exclude_authrole": wamp.List{"c"}, "eligible_authrole": wamp.List{"d"}}},
		{client.SubscribeOptions{Match: client.MatchExact}.Dict(), wamp.Dict{}},
		{client.SubscribeOptions{Match: client.MatchWildcard, GetRetained: true}.Dict(), wamp.Dict{"match": "wildcard", "get_retained": true}},
		{client.CallOptions{Timeout: 1500 * time.Millisecond, DiscloseMe: true}.Dict(), wamp.Dict{"timeout": int64(1500), "disclose_me": true}},
		{client.CallOptions{Timeout: time.Microsecond}.Dict(), wamp.Dict{"timeout": int64(1)}},
		{client.RegisterOptions{Match: client.MatchPrefix, Invoke: client.InvokeRoundRobin, DiscloseCaller: true, ForwardTimeout: true}.Dict(),
			wamp.Dict{"match": "prefix", "invoke": "roundrobin", "disclose_caller": true, "forward_timeout": true}},
		{client.RegisterOptions{Invoke: client.InvokeSingle}.Dict(), wamp.Dict{}},
	}
	for i, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("case %d: %v, want %v", i, tt.got, tt.want)
		}
	}
}
