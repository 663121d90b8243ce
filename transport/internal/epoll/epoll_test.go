//go:build linux

package epoll

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/junction-wamp/junction/internal/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// frame is the test framing: a 4-byte big-endian length, then the payload.
func frame(p []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...)
}

// testConn is a handler that splits frames, reports them, and echoes them
// when echo is set.
type testConn struct {
	Conn
	echo   bool
	frames chan []byte
	data   chan int // len(b) of each Data call
	timers chan time.Duration
	eofs   atomic.Int32
	closed chan struct{}
	closes atomic.Int32
	maxIn  atomic.Int64 // the largest input buffer seen
}

func newTestConn(echo bool) *testConn {
	return &testConn{
		echo:   echo,
		frames: make(chan []byte, 4096),
		data:   make(chan int, 4096),
		timers: make(chan time.Duration, 16),
		closed: make(chan struct{}),
	}
}

func (c *testConn) Data(b []byte) (int, int) {
	if c.in != nil && int64(cap(c.in.b)) > c.maxIn.Load() {
		c.maxIn.Store(int64(cap(c.in.b)))
	}
	select {
	case c.data <- len(b):
	default:
	}
	used := 0
	for {
		rest := b[used:]
		if len(rest) < 4 {
			return used, 4
		}
		n := 4 + int(binary.BigEndian.Uint32(rest))
		if len(rest) < n {
			return used, n
		}
		p := append([]byte(nil), rest[4:n]...)
		c.frames <- p
		if c.echo {
			c.Lock()
			out := c.Output()
			*out = append(*out, rest[:n]...)
			c.Commit()
			c.Unlock()
		}
		used += n
	}
}

func (c *testConn) EOF()                    { c.eofs.Add(1) }
func (c *testConn) Timer(now time.Duration) { c.timers <- now }
func (c *testConn) Closed() {
	if c.closes.Add(1) == 1 {
		close(c.closed)
	}
}

func (c *testConn) send(p []byte) {
	c.Lock()
	out := c.Output()
	*out = append(*out, p...)
	c.Commit()
	c.Unlock()
}

func (c *testConn) waitClosed(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(within):
		t.Fatalf("not closed within %s", within)
	}
	if n := c.closes.Load(); n != 1 {
		t.Fatalf("Closed called %d times", n)
	}
}

func (c *testConn) nextFrame(t *testing.T) []byte {
	t.Helper()
	select {
	case p := <-c.frames:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no frame")
		return nil
	}
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// pair connects a connection on e to a net.Conn over a Unix socket pair.
func pair(t testing.TB, e *Engine, c *Conn, h Handler, timer time.Duration) net.Conn {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "peer")
	peer, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	if err := e.Add(c, fds[0], h, timer); err != nil {
		t.Fatal(err)
	}
	return peer
}

