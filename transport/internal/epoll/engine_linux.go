//go:build linux

package epoll

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config configures an Engine. Zero fields take the defaults documented on
// each.
type Config struct {
	// Loops is the number of event loops; default GOMAXPROCS.
	Loops int
	// Tick is the resolution of the timers; default 100ms.
	Tick time.Duration
	// CloseGrace bounds each phase of a close: writing what is queued,
	// then waiting for the peer to close its side; default 2s.
	CloseGrace time.Duration
	// ReadBufferSize is the size of each loop's read buffer; default 64 KiB.
	ReadBufferSize int
	// WriteInterval turns on the pacing of listeners, connections that
	// have sent nothing for that long (subscribers, say): when a loop
	// writes to listeners more often than ListenerWriteRate times a
	// second, it holds back their writes, up to WriteInterval after the
	// last one, so that each write carries more. Zero writes at once,
	// always.
	WriteInterval time.Duration
	// ListenerWriteRate is the number of writes to listeners per second
	// and loop above which they are paced; default 25,000.
	ListenerWriteRate int
	// Batch is told where each loop's handling of the events of one
	// wake-up begins and ends: BeginBatch before the first handler's
	// Data, EndBatch after the last (and around the Data of input given
	// with SetInput); default none. What the handlers hand on
	// to elsewhere meanwhile (a router's messages for another node of a
	// cluster) can then go together, once per round rather than once per
	// read. The calls may overlap across loops.
	Batch Batcher
}

// Batcher is told where a loop's rounds begin and end (Config.Batch).
type Batcher interface {
	BeginBatch()
	EndBatch()
}

// noBatch is the Batcher of a Config without one.
type noBatch struct{}

func (noBatch) BeginBatch() {}
func (noBatch) EndBatch()   {}

// Defaults for Config's zero fields.
const (
	DefaultTick           = 100 * time.Millisecond
	DefaultCloseGrace     = 2 * time.Second
	DefaultReadBufferSize = 64 << 10

	DefaultListenerWriteRate = 25000
)

const (
	// eventsPerWait is the most events one epoll_wait returns.
	eventsPerWait = 256
	// readsPerEvent bounds the reads of one socket per readiness event, so
	// that one busy client cannot starve the others of its loop.
	readsPerEvent = 8
	// flushBudget is how long a loop writes queued connections before it
	// polls for input again (see the package documentation).
	flushBudget = 300 * time.Microsecond
	// paceMaxBytes is how much output a connection gathers at most while
	// it waits for its turn.
	paceMaxBytes = 64 << 10
	// paceWindow is how often a loop revises its pacing interval.
	paceWindow = 100 * time.Millisecond
)

// ErrClosed is returned by Add after Close.
var ErrClosed = errors.New("epoll: engine closed")

// Engine runs the event loops. Create it with New and stop it with Close.
type Engine struct {
	cfg   Config
	loops []*loop
	next  atomic.Uint32
	seq   atomic.Uint32
	wg    sync.WaitGroup
	once  sync.Once

	// awake counts the loops that are not (about to be) asleep.
	awake atomic.Int32
	// orphans are open connections given output while their loop slept:
	// the first awake loop to end its round writes them.
	// norphans is len(orphans), kept under omu, so that a loop ending its
	// round or going to sleep sees an empty list without taking omu (a
	// lock every loop would otherwise take every round).
	omu      sync.Mutex
	orphans  []*Conn
	norphans atomic.Int32
}

