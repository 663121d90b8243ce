//go:build linux

package epoll

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Handler is what a loop calls for a connection, always on that loop's
// goroutine and one call at a time, with no lock held.
type Handler interface {
	// Data is called with the bytes received: the incomplete rest kept from
	// before, followed by what was just read. It returns how many it
	// consumed, and when it leaves a rest, how long that rest must grow
	// before it can make progress (a hint for the buffer; 0 for no idea).
	// b is only valid during the call; the handler may modify it.
	Data(b []byte) (n, need int)
	// EOF is called when the peer has closed its side (or the connection
	// failed) while the connection is open. Unless the handler closes the
	// connection itself, it is closed with CloseLocked.
	EOF()
	// Timer is called when the timer set with SetTimer is due; now is the
	// engine clock.
	Timer(now time.Duration)
	// Closed is called once, after the socket is closed.
	Closed()
}

// Conn is one socket on an Engine. Embed it in the type that implements
// Handler. Its lock guards its output and its state; the embedding type
// may guard its own fields with it too. Methods whose name ends in Locked,
// Output, Queued and Commit need the lock held; SetTimer and CloseRead are
// for the handler's calls on the loop.
type Conn struct {
	mu sync.Mutex

	// Set by Add, fixed after.
	loop *loop
	h    Handler
	fd   int32
	seq  uint32 // tells this connection's epoll events from a reused fd's

	// Under mu.
	out      *buffer // being written (by the write token's holder): out.b[off:] is left
	off      int
	pend     *buffer // appended to by Output, to be written after out
	spare    *buffer // a written buffer kept while the connection is busy
	state    uint8
	abort    bool  // close at once, unflushed output and all
	queued   bool  // on the loop's queue, or waiting for its turn (paced)
	paced    bool  // waiting for its turn: the loop paces listeners
	stalled  bool  // the kernel took only part: waiting for EPOLLOUT
	writing  bool  // a goroutine is in write(2) on the socket: the write token
	timerAsk bool  // WakeTimerLocked was called; the loop has not seen it yet
	outSize  int32 // what the last output buffer held: the next one's size
	// lastWrite is the engine clock of the last write, by whichever
	// loop made it.
	lastWrite int64

	// Loop goroutine only.
	registered bool
	closing    bool // the loop has seen the close: the grace timer runs
	shut       bool // output written and half-closed (SHUT_WR)
	eof        bool // nothing more will be read
	events     uint32
	in         *buffer // incomplete input, nil when none
	need       int
	tnext      *Conn // timer wheel list
	tprev      *Conn
	tat        int64 // tick the timer is due, 0 when not set

	// Written by the loop, read by Commit (is it a listener?) too.
	lastRead atomic.Int64 // engine clock of the last read that had data
}

// Connection states (Conn.state).
const (
	stateOpen    = iota
	stateClosing // CloseLocked or Abort was called
	stateClosed  // the socket is closed
)

// Lock locks the connection.
func (c *Conn) Lock() { c.mu.Lock() }

// Unlock unlocks the connection.
func (c *Conn) Unlock() { c.mu.Unlock() }

// OpenLocked reports whether the connection is open: neither closing nor
// closed.
func (c *Conn) OpenLocked() bool { return c.state == stateOpen }

// Output returns the connection's output for appending: bytes appended to
// it are sent after everything appended before, once Commit is called.
// Never modify what is already there: it may be the output of other
// callers. The caller holds the lock, and the slice is only valid until it
// releases it.
func (c *Conn) Output() *[]byte {
	if c.pend == nil {
		if c.pend = c.spare; c.pend != nil {
			c.spare = nil
		} else {
			c.pend = getBuffer(int(c.outSize))
		}
	}
	return &c.pend.b
}

// Queued returns the number of output bytes not yet written. The caller
// holds the lock.
func (c *Conn) Queued() int {
	n := 0
	if c.out != nil {
		n = len(c.out.b) - c.off
	}
	if c.pend != nil {
		n += len(c.pend.b)
	}
	return n
}

