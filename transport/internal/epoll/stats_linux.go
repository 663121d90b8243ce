//go:build linux

package epoll

import "sync/atomic"

// ioCounts are one loop's counters, written by the loop alone (one
// uncontended atomic add per system call) and summed by Stats.
type ioCounts struct {
	_             [64]byte // a cache line of their own
	read, written atomic.Uint64
	reads, writes atomic.Uint64
	wakeups       atomic.Uint64
	parks         atomic.Uint64
	direct        atomic.Uint64
	_             [8]byte
}

// Stats are an engine's counters: what the loops did since New. They tell
// how much each system call carries (bytes per read or write) and how
// often a loop had to sleep and be woken, the costs that batching saves.
type Stats struct {
	BytesRead, BytesWritten uint64
	// Reads and Writes count read(2) and write(2) calls on connections.
	Reads, Writes uint64
	// Parks counts the times a loop found nothing to do and parked in
	// Go's poller; Wakeups the times another goroutine had to wake it
	// (through its eventfd) to hand it work.
	Parks, Wakeups uint64
	// DirectWrites counts the writes a loop made for a connection of
	// another loop that slept, each one wake-up saved.
	DirectWrites uint64
}

// Stats sums the loops' counters.
func (e *Engine) Stats() Stats {
	var st Stats
	for _, l := range e.loops {
		st.BytesRead += l.io.read.Load()
		st.BytesWritten += l.io.written.Load()
		st.Reads += l.io.reads.Load()
		st.Writes += l.io.writes.Load()
		st.Parks += l.io.parks.Load()
		st.Wakeups += l.io.wakeups.Load()
		st.DirectWrites += l.io.direct.Load()
	}
	return st
}

// Loop returns the index of the event loop that serves c, from 0 to the
// number of loops less one: the goroutine its handler's calls run on. It
// is fixed once Add has returned.
func (c *Conn) Loop() int { return c.loop.index }
