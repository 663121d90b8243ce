package client_test

// Advanced Profile RPC features that the router implements on other
// branches (progressive call results and invocations, call timeout, call
// canceling, shared and pattern-based registrations): these tests fail until
// those branches are merged.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// registerCounter registers a procedure that sends n progressive results
// 0..n-1, then the final result n, and reports when its context ends.
func registerCounter(t *testing.T, s *client.Session, proc string, ended chan<- error) {
	t.Helper()
	if _, err := s.Register(ctxT(t), proc, func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		n, err := client.Arg[int](inv.Args, 0)
		if err != nil {
			return nil, err
		}
		for i := range n {
			if inv.ReceiveProgress() {
				if err := inv.SendProgress(ctx, wamp.List{int64(i)}, nil); err != nil {
					return nil, err
				}
			}
			if i == 0 && ended != nil {
				// Wait to be canceled (the caller stops after the first).
				<-ctx.Done()
				ended <- ctx.Err()
				return nil, ctx.Err()
			}
		}
		return &client.Result{Args: wamp.List{int64(n)}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestAdvancedProgressiveResults(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	callee := local(t, r, nil)
	caller := local(t, r, &client.Options{Serializer: wamp.FormatCBOR})
	registerCounter(t, callee, "test.count", nil)

	var got []int64
	res, err := caller.CallProgress(ctx, "test.count", wamp.List{5}, nil, nil, func(r *client.Result) error {
		if !r.Progress() {
			t.Error("a progressive result without Details.progress")
		}
		got = append(got, r.Args[0].(int64))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[0 1 2 3 4]" || res.Args[0] != int64(5) || res.Progress() {
		t.Errorf("progressive %v, final %v", got, res.Args)
	}

	// The iterator: every result, the final one last.
	got = got[:0]
	for r, err := range caller.CallIter(ctx, "test.count", wamp.List{3}, nil, nil) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Args[0].(int64))
	}
	if fmt.Sprint(got) != "[0 1 2 3]" {
		t.Errorf("iterated %v", got)
	}

	// A plain Call of the same procedure gets only the final result.
	if res, err := caller.Call(ctx, "test.count", wamp.List{3}, nil, nil); err != nil || res.Args[0] != int64(3) {
		t.Errorf("plain call: %v %v", res, err)
	}

	// Breaking out of the iteration cancels the call: the callee's context
	// ends (INTERRUPT).
	ended := make(chan error, 1)
	registerCounter(t, callee, "test.count_forever", ended)
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for r, err := range caller.CallIter(short, "test.count_forever", wamp.List{1000}, nil, nil) {
		if err != nil || r.Args[0] != int64(0) {
			t.Fatalf("first result %v %v", r, err)
		}
		break
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("callee's context: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the callee was not interrupted when the iteration stopped")
	}
}

func TestAdvancedProgressiveInvocations(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	callee := local(t, r, nil)
	caller := local(t, r, &client.Options{Serializer: wamp.FormatJSON})
	if _, err := callee.Register(ctx, "test.sum", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		total, err := client.Arg[int](inv.Args, 0)
		if err != nil {
			return nil, err
		}
		chunks := 1
		for more := inv.Progress; more; {
			next, err := inv.Next(ctx)
			if err != nil {
				return nil, err
			}
			n, err := client.Arg[int](next.Args, 0)
			if err != nil {
				return nil, err
			}
			total += n
			chunks++
			more = next.Progress
		}
		if _, err := inv.Next(ctx); err != io.EOF {
			return nil, fmt.Errorf("Next after the last chunk: %v", err)
		}
		return &client.Result{Args: wamp.List{int64(total), int64(chunks)}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	cs := caller.Stream(ctx, "test.sum", nil)
	for i := 1; i <= 4; i++ {
		if err := cs.Send(wamp.List{i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := cs.Finish(wamp.List{5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Args[0] != int64(15) || res.Args[1] != int64(5) {
		t.Errorf("result %v, want [15 5]", res.Args)
	}
	// A callee that fails on the first chunk: Finish returns its error.
	if _, err := callee.Register(ctx, "test.refuse", func(context.Context, *client.Invocation) (*client.Result, error) {
		return nil, &client.Error{URI: "com.example.refused"}
	}, nil); err != nil {
		t.Fatal(err)
	}
	cs = caller.Stream(ctx, "test.refuse", nil)
	cs.Send(wamp.List{1}, nil)
	_, err = cs.Finish(nil, nil)
	var we *client.Error
	if !errors.As(err, &we) || we.URI != "com.example.refused" {
		t.Errorf("streamed call to a failing callee: %v", err)
	}
}

func TestAdvancedCancel(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	callee := local(t, r, nil)
	for _, mode := range []string{"", client.CancelKillNoWait, client.CancelSkip} {
		t.Run("mode="+mode, func(t *testing.T) {
			caller := local(t, r, &client.Options{CancelMode: mode})
			proc := "test.cancel.default"
			if mode != "" {
				proc = "test.cancel." + mode
			}
			started := make(chan struct{}, 1)
			ended := make(chan error, 1)
			if _, err := callee.Register(ctx, proc, func(hctx context.Context, _ *client.Invocation) (*client.Result, error) {
				started <- struct{}{}
				select {
				case <-hctx.Done():
					var why *client.Error
					if !errors.As(context.Cause(hctx), &why) || why.URI != wamp.ErrCanceled {
						t.Errorf("the handler's context.Cause: %v, want the INTERRUPT's reason %s", context.Cause(hctx), wamp.ErrCanceled)
					}
					ended <- hctx.Err()
					return nil, hctx.Err()
				case <-time.After(time.Second):
					ended <- nil
					return &client.Result{Args: wamp.List{"finished"}}, nil
				}
			}, nil); err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithCancel(ctx)
			errc := make(chan error, 1)
			go func() {
				_, err := caller.Call(cctx, proc, nil, nil, nil)
				errc <- err
			}()
			<-started
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("canceled call: %v", err)
			}
			err := <-ended
			if mode == client.CancelSkip {
				if err != nil {
					t.Errorf("skip interrupted the callee: %v", err)
				}
			} else if !errors.Is(err, context.Canceled) {
				t.Errorf("the callee was not interrupted: %v", err)
			}
			// The session goes on.
			if _, err := caller.Publish(ctx, "test.after", nil, nil, wamp.Dict{"acknowledge": true}); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAdvancedCallTimeout(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	callee := local(t, r, nil)
	caller := local(t, r, nil)
	block := func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	// The router times the call out, and says why in its INTERRUPT...
	causes := make(chan error, 1)
	if _, err := callee.Register(ctx, "test.slow", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		res, err := block(ctx, inv)
		causes <- context.Cause(ctx)
		return res, err
	}, nil); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := caller.Call(short, "test.slow", nil, nil, client.CallOptions{Timeout: 50 * time.Millisecond}.Dict())
	var we *client.Error
	if !errors.As(err, &we) || we.URI != wamp.ErrTimeout {
		t.Errorf("call past its timeout: %v, want %s", err, wamp.ErrTimeout)
	}
	if cause := <-causes; !errors.As(cause, &we) || we.URI != wamp.ErrTimeout {
		t.Errorf("the handler's context.Cause: %v, want the INTERRUPT's reason %s", cause, wamp.ErrTimeout)
	}
	// ...or forwards the timeout to a callee that asked: its context has
	// the deadline and the client answers wamp.error.timeout.
	deadlines := make(chan bool, 1)
	if _, err := callee.Register(ctx, "test.slow_forwarded", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		_, ok := ctx.Deadline()
		deadlines <- ok
		return block(ctx, inv)
	}, client.RegisterOptions{ForwardTimeout: true}.Dict()); err != nil {
		t.Fatal(err)
	}
	short, cancel = context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = caller.Call(short, "test.slow_forwarded", nil, nil, client.CallOptions{Timeout: 50 * time.Millisecond}.Dict())
	if !errors.As(err, &we) || we.URI != wamp.ErrTimeout {
		t.Errorf("call past its forwarded timeout: %v", err)
	}
	select {
	case ok := <-deadlines:
		if !ok {
			t.Error("the forwarded timeout did not reach the handler's context")
		}
	default:
		t.Error("the handler did not run")
	}
}

func TestAdvancedSharedRegistration(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	caller := local(t, r, nil)
	var mu sync.Mutex
	hits := map[int]int{}
	for i := range 3 {
		callee := local(t, r, nil)
		if _, err := callee.Register(ctx, "test.shared", func(context.Context, *client.Invocation) (*client.Result, error) {
			mu.Lock()
			hits[i]++
			mu.Unlock()
			return &client.Result{Args: wamp.List{int64(i)}}, nil
		}, client.RegisterOptions{Invoke: client.InvokeRoundRobin}.Dict()); err != nil {
			t.Fatal(err)
		}
	}
	for range 9 {
		if _, err := caller.Call(ctx, "test.shared", nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if hits[0] != 3 || hits[1] != 3 || hits[2] != 3 {
		t.Errorf("round robin over 3 callees: %v", hits)
	}
	// A different policy for the same procedure is refused.
	other := local(t, r, nil)
	_, err := other.Register(ctx, "test.shared", func(context.Context, *client.Invocation) (*client.Result, error) { return nil, nil },
		client.RegisterOptions{Invoke: client.InvokeRandom}.Dict())
	var we *client.Error
	if !errors.As(err, &we) {
		t.Errorf("register with another policy: %v", err)
	}
}

func TestAdvancedPatternRegistration(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	callee := local(t, r, nil)
	caller := local(t, r, nil)
	echoProc := func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{inv.Procedure}}, nil
	}
	if _, err := callee.Register(ctx, "test.pattern.", echoProc, client.RegisterOptions{Match: client.MatchPrefix}.Dict()); err != nil {
		t.Fatal(err)
	}
	if _, err := callee.Register(ctx, "test..status", echoProc, client.RegisterOptions{Match: client.MatchWildcard}.Dict()); err != nil {
		t.Fatal(err)
	}
	for proc, want := range map[string]string{
		"test.pattern.a.b":  "test.pattern.a.b",
		"test.agent.status": "test.agent.status",
	} {
		res, err := caller.Call(ctx, proc, nil, nil, nil)
		if err != nil {
			t.Errorf("%s: %v", proc, err)
			continue
		}
		if res.Args[0] != want {
			t.Errorf("%s: the callee saw procedure %v", proc, res.Args[0])
		}
	}
}

// TestNextEndsWithTheInvocation: a handler waiting in Next with a context
// of its own (not the invocation's) is not left waiting when the caller
// cancels: Next returns the INTERRUPT's reason, and the handler ends.
func TestNextEndsWithTheInvocation(t *testing.T) {
	r := newRouter(t)
	ctx := ctxT(t)
	callee := local(t, r, nil)
	caller := local(t, r, nil)
	started, nexts := make(chan struct{}), make(chan error, 1)
	if _, err := callee.Register(ctx, "test.chunks", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		close(started)
		_, err := inv.Next(context.Background())
		nexts <- err
		return nil, err
	}, nil); err != nil {
		t.Fatal(err)
	}
	cs := caller.Stream(ctx, "test.chunks", nil)
	if err := cs.Send(wamp.List{1}, nil); err != nil {
		t.Fatal(err)
	}
	<-started
	cs.Cancel()
	select {
	case err := <-nexts:
		var why *client.Error
		if !errors.As(err, &why) || why.URI != wamp.ErrCanceled {
			t.Errorf("Next after the call was canceled: %v, want the INTERRUPT's reason %s", err, wamp.ErrCanceled)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next went on waiting after the invocation ended")
	}
}
