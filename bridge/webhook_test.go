package bridge_test

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestWebhook: events of a pattern subscription are POSTed in order with
// their topic, args, kwargs and details and a signature the endpoint can
// check; a failing endpoint is retried until it answers.
func TestWebhook(t *testing.T) {
	s := start(t, nil)
	got := make(chan map[string]any, 16)
	var fails atomic.Int32
	fails.Store(2) // the first two attempts fail
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get("X-Junction-Timestamp")
		sig, _ := hex.DecodeString(strings.TrimPrefix(r.Header.Get("X-Junction-Signature"), "sha256="))
		if !hmac.Equal(sig, bridge.WebhookSignature("hook-secret", ts, body)) {
			t.Errorf("bad signature %q on %s", r.Header.Get("X-Junction-Signature"), body)
		}
		if fails.Add(-1) >= 0 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("%s: %v", body, err)
		}
		got <- m
	}))
	t.Cleanup(ep.Close)
	wh, err := bridge.StartWebhook(t.Context(), bridge.WebhookConfig{Router: s.rt, Topic: "com.example.orders.", Match: "prefix",
		URL: ep.URL, Secret: "hook-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Stop)
	ws := s.ws(t)
	for i := range 5 {
		if _, err := ws.Publish(t.Context(), fmt.Sprintf("com.example.orders.n%d", i), wamp.List{i}, wamp.Dict{"k": "v"}, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		m := within(t, got, "a webhook POST")
		if m["topic"] != fmt.Sprintf("com.example.orders.n%d", i) || fmt.Sprint(m["args"], m["kwargs"]) != fmt.Sprintf("[%d] map[k:v]", i) || m["details"] == nil {
			t.Errorf("POST %d: %v", i, m)
		}
	}
	if n := wh.Stats().Retried; n != 2 {
		t.Errorf("Retried %d, want 2", n)
	}
}

// TestWebhookSlowEndpoint: an endpoint that never answers costs the
// router nothing: publications go on, events beyond the queue are dropped
// and counted.
func TestWebhookSlowEndpoint(t *testing.T) {
	s := start(t, nil)
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(ep.Close)
	t.Cleanup(func() { close(release) })
	wh, err := bridge.StartWebhook(t.Context(), bridge.WebhookConfig{Router: s.rt, Topic: "com.example.t", URL: ep.URL, Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Stop)
	ws := s.ws(t)
	publish := func(i int) {
		if _, err := ws.Publish(t.Context(), "com.example.t", wamp.List{i}, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
	}
	publish(0)
	within(t, arrived, "the first POST") // the worker is stuck on it
	for i := 1; i <= 20; i++ {
		publish(i)
	}
	// A subscriber behind the webhook sees everything, in order: the
	// router was not slowed.
	done := make(chan struct{})
	var n int
	if _, err := s.ws(t).Subscribe(context.Background(), "com.example.t", func(*client.Event) {
		if n++; n == 5 {
			close(done)
		}
	}, nil); err != nil {
		t.Fatal(err)
	}
	for i := 21; i < 26; i++ {
		publish(i)
	}
	within(t, done, "the events of the other subscriber")
	// 25 events while stuck and a queue of 2: drops, counted (the
	// subscription's session hands events over on its own goroutine, so
	// publish until the count shows).
	for i := 0; wh.Stats().Dropped < 1; i++ {
		if i == 10_000 {
			t.Fatal("nothing dropped with the endpoint stuck and a queue of 2")
		}
		publish(99)
	}
	if n := wh.Stats().Delivered; n != 0 {
		t.Errorf("Delivered %d with the endpoint stuck", n)
	}
}
