package client_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

// authzGate is a dynamic authorizer that allows everything, and holds the
// next decision on an action the test names until the test lets it go:
// so a test can stop a reconnecting session's restore at a chosen
// SUBSCRIBE or REGISTER, with a real router.
type authzGate struct {
	mu    sync.Mutex
	holds map[string]*hold
}

type hold struct {
	reached chan struct{} // closed when the held decision is asked for
	release chan struct{} // closed by the test
	once    sync.Once
}

func (h *hold) let() { h.once.Do(func() { close(h.release) }) }

// hold makes the next decision on action wait for the returned hold's let.
func (g *authzGate) hold(t *testing.T, action string) *hold {
	h := &hold{reached: make(chan struct{}), release: make(chan struct{})}
	g.mu.Lock()
	g.holds[action] = h
	g.mu.Unlock()
	t.Cleanup(h.let)
	return h
}

// authzRouter is a router whose realm1 admits anonymous sessions, each of
// whose actions is decided by the gate, which a session in realm "auth"
// answers for.
func authzRouter(t *testing.T) (*router.Router, *authzGate) {
	t.Helper()
	pol := &auth.Policy{}
	pol.Add(auth.MethodAnonymous, &auth.Anonymous{Role: "agent"})
	roles, err := auth.NewRoles([]*auth.Role{{Name: "agent",
		Authorizer: &auth.DynamicAuthorizer{Realm: "auth", Procedure: "test.authorize", Timeout: time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	r := routerOf(t, router.Config{Realms: []router.RealmConfig{
		{Name: "realm1", Auth: pol, Roles: roles},
		{Name: "auth", Anonymous: true},
	}})
	g := &authzGate{holds: map[string]*hold{}}
	authorizer, err := client.ConnectLocal(ctxT(t), r, "auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		authorizer.Close(ctx)
	})
	if _, err := authorizer.Register(ctxT(t), "test.authorize", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		action, _ := client.Arg[string](inv.Args, 2)
		g.mu.Lock()
		h := g.holds[action]
		delete(g.holds, action)
		g.mu.Unlock()
		if h != nil {
			close(h.reached)
			select {
			case <-h.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return &client.Result{Args: wamp.List{true}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	return r, g
}

func waitFor[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// TestRestoreTimeoutFailsTheAttempt: a restore that runs out of the
// attempt's time (the router is slow to answer a SUBSCRIBE) fails the
// attempt, as a failed connection does, and the next attempt restores the
// subscription: the session is not declared reconnected without it.
func TestRestoreTimeoutFailsTheAttempt(t *testing.T) {
	ctx := ctxT(t)
	r, g := authzRouter(t)
	back := make(chan client.Reconnected, 4)
	s := local(t, r, &client.Options{Reconnect: &client.Reconnect{
		MinDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, AttemptTimeout: 500 * time.Millisecond,
		OnReconnect: func(rc client.Reconnected) { back <- rc },
	}})
	events := make(chan *client.Event, 4)
	sub, err := s.Subscribe(ctx, "test.restore.topic", func(ev *client.Event) { events <- ev }, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first attempt's SUBSCRIBE waits for its authorization until the
	// next attempt asks for its own.
	first := g.hold(t, "subscribe")
	go func() {
		<-first.reached
		next := g.hold(t, "subscribe")
		<-next.reached
		first.let()
		next.let()
	}()
	if err := r.KillSession("realm1", s.ID(), "", ""); err != nil {
		t.Fatal(err)
	}
	rc := waitFor(t, ctx, back, "reconnect")
	if len(rc.Failed) != 0 {
		t.Fatalf("reconnected after %d attempts without the subscription: %v", rc.Attempts, rc.Failed)
	}
	other := local(t, r, nil)
	if _, err := other.Publish(ctx, "test.restore.topic", wamp.List{"again"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	if ev := waitFor(t, ctx, events, "event after the reconnect"); ev.Subscription != sub.ID() {
		t.Errorf("event on subscription %d, want %d", ev.Subscription, sub.ID())
	}
}

// TestUndoRacingRestore: Unsubscribe and Unregister called while the
// reconnect restores that very subscription and registration, whose
// context ends before the session is connected again, leave neither at the
// router: the application has undone them, so the handler is not called
// again and a second Unsubscribe or Unregister has nothing left to do.
func TestUndoRacingRestore(t *testing.T) {
	ctx := ctxT(t)
	r, g := authzRouter(t)
	back := make(chan client.Reconnected, 4)
	s := local(t, r, &client.Options{Reconnect: &client.Reconnect{
		MinDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond,
		OnReconnect: func(rc client.Reconnected) { back <- rc },
	}})
	sub, err := s.Subscribe(ctx, "test.undo.topic", func(*client.Event) {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan struct{}, 4)
	reg, err := s.Register(ctx, "test.undo.proc", func(context.Context, *client.Invocation) (*client.Result, error) {
		calls <- struct{}{}
		return &client.Result{}, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	subHold, regHold := g.hold(t, "subscribe"), g.hold(t, "register")
	if err := r.KillSession("realm1", s.ID(), "", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, subHold.reached, "restoring SUBSCRIBE")
	if err := sub.Unsubscribe(gone); !errors.Is(err, context.Canceled) {
		t.Errorf("Unsubscribe while reconnecting: %v", err)
	}
	subHold.let()
	waitFor(t, ctx, regHold.reached, "restoring REGISTER")
	if err := reg.Unregister(gone); !errors.Is(err, context.Canceled) {
		t.Errorf("Unregister while reconnecting: %v", err)
	}
	regHold.let()
	if rc := waitFor(t, ctx, back, "reconnect"); len(rc.Failed) != 0 {
		t.Errorf("failed: %v", rc.Failed)
	}

	other := local(t, r, nil)
	if _, err := other.Call(ctx, "test.undo.proc", nil, nil, nil); !isURI(err, wamp.ErrNoSuchProcedure) {
		t.Errorf("call after Unregister: %v, want %s", err, wamp.ErrNoSuchProcedure)
	}
	res, err := other.Call(ctx, "wamp.subscription.lookup", wamp.List{"test.undo.topic"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Args) != 1 || res.Args[0] != nil {
		t.Errorf("subscription at the router after Unsubscribe: %v", res.Args)
	}
	if err := reg.Unregister(ctx); err != nil {
		t.Error(err)
	}
	select {
	case <-calls:
		t.Error("the handler was called after Unregister")
	default:
	}
}

func isURI(err error, uri wamp.URI) bool {
	var e *client.Error
	return errors.As(err, &e) && e.URI == uri
}

// TestAttemptFailedTellsRevocation: a session whose principal is removed
// while it runs (the router ends it) tries to reconnect; each attempt the
// router refuses is told to OnAttemptFailed with the ABORT, and the
// application can give up by closing the session.
func TestAttemptFailedTellsRevocation(t *testing.T) {
	h, err := auth.NewPasswordHash("dev-secret", "pbkdf2-sha256", 1000, 0) // cheap, for the test
	if err != nil {
		t.Fatal(err)
	}
	policy := func(ps ...*auth.Principal) *auth.Policy {
		pol := &auth.Policy{}
		pol.Add(auth.MethodTicket, &auth.Ticket{Principals: auth.NewPrincipals(ps)})
		return pol
	}
	r := routerOf(t, router.Config{Realms: []router.RealmConfig{{Name: "realm1", Auth: policy(&auth.Principal{AuthID: "dev", Role: "device", Ticket: h})}}})
	refused := make(chan error, 16)
	s, err := client.ConnectLocal(ctxT(t), r, "realm1", &client.Options{AuthID: "dev", Credentials: []client.Credential{client.Ticket("dev-secret")},
		Reconnect: &client.Reconnect{MinDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond,
			OnAttemptFailed: func(attempt int, err error) {
				select {
				case refused <- err:
				default:
				}
			}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetAuth("realm1", policy()); err != nil {
		t.Fatal(err)
	}
	var ce *client.CloseError
	select {
	case err := <-refused:
		if !errors.As(err, &ce) || ce.Reason != wamp.ErrAuthenticationFailed {
			t.Fatalf("a refused attempt: %v, want ABORT %s", err, wamp.ErrAuthenticationFailed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no failed attempt told after the principal was removed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Close(ctx)
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the session did not end on Close while it reconnected")
	}
}
