package router

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// background runs the router's blocking work off the goroutines that route
// messages, as authentication does: an event history query waits for the
// history writer (an fsync) and reads the file, and must not stall the
// event loop that read its CALL, nor every other connection of that loop.
// The work is bounded: at most cap(slots) tasks at once (one more is
// refused, not queued), each with a deadline, and Router.Close stops them
// all and waits for them.
type background struct {
	ctx   context.Context
	stop  context.CancelFunc
	slots chan struct{}

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Errors of background.start.
var (
	errBusy    = errors.New("too many tasks in progress")
	errStopped = errors.New("the router is closing")
)

// maxBackgroundTasks bounds the router's background tasks at once: the
// get_events queries (each holds a read transaction and the events it
// found until answered) and, in a cluster, the meta calls that wait for
// the other nodes' parts (each at most the cluster's query timeout). They
// share the bound; one more is refused with wamp.error.limit_exceeded and
// counted (Stats.LimitExceeded).
const maxBackgroundTasks = 32

func (b *background) init(tasks int) {
	b.ctx, b.stop = context.WithCancel(context.Background())
	b.slots = make(chan struct{}, tasks)
}

// start runs task on a goroutine of its own, with a context that ends
// after timeout or when the router closes. It fails, running nothing, with
// errBusy when cap(slots) tasks are running and with errStopped once the
// router is closing.
func (b *background) start(timeout time.Duration, task func(ctx context.Context)) error {
	select {
	case b.slots <- struct{}{}:
	default:
		return errBusy
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.slots
		return errStopped
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer func() {
			<-b.slots
			b.wg.Done()
		}()
		ctx, cancel := context.WithTimeout(b.ctx, timeout)
		defer cancel()
		task(ctx)
	}()
	return nil
}

// close stops the tasks (their contexts end) and waits for them to return.
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.stop()
	b.wg.Wait()
}

// busyError counts a meta call refused because every background slot is
// taken and returns the error it is answered with.
func (r *Router) busyError(proc wamp.URI) error {
	r.stats.LimitExceeded.Add(1)
	return callErrorf(wamp.ErrLimitExceeded, "%s: %d background queries (event history, cluster-wide meta calls) are in progress, the most the router answers at once; try again later",
		proc, maxBackgroundTasks)
}
