//go:build linux

package transport

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/junction-wamp/junction/transport/internal/epoll"
	"github.com/junction-wamp/junction/transport/internal/tlsrec"
)

// epollSupported says whether the epoll engine exists on this system.
const epollSupported = true

// engine is the Server's epoll engine and the connections it serves.
type engine struct {
	ep    *epoll.Engine
	conns map[*econn]struct{} // under Server.mu

	// TLS handshakes in progress (tls_linux.go) take a slot each; their
	// connections are in Server.held.
	tlsSlots chan struct{}
}

// listenerWriteInterval bounds how long the epoll engine holds back
// writes to a listener, a connection that has sent nothing for that long
// (a subscriber, say), when a loop writes to listeners more than
// epoll.DefaultListenerWriteRate (25,000) times a second: a wide, fast
// fan-out then costs each subscriber one write every 20ms at most, each
// carrying what came meanwhile. A lighter load is written at once.
const listenerWriteInterval = 20 * time.Millisecond

// engineTick is the timer resolution the engine needs for the Server's
// timeouts: an eighth of the shortest, within [1ms, 250ms].
func engineTick(o *options) time.Duration {
	d := closeGrace
	for _, t := range []time.Duration{o.handshakeTimeout, o.helloTimeout, o.pingInterval, o.pingTimeout, o.idleTimeout} {
		if t > 0 && t < d {
			d = t
		}
	}
	return min(max(d/8, time.Millisecond), 250*time.Millisecond)
}

// startEngineLocked returns the Server's engine, starting it the first
// time. The caller holds s.mu.
func (s *Server) startEngineLocked() (*engine, error) {
	if s.eng != nil {
		return s.eng, nil
	}
	// A loop's round is one batch for the router.
	ep, err := epoll.New(epoll.Config{Tick: engineTick(&s.opt), CloseGrace: closeGrace, WriteInterval: listenerWriteInterval, Batch: s.Router})
	if err != nil {
		return nil, fmt.Errorf("starting the epoll engine: %w", err)
	}
	s.eng = &engine{ep: ep, conns: make(map[*econn]struct{})}
	if s.opt.tls != nil {
		s.eng.tlsSlots = make(chan struct{}, s.opt.maxTLSHandshakes)
	}
	return s.eng, nil
}

// serveEngine hands an accepted connection to the epoll engine, taking
// its socket off Go's poller: a duplicate of the descriptor goes to the
// engine and nc is closed; with TLS, after the handshake (tls_linux.go),
// for which it may wait for a free slot. It reports false, with nc
// untouched, for a connection that has no descriptor; the caller serves
// it in goroutine mode. spent is the part of the handshake timeout nc
// took already.
func (s *Server) serveEngine(e *engine, nc net.Conn, spent time.Duration) bool {
	if _, ok := nc.(syscall.Conn); !ok {
		return false
	}
	if s.opt.tls != nil {
		s.handshakeTLS(e, nc, spent)
		return true
	}
	return s.addToEngine(e, nc, nil, spent)
}

// addToEngine takes nc off Go's poller and hands it to the engine, with
// the record layer of its TLS handshake if it had one (which took spent
// of the HandshakeTimeout). It reports false, with nc untouched, when nc
// has no descriptor.
func (s *Server) addToEngine(e *engine, nc net.Conn, t *tlsrec.Result, spent time.Duration) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	var derr error
	if err := rc.Control(func(raw uintptr) { fd, derr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		s.opt.log.Warn("taking a connection off Go's poller failed; serving it in goroutine mode", "err", errors.Join(err, derr))
		return false
	}
	remote := remoteOf(nc)
	nc.Close() // Go's poller forgets it; the duplicate keeps the socket open

	c := &econn{wire: wire{srv: s, remote: remote}}
	c.in.join.pend() // counted at the accept (Server.pend)
	if t != nil {
		c.tls = newEconnTLS(t)
		c.SetInput(t.Leftover)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		unix.Close(fd)
		s.unpend()
		return true
	}
	e.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	var deadline time.Duration
	if s.opt.handshakeTimeout > 0 {
		deadline = epoll.Now() + max(s.opt.handshakeTimeout-spent, time.Millisecond)
	}
	if err := e.ep.Add(&c.Conn, fd, c, deadline); err != nil {
		s.mu.Lock()
		delete(e.conns, c)
		s.mu.Unlock()
		s.unpend()
		s.wg.Done()
	}
	return true
}

// The methods below are called under Server.mu, on a nil engine too.

func (e *engine) abortAllLocked() {
	if e == nil {
		return
	}
	for c := range e.conns {
		c.Abort()
	}
}

func (e *engine) abortUnattachedLocked() {
	if e == nil {
		return
	}
	for c := range e.conns {
		if !c.attached {
			c.Abort()
		}
	}
}

// goAwayLocked closes every connection because the server is going away
// and returns how many there were.
func (e *engine) goAwayLocked() int {
	if e == nil {
		return 0
	}
	for c := range e.conns {
		c.goAway()
	}
	return len(e.conns)
}

// bytes returns the bytes the engine's loops have read and written.
func (e *engine) bytes() (read, written uint64) {
	if e == nil {
		return 0, 0
	}
	st := e.ep.Stats()
	return st.BytesRead, st.BytesWritten
}

// stop stops the engine's loops once its connections are gone.
func (e *engine) stop() {
	if e != nil {
		e.ep.Close()
	}
}