// New starts an engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.GOMAXPROCS(0)
	}
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.CloseGrace <= 0 {
		cfg.CloseGrace = DefaultCloseGrace
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = DefaultReadBufferSize
	}
	if cfg.ListenerWriteRate <= 0 {
		cfg.ListenerWriteRate = DefaultListenerWriteRate
	}
	if cfg.Batch == nil {
		cfg.Batch = noBatch{}
	}
	e := &Engine{cfg: cfg}
	for range cfg.Loops {
		l, err := newLoop(e)
		if err == nil {
			l.index = len(e.loops)
		}
		if err != nil {
			for _, l := range e.loops {
				l.release()
			}
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	e.awake.Store(int32(len(e.loops)))
	e.wg.Add(len(e.loops))
	for _, l := range e.loops {
		go l.run()
	}
	return e, nil
}

// Add hands the non-blocking socket fd to the engine, which owns it from
// now on: c's handler h is called for it, on one of the loops, until it is
// closed. timer, when positive, arms c's timer (as SetTimer does). After
// Close, Add closes fd and returns ErrClosed, and h is never called.
func (e *Engine) Add(c *Conn, fd int, h Handler, timer time.Duration) error {
	l := e.loops[int(e.next.Add(1))%len(e.loops)]
	c.mu.Lock() // Abort may be called already, from another goroutine
	c.loop, c.h, c.fd, c.seq = l, h, int32(fd), e.seq.Add(1)
	c.tat = 0
	if timer > 0 {
		c.tat = int64(timer)
	}
	c.queued = true
	l.mu.Lock()
	ok := !l.stopping
	if ok {
		l.queue = append(l.queue, c)
		l.wakeLocked()
	}
	l.mu.Unlock()
	c.mu.Unlock()
	if !ok {
		unix.Close(fd)
		return ErrClosed
	}
	return nil
}

// Close aborts every connection, waits for their handlers' Closed calls
// and stops the loops. It may be called more than once.
func (e *Engine) Close() {
	e.once.Do(func() {
		for _, l := range e.loops {
			l.mu.Lock()
			l.stopping = true
			l.mu.Unlock()
			l.wake()
		}
	})
	e.wg.Wait()
}

// loop is one event loop: an epoll instance, the goroutine that waits on
// it, and what that goroutine owns.
type loop struct {
	e        *Engine
	index    int // in Engine.loops
	io       ioCounts
	epfd     int
	evfd     int // eventfd that wakes the loop
	sleeping atomic.Bool

	// The epoll fd as a file in Go's poller: the loop goroutine parks
	// there instead of blocking a thread in epoll_wait.
	file     *os.File
	rc       syscall.RawConn
	deadline time.Time
	// poll is the function rc.Read calls, made once (a closure made per
	// wait would cost three allocations each time the loop parks), and
	// polled and pollErr what it found.
	poll    func(uintptr) bool
	polled  int
	pollErr error

	mu       sync.Mutex
	queue    []*Conn // connections that want the loop: new, written to, closing
	timers   []*Conn // connections that asked for a timer (WakeTimerLocked)
	stopping bool
	stopped  bool

	// Loop goroutine only.
	work   []*Conn // the queue being worked through, from work[head:]
	head   int
	paced  []*Conn // connections waiting for their turn, from paced[phead:]
	phead  int
	pace   time.Duration // the interval listeners are held to now; 0 for none
	lw     int           // writes to listeners since lwFrom
	lwFrom time.Duration
	spare  []*Conn
	ospare []*Conn // Engine.orphans and this take turns
	conns  []*Conn // by fd
	n      int
	buf    []byte
	events []unix.EpollEvent
	wheel  wheel
}

func newLoop(e *Engine) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	unix.SetNonblock(epfd, true)
	file := os.NewFile(uintptr(epfd), "epoll")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		unix.Close(evfd)
		return nil, fmt.Errorf("epoll fd in Go's poller: %w", err)
	}
	l := &loop{
		e:      e,
		epfd:   epfd,
		evfd:   evfd,
		file:   file,
		rc:     rc,
		buf:    make([]byte, e.cfg.ReadBufferSize),
		events: make([]unix.EpollEvent, eventsPerWait),
		wheel:  newWheel(e.cfg.Tick, Now()),
	}
	l.poll = l.pollOnce
	return l, nil
}

// pollOnce is rc.Read's callback in wait: it polls without blocking and
// reports whether the loop has something (events or an error) or is to
// park until the epoll fd is readable.
func (l *loop) pollOnce(uintptr) bool {
	l.polled, l.pollErr = pollEvents(l.epfd, l.events)
	if l.polled > 0 || l.pollErr != nil && l.pollErr != unix.EINTR {
		return true
	}
	l.io.parks.Add(1)
	return false
}