// Commit schedules the output for writing; with nothing to write, it
// returns the output buffer to its pool. The caller holds the lock.
func (c *Conn) Commit() {
	if c.pend == nil {
		return
	}
	if len(c.pend.b) == 0 {
		c.recycleLocked(c.pend)
		c.pend = nil
		return
	}
	if !c.stalled && c.state != stateClosed {
		if c.paced && c.Queued() >= paceMaxBytes {
			// Enough waits for a write: queue it again, now. Its entry
			// among the paced ones goes stale; the loop's work is
			// idempotent.
			c.paced, c.queued = false, false
		}
		c.schedule()
	}
}

// schedule puts c on its loop's queue, once, or, when its loop sleeps
// and another is awake, on the engine's list of connections that any
// awake loop writes at the end of its round (see the package
// documentation): the sleeping loop is not woken for a write that a busy
// one can make. The caller holds the lock.
func (c *Conn) schedule() {
	if c.queued || c.loop == nil {
		return
	}
	c.queued = true
	l := c.loop
	e := l.e
	if c.state == stateOpen && !c.abort && l.sleeping.Load() && e.awake.Load() > 0 && !c.listener() {
		e.omu.Lock()
		e.orphans = append(e.orphans, c)
		e.norphans.Store(int32(len(e.orphans)))
		e.omu.Unlock()
		if e.awake.Load() == 0 {
			// Every loop went to sleep meanwhile, and each looked at
			// the list before this append: wake c's own.
			l.wake()
		}
		return
	}
	l.push(c)
}

// listener reports whether c is a listener, a connection the loop paces
// (see Config.WriteInterval): those are written by their own loop only.
func (c *Conn) listener() bool {
	d := c.loop.e.cfg.WriteInterval
	return d > 0 && Now()-time.Duration(c.lastRead.Load()) >= d
}

// CloseLocked starts closing: what is queued is written, the socket is
// half-closed, and input is read (and handed to Data) until the peer closes
// its side, each within the engine's close grace; then the socket is
// closed. Output appended after CloseLocked is still written. The caller
// holds the lock.
func (c *Conn) CloseLocked() {
	if c.state != stateOpen {
		return
	}
	c.state = stateClosing
	c.paced, c.queued = false, false
	c.schedule()
}

// Abort closes the connection at once, dropping what is queued. It may be
// called from any goroutine, more than once.
func (c *Conn) Abort() {
	c.mu.Lock()
	if c.state != stateClosed {
		c.state = stateClosing
		c.abort = true
		c.paced, c.queued = false, false
		c.schedule()
	}
	c.mu.Unlock()
}

// CloseRead tells the loop that no more input is wanted: once the
// connection is closing and its output is written, it closes without
// waiting for the peer's end of stream. For the handler's calls.
func (c *Conn) CloseRead() { c.eof = true }

// SetTimer arms the connection's one timer for time at on the engine clock
// (see Now), replacing the one set before; at <= 0 cancels it. For the
// handler's calls, and before Add.
func (c *Conn) SetTimer(at time.Duration) {
	if c.loop == nil || !c.registered {
		c.tat = int64(at) // set by the loop when it takes the connection
		return
	}
	c.loop.wheel.set(c, at)
}

// SetInput gives the connection bytes already read from its socket (a TLS
// handshake run before Add reads past its end, say): its loop hands them
// to Data first, when it takes the connection, and writes what Data
// queues. Call it before Add.
func (c *Conn) SetInput(b []byte) {
	if len(b) == 0 {
		return
	}
	c.in = getBuffer(len(b))
	c.in.b = append(c.in.b, b...)
}

// SetTimerBefore arms the connection's timer for time at unless it is set
// for the same tick or earlier already; at <= 0 does nothing. For the
// handler's calls, once the loop has the connection.
func (c *Conn) SetTimerBefore(at time.Duration) {
	if at <= 0 || c.loop == nil || !c.registered {
		return
	}
	if c.tat != 0 && c.tat*c.loop.wheel.tick <= int64(at)+c.loop.wheel.tick-1 {
		return
	}
	c.loop.wheel.set(c, at)
}

