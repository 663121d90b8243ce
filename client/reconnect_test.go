package client_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

// server is a router behind a transport server on a fixed address, that a
// test stops and starts again.
type server struct {
	t    testing.TB
	addr string
	r    *router.Router
	srv  *transport.Server
	wg   sync.WaitGroup
}

func startServer(t testing.TB, addr string) *server {
	t.Helper()
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 100 { // the port of a server just stopped may linger a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	sv := &server{t: t, addr: ln.Addr().String(), r: r, srv: &transport.Server{Router: r}}
	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		sv.srv.Serve(ln)
	}()
	t.Cleanup(sv.kill)
	return sv
}

// stop shuts the router down gracefully: its sessions get GOODBYE.
func (sv *server) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sv.r.Shutdown(ctx)
	sv.srv.Shutdown(ctx)
	sv.wg.Wait()
}

// kill closes every connection at once, as a crashed router would.
func (sv *server) kill() {
	sv.srv.Close()
	sv.wg.Wait()
}

// reconnecting dials url with reconnection and reports its notifications.
func reconnecting(t testing.TB, url string, lost chan<- error, back chan<- client.Reconnected) *client.Session {
	t.Helper()
	s, err := client.Dial(ctxT(t), url, "realm1", &client.Options{Reconnect: &client.Reconnect{
		MinDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
		OnDisconnect: func(err error) { lost <- err },
		OnReconnect:  func(r client.Reconnected) { back <- r },
	}})
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

// TestReconnect restarts the router under a session that reconnects: a call
// in flight fails with ErrConnectionLost, the application is told, and the
// subscription and registration work again on the new router.
func TestReconnect(t *testing.T) {
	for _, how := range []string{"shutdown", "crash"} {
		t.Run(how, func(t *testing.T) {
			ctx := ctxT(t)
			sv := startServer(t, "127.0.0.1:0")
			url := "rs://" + sv.addr
			lost := make(chan error, 4)
			back := make(chan client.Reconnected, 4)
			s := reconnecting(t, url, lost, back)
			first := s.ID()

			events := make(chan *client.Event, 16)
			sub, err := s.Subscribe(ctx, "test.rc.topic", func(ev *client.Event) { events <- ev }, nil)
			if err != nil {
				t.Fatal(err)
			}
			started := make(chan struct{}, 1)
			handlerEnded := make(chan error, 1)
			if _, err := s.Register(ctx, "test.rc.block", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
				started <- struct{}{}
				<-ctx.Done()
				handlerEnded <- ctx.Err()
				return nil, ctx.Err()
			}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Register(ctx, "test.rc.echo", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
				return &client.Result{Args: inv.Args}, nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			inFlight := make(chan error, 1)
			go func() {
				_, err := s.Call(ctx, "test.rc.block", nil, nil, nil)
				inFlight <- err
			}()
			<-started

			if how == "shutdown" {
				sv.stop()
			} else {
				sv.kill()
			}
			if err := <-inFlight; !errors.Is(err, client.ErrConnectionLost) {
				t.Errorf("call in flight: %v, want ErrConnectionLost", err)
			}
			if err := <-handlerEnded; err == nil {
				t.Error("the handler's context was not canceled")
			}
			if err := <-lost; err == nil {
				t.Error("OnDisconnect without a cause")
			}
			if how == "shutdown" {
				if s.Connected() {
					t.Error("Connected while the router is down")
				}
			}
			// A call made while the router is down waits for it, within its
			// context.
			short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			_, err = s.Call(short, "test.rc.echo", nil, nil, nil)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, client.ErrConnectionLost) {
				t.Errorf("call while reconnecting: %v", err)
			}

			sv2 := startServer(t, sv.addr)
			var rc client.Reconnected
			select {
			case rc = <-back:
			case <-ctx.Done():
				t.Fatal("no reconnect")
			}
			if len(rc.Failed) != 0 || rc.Session == 0 || rc.Session == first || s.ID() != rc.Session {
				t.Errorf("reconnected: %+v, ID %d (first %d)", rc, s.ID(), first)
			}
			if !s.Connected() {
				t.Error("not Connected after OnReconnect")
			}
			other := dial(t, url, wamp.FormatCBOR)
			if _, err := other.Publish(ctx, "test.rc.topic", wamp.List{"again"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
				t.Fatal(err)
			}
			select {
			case ev := <-events:
				if ev.Args[0] != "again" || ev.Subscription != sub.ID() {
					t.Errorf("event %v on subscription %d, want %d", ev.Args, ev.Subscription, sub.ID())
				}
			case <-ctx.Done():
				t.Fatal("subscription not restored")
			}
			res, err := other.Call(ctx, "test.rc.echo", wamp.List{int64(7)}, nil, nil)
			if err != nil || res.Args[0] != int64(7) {
				t.Errorf("call to the restored registration: %v %v", res, err)
			}
			// The session's own calls go through too.
			if _, err := s.Call(ctx, "test.rc.echo", nil, nil, nil); err != nil {
				t.Errorf("call after the reconnect: %v", err)
			}
			if err := sub.Unsubscribe(ctx); err != nil {
				t.Error(err)
			}
			if n := sv2.r.SessionCount("realm1"); n != 2 {
				t.Errorf("%d sessions on the new router, want 2", n)
			}
		})
	}
}

// TestReconnectGivesUp checks MaxAttempts: the session ends with the last
// error, and Close stops a session that is reconnecting.
func TestReconnectGivesUp(t *testing.T) {
	ctx := ctxT(t)
	sv := startServer(t, "127.0.0.1:0")
	s, err := client.Dial(ctx, "ws://"+sv.addr+"/ws", "realm1", &client.Options{Reconnect: &client.Reconnect{
		MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxAttempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	sv.kill()
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the session kept reconnecting")
	}
	if err := s.Err(); err == nil || errors.Is(err, client.ErrClosed) {
		t.Errorf("Err: %v", err)
	}
	if _, err := s.Publish(ctx, "x.y", nil, nil, nil); err == nil {
		t.Error("publish on an ended session")
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}

	sv = startServer(t, "127.0.0.1:0")
	s, err = client.Dial(ctx, "rs://"+sv.addr, "realm1", &client.Options{Reconnect: &client.Reconnect{MinDelay: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	sv.kill()
	for s.Connected() && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("close while reconnecting: %v", err)
	}
	if !errors.Is(s.Err(), client.ErrClosed) {
		t.Errorf("Err after Close: %v", s.Err())
	}
}

// TestReconnectURLs: a session with Reconnect.URLs whose router stops
// moves to the next router of the list, and back round it when that one
// stops too, restoring its registration each time.
func TestReconnectURLs(t *testing.T) {
	ctx := ctxT(t)
	a, b := startServer(t, "127.0.0.1:0"), startServer(t, "127.0.0.1:0")
	urlA, urlB := "rs://"+a.addr, "rs://"+b.addr
	back := make(chan client.Reconnected, 4)
	s, err := client.Dial(ctx, urlA, "realm1", &client.Options{Reconnect: &client.Reconnect{
		MinDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond, URLs: []string{urlB},
		OnReconnect: func(r client.Reconnected) { back <- r },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, err := s.Register(ctx, "test.urls.echo", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: inv.Args}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	callAt := func(sv *server) {
		t.Helper()
		c, err := client.Dial(ctx, "rs://"+sv.addr, "realm1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if res, err := c.Call(ctx, "test.urls.echo", wamp.List{"hi"}, nil, nil); err != nil || res.Args[0] != "hi" {
			t.Fatalf("call at %s: %v, %v", sv.addr, res, err)
		}
	}
	a.stop()
	r := <-back
	if r.URL != urlB || len(r.Failed) > 0 {
		t.Fatalf("reconnected to %s (failed %v), want %s", r.URL, r.Failed, urlB)
	}
	callAt(b)

	a = startServer(t, a.addr)
	b.stop()
	if r = <-back; r.URL != urlA || len(r.Failed) > 0 {
		t.Fatalf("reconnected to %s (failed %v), want %s", r.URL, r.Failed, urlA)
	}
	callAt(a)
}