func (l *loop) release() {
	l.file.Close()
	unix.Close(l.evfd)
}

// wait waits for events for at most timeout (forever when negative) from
// now, on the engine clock. It
// parks the goroutine in Go's poller, which watches the epoll fd, rather
// than block a thread in epoll_wait: a blocked thread costs the scheduler
// a handoff of its P and a futex wake-up each time.
func (l *loop) wait(timeout, now time.Duration) int {
	var n int
	var err error
	if timeout == 0 {
		n, err = pollEvents(l.epfd, l.events)
	} else {
		var deadline time.Time
		if timeout > 0 {
			// On the engine clock, so that it stays the same while
			// the next tick is the same: a new deadline costs a
			// runtime timer update.
			deadline = epoch.Add(now + timeout)
		}
		if !deadline.Equal(l.deadline) {
			l.file.SetReadDeadline(deadline)
			l.deadline = deadline
		}
		rerr := l.rc.Read(l.poll)
		n, err = l.polled, l.pollErr
		if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
			panic(fmt.Sprintf("waiting on the epoll fd: %v", rerr)) // closed under us: a bug
		}
	}
	if err != nil && err != unix.EINTR {
		panic(fmt.Sprintf("epoll_wait: %v", err)) // a bad descriptor: a bug
	}
	return max(n, 0)
}

// push queues c for the loop and wakes it. The caller holds c's lock.
func (l *loop) push(c *Conn) {
	l.mu.Lock()
	if !l.stopped {
		l.queue = append(l.queue, c)
		l.wakeLocked()
	}
	l.mu.Unlock()
}

// pushTimer queues c's timer request for the loop and wakes it. The
// caller holds c's lock.
func (l *loop) pushTimer(c *Conn) {
	l.mu.Lock()
	if !l.stopped {
		l.timers = append(l.timers, c)
		l.wakeLocked()
	}
	l.mu.Unlock()
}

// setTimers calls the Timer of the connections that asked for it from
// outside the loop (WakeTimerLocked).
func (l *loop) setTimers(cs []*Conn) {
	for _, c := range cs {
		c.mu.Lock()
		c.timerAsk = false
		open := c.state == stateOpen
		c.mu.Unlock()
		if !open || c.closing || !c.registered {
			continue // a closing connection's timer is its close grace
		}
		c.h.Timer(Now())
	}
}

func (l *loop) wake() {
	l.mu.Lock()
	if !l.stopped {
		l.wakeLocked()
	}
	l.mu.Unlock()
}

var one = [8]byte{1} // an eventfd increment of 1 (little endian)

// wakeLocked wakes the loop when it sleeps (or is about to). It is called
// under l.mu, so that the eventfd cannot be closed meanwhile.
func (l *loop) wakeLocked() {
	if l.sleeping.Load() && l.sleeping.CompareAndSwap(true, false) {
		rawWrite(l.evfd, one[:])
	}
}

func (l *loop) run() {
	defer l.e.wg.Done()
	for {
		var timeout, now time.Duration
		if l.head == len(l.work) {
			now = Now()
			timeout = l.wheel.wait(now)
			if l.phead < len(l.paced) {
				due := max(time.Duration(l.paced[l.phead].lastWrite)+l.pace-now, 1)
				if timeout < 0 || due < timeout {
					timeout = due
				}
			}
		}
		if timeout != 0 {
			// Announce the sleep, then look at the queue and the
			// orphans: a push either comes before (and is seen) or sees
			// the flag and wakes us; an orphan either comes before or
			// sees that no loop is awake and wakes its own.
			l.sleeping.Store(true)
			l.e.awake.Add(-1)
			l.mu.Lock()
			busy := len(l.queue) > 0 || len(l.timers) > 0 || l.stopping
			l.mu.Unlock()
			if !busy {
				busy = l.e.norphans.Load() > 0
			}
			if busy {
				l.sleeping.Store(false)
				l.e.awake.Add(1)
				timeout = 0
			}
		}
		n := l.wait(timeout, now)
		if timeout != 0 {
			l.e.awake.Add(1)
		}
		l.sleeping.Store(false)
		if n > 0 {
			l.e.cfg.Batch.BeginBatch()
			for i := range n {
				l.dispatch(&l.events[i])
			}
			l.e.cfg.Batch.EndBatch()
		}
		l.wheel.expire(Now(), l.fire)
		if l.drain() {
			l.e.awake.Add(-1)
			return
		}
		l.adopt()
	}
}

