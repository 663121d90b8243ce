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
