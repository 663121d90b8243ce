package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testRouter is a router with a transport server on a loopback port and on
// a Unix socket.
type testRouter struct {
	r    *router.Router
	srv  *transport.Server
	ws   string // ws:// URL
	rs   string // rs:// URL
	unix string // unix:// URL
}

func startRouter(t testing.TB) *testRouter {
	t.Helper()
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: r}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "junction.sock")
	uln, err := transport.Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, l := range []net.Listener{ln, uln} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Serve(l)
		}()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		srv.Shutdown(ctx)
		wg.Wait()
	})
	addr := ln.Addr().String()
	return &testRouter{r: r, srv: srv, ws: "ws://" + addr + "/ws", rs: "rs://" + addr, unix: "unix://" + sock}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t testing.TB, url string, f wamp.Format) *client.Session {
	t.Helper()
	s, err := client.Dial(ctxT(t), url, "realm1", &client.Options{Serializer: f})
	if err != nil {
		t.Fatalf("dial %s (%s): %v", url, f, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

var formats = []wamp.Format{wamp.FormatJSON, wamp.FormatMsgPack, wamp.FormatCBOR}

// sample values cover the common value model, binary included.
var (
	sampleArgs   = wamp.List{int64(1), "two", []byte{0, 1, 2, 255}, 3.5, true, nil, wamp.List{int64(-7), "x"}}
	sampleKwargs = wamp.Dict{"bin": []byte("\x00hello"), "n": int64(42), "nested": wamp.Dict{"k": "v"}}
)

func TestPubSub(t *testing.T) {
	tr := startRouter(t)
	for _, url := range []string{tr.ws, tr.rs, tr.unix} {
		for _, subF := range formats {
			for _, pubF := range formats {
				t.Run(fmt.Sprintf("%s/%s-to-%s", url[:4], pubF, subF), func(t *testing.T) {
					ctx := ctxT(t)
					sub := dial(t, url, subF)
					pub := dial(t, url, pubF)
					events := make(chan *client.Event, 1)
					topic := fmt.Sprintf("test.pubsub.%s.%s", pubF, subF)
					if _, err := sub.Subscribe(ctx, topic, func(ev *client.Event) { events <- ev }, nil); err != nil {
						t.Fatal(err)
					}
					pubID, err := pub.Publish(ctx, topic, sampleArgs, sampleKwargs, wamp.Dict{"acknowledge": true})
					if err != nil || pubID == 0 {
						t.Fatalf("publish: id %d, %v", pubID, err)
					}
					select {
					case ev := <-events:
						if ev.Publication != pubID {
							t.Errorf("publication %d, want %d", ev.Publication, pubID)
						}
						if !reflect.DeepEqual(ev.Args, sampleArgs) || !reflect.DeepEqual(ev.Kwargs, sampleKwargs) {
							t.Errorf("event payload\n got %#v %#v\nwant %#v %#v", ev.Args, ev.Kwargs, sampleArgs, sampleKwargs)
						}
						if ev.Raw.Format != subF {
							t.Errorf("raw payload in %s, want %s", ev.Raw.Format, subF)
						}
					case <-ctx.Done():
						t.Fatal("no event")
					}
				})
			}
		}
	}
}

func TestPublishOrderAndUnsubscribe(t *testing.T) {
	tr := startRouter(t)
	ctx := ctxT(t)
	sub := dial(t, tr.rs, wamp.FormatMsgPack)
	pub := dial(t, tr.rs, wamp.FormatMsgPack)
	const n = 1000
	var (
		mu   sync.Mutex
		got  []int64
		done = make(chan struct{})
	)
	// A second handler on the same topic shares the subscription id.
	var second atomic.Int64
	s1, err := sub.Subscribe(ctx, "test.order", func(ev *client.Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev.Args[0].(int64))
		if len(got) == n {
			close(done)
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := sub.Subscribe(ctx, "test.order", func(*client.Event) { second.Add(1) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s1.ID() != s2.ID() {
		t.Errorf("subscription ids %d and %d for one topic", s1.ID(), s2.ID())
	}
	for i := range n {
		if _, err := pub.Publish(ctx, "test.order", wamp.List{int64(i)}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("got %d of %d events", len(got), n)
	}
	for second.Load() < n && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("event %d carries %d: out of order", i, v)
		}
	}
	if err := s1.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s2.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	// Acknowledged publish after unsubscribing: nothing arrives.
	before := second.Load()
	if _, err := pub.Publish(ctx, "test.order", wamp.List{int64(-1)}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Call(ctx, "no.such.proc", nil, nil, nil); err == nil { // a round trip on sub
		t.Fatal("call to a missing procedure succeeded")
	}
	if second.Load() != before || len(got) != n {
		t.Error("events arrived after Unsubscribe")
	}
	if before != n {
		t.Errorf("second handler got %d events, want %d", before, n)
	}
}

func TestRPC(t *testing.T) {
	tr := startRouter(t)
	for _, url := range []string{tr.ws, tr.rs} {
		for _, f := range formats {
			t.Run(fmt.Sprintf("%s/%s", url[:2], f), func(t *testing.T) {
				ctx := ctxT(t)
				callee := dial(t, url, f)
				caller := dial(t, url, wamp.FormatJSON)
				proc := fmt.Sprintf("test.echo.%s.%s", url[:2], f)
				reg, err := callee.Register(ctx, proc, func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
					return &client.Result{Args: inv.Args, Kwargs: inv.Kwargs}, nil
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				res, err := caller.Call(ctx, proc, sampleArgs, sampleKwargs, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(res.Args, sampleArgs) || !reflect.DeepEqual(res.Kwargs, sampleKwargs) {
					t.Errorf("result\n got %#v %#v\nwant %#v %#v", res.Args, res.Kwargs, sampleArgs, sampleKwargs)
				}
				if err := reg.Unregister(ctx); err != nil {
					t.Fatal(err)
				}
				_, err = caller.Call(ctx, proc, nil, nil, nil)
				var we *client.Error
				if !errors.As(err, &we) || we.URI != wamp.ErrNoSuchProcedure {
					t.Errorf("call after unregister: %v, want %s", err, wamp.ErrNoSuchProcedure)
				}
			})
		}
	}
}

func TestRawPassthrough(t *testing.T) {
	tr := startRouter(t)
	ctx := ctxT(t)
	callee := dial(t, tr.rs, wamp.FormatCBOR)
	caller := dial(t, tr.ws, wamp.FormatJSON)
	if _, err := callee.Register(ctx, "test.raw", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Raw: inv.Raw}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte{0, 1, 2, 3}, 1000)
	res, err := caller.Call(ctx, "test.raw", wamp.List{payload}, wamp.Dict{"k": "v"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Args) != 1 || !bytes.Equal(res.Args[0].([]byte), payload) || res.Kwargs["k"] != "v" {
		t.Errorf("echo of raw payload changed it: %d args, kwargs %v", len(res.Args), res.Kwargs)
	}
}

func TestErrors(t *testing.T) {
	tr := startRouter(t)
	ctx := ctxT(t)
	callee := dial(t, tr.ws, wamp.FormatMsgPack)
	caller := dial(t, tr.rs, wamp.FormatCBOR)

	must := func(proc string, h client.Handler) {
		t.Helper()
		if _, err := callee.Register(ctx, proc, h, nil); err != nil {
			t.Fatal(err)
		}
	}
	must("test.app_error", func(context.Context, *client.Invocation) (*client.Result, error) {
		return nil, &client.Error{URI: "com.example.oops", Args: wamp.List{"bad", int64(7)}, Kwargs: wamp.Dict{"why": []byte{9}}}
	})
	must("test.go_error", func(context.Context, *client.Invocation) (*client.Result, error) {
		return nil, errors.New("plain failure")
	})
	must("test.panic", func(context.Context, *client.Invocation) (*client.Result, error) {
		panic("boom")
	})

	tests := []struct {
		proc   string
		uri    wamp.URI
		args   wamp.List
		kwargs wamp.Dict
	}{
		{"test.app_error", "com.example.oops", wamp.List{"bad", int64(7)}, wamp.Dict{"why": []byte{9}}},
		{"test.go_error", "wamp.error.runtime_error", wamp.List{"plain failure"}, nil},
		{"test.panic", "wamp.error.runtime_error", wamp.List{"the callee failed: boom"}, nil},
		{"test.missing", wamp.ErrNoSuchProcedure, nil, nil},
		{"bad uri", wamp.ErrInvalidURI, nil, nil},
	}
	for _, tt := range tests {
		_, err := caller.Call(ctx, tt.proc, nil, nil, nil)
		var we *client.Error
		if !errors.As(err, &we) {
			t.Errorf("%s: error %v is not a *client.Error", tt.proc, err)
			continue
		}
		if we.URI != tt.uri {
			t.Errorf("%s: URI %s, want %s", tt.proc, we.URI, tt.uri)
		}
		if tt.args != nil && (!reflect.DeepEqual(we.Args, tt.args) || !reflect.DeepEqual(we.Kwargs, tt.kwargs)) {
			t.Errorf("%s: payload %#v %#v, want %#v %#v", tt.proc, we.Args, we.Kwargs, tt.args, tt.kwargs)
		}
	}

	// A second registration of a procedure is refused.
	_, err := caller.Register(ctx, "test.app_error", func(context.Context, *client.Invocation) (*client.Result, error) { return nil, nil }, nil)
	var we *client.Error
	if !errors.As(err, &we) || we.URI != wamp.ErrProcedureAlreadyExists {
		t.Errorf("duplicate register: %v", err)
	}
	// An acknowledged publication to a bad topic fails.
	_, err = caller.Publish(ctx, "bad topic", nil, nil, wamp.Dict{"acknowledge": true})
	if !errors.As(err, &we) || we.URI != wamp.ErrInvalidURI {
		t.Errorf("publish to a bad topic: %v", err)
	}
	_, err = caller.Subscribe(ctx, "bad#topic", func(*client.Event) {}, nil)
	if !errors.As(err, &we) || we.URI != wamp.ErrInvalidURI {
		t.Errorf("subscribe to a bad topic: %v", err)
	}
	// A bad realm is refused at Dial with the router's ABORT.
	_, err = client.Dial(ctx, tr.ws, "no.such.realm", nil)
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Reason != wamp.ErrNoSuchRealm {
		t.Errorf("dial to a missing realm: %v", err)
	}
	// So is a bad URL.
	if _, err := client.Dial(ctx, "http://127.0.0.1:1/", "realm1", nil); err == nil {
		t.Error("dial of an http URL succeeded")
	}
}

func TestConcurrentCalls(t *testing.T) {
	tr := startRouter(t)
	for _, url := range []string{tr.ws, tr.rs} {
		t.Run(url[:2], func(t *testing.T) {
			ctx := ctxT(t)
			callee := dial(t, url, wamp.FormatMsgPack)
			caller := dial(t, url, wamp.FormatMsgPack)
			// The handler holds every call until all 500 are in flight.
			const n = 500
			var arrived sync.WaitGroup
			arrived.Add(n)
			release := make(chan struct{})
			go func() { arrived.Wait(); close(release) }()
			proc := "test.slow_square." + url[:2]
			if _, err := callee.Register(ctx, proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
				arrived.Done()
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				v := inv.Args[0].(int64)
				return &client.Result{Args: wamp.List{v * v}}, nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := caller.Call(ctx, proc, wamp.List{int64(i)}, nil, nil)
					if err == nil && (len(res.Args) != 1 || res.Args[0] != int64(i*i)) {
						err = fmt.Errorf("call %d: result %v", i, res.Args)
					}
					if err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestCallContext(t *testing.T) {
	tr := startRouter(t)
	ctx := ctxT(t)
	callee := dial(t, tr.rs, wamp.FormatJSON)
	caller := dial(t, tr.rs, wamp.FormatJSON)
	release := make(chan struct{})
	if _, err := callee.Register(ctx, "test.stuck", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return &client.Result{Args: wamp.List{"late"}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := caller.Call(cctx, "test.stuck", nil, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("call past its deadline: %v", err)
	}
	close(release)
	// The late result is dropped and the session goes on.
	if _, err := caller.Publish(ctx, "test.after", nil, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Errorf("session unusable after a timed-out call: %v", err)
	}
}

func TestClose(t *testing.T) {
	tr := startRouter(t)
	for _, url := range []string{tr.ws, tr.rs} {
		ctx := ctxT(t)
		s, err := client.Dial(ctx, url, "realm1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID() == 0 || s.Details()["authrole"] != "anonymous" {
			t.Errorf("session %d, details %v", s.ID(), s.Details())
		}
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		select {
		case <-s.Done():
		default:
			t.Error("Done not closed after Close")
		}
		if !errors.Is(s.Err(), client.ErrClosed) {
			t.Errorf("Err after Close: %v", s.Err())
		}
		if _, err := s.Call(ctx, "x.y", nil, nil, nil); !errors.Is(err, client.ErrClosed) {
			t.Errorf("call after Close: %v", err)
		}
		if _, err := s.Publish(ctx, "x.y", nil, nil, nil); !errors.Is(err, client.ErrClosed) {
			t.Errorf("publish after Close: %v", err)
		}
		if err := s.Close(ctx); err != nil {
			t.Errorf("second close: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for tr.r.SessionCount("realm1") != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := tr.r.SessionCount("realm1"); n != 0 {
		t.Errorf("router still has %d sessions", n)
	}
}

func TestRouterEndsSession(t *testing.T) {
	t.Run("shutdown", func(t *testing.T) {
		tr := startRouter(t)
		ctx := ctxT(t)
		a := dial(t, tr.ws, wamp.FormatJSON)
		b := dial(t, tr.rs, wamp.FormatCBOR)
		pending := make(chan error, 1)
		if _, err := a.Register(ctx, "test.never", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, nil); err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := b.Call(ctx, "test.never", nil, nil, nil)
			pending <- err
		}()
		time.Sleep(50 * time.Millisecond)
		if err := tr.r.Shutdown(ctx); err != nil {
			t.Fatalf("router shutdown: %v", err)
		}
		for _, s := range []*client.Session{a, b} {
			select {
			case <-s.Done():
			case <-ctx.Done():
				t.Fatal("session not ended by the router's GOODBYE")
			}
			var ce *client.CloseError
			if !errors.As(s.Err(), &ce) || !ce.Goodbye || ce.Reason != wamp.CloseSystemShutdown {
				t.Errorf("Err: %v", s.Err())
			}
		}
		if err := <-pending; err == nil {
			t.Error("call in flight succeeded after shutdown")
		}
	})
	t.Run("connection lost", func(t *testing.T) {
		tr := startRouter(t)
		ctx := ctxT(t)
		s := dial(t, tr.rs, wamp.FormatMsgPack)
		tr.srv.Close()
		select {
		case <-s.Done():
		case <-ctx.Done():
			t.Fatal("session not ended when the connection closed")
		}
		if s.Err() == nil || errors.Is(s.Err(), client.ErrClosed) {
			t.Errorf("Err: %v", s.Err())
		}
		if _, err := s.Call(ctx, "x.y", nil, nil, nil); err == nil {
			t.Error("call on a lost session succeeded")
		}
	})
}

// TestHandlerContext checks that an invocation handler's context ends with
// its session and that the caller learns the call was canceled.
func TestHandlerContext(t *testing.T) {
	tr := startRouter(t)
	ctx := ctxT(t)
	callee, err := client.Dial(ctx, tr.rs, "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	caller := dial(t, tr.rs, wamp.FormatJSON)
	started := make(chan struct{})
	if _, err := callee.Register(ctx, "test.block", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}, nil); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := caller.Call(ctx, "test.block", nil, nil, nil)
		errc <- err
	}()
	<-started
	if err := callee.Close(ctx); err != nil {
		t.Errorf("close with a handler running: %v", err)
	}
	var we *client.Error
	if err := <-errc; !errors.As(err, &we) || we.URI != wamp.ErrCanceled {
		t.Errorf("call whose callee left: %v", err)
	}
}

// TestKeepAlive checks that the client answers the router's transport pings
// (WebSocket ping, RawSocket PING), so an idle session stays up.
func TestKeepAlive(t *testing.T) {
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	// Without answers to its pings the server drops a connection after
	// about a second: well within the two seconds the sessions stay idle.
	srv := &transport.Server{Router: r, PingInterval: 50 * time.Millisecond, PingTimeout: time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	defer func() { srv.Close(); <-served }()

	ctx := ctxT(t)
	urls := []string{"ws://" + ln.Addr().String() + "/ws", "rs://" + ln.Addr().String()}
	sessions := make([]*client.Session, len(urls))
	for i, url := range urls {
		sessions[i] = dial(t, url, wamp.FormatCBOR)
	}
	time.Sleep(2 * time.Second)
	for i, s := range sessions {
		if _, err := s.Publish(ctx, "test.alive", nil, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Errorf("%s: session did not survive pings: %v", urls[i], err)
		}
		s.Close(ctx)
	}
}
