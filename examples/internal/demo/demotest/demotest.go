// Package demotest runs the examples in their tests: to completion,
// returning what they printed, or in the background for one that serves,
// and checks that they leave no goroutines behind.
package demotest

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/examples/internal/demo"
	"go.uber.org/goleak"
)

// Run runs an example with args and returns what it printed. The test fails,
// showing the output, if the example fails, and if it leaves goroutines
// behind.
func Run(t *testing.T, run demo.Func, args ...string) string {
	t.Helper()
	defer goleak.VerifyNone(t)
	var out strings.Builder
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return out.String()
}

// Equal fails the test unless out is want.
func Equal(t *testing.T, out, want string) {
	t.Helper()
	if out != want {
		t.Errorf("output\n%s\nwant\n%s", out, want)
	}
}

// Contains fails the test unless out contains each of wants.
func Contains(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Matches fails the test unless out matches each of the regular
// expressions exprs.
func Matches(t *testing.T, out string, exprs ...string) {
	t.Helper()
	for _, expr := range exprs {
		if !regexp.MustCompile(expr).MatchString(out) {
			t.Errorf("output does not match %s:\n%s", expr, out)
		}
	}
}

// Example is an example running in the background.
type Example struct {
	done chan struct{}
	err  error // run's, once done is closed

	mu  sync.Mutex
	out strings.Builder
}

// Start runs an example that serves until its context ends, with args, in
// the background. When the test ends, Start ends the example's context; the
// test fails if the example fails, and if it leaves goroutines behind.
func Start(t *testing.T, run demo.Func, args ...string) *Example {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the example has ended
	ctx, cancel := context.WithCancel(context.Background())
	e := &Example{done: make(chan struct{})}
	go func() {
		defer close(e.done)
		e.err = run(ctx, args, e)
	}()
	t.Cleanup(func() {
		cancel()
		<-e.done
		if e.err != nil {
			t.Errorf("example: %v\n%s", e.err, e.Output())
		}
	})
	return e
}

// Write collects the example's output.
func (e *Example) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.out.Write(p)
}

// Output returns what the example has printed so far.
func (e *Example) Output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.out.String()
}

// WaitFor waits up to timeout for the output to match the regular
// expression expr, and returns the leftmost match and its submatches; nil
// if the example ends or the time is up first.
func (e *Example) WaitFor(expr string, timeout time.Duration) []string {
	re := regexp.MustCompile(expr)
	deadline := time.After(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(e.Output()); m != nil {
			return m
		}
		select {
		case <-tick.C:
		case <-e.done:
			return re.FindStringSubmatch(e.Output())
		case <-deadline:
			return nil
		}
	}
}
