package bridge_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/testwait"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

// TestCallOutlivesWriteTimeout: a bridge call may take its whole
// call_timeout, longer than the listener's HTTP write timeout (30 s and
// 60 s by default), and its answer still goes out. Scaled down: a write
// timeout of 300 ms and a call of 1 s.
func TestCallOutlivesWriteTimeout(t *testing.T) {
	s := startWith(t, nil, func(srv *transport.Server) { srv.HTTP.WriteTimeout = 300 * time.Millisecond })
	if _, err := s.ws(t).Register(t.Context(), "com.example.slow", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
		return &client.Result{Args: wamp.List{"done"}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if status, _, raw := s.do(t, "POST", "/call", "application/json", `{"procedure": "com.example.slow"}`); status != 200 {
		t.Fatalf("a call of 1 s with a write timeout of 300 ms: %d %s", status, raw)
	}
}

// TestCallTimeoutClamped: options.timeout is at most call_timeout,
// however large (it used to overflow a time.Duration: 504 at once, or
// 400).
func TestCallTimeoutClamped(t *testing.T) {
	s := start(t, nil)
	if _, err := s.ws(t).Register(t.Context(), "com.example.fast", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{1}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	for _, ms := range []string{"60000", "10000000000000", "9223372036854775807"} {
		status, _, raw := s.do(t, "POST", "/call", "application/json", `{"procedure": "com.example.fast", "options": {"timeout": `+ms+`}}`)
		if status != 200 {
			t.Errorf("timeout %s ms: %d %s", ms, status, raw)
		}
	}
}

// redirecting is an endpoint that answers a POST to /hook with 302 to
// /elsewhere, which answers anything with 200 and counts the requests it
// got.
func redirecting(t *testing.T, elsewhere *atomic.Int32) *httptest.Server {
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		elsewhere.Add(1)
		fmt.Fprintf(w, `{"args": ["%s %s"]}`, r.Method, r.URL.Path)
	}))
	t.Cleanup(ep.Close)
	return ep
}

// TestWebhookRedirectNotFollowed: an endpoint that redirects has not taken
// the event: it is dropped (counted), not followed with a GET that loses
// the body and counted delivered.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	s := start(t, nil)
	var elsewhere atomic.Int32
	ep := redirecting(t, &elsewhere)
	wh, err := bridge.StartWebhook(t.Context(), bridge.WebhookConfig{Router: s.rt, Topic: "com.example.t", URL: ep.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Stop)
	if _, err := s.ws(t).Publish(t.Context(), "com.example.t", wamp.List{1}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	testwait.True(t, 10*time.Second, "the event to be delivered or dropped", func() bool {
		st := wh.Stats()
		return st.Delivered+st.Dropped > 0
	})
	if st := wh.Stats(); st.Delivered != 0 || st.Dropped != 1 || st.Retried != 0 || elsewhere.Load() != 0 {
		t.Fatalf("after a 302: %+v, %d requests to where it pointed", st, elsewhere.Load())
	}
}

// TestCalleeRedirectNotFollowed: an HTTP callee that redirects has not
// answered the call: the caller gets junction.error.http_callee, not the
// answer to a GET without the invocation.
func TestCalleeRedirectNotFollowed(t *testing.T) {
	s := start(t, nil)
	var elsewhere atomic.Int32
	ep := redirecting(t, &elsewhere)
	c, err := bridge.StartCallee(t.Context(), bridge.CalleeConfig{Router: s.rt, Procedure: "com.example.p", URL: ep.URL + "/hook", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	res, err := s.ws(t).Call(t.Context(), "com.example.p", wamp.List{1}, nil, nil)
	if we, ok := err.(*client.Error); !ok || we.URI != bridge.ErrHTTPCallee || elsewhere.Load() != 0 {
		t.Fatalf("a call answered by a redirect: %v %+v, %d requests to where it pointed", err, res, elsewhere.Load())
	}
}

// TestWebhookStopCountsWhatItDrops: the event being delivered when the
// webhook stops, and those queued behind it, are counted as dropped, not
// lost silently.
func TestWebhookStopCountsWhatItDrops(t *testing.T) {
	s := start(t, nil)
	arrived := make(chan struct{}, 16)
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // so that net/http sees the client go
		arrived <- struct{}{}
		<-r.Context().Done() // never answers
	}))
	t.Cleanup(ep.Close)
	wh, err := bridge.StartWebhook(t.Context(), bridge.WebhookConfig{Router: s.rt, Topic: "com.example.t", URL: ep.URL})
	if err != nil {
		t.Fatal(err)
	}
	ws := s.ws(t)
	for i := range 4 {
		if _, err := ws.Publish(t.Context(), "com.example.t", wamp.List{i}, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
	}
	within(t, arrived, "the first POST")
	wh.Stop()
	// The first was being delivered; how many of the other three reached
	// the webhook before it stopped depends on scheduling, and those
	// that did are dropped too.
	if st := wh.Stats(); st.Delivered != 0 || st.Dropped < 1 || st.Dropped > 4 {
		t.Fatalf("4 events published, the endpoint stuck on the first, then Stop: %+v", st)
	}
}
