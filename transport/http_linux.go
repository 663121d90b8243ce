//go:build linux

package transport

import (
	"bytes"
	"fmt"
	"net"
	"os"
)

// handOffHTTP gives an epoll connection whose request, read so far into
// b, goes to the Handler: it is taken off its event loop and handed, with
// b, to net/http; or answered 503 on the loop when MaxConns are served.
func (c *econn) handOffHTTP(b []byte) {
	s := c.srv
	f, full := s.reserveHTTP()
	switch {
	case f == nil:
		c.refuse(ErrServerClosed)
		return
	case full:
		c.answerAndClose(busyResponse(f.limit), fmt.Errorf("HTTP request: %w (%d served already)", errHTTPBusy, f.limit))
		return
	}
	head := bytes.Clone(b)
	var raw []byte // with TLS: a partial record after the request's
	if c.tls != nil {
		raw = bytes.Clone(c.tls.raw)
	}
	fd, ok := c.Detach()
	c.phase = phaseDraining
	if !ok { // closing already (the server is closing)
		f.conns.Add(-1)
		return
	}
	c.in.join.settle(s) // an HTTP connection now, not a WAMP one to come
	s.mu.Lock()
	delete(s.eng.conns, c)
	s.mu.Unlock()
	s.wg.Done() // the engine's Closed, which a detached connection never gets
	file := os.NewFile(uintptr(fd), "http")
	nc, err := net.FileConn(file) // a duplicate in Go's poller
	file.Close()
	if err != nil {
		f.conns.Add(-1)
		s.opt.log.Warn("handing an HTTP connection to net/http failed", "remote", c.remote, "err", err)
		return
	}
	s.opt.log.Debug("HTTP request: handed to the handler", "remote", c.remote)
	if c.remote != remoteOf(nc) {
		// The connection is known by another address than its socket's
		// peer (its PROXY header's): the Handler gets that one, as in
		// goroutine mode, not the load balancer's, from which it would
		// believe the X-Forwarded-For the client wrote.
		nc = &proxiedConn{Conn: nc, client: proxiedAddr{c.remote}}
	}
	var conn net.Conn = countConn{nc, &s.stats}
	if c.tls != nil {
		conn = newTLSNetConn(conn, c.tls.rec, raw)
	}
	f.serve(conn, head, engEpoll)
}
