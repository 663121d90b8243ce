package client_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/wamp"
)

func newRouter(t testing.TB) *router.Router {
	t.Helper()
	return routerOf(t, router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
}

// routerOf makes a router of cfg, shut down when the test ends.
func routerOf(t testing.TB, cfg router.Config) *router.Router {
	t.Helper()
	r, err := router.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	return r
}

func local(t testing.TB, r *router.Router, opts *client.Options) *client.Session {
	t.Helper()
	s, err := client.ConnectLocal(ctxT(t), r, "realm1", opts)
	if err != nil {
		t.Fatalf("connect local: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// TestLocal runs publish, subscribe, call and register between in-process
// sessions of every serializer and one over a socket.
func TestLocal(t *testing.T) {
	tr := startRouter(t)
	ctx := ctxT(t)
	remote := dial(t, tr.rs, wamp.FormatJSON)
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			s := local(t, tr.r, &client.Options{Serializer: f})
			if s.ID() == 0 || s.Details()["authrole"] != "anonymous" {
				t.Errorf("session %d, details %v", s.ID(), s.Details())
			}
			proc := "test.local.echo." + f.String()
			if _, err := s.Register(ctx, proc, func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
				return &client.Result{Args: inv.Args, Kwargs: inv.Kwargs}, nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			res, err := remote.Call(ctx, proc, sampleArgs, sampleKwargs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Args, sampleArgs) || !reflect.DeepEqual(res.Kwargs, sampleKwargs) {
				t.Errorf("result\n got %#v %#v\nwant %#v %#v", res.Args, res.Kwargs, sampleArgs, sampleKwargs)
			}
			// And the other way: the local session calls and is published to.
			events := make(chan *client.Event, 1)
			topic := "test.local.topic." + f.String()
			if _, err := s.Subscribe(ctx, topic, func(ev *client.Event) { events <- ev }, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := remote.Publish(ctx, topic, sampleArgs, sampleKwargs, wamp.Dict{"acknowledge": true}); err != nil {
				t.Fatal(err)
			}
			select {
			case ev := <-events:
				if !reflect.DeepEqual(ev.Args, sampleArgs) || ev.Topic != topic {
					t.Errorf("event %#v on %q", ev.Args, ev.Topic)
				}
			case <-ctx.Done():
				t.Fatal("no event")
			}
			_, err = s.Call(ctx, "test.local.missing", nil, nil, nil)
			var we *client.Error
			if !errors.As(err, &we) || we.URI != wamp.ErrNoSuchProcedure {
				t.Errorf("call to a missing procedure: %v", err)
			}
			if err := s.Close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
			if !errors.Is(s.Err(), client.ErrClosed) {
				t.Errorf("Err after Close: %v", s.Err())
			}
		})
	}
	if n := tr.r.SessionCount("realm1"); n != 1 {
		t.Errorf("router has %d sessions after the local ones closed, want 1", n)
	}
}

// TestLocalShutdown checks that a router's shutdown ends its local sessions
// with its GOODBYE, and that a local session to a missing realm is refused.
func TestLocalShutdown(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	if _, err := client.ConnectLocal(ctx, r, "no.such.realm", nil); err == nil {
		t.Fatal("joined a missing realm")
	} else {
		var ce *client.CloseError
		if !errors.As(err, &ce) || ce.Reason != wamp.ErrNoSuchRealm {
			t.Errorf("join of a missing realm: %v", err)
		}
	}
	s := local(t, r, nil)
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	var ce *client.CloseError
	if !errors.As(s.Err(), &ce) || ce.Reason != wamp.CloseSystemShutdown {
		t.Errorf("Err: %v", s.Err())
	}
	if n := r.SessionCount("realm1"); n != 0 {
		t.Errorf("router has %d sessions", n)
	}
}