// adopt writes the orphans, connections given output while their loop
// slept: this loop, awake anyway, writes them itself rather than wake
// theirs. Only a plain write is made here; anything more (a close, a
// stalled socket, a failure) goes back to the connection's own loop.
func (l *loop) adopt() {
	e := l.e
	if e.norphans.Load() == 0 {
		return
	}
	e.omu.Lock()
	list := e.orphans
	e.orphans, l.ospare = l.ospare[:0], nil
	e.norphans.Store(0)
	e.omu.Unlock()
	if len(list) == 0 {
		l.ospare = list
		return
	}
	start, over := Now(), false
	for i, c := range list {
		list[i] = nil
		over = over || i&7 == 7 && Now()-start > flushBudget
		if over {
			// This loop's time slice is up: the rest go to their own
			// loops, woken as need be.
			c.mu.Lock()
			c.loop.push(c)
			c.mu.Unlock()
			continue
		}
		if c.loop == l {
			l.service(c, true)
			continue
		}
		c.mu.Lock()
		c.queued = false
		if c.state == stateClosed || c.stalled {
			// Closed meanwhile, or stalled by its own loop's write:
			// that loop waits for writability and writes the rest.
			c.mu.Unlock()
			continue
		}
		if c.state == stateOpen && !c.abort && c.Queued() > 0 {
			busy, err := c.writeLocked(&l.io)
			if !busy {
				l.io.direct.Add(1)
			}
			if err != nil {
				c.abort = true // the socket failed: its loop closes it
			}
		}
		if c.state != stateClosed && (c.state != stateOpen || c.abort || c.stalled) {
			c.queued = true
			c.loop.push(c)
		}
		c.mu.Unlock()
	}
	l.ospare = list[:0]
}

// dispatch handles one readiness event.
func (l *loop) dispatch(ev *unix.EpollEvent) {
	fd := int(ev.Fd)
	if fd == l.evfd {
		var b [8]byte
		rawRead(l.evfd, b[:])
		l.io.wakeups.Add(1)
		return
	}
	if fd >= len(l.conns) {
		return
	}
	c := l.conns[fd]
	if c == nil || c.seq != uint32(ev.Pad) {
		return // closed in this batch; the number may be reused already
	}
	if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !c.eof {
		l.read(c)
		return
	}
	l.service(c, false)
}

// drain works through the queue: for at most flushBudget, unless the
// engine is stopping. It reports true when the loop is to end.
func (l *loop) drain() bool {
	l.mu.Lock()
	q := l.queue
	l.queue, l.spare = l.spare[:0], nil // two arrays take turns
	stopping := l.stopping
	timers := l.timers
	l.timers = nil
	l.mu.Unlock()
	if len(timers) > 0 && !stopping {
		l.setTimers(timers)
	}
	if len(q) > 0 {
		l.work = append(l.work, q...)
		clear(q)
		l.spare = q[:0]
	}
	if stopping {
		return l.stop()
	}
	start := Now()
	if start-l.lwFrom >= paceWindow {
		l.revisePace(start)
	}
	if l.phead < len(l.paced) {
		for l.phead < len(l.paced) {
			c := l.paced[l.phead]
			if time.Duration(c.lastWrite)+l.pace > start {
				break
			}
			l.paced[l.phead] = nil
			l.phead++
			l.work = append(l.work, c)
		}
		if l.phead == len(l.paced) {
			l.paced, l.phead = l.paced[:0], 0
		}
	}
	for i := 0; l.head < len(l.work); i++ {
		c := l.work[l.head]
		l.work[l.head] = nil
		l.head++
		l.service(c, true)
		if i&7 == 7 && Now()-start > flushBudget {
			break
		}
	}
	switch {
	case l.head == len(l.work):
		l.work, l.head = l.work[:0], 0
	case l.head > len(l.work)/2:
		l.work = l.work[:copy(l.work, l.work[l.head:])]
		l.head = 0
	}
	return false
}