func readFull(t *testing.T, r net.Conn, n int) []byte {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

func TestEcho(t *testing.T) {
	e := newEngine(t, Config{Loops: 2})
	for i := range 4 {
		c := newTestConn(true)
		peer := pair(t, e, &c.Conn, c, 0)
		msg := frame([]byte(fmt.Sprintf("hello %d", i)))
		peer.Write(msg)
		if got := readFull(t, peer, len(msg)); !bytes.Equal(got, msg) {
			t.Fatalf("echo %q, want %q", got, msg)
		}
	}
}

// TestSplitAtEveryByte writes a stream of frames in two parts, split at
// every byte boundary, and waits for the loop to read the first part on its
// own before writing the second.
func TestSplitAtEveryByte(t *testing.T) {
	e := newEngine(t, Config{Loops: 1})
	var stream []byte
	var want [][]byte
	for _, p := range []string{"", "a", "frame of some length", string(bytes.Repeat([]byte("x"), 700))} {
		stream = append(stream, frame([]byte(p))...)
		want = append(want, []byte(p))
	}
	for k := 1; k < len(stream); k++ {
		c := newTestConn(false)
		peer := pair(t, e, &c.Conn, c, 0)
		peer.Write(stream[:k])
		for seen := 0; seen < k; {
			select {
			case seen = <-c.data:
			case <-time.After(5 * time.Second):
				t.Fatalf("split at %d: the first part was not read", k)
			}
		}
		peer.Write(stream[k:])
		for i, w := range want {
			if got := c.nextFrame(t); !bytes.Equal(got, w) {
				t.Fatalf("split at %d: frame %d is %q, want %q", k, i, got, w)
			}
		}
		peer.Close()
		c.waitClosed(t, 5*time.Second)
		if c.in != nil {
			t.Fatalf("split at %d: input buffer kept after the end", k)
		}
	}
}

func TestManyFramesInOneSegment(t *testing.T) {
	e := newEngine(t, Config{Loops: 1})
	c := newTestConn(false)
	peer := pair(t, e, &c.Conn, c, 0)
	var stream []byte
	for i := range 1000 {
		stream = append(stream, frame([]byte(fmt.Sprint(i)))...)
	}
	peer.Write(stream)
	for i := range 1000 {
		if got := string(c.nextFrame(t)); got != fmt.Sprint(i) {
			t.Fatalf("frame %d is %q", i, got)
		}
	}
	if calls := len(c.data); calls > 2 {
		t.Errorf("%d Data calls for %d bytes in one segment", calls, len(stream))
	}
}

// TestLargeFrame sends one frame far larger than the loop's read buffer:
// the rest buffer grows with what arrives, never beyond what is needed.
func TestLargeFrame(t *testing.T) {
	e := newEngine(t, Config{Loops: 1, ReadBufferSize: 4 << 10})
	c := newTestConn(false)
	peer := pair(t, e, &c.Conn, c, 0)
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	go peer.Write(frame(payload))
	if got := c.nextFrame(t); !bytes.Equal(got, payload) {
		t.Fatal("large frame corrupted")
	}
	if m := c.maxIn.Load(); m > 2*(4+1<<20) {
		t.Fatalf("input buffer grew to %d for a frame of %d", m, 4+1<<20)
	}
	// The buffer went away with the frame.
	peer.Write(frame([]byte("small")))
	c.nextFrame(t)
	time.Sleep(10 * time.Millisecond)
	peer.Close()
	c.waitClosed(t, 5*time.Second)
}

// TestBackpressure queues more than the socket takes for a peer that does
// not read, then lets it read: everything arrives in order, and the
// output buffer is released once written.
func TestBackpressure(t *testing.T) {
	e := newEngine(t, Config{Loops: 1})
	c := newTestConn(false)
	peer := pair(t, e, &c.Conn, c, 0)
	c.Control(func(fd int) { unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<10) })
	var want bytes.Buffer
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 256)
	for i := range 200 {
		p := append([]byte(fmt.Sprintf("%04d", i)), chunk...)
		want.Write(p)
		c.send(p)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.Lock()
		stalled, queued := c.stalled, c.Queued()
		c.Unlock()
		if stalled && queued > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection never stalled")
		}
		time.Sleep(time.Millisecond)
	}
	got := readFull(t, peer, want.Len())
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("output corrupted or reordered")
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		c.Lock()
		released := c.out == nil && c.pend == nil && c.spare == nil && !c.stalled
		c.Unlock()
		if released {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("output buffer kept after everything was written")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCloseFlushes closes a connection with output queued for a peer that
// reads slowly: the output arrives whole, then the end of stream.
func TestCloseFlushes(t *testing.T) {
	e := newEngine(t, Config{Loops: 1, CloseGrace: 5 * time.Second})
	c := newTestConn(false)
	peer := pair(t, e, &c.Conn, c, 0)
	c.Control(func(fd int) { unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<10) })
	want := bytes.Repeat([]byte("pending "), 64<<10)
	c.Lock()
	out := c.Output()
	*out = append(*out, want...)
	c.Commit()
	c.CloseLocked()
	c.Unlock()
	time.Sleep(50 * time.Millisecond) // the loop writes what the socket takes and waits
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(want), err)
	}
	peer.Close() // the peer closes its side: the engine closes at once
	c.waitClosed(t, time.Second)
}

