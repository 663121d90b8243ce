package transport

import (
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
	defer tc.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	c := newTLSNetConn(r.nc, r.res.Conn, r.res.Leftover)
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