// revisePace sets the pacing interval after the rate of writes to
// listeners in the window that ends at now: doubled (from 1ms, up to
// Config.WriteInterval) while the loop writes to listeners faster than
// Config.ListenerWriteRate, halved (down to none) when it writes at less
// than half that rate. So a narrow fan-out, or a slow one, is written at
// once, and a wide and fast one costs the loop at most about
// ListenerWriteRate writes a second, each carrying more the more there is.
func (l *loop) revisePace(now time.Duration) {
	limit := l.e.cfg.ListenerWriteRate
	rate := float64(l.lw) / (now - l.lwFrom).Seconds()
	switch {
	case rate > float64(limit):
		l.pace = min(max(2*l.pace, time.Millisecond), l.e.cfg.WriteInterval)
	case rate < float64(limit)/2:
		l.pace >>= min((now-l.lwFrom)/paceWindow, 30) // halved per window gone by
		if l.pace < time.Millisecond {
			l.pace = 0
		}
	}
	l.lw, l.lwFrom = 0, now
}

// stop closes every connection and reports whether the loop may end.
func (l *loop) stop() bool {
	for _, c := range l.work[l.head:] {
		if !c.registered {
			l.register(c)
		}
	}
	clear(l.work)
	l.work, l.head = l.work[:0], 0
	clear(l.paced)
	l.paced, l.phead = nil, 0
	for _, c := range l.conns {
		if c != nil {
			l.finish(c)
		}
	}
	l.mu.Lock()
	done := len(l.queue) == 0 && l.n == 0 // a finish waits for another loop's write
	if done {
		l.stopped = true
	}
	l.mu.Unlock()
	if done {
		l.release()
	}
	return done
}

// register adds c's socket to the epoll set.
func (l *loop) register(c *Conn) bool {
	c.registered = true
	fd := int(c.fd)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: c.fd, Pad: int32(c.seq)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.finish(c)
		return false
	}
	c.events = unix.EPOLLIN
	if fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*Conn, fd+1-len(l.conns))...)
	}
	l.conns[fd] = c
	l.n++
	if at := c.tat; at != 0 {
		c.tat = 0
		l.wheel.set(c, time.Duration(at))
	}
	return true
}

// read reads what the socket has and hands it to the handler, then writes
// what the handler queued in answer.
func (l *loop) read(c *Conn) {
	for range readsPerEvent {
		var dst []byte
		if c.in != nil {
			if len(c.in.b) == cap(c.in.b) {
				l.grow(c)
			}
			dst = c.in.b[len(c.in.b):cap(c.in.b)]
		} else {
			dst = l.buf
		}
		n, err := rawRead(int(c.fd), dst)
		l.io.reads.Add(1)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil || n == 0 {
			l.end(c, err != nil)
			return
		}
		c.lastRead.Store(int64(Now()))
		l.io.read.Add(uint64(n))
		var data []byte
		if c.in != nil {
			c.in.b = c.in.b[:len(c.in.b)+n]
			data = c.in.b
		} else {
			data = l.buf[:n]
		}
		used, need := c.h.Data(data)
		l.keep(c, data, used, need)
		c.mu.Lock()
		abort := c.abort
		c.mu.Unlock()
		if abort || c.eof || n < len(dst) {
			break
		}
	}
	l.service(c, false)
}

// grow makes room in c's full input buffer, doubling it but not beyond what
// the handler needs.
func (l *loop) grow(c *Conn) {
	want := c.need
	if want <= len(c.in.b) {
		want = 2 * cap(c.in.b)
	}
	size := max(len(c.in.b)+1, min(want, 2*cap(c.in.b)))
	nb := getBuffer(size)
	nb.b = append(nb.b, c.in.b...)
	putBuffer(c.in)
	c.in = nb
}

