// Package testwait lets a test wait for what other goroutines or processes
// make true (a counter reaching a value, a node learning of another), by
// polling, with a bound: one loop for every package's tests instead of one
// each.
package testwait

import (
	"fmt"
	"testing"
	"time"
)

// interval is how long a poll sleeps between checks.
const interval = 5 * time.Millisecond

// For calls check until it returns nil, for at most within; then the test
// fails with check's last error.
func For(t testing.TB, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", within, err)
		}
		time.Sleep(interval)
	}
}

// True waits for cond to hold, for at most within; then the test fails
// saying it timed out waiting for what.
func True(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	For(t, within, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("timed out waiting for %s", what)
	})
}
