//go:build linux

package epoll

import (
	"bytes"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// detachConn detaches its socket at the first bytes and hands it, with
// those bytes, to the test.
type detachConn struct {
	Conn
	handed chan detached
	closed chan struct{}
}

type detached struct {
	fd   int
	data []byte
	ok   bool
}

func (c *detachConn) Data(b []byte) (int, int) {
	data := bytes.Clone(b)
	fd, ok := c.Detach()
	c.handed <- detached{fd, data, ok}
	return len(b), 0
}

func (c *detachConn) EOF()                {}
func (c *detachConn) Timer(time.Duration) {}
func (c *detachConn) Closed()             { close(c.closed) }

// TestDetach hands a socket from the engine to Go's net package in the
// middle of a conversation: the bytes the loop read come with it, the rest
// is read by the new owner, and the engine neither reads nor closes it
// after (its Closed is never called, and the socket outlives the engine).
func TestDetach(t *testing.T) {
	e, err := New(Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := &detachConn{handed: make(chan detached, 1), closed: make(chan struct{})}
	peer := pair(t, e, &c.Conn, c, time.Hour)
	if _, err := peer.Write([]byte("GET /metrics HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	d := <-c.handed
	if !d.ok || string(d.data) != "GET /metrics HTTP/1.1\r\n" {
		t.Fatalf("detached %v with %q", d.ok, d.data)
	}
	f := os.NewFile(uintptr(d.fd), "detached")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Once detached, a second Detach finds nothing, and Abort does nothing.
	if _, ok := c.Detach(); ok {
		t.Fatal("second Detach succeeded")
	}
	c.Abort()
	e.Close() // the loop ends; the socket is no longer its business

	peer.Write([]byte("Host: x\r\n\r\n"))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len("Host: x\r\n\r\n"))
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != "Host: x\r\n\r\n" {
		t.Fatalf("the new owner read %q, %v", got, err)
	}
	if _, err := nc.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got = make([]byte, len("HTTP/1.1 204 No Content\r\n\r\n"))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	select {
	case <-c.closed:
		t.Fatal("Closed was called for a detached connection")
	default:
	}
}