// TestLinger: a closed connection whose peer never closes its side is
// dropped after the grace period.
func TestLinger(t *testing.T) {
	e := newEngine(t, Config{Loops: 1, Tick: 5 * time.Millisecond, CloseGrace: 100 * time.Millisecond})
	c := newTestConn(false)
	peer := pair(t, e, &c.Conn, c, 0)
	start := time.Now()
	c.Lock()
	c.CloseLocked()
	c.Unlock()
	// The peer sees the end of stream but keeps its side open.
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := peer.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read %d, %v; want EOF", n, err)
	}
	c.waitClosed(t, 5*time.Second)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed after %s, before the grace period", d)
	}
}

func TestPeerEOF(t *testing.T) {
	e := newEngine(t, Config{Loops: 1})
	c := newTestConn(true)
	peer := pair(t, e, &c.Conn, c, 0)
	peer.Write(frame([]byte("last words")))
	peer.(*net.UnixConn).CloseWrite()
	if got := readFull(t, peer, 14); !bytes.Equal(got[4:], []byte("last words")) {
		t.Fatalf("echo %q", got)
	}
	c.waitClosed(t, 5*time.Second)
	if c.eofs.Load() != 1 {
		t.Fatal("EOF not reported")
	}
}

func TestTimer(t *testing.T) {
	e := newEngine(t, Config{Loops: 1, Tick: 10 * time.Millisecond})
	c := newTestConn(false)
	start := Now()
	pair(t, e, &c.Conn, c, start+50*time.Millisecond)
	select {
	case now := <-c.timers:
		if now < start+50*time.Millisecond {
			t.Fatalf("timer fired %s early", start+50*time.Millisecond-now)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("timer never fired")
	}
}

// TestAbortRace aborts connections while other goroutines send to them and
// their peers go away: every connection is closed once, and the race
// detector has its say.
func TestAbortRace(t *testing.T) {
	e := newEngine(t, Config{Loops: 2})
	var wg sync.WaitGroup
	for i := range 50 {
		c := newTestConn(true)
		peer := pair(t, e, &c.Conn, c, 0)
		go io.Copy(io.Discard, peer)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 200 {
					c.Lock()
					if c.OpenLocked() {
						out := c.Output()
						*out = append(*out, frame([]byte(fmt.Sprint(j)))...)
						c.Commit()
					}
					c.Unlock()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			peer.Write(frame([]byte("x")))
			switch i % 3 {
			case 0:
				c.Abort()
			case 1:
				c.Lock()
				c.CloseLocked()
				c.Unlock()
				peer.Close()
			default:
				peer.Close()
			}
		}()
		t.Cleanup(func() { c.waitClosed(t, 10*time.Second) })
	}
	wg.Wait()
}

// TestCloseEngine closes an engine with connections open: each is closed
// once, and no goroutine is left (TestMain checks).
func TestCloseEngine(t *testing.T) {
	e, err := New(Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	var conns []*testConn
	for range 20 {
		c := newTestConn(false)
		pair(t, e, &c.Conn, c, Now()+time.Hour)
		conns = append(conns, c)
	}
	e.Close()
	for _, c := range conns {
		c.waitClosed(t, time.Second)
	}
	if err := e.Add(&newTestConn(false).Conn, -1, nil, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
}

// TestPacing: a loop that writes to listeners (connections that send
// nothing) faster than ListenerWriteRate holds their writes back, up to
// WriteInterval apart, so that each carries more; before that, and for a
// connection that talks, writes go out at once.
func TestPacing(t *testing.T) {
	const interval = 50 * time.Millisecond
	e := newEngine(t, Config{Loops: 1, WriteInterval: interval, ListenerWriteRate: 10})
	c := newTestConn(false)
	peer := pair(t, e, &c.Conn, c, 0)
	go io.Copy(io.Discard, peer)
	// 1,000 writes a second to one listener: the pace doubles every
	// 100ms up to the interval, after which the loop writes the listener
	// at most once an interval. The test counts the loop's writes (not
	// the reader's reads, whose timing is the scheduler's) over spans of
	// four intervals, until a span has no more than an interval apart
	// allows: on a loaded machine the pace may take longer to get there,
	// but an unpaced listener (a write a millisecond) never does.
	const span = 4 * interval
	testwait.For(t, 10*time.Second, func() error {
		from, w0 := time.Now(), e.Stats().Writes
		for time.Since(from) < span {
			c.send([]byte{'x'})
			time.Sleep(time.Millisecond)
		}
		writes, took := e.Stats().Writes-w0, time.Since(from)
		if most := uint64(took/interval) + 2; writes > most {
			return fmt.Errorf("the listener is not paced: %d writes in %v, want at most %d", writes, took, most)
		}
		return nil
	})
	// A talking connection is answered at once all the same.
	talker := newTestConn(true)
	tp := pair(t, e, &talker.Conn, talker, 0)
	for i := range 5 {
		start := time.Now()
		tp.Write(frame([]byte{byte(i)}))
		readFull(t, tp, 5)
		if d := time.Since(start); d > interval/2 {
			t.Logf("echo %d took %s (a loaded machine?)", i, d)
		}
	}
}

func TestWheel(t *testing.T) {
	const tick = 10 * time.Millisecond
	w := newWheel(tick, 0)
	conns := make([]*Conn, 5)
	for i := range conns {
		conns[i] = &Conn{}
	}
	// A timer beyond one turn of the wheel, and ones in the same slot.
	w.set(conns[0], tick*(wheelSlots+3))
	w.set(conns[1], 3*tick)
	w.set(conns[2], 3*tick-1)
	w.set(conns[3], 5*tick)
	w.set(conns[4], 7*tick)
	w.remove(conns[4])
	var fired []*Conn
	fire := func(c *Conn) { fired = append(fired, c) }
	w.expire(3*tick-1, fire)
	if len(fired) != 0 {
		t.Fatalf("fired early: %d", len(fired))
	}
	w.expire(3*tick, fire)
	if len(fired) != 2 {
		t.Fatalf("fired %d at 3 ticks, want 2", len(fired))
	}
	w.expire(10*tick, fire)
	if len(fired) != 3 || fired[2] != conns[3] {
		t.Fatal("timer at 5 ticks")
	}
	w.expire(tick*(wheelSlots+2), fire)
	if len(fired) != 3 {
		t.Fatal("the far timer fired a turn early")
	}
	w.expire(tick*(wheelSlots+3), fire)
	if len(fired) != 4 || w.n != 0 {
		t.Fatalf("fired %d, %d left", len(fired), w.n)
	}
	if w.wait(0) != -1 {
		t.Fatal("an empty wheel waits")
	}
}

func TestBufferClasses(t *testing.T) {
	for _, tt := range []struct{ n, cap int }{{0, 128}, {1, 128}, {128, 128}, {129, 256}, {4096, 4096}, {65536, 65536}, {65537, 65537}} {
		b := getBuffer(tt.n)
		if cap(b.b) != tt.cap || len(b.b) != 0 {
			t.Errorf("getBuffer(%d): cap %d, want %d", tt.n, cap(b.b), tt.cap)
		}
		putBuffer(b)
	}
}

// FuzzChunks feeds a random frame stream to a connection in random chunks
// and checks that the frames come out whole and in order.
func FuzzChunks(f *testing.F) {
	f.Add(uint64(1), []byte{3, 0, 200, 1})
	f.Add(uint64(7), []byte{255})
	f.Fuzz(func(t *testing.T, seed uint64, steps []byte) {
		rnd := rand.New(rand.NewPCG(seed, seed))
		var stream []byte
		var want [][]byte
		for range 1 + rnd.IntN(20) {
			p := make([]byte, rnd.IntN(3000))
			for i := range p {
				p[i] = byte(rnd.Uint32())
			}
			stream = append(stream, frame(p)...)
			want = append(want, p)
		}
		e := newEngine(t, Config{Loops: 1, ReadBufferSize: 1 << 10})
		c := newTestConn(false)
		peer := pair(t, e, &c.Conn, c, 0)
		for i := 0; len(stream) > 0; i++ {
			n := len(stream)
			if len(steps) > 0 {
				n = min(n, 1+int(steps[i%len(steps)])*7)
			}
			peer.Write(stream[:n])
			stream = stream[n:]
		}
		for i, w := range want {
			if got := c.nextFrame(t); !bytes.Equal(got, w) {
				t.Fatalf("frame %d differs", i)
			}
		}
	})
}

// TestSetInput: bytes read before Add (by a TLS handshake) reach Data
// first, even when the socket then has nothing to read, and the answer
// goes out; a partial frame among them waits for the rest.
func TestSetInput(t *testing.T) {
	e := newEngine(t, Config{Loops: 1})
	c := newTestConn(true)
	first, second := frame([]byte("read before Add")), frame([]byte("then from the socket"))
	c.SetInput(append(bytes.Clone(first), second[:3]...))
	peer := pair(t, e, &c.Conn, c, 0)
	if got := readFull(t, peer, len(first)); !bytes.Equal(got, first) {
		t.Fatalf("echo %q, want %q", got, first)
	}
	peer.Write(second[3:])
	if got := readFull(t, peer, len(second)); !bytes.Equal(got, second) {
		t.Fatalf("echo %q, want %q", got, second)
	}
}

// timerConn sets its timer from Data: 'L' for an hour from now, 'e' for
// 20ms from now and 'l' for an hour, both with SetTimerBefore.
type timerConn struct{ *testConn }

func (c timerConn) Data(b []byte) (int, int) {
	for _, x := range b {
		switch x {
		case 'L':
			c.SetTimer(Now() + time.Hour)
		case 'e':
			c.SetTimerBefore(Now() + 20*time.Millisecond)
		case 'l':
			c.SetTimerBefore(Now() + time.Hour)
		}
	}
	c.data <- len(b)
	return len(b), 0
}

// TestSetTimerBefore: SetTimerBefore brings a later timer forward and
// leaves an earlier one be.
func TestSetTimerBefore(t *testing.T) {
	e := newEngine(t, Config{Loops: 1, Tick: 10 * time.Millisecond})
	c := timerConn{newTestConn(false)}
	peer := pair(t, e, &c.Conn, c, 0)
	peer.Write([]byte("Lel")) // an hour, then 20ms, then not an hour again
	<-c.data
	select {
	case <-c.timers:
	case <-time.After(5 * time.Second):
		t.Fatal("the timer brought forward never fired")
	}
}

// TestWaitAllocatesNothing: a loop that parks in Go's poller until its
// deadline (what a loop does every time it runs out of work) allocates
// nothing, so an idle or lightly loaded router makes no garbage by
// waiting. The loop here is made but not run: the test goroutine waits in
// its place.
func TestWaitAllocatesNothing(t *testing.T) {
	e := &Engine{cfg: Config{Tick: DefaultTick, ReadBufferSize: 4 << 10}}
	l, err := newLoop(e)
	if err != nil {
		t.Fatal(err)
	}
	defer l.release()
	timeout := 100 * time.Microsecond
	l.wait(timeout, Now()) // the poller's first registration and timer
	allocs := testing.AllocsPerRun(50, func() {
		if n := l.wait(timeout, Now()); n != 0 {
			t.Fatalf("%d events on an idle loop", n)
		}
	})
	if allocs != 0 {
		t.Fatalf("a wait that parks allocates %.1f times", allocs)
	}
	if l.io.parks.Load() == 0 {
		t.Fatal("the loop never parked: the test measured a poll, not a wait")
	}
}

// TestWakeTimerLocked: asked from another goroutine than the loop, the
// loop calls the handler's Timer; asking twice before it does is one call.
func TestWakeTimerLocked(t *testing.T) {
	e := newEngine(t, Config{Loops: 1, Tick: 10 * time.Millisecond})
	c := newTestConn(false)
	peer := pair(t, e, &c.Conn, c, 0)
	peer.Write([]byte("x")) // registered once Data has seen it
	<-c.data
	for range 2 {
		c.Lock()
		c.WakeTimerLocked()
		c.WakeTimerLocked()
		c.Unlock()
		select {
		case <-c.timers:
		case <-time.After(5 * time.Second):
			t.Fatal("the loop never called Timer")
		}
	}
}
