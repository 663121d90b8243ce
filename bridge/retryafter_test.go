package bridge_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/wamp"
)

// TestWebhookRetryAfter: an endpoint that answers 503 or 429 with
// Retry-After (in seconds, or as an HTTP date) is not POSTed to again
// before the time it asked for, though the schedule's first wait is
// 100ms, nor after more than the bound when it asks for longer; the
// event is then delivered, and the wait counted.
func TestWebhookRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter func() string
		bound      time.Duration // 0: the webhook's, 60s
		atLeast    time.Duration
	}{
		{"503 delta-seconds", http.StatusServiceUnavailable, func() string { return "1" }, 0, time.Second},
		// The date has a resolution of a second: two seconds ahead is at
		// least one second ahead.
		{"429 HTTP-date", http.StatusTooManyRequests, func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 0, time.Second},
		// An hour asked for, the bound waited: the retry comes within
		// the test's patience, after the bound.
		{"bounded", http.StatusServiceUnavailable, func() string { return "3600" }, 300 * time.Millisecond, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, nil)
			arrived := make(chan time.Time, 4)
			var answered atomic.Bool
			ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- time.Now()
				if !answered.Swap(true) {
					w.Header().Set("Retry-After", tc.retryAfter())
					http.Error(w, "not now", tc.status)
				}
			}))
			t.Cleanup(ep.Close)
			cfg := bridge.WebhookConfig{Router: s.rt, Topic: "com.example.t", URL: ep.URL}
			if tc.bound > 0 {
				bridge.SetMaxRetryAfter(&cfg, tc.bound)
			}
			wh, err := bridge.StartWebhook(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(wh.Stop)
			ws := s.ws(t)
			for i := range 2 {
				if _, err := ws.Publish(t.Context(), "com.example.t", wamp.List{i}, nil, wamp.Dict{"acknowledge": true}); err != nil {
					t.Fatal(err)
				}
			}
			t0 := within(t, arrived, "the first POST")
			t1 := within(t, arrived, "the POST tried again")
			if gap := t1.Sub(t0); gap < tc.atLeast {
				t.Errorf("tried again %v after the first POST, want at least %v", gap, tc.atLeast)
			}
			// Events are POSTed one at a time: the second event's POST
			// comes once the first is delivered and counted.
			within(t, arrived, "the second event's POST")
			if st := wh.Stats(); st.Delivered < 1 || st.Retried != 1 || st.RetryAfter != 1 || st.Dropped != 0 {
				t.Errorf("stats %+v, want the first event delivered after 1 retry that waited as Retry-After asked", st)
			}
		})
	}
}
