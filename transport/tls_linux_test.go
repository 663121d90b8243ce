package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"crypto/tls"

	"github.com/junction-wamp/junction/transport/internal/tlsrec"
	"github.com/junction-wamp/junction/wamp"
)

// TestTLSNetConnDeadline: a read interrupted by a deadline (net/http's
// background read is aborted so) does not end the connection handed to
// net/http: the next read gets the data.
func TestTLSNetConnDeadline(t *testing.T) {
	c, tc := tlsNetConnPair(t)
	defer tc.Close()
	defer c.Close()
	c.SetReadDeadline(time.Unix(1, 0))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := tc.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hi" {
		t.Fatalf("read after the deadline: %q, %v", b, err)
	}
	if _, err := c.Write([]byte("ho")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(tc, b); err != nil || string(b) != "ho" {
		t.Fatalf("the client read %q, %v", b, err)
	}
}

// tlsNetConnPair returns the server end of a TLS connection on loopback
// as the epoll engine hands it to net/http, and the client's end.
func tlsNetConnPair(t *testing.T) (*tlsNetConn, *tls.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg, err := tlsrec.NewConfig(serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		nc  net.Conn
		res *tlsrec.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		res, err := cfg.Handshake(nc, time.Now().Add(ioTimeout))
		done <- result{nc, res, err}
	}()
	tc, err := tls.Dial("tcp", ln.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		tc.Close()
		t.Fatal(r.err)
	}
	return newTLSNetConn(r.nc, r.res.Conn, r.res.Leftover), tc
}

// TestTLSNetConnCloseDuringWrite: Close ends a Write stuck on a client
// that does not read (net/http's Server.Close closes connections for
// that), rather than wait for it.
func TestTLSNetConnCloseDuringWrite(t *testing.T) {
	c, tc := tlsNetConnPair(t)
	defer tc.Close()
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 64<<20)) // more than the socket buffers take
		wrote <- err
	}()
	// Close once the Write holds the write lock (it does until it ends).
	for c.wmu.TryLock() {
		c.wmu.Unlock()
		select {
		case err := <-wrote:
			t.Fatalf("64 MiB written to a client that reads nothing: %v", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		c.Conn.Close() // so that the test ends
		t.Fatal("Close waited for a Write to a client that does not read")
	}
	if err := <-wrote; err == nil {
		t.Error("the Write ended without an error when its connection was closed")
	}
}

// TestTLSNetConnLargeWrite: a large Write reaches the client whole, is
// sealed a part at a time, and leaves no large buffer behind on the
// connection, which net/http may keep alive and idle.
func TestTLSNetConnLargeWrite(t *testing.T) {
	c, tc := tlsNetConnPair(t)
	defer tc.Close()
	defer c.Close()
	const n = 8 << 20
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(tc, n))
		got <- b
	}()
	if w, err := c.Write(data); err != nil || w != n {
		t.Fatalf("Write: %d, %v", w, err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("the client read %d bytes, not what was written", len(b))
	}
	if cap(c.wbuf) > tlsKeepWriteBuf {
		t.Errorf("the connection keeps a %d-byte write buffer after the write", cap(c.wbuf))
	}
}

// TestTLSWriteCipherDropped: a connection that only receives (an idle
// subscriber sent one event) drops the write cipher the event made once
// it has been quiet for tlsReleaseAfter, as one that reads drops its read
// cipher: the write comes from another goroutine than the connection's
// loop, which is asked to plan the drop. The cipher is counted as garbage
// for the releaser.
func TestTLSWriteCipherDropped(t *testing.T) {
	ts := startServer(t, EngineEpoll, func(s *Server) { s.TLSConfig = serverTLS })
	sub := ts.dialWS(t, "wamp.2.json")
	join(t, sub)
	sub.send(&wamp.Subscribe{Request: 1, Topic: "com.test.quiet"})
	expect[*wamp.Subscribed](t, sub)
	sc := ts.serverConn(t, sub.netConn().LocalAddr()).(*econn)
	held := func() bool { // the write cipher is the writer's, under the lock
		sc.Lock()
		defer sc.Unlock()
		return sc.tls.rec.HoldsWriteCipher()
	}
	quiet := func() bool { return !held() }
	eventually(t, "the subscriber's ciphers to be dropped", quiet)

	garbage := func() int64 {
		ts.rel.mu.Lock()
		defer ts.rel.mu.Unlock()
		return ts.rel.freed
	}
	before := garbage()
	pub := ts.dialWS(t, "wamp.2.json")
	join(t, pub)
	pub.send(&wamp.Publish{Request: 2, Topic: "com.test.quiet", Options: wamp.Dict{"acknowledge": true}})
	expect[*wamp.Published](t, pub)
	expect[*wamp.Event](t, sub)
	if !held() {
		t.Fatal("the event was sealed without a write cipher")
	}
	eventually(t, "the subscriber's write cipher to be dropped after the event", quiet)
	if g := garbage() - before; g < cipherGarbage {
		t.Fatalf("%d bytes of garbage counted after the event, want at least a cipher's %d", g, cipherGarbage)
	}
}
