package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/router"
)

// waitChecks waits until the password limiter's counters satisfy cond.
func waitChecks(t *testing.T, l *auth.KDFLimiter, what string, cond func(auth.KDFStats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st := l.Stats(); !cond(st); st = l.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %+v", what, st)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAdminLoginsSharePasswordLimiter: the admin endpoints' password
// checks go through the router's password limiter, as ticket logins do:
// with its only slot taken, parallel wrong logins from one address queue
// up to its per-address bound and the rest are refused at once, unhashed
// (429), and the queued ones are hashed one at a time once the slot is
// free. Before, each request hashed at once, however many came.
func TestAdminLoginsSharePasswordLimiter(t *testing.T) {
	const perAddress, logins = 2, 5
	rt, err := router.New(router.Config{
		Realms:         []router.RealmConfig{{Name: "realm1", Anonymous: true}},
		PasswordChecks: auth.KDFLimits{Concurrent: 1, PerAddress: perAddress},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := rt.PasswordLimiter()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics here\n") })
	base := serve(t, Config{Router: rt, Metrics: metrics,
		Access: &Access{Users: []User{{Name: "ops", Password: fastHash(t, "secret")}}}})

	release, err := l.Acquire(context.Background(), "10.9.9.9:1") // the only slot, another address
	if err != nil {
		t.Fatal(err)
	}
	codes := make(chan int, logins)
	for range logins {
		go func() {
			code, _, _ := do(t, base, request{path: "/metrics", user: "ops", pass: "guess"})
			codes <- code
		}()
	}
	waitChecks(t, l, "the logins queued or refused", func(st auth.KDFStats) bool {
		return st.Waiting == perAddress && st.Refused == logins-perAddress
	})
	for range logins - perAddress {
		if code := <-codes; code != http.StatusTooManyRequests {
			t.Fatalf("login refused by the limiter answered %d, want 429", code)
		}
	}
	release()
	for range perAddress {
		if code := <-codes; code != http.StatusUnauthorized {
			t.Fatalf("queued wrong login answered %d, want 401", code)
		}
	}
	if code, _, _ := do(t, base, request{path: "/metrics", user: "ops", pass: "secret"}); code != http.StatusOK {
		t.Fatalf("right login: %d", code)
	}
	if st := l.Stats(); st.Computed != 1+perAddress+1 || st.Refused != logins-perAddress || st.Running != 0 || st.Waiting != 0 {
		t.Errorf("after the logins: %+v", st)
	}
}

// TestSetAccess: new logins replace the old from the next request, the
// credentials verified before included (they were remembered); a live
// stream opened under the old logins ends; the endpoints cannot be given
// logins, or lose all of them, while they serve.
func TestSetAccess(t *testing.T) {
	rt := newRouter(t)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics here\n") })
	h, err := New(Config{Router: rt, Metrics: metrics, WebView: true, Access: &Access{
		Users:  []User{{Name: "ops", Password: fastHash(t, "old")}, {Name: "dev", Password: fastHash(t, "dev-pass")}},
		Tokens: []Token{{Name: "prometheus", Hash: fastHash(t, "scrape-token")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	bearer := func(token string) request {
		return request{path: "/metrics", header: map[string]string{"Authorization": "Bearer " + token}}
	}
	for _, r := range []request{{path: "/metrics", user: "ops", pass: "old"}, {path: "/metrics", user: "dev", pass: "dev-pass"}, bearer("scrape-token")} {
		if code, _, _ := do(t, srv.URL, r); code != 200 {
			t.Fatalf("%+v before: %d", r, code)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/api/events", nil)
	req.SetBasicAuth("dev", "dev-pass")
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("/api/events: %v %v", stream, err)
	}
	defer stream.Body.Close()

	if err := h.SetAccess([]User{{Name: "ops", Password: fastHash(t, "new")}, {Name: "dev", Password: fastHash(t, "dev-pass")}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r    request
		want int
	}{
		{request{path: "/metrics", user: "ops", pass: "old"}, 401},
		{bearer("scrape-token"), 401},
		{request{path: "/metrics", user: "ops", pass: "new"}, 200},
		{request{path: "/metrics", user: "dev", pass: "dev-pass"}, 200},
	} {
		if code, _, _ := do(t, srv.URL, tc.r); code != tc.want {
			t.Errorf("%+v after: %d, want %d", tc.r, code, tc.want)
		}
	}
	// The stream ends at its next tick, whoever opened it.
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, stream.Body); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the stream ended with %v, want its end", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the live stream opened under the old logins goes on")
	}

	if err := h.SetAccess(nil, nil); !errors.Is(err, ErrAccessFixed) {
		t.Errorf("SetAccess with no logins: %v", err)
	}
	open, err := New(Config{Router: rt, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	if err := open.SetAccess([]User{{Name: "ops", Password: fastHash(t, "new")}}, nil); !errors.Is(err, ErrAccessFixed) {
		t.Errorf("SetAccess of endpoints without logins: %v", err)
	}
}

// TestSetAccessDuringCheck: a token removed by SetAccess while its check
// waits for the password limiter is refused: the check went by the
// logins in force when it began, and a request it let through after the
// swap could still kill sessions with a credential no longer configured.
func TestSetAccessDuringCheck(t *testing.T) {
	rt, err := router.New(router.Config{
		Realms:         []router.RealmConfig{{Name: "realm1", Anonymous: true}},
		PasswordChecks: auth.KDFLimits{Concurrent: 1, PerAddress: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := rt.PasswordLimiter()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics here\n") })
	h, err := New(Config{Router: rt, Metrics: metrics, Access: &Access{
		Users:  []User{{Name: "ops", Password: fastHash(t, "ops-pass")}},
		Tokens: []Token{{Name: "leaked", Hash: fastHash(t, "leaked-token"), Admin: true}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	release, err := l.Acquire(context.Background(), "10.9.9.9:1") // the only slot
	if err != nil {
		t.Fatal(err)
	}
	codes := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer leaked-token")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			codes <- 0
			return
		}
		resp.Body.Close()
		codes <- resp.StatusCode
	}()
	waitChecks(t, l, "the token's check queued", func(st auth.KDFStats) bool { return st.Waiting == 1 })
	if err := h.SetAccess([]User{{Name: "ops", Password: fastHash(t, "ops-pass")}}, nil); err != nil {
		t.Fatal(err)
	}
	release()
	if code := <-codes; code != http.StatusUnauthorized {
		t.Fatalf("the token removed while its check waited answered %d, want 401", code)
	}
}
