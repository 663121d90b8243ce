package client_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestCloseFromCallback: a handler or callback of the session may close it
// ("on event X, shut down"). Close returns nil and the session ends; it
// used to wait for the session's goroutines, the caller's own among them,
// until its context ran out (for ever with context.Background), and on the
// reading goroutine (OnEventDropped) for the router's GOODBYE, which that
// goroutine would read only after the callback returned.
func TestCloseFromCallback(t *testing.T) {
	// closeIn is what a callback does: close the session it belongs to,
	// once, and report Close's error.
	type closer struct {
		s    atomic.Pointer[client.Session]
		once sync.Once
		errs chan error
	}
	newCloser := func() *closer { return &closer{errs: make(chan error, 1)} }
	closeIn := func(c *closer) {
		c.once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.errs <- c.s.Load().Close(ctx)
		})
	}
	// ended waits for the callback's Close and for the session's end.
	ended := func(t *testing.T, c *closer) {
		t.Helper()
		ctx := ctxT(t)
		select {
		case err := <-c.errs:
			if err != nil {
				t.Fatalf("Close from the callback: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("Close from the callback did not return")
		}
		s := c.s.Load()
		select {
		case <-s.Done():
		case <-ctx.Done():
			t.Fatal("the session did not end")
		}
		if !errors.Is(s.Err(), client.ErrClosed) {
			t.Fatalf("Err after Close: %v", s.Err())
		}
	}

	t.Run("event", func(t *testing.T) {
		tr := startRouter(t)
		ctx := ctxT(t)
		c := newCloser()
		c.s.Store(dial(t, tr.rs, wamp.FormatJSON))
		if _, err := c.s.Load().Subscribe(ctx, "test.close.ev", func(*client.Event) { closeIn(c) }, nil); err != nil {
			t.Fatal(err)
		}
		pub := dial(t, tr.ws, wamp.FormatJSON)
		if _, err := pub.Publish(ctx, "test.close.ev", nil, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
		ended(t, c)
	})

	for _, ordered := range []bool{false, true} {
		name := "invocation"
		if ordered {
			name = "ordered invocation"
		}
		t.Run(name, func(t *testing.T) {
			tr := startRouter(t)
			ctx := ctxT(t)
			c := newCloser()
			s := dial(t, tr.rs, wamp.FormatJSON)
			c.s.Store(s)
			register := s.Register
			if ordered {
				register = s.RegisterOrdered
			}
			if _, err := register(ctx, "test.close.inv", func(context.Context, *client.Invocation) (*client.Result, error) {
				closeIn(c)
				return &client.Result{}, nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			caller := dial(t, tr.ws, wamp.FormatJSON)
			called := make(chan error, 1)
			go func() { _, err := caller.Call(ctx, "test.close.inv", nil, nil, nil); called <- err }()
			ended(t, c)
			<-called // answered or failed: the callee left
		})
	}

	// reconnecting dials a session that reconnects, with its callbacks.
	reconnecting := func(t *testing.T, url string, rc *client.Reconnect) *client.Session {
		rc.MinDelay, rc.MaxDelay = time.Millisecond, 10*time.Millisecond
		s, err := client.Dial(ctxT(t), url, "realm1", &client.Options{Reconnect: rc})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.Close(ctx)
		})
		return s
	}

	t.Run("OnDisconnect", func(t *testing.T) {
		sv := startServer(t, "127.0.0.1:0")
		c := newCloser()
		c.s.Store(reconnecting(t, "rs://"+sv.addr, &client.Reconnect{OnDisconnect: func(error) { closeIn(c) }}))
		sv.kill()
		ended(t, c)
	})

	t.Run("OnReconnect", func(t *testing.T) {
		sv := startServer(t, "127.0.0.1:0")
		c := newCloser()
		c.s.Store(reconnecting(t, "rs://"+sv.addr, &client.Reconnect{OnReconnect: func(client.Reconnected) { closeIn(c) }}))
		sv.kill()
		sv2 := startServer(t, sv.addr)
		ended(t, c)
		// The session said GOODBYE on its new connection.
		deadline := time.Now().Add(5 * time.Second)
		for sv2.r.SessionCount("realm1") != 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := sv2.r.SessionCount("realm1"); n != 0 {
			t.Fatalf("the router still has %d sessions", n)
		}
	})

	t.Run("OnEventDropped", func(t *testing.T) {
		tr := startRouter(t)
		ctx := ctxT(t)
		c := newCloser()
		s, err := client.Dial(ctx, tr.rs, "realm1", &client.Options{EventQueue: 1,
			OnEventDropped: func(*client.Subscription, wamp.ID) { closeIn(c) }})
		if err != nil {
			t.Fatal(err)
		}
		c.s.Store(s)
		release := make(chan struct{})
		defer close(release)
		if _, err := s.Subscribe(ctx, "test.close.drop", func(*client.Event) { <-release }, nil); err != nil {
			t.Fatal(err)
		}
		pub := dial(t, tr.ws, wamp.FormatJSON)
		for range 3 { // one runs, one waits, one is dropped (at least)
			if _, err := pub.Publish(ctx, "test.close.drop", nil, nil, wamp.Dict{"acknowledge": true}); err != nil {
				t.Fatal(err)
			}
		}
		ended(t, c)
	})
}
