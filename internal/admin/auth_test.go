package admin

import (
	"context"
	"io"
	"net/http"
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
