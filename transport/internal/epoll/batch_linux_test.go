//go:build linux

package epoll

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/junction-wamp/junction/internal/testwait"
)

// rounds is a Batcher that numbers the batches and tracks how many are open.
type rounds struct {
	open, begun atomic.Int32
}

func (r *rounds) BeginBatch() { r.open.Add(1); r.begun.Add(1) }
func (r *rounds) EndBatch()   { r.open.Add(-1) }

// batchConn reports, for each Data call, which batch it came in (0: none
// was open), and waits for gate first when there is one.
type batchConn struct {
	Conn
	r    *rounds
	gate chan struct{}
	held chan struct{} // closed when Data waits for gate
	in   chan int32
}

func (c *batchConn) Data(b []byte) (int, int) {
	if c.gate != nil {
		close(c.held)
		<-c.gate
		c.gate = nil
	}
	batch := c.r.begun.Load()
	if c.r.open.Load() == 0 {
		batch = 0
	}
	c.in <- batch
	return len(b), 1
}

func (c *batchConn) EOF()                {}
func (c *batchConn) Timer(time.Duration) {}
func (c *batchConn) Closed()             {}

// TestBatchSpansRound: Config.Batch encloses the handling of every event of
// one wake-up of a loop, so that the input of two connections read in the
// same round is one batch.
func TestBatchSpansRound(t *testing.T) {
	r := new(rounds)
	e := newEngine(t, Config{Loops: 1, Batch: r})
	newConn := func(gate chan struct{}) (*batchConn, func([]byte)) {
		c := &batchConn{r: r, gate: gate, held: make(chan struct{}), in: make(chan int32, 16)}
		peer := pair(t, e, &c.Conn, c, 0)
		return c, func(b []byte) {
			if _, err := peer.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	next := func(c *batchConn) int32 {
		t.Helper()
		select {
		case b := <-c.in:
			return b
		case <-time.After(5 * time.Second):
			t.Fatal("no Data call")
			return 0
		}
	}

	// The loop is held in a's handler while b and c get their input, so
	// that its next wake-up finds both.
	gate := make(chan struct{})
	a, writeA := newConn(gate)
	b, writeB := newConn(nil)
	c, writeC := newConn(nil)
	// Their first input makes sure the loop watches b and c.
	writeB([]byte("b0"))
	writeC([]byte("c0"))
	next(b)
	next(c)
	writeA([]byte("a"))
	select {
	case <-a.held:
	case <-time.After(5 * time.Second):
		t.Fatal("a's input was not read")
	}
	writeB([]byte("b"))
	writeC([]byte("c"))
	close(gate)
	batchA := next(a)
	if batchA == 0 {
		t.Fatal("a's input came outside a batch")
	}
	batchB, batchC := next(b), next(c)
	if batchB == 0 || batchB != batchC {
		t.Fatalf("b and c, ready in one wake-up, came in batches %d and %d", batchB, batchC)
	}
	if batchB == batchA {
		t.Fatalf("b and c came in a's batch %d, begun before their input", batchA)
	}
	testwait.True(t, 5*time.Second, "every batch to end", func() bool { return r.open.Load() == 0 })
}
