package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

// lateReplies reports the requests whose late answers a session dropped.
type lateReplies chan uint64

func (l lateReplies) Enabled(context.Context, slog.Level) bool { return true }
func (l lateReplies) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l lateReplies) WithGroup(string) slog.Handler            { return l }
func (l lateReplies) Handle(_ context.Context, r slog.Record) error {
	if r.Message == lateReply {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "request" {
				l <- a.Value.Uint64()
			}
			return true
		})
	}
	return nil
}

func (w *wire) pendingRequests() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

func (w *wire) runningInvocations() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.invs)
}

// TestCancelKill: a call canceled in kill mode returns the context's error
// at once, without waiting for the callee, and keeps no bookkeeping; the
// router's ERROR, which comes once the interrupted callee has answered, is
// dropped; the session goes on, and no goroutine outlives the sessions.
func TestCancelKill(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancelAll := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelAll()
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: r}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	defer func() {
		r.Shutdown(ctx)
		srv.Shutdown(ctx)
		<-served
	}()
	url := "rs://" + ln.Addr().String()

	callee, err := Dial(ctx, url, "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close(ctx)
	late := make(lateReplies, 10)
	caller, err := Dial(ctx, url, "realm1", &Options{CancelMode: CancelKill, Logger: slog.New(late)})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close(ctx)

	started, interrupted, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	if _, err := callee.Register(ctx, "test.kill", func(hctx context.Context, _ *Invocation) (*Result, error) {
		close(started)
		<-hctx.Done()
		close(interrupted)
		<-release
		return nil, hctx.Err()
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := callee.Register(ctx, "test.ping", func(context.Context, *Invocation) (*Result, error) {
		return &Result{Args: wamp.List{"pong"}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}

	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := caller.Call(cctx, "test.kill", nil, nil, nil)
		errc <- err
	}()
	<-started
	cancel()
	// Call returns while the callee still holds the invocation.
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled call: %v, want context.Canceled", err)
	}
	cw, err := caller.wire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := cw.pendingRequests(); n != 0 {
		t.Errorf("%d requests pending once the call returned", n)
	}
	<-interrupted // kill: the router interrupted the callee
	close(release)
	select {
	case <-late: // the router's ERROR for the canceled call, dropped
	case <-ctx.Done():
		t.Fatal("the router's answer to the canceled call did not come")
	}
	if n := cw.pendingRequests(); n != 0 {
		t.Errorf("%d requests pending after the router's ERROR", n)
	}
	ew, err := callee.wire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := ew.runningInvocations(); n != 0 {
		t.Errorf("the callee keeps %d invocations", n)
	}
	// The session goes on.
	if res, err := caller.Call(ctx, "test.ping", nil, nil, nil); err != nil || res.Args[0] != "pong" {
		t.Errorf("call after the cancel: %v %v", res, err)
	}
	if len(late) != 0 {
		t.Errorf("%d more answers dropped", len(late))
	}
}
