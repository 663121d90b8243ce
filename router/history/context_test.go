package history

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// TestQueryStopsWhenContextDone checks that a query whose context is done
// stops reading the history instead of going through it all (a long read
// holds bbolt's read transaction, which holds up the writer when the file
// grows).
func TestQueryStopsWhenContextDone(t *testing.T) {
	s := open(t, tempPath(t), Rule{Match: wamp.MatchPrefix, Topic: "t", Limit: 5000})
	for i := range 3000 {
		appendAll(t, s, ev("t.a", wamp.ID(i+1), i))
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, q := range []Query{
		{Match: wamp.MatchPrefix, Pattern: "t"},
		{Match: wamp.MatchPrefix, Pattern: "t", Reverse: true},
		{Match: wamp.MatchPrefix, Pattern: "t", FromPublication: 1},
	} {
		evs, err := s.Query(ctx, realm, &q)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Query %+v with its context done: %d events, err %v; want context.Canceled", q, len(evs), err)
		}
	}
}

// TestFlushWhileClosingHonoursContext checks that Flush (and so Query)
// returns when its context is done while Close waits for a slow write.
func TestFlushWhileClosingHonoursContext(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	s, err := Open(tempPath(t), Config{
		Rules: map[wamp.URI][]Rule{realm: {{Match: wamp.MatchExact, Topic: "t", Limit: 10}}},
		BeforeWrite: func() {
			once.Do(func() {
				close(entered)
				<-gate
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, s, ev("t", 1, 1))
	<-entered // the writer holds the batch
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for { // until Close has begun
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if closing {
			break
		}
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	flushed := make(chan error, 1)
	go func() { flushed <- s.Flush(ctx) }()
	var stuck bool
	select {
	case err := <-flushed:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Flush: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Flush with its context done still waits for the writer after 10s")
		stuck = true
	}
	close(gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if stuck {
		<-flushed
	}
}
