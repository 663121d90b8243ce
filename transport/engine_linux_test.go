package transport

import (
	"encoding/binary"
	"net"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// TestEconnSize keeps the epoll engine's per-connection state, what an
// idle connection costs besides its session and socket, from growing
// unnoticed: 368 bytes (360 before the TLS record layer's pointer), which
// the allocator rounds to its 384-byte class. A field that must be added
// should take the place of one, or padding.
func TestEconnSize(t *testing.T) {
	if n := unsafe.Sizeof(econn{}); n > 368 {
		t.Fatalf("econn is %d bytes, over its budget of 368", n)
	}
}

// TestIdleConnections holds 2,000 joined and subscribed connections on each
// engine and reports what one costs the server (run with -v to see it):
// heap after a collection, and goroutine stacks. The clients are bare
// sockets, so that they cost this process nothing but their descriptors.
// On the epoll engine an idle connection adds no goroutine and stays under
// 2 KiB; an event published then reaches every one of them.
func TestIdleConnections(t *testing.T) {
	const n = 2000
	forEngines(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, nil)
		port := ts.ln.Addr().(*net.TCPAddr).Port
		var request []byte
		request = append(request, rawsocket.Magic, 0xf0|byte(wamp.FormatJSON), 0, 0)
		request = append(request, rsFrame(t, codec.JSON, &wamp.Hello{Realm: "realm1", Details: clientRoles})...)
		request = append(request, rsFrame(t, codec.JSON, &wamp.Subscribe{Request: 1, Topic: "com.test.idle"})...)

		fds := make([]int, 0, n)
		defer func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}()
		dial := func() int {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatalf("socket: %v", err)
			}
			tv := unix.NsecToTimeval(int64(ioTimeout))
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
			fds = append(fds, fd)
			if err := connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				t.Fatalf("connect: %v", err)
			}
			if _, err := ignoringEINTR(func() (int, error) { return unix.Write(fd, request) }); err != nil {
				t.Fatalf("write: %v", err)
			}
			// The handshake reply, WELCOME and SUBSCRIBED.
			readFrames(t, fd, 4, 2)
			return fd
		}
		dial() // start the engine and fill the pools before measuring

		mem0, g0 := serverMemory()
		for range n {
			dial()
		}
		mem1, g1 := serverMemory()
		perConn := float64(mem1-mem0) / n
		t.Logf("%s: %.0f bytes and %.2f goroutines per idle connection (heap and stacks, router session included)",
			engine, perConn, float64(g1-g0)/n)
		if engine == EngineEpoll {
			if g1 > g0 {
				t.Errorf("%d goroutines more for %d idle connections", g1-g0, n)
			}
			if perConn > 2048 {
				t.Errorf("%.0f bytes per idle connection, want at most 2 KiB", perConn)
			}
		}

		pub := ts.dialRS(t, wamp.FormatCBOR)
		join(t, pub)
		pub.send(&wamp.Publish{Request: 1, Options: wamp.Dict{"acknowledge": true}, Topic: "com.test.idle",
			Payload: wamp.Payload{Args: wamp.List{"wake up"}}})
		expect[*wamp.Published](t, pub)
		for _, fd := range fds {
			readFrames(t, fd, 0, 1)
		}
	})
}

// serverMemory returns the heap in use and the goroutine stacks after a
// collection (two, to empty the sync.Pools), and the goroutines.
func serverMemory() (int64, int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse), runtime.NumGoroutine()
}

// readFrames reads skip bytes, then frames RawSocket frames, from a
// blocking socket.
func readFrames(t *testing.T, fd, skip, frames int) {
	t.Helper()
	var buf [4096]byte
	have := 0
	deadline := time.Now().Add(ioTimeout)
	for {
		b := buf[:have]
		if len(b) >= skip {
			b = b[skip:]
			done := 0
			for done < frames && len(b) >= rawsocket.HeaderSize {
				n := rawsocket.HeaderSize + int(binary.BigEndian.Uint32(b)&0xffffff)
				if len(b) < n {
					break
				}
				b = b[n:]
				done++
			}
			if done == frames {
				return
			}
		}
		n, err := ignoringEINTR(func() (int, error) { return unix.Read(fd, buf[have:]) })
		if err != nil || n == 0 || time.Now().After(deadline) {
			t.Fatalf("reading from the server: %d bytes, %v", n, err)
		}
		have += n
	}
}

// ignoringEINTR retries a system call the runtime's signals interrupted.
func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// connect connects a blocking socket; when a signal interrupts it, the
// connection goes on in the background and is waited for.
func connect(fd int, sa unix.Sockaddr) error {
	err := unix.Connect(fd, sa)
	if err != unix.EINTR {
		return err
	}
	for {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if _, err := ignoringEINTR(func() (int, error) { return unix.Poll(p, int(ioTimeout/time.Millisecond)) }); err != nil {
			return err
		}
		if p[0].Revents != 0 {
			break
		}
	}
	e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && e != 0 {
		err = unix.Errno(e)
	}
	return err
}
