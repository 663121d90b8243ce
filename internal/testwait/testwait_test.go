package testwait

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestForReturnsOnceTrue(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	True(t, 5*time.Second, "three", func() bool { return n.Load() == 3 })
}

// fatalT records a test's failure instead of ending it.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper() {}
func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestForFailsWithLastError(t *testing.T) {
	f := &fatalT{TB: t}
	calls := 0
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Fatalf("For did not fail the test: %v", r)
			}
		}()
		For(f, 20*time.Millisecond, func() error { calls++; return errors.New("not yet") })
	}()
	if calls < 2 || !strings.Contains(f.msg, "not yet") {
		t.Fatalf("%d checks, failure %q", calls, f.msg)
	}
}
