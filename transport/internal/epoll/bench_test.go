//go:build linux

package epoll

import (
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// countConn counts the frames it reads, copying nothing.
type countConn struct {
	Conn
	frames atomic.Int64
}

func (c *countConn) Data(b []byte) (int, int) {
	used := 0
	for len(b)-used >= 4 {
		n := 4 + int(uint32(b[used])<<24|uint32(b[used+1])<<16|uint32(b[used+2])<<8|uint32(b[used+3]))
		if len(b)-used < n {
			return used, n
		}
		used += n
		c.frames.Add(1)
	}
	return used, 4
}

func (c *countConn) EOF()                {}
func (c *countConn) Timer(time.Duration) {}
func (c *countConn) Closed()             {}

// BenchmarkRead measures the engine's read path, per frame: a peer writes
// batches of 64 frames of 100 bytes, the loop reads and splits them.
func BenchmarkRead(b *testing.B) {
	e := newEngine(b, Config{Loops: 1})
	c := &countConn{}
	peer := pair(b, e, &c.Conn, c, 0)
	var batch []byte
	for range 64 {
		batch = append(batch, frame(make([]byte, 100))...)
	}
	b.ReportAllocs()
	b.SetBytes(104)
	sent := int64(0)
	for sent < int64(b.N) {
		peer.Write(batch)
		sent += 64
		for c.frames.Load() < sent-4*64 {
			runtime.Gosched()
		}
	}
	for c.frames.Load() < sent {
		runtime.Gosched()
	}
}

// BenchmarkCommit measures appending a 100-byte frame to a connection's
// output and committing it, the loop writing alongside to a peer that
// reads all it gets.
func BenchmarkCommit(b *testing.B) {
	e := newEngine(b, Config{Loops: 1})
	c := &countConn{}
	peer := pair(b, e, &c.Conn, c, 0)
	go io.Copy(io.Discard, peer)
	msg := frame(make([]byte, 100))
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		c.Lock()
		for c.Queued() > 1<<20 {
			c.Unlock()
			runtime.Gosched()
			c.Lock()
		}
		out := c.Output()
		*out = append(*out, msg...)
		c.Commit()
		c.Unlock()
	}
}
