//go:build linux

package epoll

import "sync/atomic"

// ioCounts are one loop's byte counts, written by the loop alone (one
// uncontended atomic add per system call) and summed by Stats.
type ioCounts struct {
	_             [64]byte // a cache line of their own
	read, written atomic.Uint64
	_             [48]byte
}

// Stats are an engine's counters.
type Stats struct {
	BytesRead, BytesWritten uint64 // by every loop, since New
}

// Stats sums the loops' counters.
func (e *Engine) Stats() Stats {
	var st Stats
	for _, l := range e.loops {
		st.BytesRead += l.io.read.Load()
		st.BytesWritten += l.io.written.Load()
	}
	return st
}

// Loop returns the index of the event loop that serves c, from 0 to the
// number of loops less one: the goroutine its handler's calls run on. It
// is fixed once Add has returned.
func (c *Conn) Loop() int { return c.loop.index }