// keep keeps the input the handler left.
func (l *loop) keep(c *Conn, data []byte, used, need int) {
	rest := data[used:]
	c.need = need
	switch {
	case len(rest) == 0:
		if c.in != nil {
			putBuffer(c.in)
			c.in = nil
		}
	case c.in != nil:
		if used > 0 {
			c.in.b = c.in.b[:copy(c.in.b, rest)]
		}
	default:
		size := len(rest)
		if need > size {
			size = min(need, max(2*size, minClass))
		}
		c.in = getBuffer(size)
		c.in.b = append(c.in.b, rest...)
	}
}

// end handles the end of the input: the peer's end of stream, or a failed
// socket.
func (l *loop) end(c *Conn, failed bool) {
	c.eof = true
	if c.in != nil {
		putBuffer(c.in)
		c.in = nil
	}
	c.mu.Lock()
	open := c.state == stateOpen
	c.mu.Unlock()
	if open {
		c.h.EOF()
		c.mu.Lock()
		c.CloseLocked()
		c.mu.Unlock()
	}
	if failed {
		l.finish(c)
		return
	}
	l.service(c, false)
}

// fire handles c's timer.
func (l *loop) fire(c *Conn) {
	if c.closing {
		l.finish(c) // a phase of the close took longer than the grace
		return
	}
	c.h.Timer(Now())
}

// service does what c needs from its loop: registration, writing its
// output, the steps of a close. dequeued says that c was taken off the
// queue.
func (l *loop) service(c *Conn, dequeued bool) {
	if !c.registered {
		if !l.register(c) {
			return
		}
		if c.in != nil { // bytes read before Add (SetInput)
			l.e.cfg.Batch.BeginBatch()
			used, need := c.h.Data(c.in.b)
			l.e.cfg.Batch.EndBatch()
			l.keep(c, c.in.b, used, need)
		}
	}
	c.mu.Lock()
	if dequeued {
		if d := l.e.cfg.WriteInterval; d > 0 && c.state == stateOpen && !c.stalled {
			// A listener: paced when the loop is busy writing to
			// listeners, and counted.
			if now := Now(); now-time.Duration(c.lastRead.Load()) >= d {
				if now-time.Duration(c.lastWrite) < l.pace && c.Queued() < paceMaxBytes {
					c.paced = true // still queued: Commit leaves it be
					c.mu.Unlock()
					l.paced = append(l.paced, c)
					return
				}
				l.lw++
			}
		}
		c.queued, c.paced = false, false
	}
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	if c.abort {
		c.mu.Unlock()
		l.finish(c)
		return
	}
	if c.state == stateClosing && !c.closing {
		c.closing = true
		l.wheel.set(c, Now()+l.e.cfg.CloseGrace)
	}
	busy, err := c.writeLocked(&l.io)
	if busy {
		// Another loop is writing to the socket: it writes the rest and
		// hands the connection back when it needs more.
		c.mu.Unlock()
		return
	}
	if err == nil && c.closing && !c.stalled && !c.shut {
		c.shut = true
		unix.Shutdown(int(c.fd), unix.SHUT_WR)
		l.wheel.set(c, Now()+l.e.cfg.CloseGrace)
	}
	stalled := c.stalled
	c.mu.Unlock()
	if err != nil || c.shut && c.eof {
		l.finish(c)
		return
	}
	var want uint32
	if !c.eof {
		want = unix.EPOLLIN
	}
	if stalled {
		want |= unix.EPOLLOUT
	}
	if want != c.events {
		ev := unix.EpollEvent{Events: want, Fd: c.fd, Pad: int32(c.seq)}
		if unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev) != nil {
			l.finish(c)
			return
		}
		c.events = want
	}
}

// finish closes c's socket and tells its handler.
func (l *loop) finish(c *Conn) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	if c.writing {
		// Another loop is in write(2) on the socket: the number must not
		// be closed under it. It hands the connection back when done.
		c.abort = true
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	c.releaseLocked()
	c.mu.Unlock()
	if c.in != nil {
		putBuffer(c.in)
		c.in = nil
	}
	l.wheel.remove(c)
	fd := int(c.fd)
	if fd < len(l.conns) && l.conns[fd] == c {
		l.conns[fd] = nil
		l.n--
	}
	unix.Close(fd)
	c.h.Closed()
}
