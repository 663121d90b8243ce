//go:build linux

package epoll

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/junction-wamp/junction/internal/testwait"
)

// relayConn is a handler that forwards every frame it reads to another
// connection, as the router forwards a CALL to the callee.
type relayConn struct {
	Conn
	mu   sync.Mutex
	to   *testConn
	also []*testConn // more targets, for a fan-out
}

func (c *relayConn) Data(b []byte) (int, int) {
	used := 0
	for len(b)-used >= 4 {
		n := 4 + int(uint32(b[used])<<24|uint32(b[used+1])<<16|uint32(b[used+2])<<8|uint32(b[used+3]))
		if len(b)-used < n {
			return used, n
		}
		c.mu.Lock()
		targets := append([]*testConn{c.to}, c.also...)
		c.mu.Unlock()
		for _, to := range targets {
			to.Lock()
			if to.OpenLocked() {
				out := to.Output()
				*out = append(*out, b[used:used+n]...)
				to.Commit()
			}
			to.Unlock()
		}
		used += n
	}
	return used, 4
}

func (c *relayConn) EOF()                {}
func (c *relayConn) Timer(time.Duration) {}
func (c *relayConn) Closed()             {}

func (c *relayConn) setTo(to *testConn) {
	c.mu.Lock()
	c.to = to
	c.mu.Unlock()
}