// WakeTimerLocked asks the connection's loop to call the handler's Timer
// at its next round, as if the timer were due, so that the handler can
// set it (a writer that made state the loop is to drop once the
// connection is quiet, say: the loop's Timer then arms the timer for
// that). Unlike SetTimer, it may be called from any goroutine, the
// caller holding the lock; the loop is woken for it, once per request
// (more calls before the loop sees the first are one), so call it on a
// change of state, not on every write. A closing connection's timer is
// its close grace: the request is dropped.
func (c *Conn) WakeTimerLocked() {
	if c.timerAsk || c.loop == nil || c.state != stateOpen {
		return
	}
	c.timerAsk = true
	c.loop.pushTimer(c)
}

// LastWrite returns the engine clock of the last write that sent data (0
// before any). For the handler's calls.
func (c *Conn) LastWrite() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.lastWrite)
}

// LastRead returns the engine clock of the last read that brought data
// (0 before any). For the handler's calls.
func (c *Conn) LastRead() time.Duration { return time.Duration(c.lastRead.Load()) }

// Control calls f with the connection's socket, unless it is closed. It is
// for tests and tools (to set a socket option, say); f must not keep fd.
func (c *Conn) Control(f func(fd int)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return false
	}
	f(int(c.fd))
	return true
}

// Now returns the engine clock: the monotonic time since the process
// started.
func Now() time.Duration { return time.Since(epoch) }

var epoch = time.Now()

// recycleLocked takes back an emptied output buffer: it stays as the spare
// while more output is pending (two buffers take turns under load) and
// goes back to its pool otherwise, so that an idle connection holds none.
// The next buffer is sized after what this one held, so that a connection
// sent a message now and then takes a small one (a fan-out to many then
// costs little memory at once) and a busy one a buffer that fits its
// bursts.
func (c *Conn) recycleLocked(b *buffer) {
	c.outSize = int32(min(max(len(b.b), int(c.outSize)/2), maxClass))
	b.b = b.b[:0]
	if c.spare == nil && c.pend != nil {
		c.spare = b
		return
	}
	putBuffer(b)
}

// releaseLocked drops every output buffer.
func (c *Conn) releaseLocked() {
	for _, b := range [...]*buffer{c.out, c.pend, c.spare} {
		if b != nil {
			putBuffer(b)
		}
	}
	c.out, c.pend, c.spare, c.off = nil, nil, nil, 0
}

// writeLocked writes the output until it is all written or the kernel
// takes no more, releasing the lock during each write(2): meanwhile, Send
// appends to pend, not to the buffer being written. It returns the error
// of a failed write, and busy when another goroutine holds the write token
// (that writer writes pend too, and hands the connection back to its loop
// if there is more to do than write).
//
// io is the counters of the loop making the writes, which is not always
// the connection's own (direct writes, engine_linux.go's adopt): each
// loop's counters stay written by that loop alone.
func (c *Conn) writeLocked(io *ioCounts) (busy bool, err error) {
	if c.writing {
		return true, nil
	}
	c.writing = true
	err = c.writeTokenLocked(io)
	c.writing = false
	return false, err
}

// writeTokenLocked is writeLocked's work, with the write token held.
func (c *Conn) writeTokenLocked(io *ioCounts) error {
	for {
		if c.out == nil {
			if c.pend == nil || len(c.pend.b) == 0 {
				break
			}
			c.out, c.pend, c.off = c.pend, nil, 0
		}
		p := c.out.b[c.off:]
		c.mu.Unlock()
		n, err := rawWrite(int(c.fd), p)
		io.writes.Add(1)
		c.mu.Lock()
		if n > 0 {
			c.off += n
			c.lastWrite = int64(Now())
			io.written.Add(uint64(n))
		}
		if c.off == len(c.out.b) {
			c.recycleLocked(c.out)
			c.out, c.off = nil, 0
			continue
		}
		switch {
		case err == unix.EINTR:
			continue
		case err != nil && err != unix.EAGAIN:
			return err
		}
		// The socket's buffer is full: wait for writability.
		c.stalled = true
		return nil
	}
	if c.spare != nil {
		putBuffer(c.spare)
		c.spare = nil
	}
	c.stalled = false
	return nil
}
