package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/junction-wamp/junction/internal/lograte"
)

// outboxBytes bounds what the outbox holds: what the node was handed and
// NATS has not taken yet. Past it a message is refused (counted, and its
// calls failed), as nats.go refuses past its reconnect buffer; a message
// larger by itself (NATS's max_payload may be up to 64 MiB) is taken when
// nothing else waits.
const outboxBytes = 8 << 20

// outbox publishes what the node is handed to send, in the order it was
// handed, on a goroutine of its own, so that whoever hands it (the router
// on an event loop, under its locks) never waits on nats.go: Publish takes
// the NATS connection's lock, which nats.go's flusher holds while it
// writes to the server, and writes itself once 32 KiB wait, so a server
// that reads slowly (or not at all) would stall the loops.
//
// Messages are copied into one buffer, back to back; the goroutine swaps
// it with a spare and publishes its messages while new ones go to the
// other, so that a busy node hands many messages over per wake-up.
type outbox struct {
	n *Node

	mu      sync.Mutex
	cur     outQueue
	spare   outQueue
	bytes   int // in cur and in the queue being published
	stopped bool

	wake chan struct{} // 1: cur has messages, or stop
	done chan struct{} // closed when the goroutine has ended
	// room, when not nil, is closed (and set to nil) once NATS has taken
	// a round of messages, or at stop: putPaced waits on it.
	room chan struct{}

	// logLimit rate-limits the refusal lines: a stalled NATS refuses
	// every message once the outbox is full.
	logLimit lograte.Limiter
}

type outQueue struct {
	buf  []byte
	msgs []outMsg
}

// outMsg is a message in an outQueue: its subject, its reply subject (a
// request for a table), where its data ends in buf, and for a batch of
// call messages the node it goes to and how many calls it carries
// (refused, they are failed: failCalls).
type outMsg struct {
	subj, reply string
	end         int
	node        uint64
	calls       int
}

func (o *outbox) start(n *Node) {
	o.n = n
	o.wake = make(chan struct{}, 1)
	o.done = make(chan struct{})
	go o.run()
}

// put queues data for subj (copied) and reports whether the outbox took
// it: not when it is stopped or full, which it counts and logs (a batch
// of calls counts once per call; its caller fails them).
func (o *outbox) put(subj string, data []byte, node uint64, calls int) bool {
	return o.add(outMsg{subj: subj, node: node, calls: calls}, data)
}

// request queues data for subj with a reply subject, as put does.
func (o *outbox) request(subj, reply string, data []byte) bool {
	return o.add(outMsg{subj: subj, reply: reply}, data)
}

// add queues m with data (m.end is set here).
func (o *outbox) add(m outMsg, data []byte) bool {
	subj, calls := m.subj, m.calls
	o.mu.Lock()
	if o.stopped || o.bytes > 0 && o.bytes+len(data) > outboxBytes {
		o.mu.Unlock()
		o.refused(subj, len(data), calls, errOutboxFull)
		return false
	}
	o.appendLocked(m, data)
	return true
}

// putPaced queues data for subj as put does, but first waits, until ctx
// ends, for the outbox to hold less than half of outboxBytes with it: a
// long series of messages (the chunks of a large meta answer) goes out
// at the pace NATS takes it, and leaves the other half of the outbox to
// the router's messages. For a goroutine that may wait, never the
// router's.
func (o *outbox) putPaced(ctx context.Context, subj string, data []byte) bool {
	o.mu.Lock()
	for !o.stopped && o.bytes > 0 && o.bytes+len(data) > outboxBytes/2 {
		if o.room == nil {
			o.room = make(chan struct{})
		}
		room := o.room
		o.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			o.refused(subj, len(data), 0, fmt.Errorf("waited for NATS to take what the node sent before: %w", ctx.Err()))
			return false
		}
		o.mu.Lock()
	}
	if o.stopped {
		o.mu.Unlock()
		o.refused(subj, len(data), 0, errOutboxFull)
		return false
	}
	o.appendLocked(outMsg{subj: subj}, data)
	return true
}

// appendLocked queues m with data and unlocks o.mu.
func (o *outbox) appendLocked(m outMsg, data []byte) {
	o.cur.buf = append(o.cur.buf, data...)
	m.end = len(o.cur.buf)
	o.cur.msgs = append(o.cur.msgs, m)
	o.bytes += len(data)
	first := len(o.cur.msgs) == 1
	o.mu.Unlock()
	if first {
		o.signal()
	}
}

// roomLocked wakes whoever waits in putPaced. Called under o.mu.
func (o *outbox) roomLocked() {
	if o.room != nil {
		close(o.room)
		o.room = nil
	}
}

var errOutboxFull = fmt.Errorf("the node is stopping, or NATS has not taken the last %d MiB it was sent", outboxBytes>>20)

// refused counts a message that was not sent and logs it, rate-limited.
func (o *outbox) refused(subj string, size, calls int, err error) {
	n := o.n
	n.stats.SendFailures.Add(uint64(max(calls, 1)))
	if ok, skipped := o.logLimit.Allow("refused"); ok {
		n.log.Warn("cluster: a message for another node is not sent", "subject", subj, "bytes", size, "calls", calls, "err", err, "not_logged_before", skipped)
	}
}

// waiting is how many bytes the outbox holds now, the queue being
// published included.
func (o *outbox) waiting() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return uint64(o.bytes)
}

// signal wakes the goroutine, unless a wake-up is pending already.
func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// stop publishes what is queued, then ends the goroutine; put refuses
// from then on. It returns when the goroutine has ended.
func (o *outbox) stop() {
	if o.done == nil {
		return // never started
	}
	o.mu.Lock()
	o.stopped = true
	o.roomLocked()
	o.mu.Unlock()
	o.signal()
	<-o.done
}

func (o *outbox) run() {
	defer close(o.done)
	for range o.wake {
		o.mu.Lock()
		q := o.cur
		o.cur, o.spare = o.spare, outQueue{}
		stopped := o.stopped
		o.mu.Unlock()
		o.publish(q)
		o.n.natsStats.note(o.n.nc)
		o.mu.Lock()
		o.bytes -= len(q.buf)
		o.roomLocked()
		if cap(q.buf) <= 4*callBatchBytes { // a burst's large buffer is not kept
			o.spare = outQueue{buf: q.buf[:0], msgs: q.msgs[:0]}
		}
		more := len(o.cur.msgs) > 0
		o.mu.Unlock()
		if stopped && !more {
			return
		}
		if more || stopped {
			o.signal()
		}
	}
}

// publish hands q's messages to nats.go in order, and counts, logs and
// (for calls) fails what it refuses.
func (o *outbox) publish(q outQueue) {
	n := o.n
	var refused []refusedBatch
	start := 0
	for i, m := range q.msgs {
		data := q.buf[start:m.end]
		start = m.end
		q.msgs[i] = outMsg{}
		var err error
		if m.reply == "" {
			err = n.nc.Publish(m.subj, data)
		} else {
			err = n.nc.PublishRequest(m.subj, m.reply, data)
		}
		if err != nil {
			o.refused(m.subj, len(data), m.calls, err)
			if m.calls > 0 {
				refused = append(refused, refusedBatch{m.node, slices.Clone(data)})
			}
		}
	}
	n.failCalls(refused)
}