// asleep waits until loop i of e has gone to sleep with no wake-up
// pending: its flag says it sleeps, its eventfd holds nothing (a wake-up
// written before, by the Add that gave it a connection say, would be
// counted when the loop reads it, after the caller's first look at the
// counters), and the flag still says so, so that a wake-up read meanwhile
// has been counted too.
func asleep(t *testing.T, e *Engine, i int) {
	t.Helper()
	l := e.loops[i]
	pending := func() bool {
		fds := []unix.PollFd{{Fd: int32(l.evfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		return err != nil || n > 0
	}
	testwait.True(t, 5*time.Second, fmt.Sprintf("loop %d asleep", i), func() bool {
		return l.sleeping.Load() && !pending() && l.sleeping.Load()
	})
}

// relayPair sets up a relay on one loop of a two-loop engine forwarding to
// a connection on the other loop, and returns the relay's peer and the
// target's peer.
func relayPair(t *testing.T, e *Engine) (*relayConn, net.Conn, *testConn, net.Conn) {
	t.Helper()
	r := &relayConn{}
	rp := pair(t, e, &r.Conn, r, 0)
	to := newTestConn(false)
	tp := pair(t, e, &to.Conn, to, 0)
	r.setTo(to)
	if r.Loop() == to.Loop() {
		t.Fatal("relay and target on the same loop")
	}
	return r, rp, to, tp
}

// TestDirectWrite: a loop that hands output to a connection of a sleeping
// loop writes it itself, at the end of its round, instead of waking the
// other loop; the bytes arrive as sent.
func TestDirectWrite(t *testing.T) {
	e := newEngine(t, Config{Loops: 2})
	_, rp, to, tp := relayPair(t, e)
	// The target's loop registers it, then has nothing to do.
	asleep(t, e, to.Loop())
	before := e.Stats()
	const n = 50
	for i := range n {
		msg := frame([]byte(fmt.Sprintf("call %d", i)))
		rp.Write(msg)
		if got := readFull(t, tp, len(msg)); !bytes.Equal(got, msg) {
			t.Fatalf("relayed %q, want %q", got, msg)
		}
	}
	after := e.Stats()
	if d := after.Wakeups - before.Wakeups; d != 0 {
		t.Errorf("the target's loop was woken %d times for %d messages", d, n)
	}
	// A message that comes while the target's loop is on its way to
	// sleep (it has said so, but not yet looked at the list) is written
	// by that loop itself; without a wake-up either way.
	if d := after.DirectWrites - before.DirectWrites; d < n/2 {
		t.Errorf("%d direct writes for %d messages", d, n)
	}
}

// TestDirectWriteStalls relays far more than the target's socket takes to
// a peer that reads only later: the relaying loop hands the stalled
// connection back to its own loop, which waits for writability, and the
// stream arrives whole and in order.
func TestDirectWriteStalls(t *testing.T) {
	e := newEngine(t, Config{Loops: 2})
	_, rp, to, tp := relayPair(t, e)
	to.Control(func(fd int) { unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<10) })
	asleep(t, e, to.Loop())
	var want bytes.Buffer
	for i := range 300 {
		want.Write(frame(append([]byte(fmt.Sprintf("%04d", i)), bytes.Repeat([]byte("x"), 2000)...)))
	}
	go rp.Write(want.Bytes())
	// Wait for the stall before reading.
	deadline := time.Now().Add(5 * time.Second)
	for {
		to.Lock()
		stalled := to.stalled
		to.Unlock()
		if stalled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the target never stalled")
		}
		time.Sleep(time.Millisecond)
	}
	if got := readFull(t, tp, want.Len()); !bytes.Equal(got, want.Bytes()) {
		t.Fatal("relayed stream corrupted or reordered")
	}
	// Rarely, the target's loop takes the output itself on its way to
	// sleep (see TestDirectWrite); the test still holds, without a
	// direct write.
	t.Logf("%d direct writes", e.Stats().DirectWrites)
}

// TestDirectWriteClose closes target connections, from their peers and
// with Abort, while another loop relays to them: each is closed once, and
// a connection opened next (which may get the same descriptor number)
// receives nothing that was meant for the closed one.
func TestDirectWriteClose(t *testing.T) {
	e := newEngine(t, Config{Loops: 2})
	r := &relayConn{}
	rp := pair(t, e, &r.Conn, r, 0)
	go io.Copy(io.Discard, rp)
	msg := frame(bytes.Repeat([]byte("m"), 100))
	var burst []byte
	for range 20 {
		burst = append(burst, msg...)
	}
	for i := range 100 {
		// Targets on the relay's loop and on the other one.
		to := newTestConn(false)
		tp := pair(t, e, &to.Conn, to, 0)
		r.setTo(to)
		go io.Copy(io.Discard, tp)
		rp.Write(burst)
		if i%2 == 0 {
			to.Abort()
		} else {
			tp.Close()
		}
		to.waitClosed(t, 10*time.Second)
		// A fresh connection, likely on the descriptor just closed: it
		// must get nothing but its own bytes.
		fresh := newTestConn(true)
		fp := pair(t, e, &fresh.Conn, fresh, 0)
		own := frame([]byte(fmt.Sprintf("own %d", i)))
		fp.Write(own)
		if got := readFull(t, fp, len(own)); !bytes.Equal(got, own) {
			t.Fatalf("round %d: a new connection received %q, want its own %q", i, got, own)
		}
		fresh.Abort()
		fresh.waitClosed(t, 10*time.Second)
	}
}

// TestBurstOneRead: frames that arrive together are read with one
// read(2) and handled in one Data call.
func TestBurstOneRead(t *testing.T) {
	e := newEngine(t, Config{Loops: 1})
	c := newTestConn(false)
	var stream []byte
	for i := range 500 {
		stream = append(stream, frame([]byte(fmt.Sprint(i)))...)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	// The burst is there before the engine looks at the socket.
	if n, err := unix.Write(fds[1], stream); n != len(stream) || err != nil {
		t.Fatalf("wrote %d of %d: %v", n, len(stream), err)
	}
	before := e.Stats()
	if err := e.Add(&c.Conn, fds[0], c, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if got := string(c.nextFrame(t)); got != fmt.Sprint(i) {
			t.Fatalf("frame %d is %q", i, got)
		}
	}
	if d := e.Stats().Reads - before.Reads; d != 1 {
		t.Errorf("%d reads for %d bytes that arrived together, want 1", d, len(stream))
	}
	if calls := len(c.data); calls != 1 {
		t.Errorf("%d Data calls for one burst, want 1", calls)
	}
}

// TestDirectWriteFanOut relays each message to many connections of the
// other loop at once: more than one round's time slice may take, so part
// may go back to their own loop; every one gets every message, in order.
func TestDirectWriteFanOut(t *testing.T) {
	e := newEngine(t, Config{Loops: 2})
	r, rp, first, fp := relayPair(t, e)
	targets := []*testConn{first}
	peers := []net.Conn{fp}
	for len(targets) < 200 {
		to := newTestConn(false)
		tp := pair(t, e, &to.Conn, to, 0)
		if to.Loop() == r.Loop() {
			to.Abort()
			continue
		}
		targets = append(targets, to)
		peers = append(peers, tp)
	}
	r.mu.Lock()
	r.also = targets[1:]
	r.mu.Unlock()
	asleep(t, e, first.Loop())
	var want []byte
	for i := range 20 {
		want = append(want, frame([]byte(fmt.Sprintf("event %d", i)))...)
	}
	rp.Write(want)
	for i, p := range peers {
		if got := readFull(t, p, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("target %d got %q", i, got)
		}
	}
	// Rarely, the target's loop takes the output itself on its way to
	// sleep (see TestDirectWrite); the test still holds, without a
	// direct write.
	t.Logf("%d direct writes", e.Stats().DirectWrites)
}
