//go:build linux

package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/junction-wamp/junction/transport/internal/epoll"
	"github.com/junction-wamp/junction/transport/internal/tlsrec"
)

// TLS on the epoll engine.
//
// A TLS connection is accepted as a plain one is, but before it goes to
// the engine its handshake runs on a goroutine of its own (crypto/tls,
// through tlsrec.Config.Handshake), never on an event loop: a slow or
// silent client costs its own goroutine until HandshakeTimeout, and at
// most MaxTLSHandshakes run at once (the accept loop waits for a free
// slot, so that new connections wait in the listen backlog). The
// connection then joins the engine with its record layer (tlsrec.Conn)
// and the bytes the handshake read past its end, and from there costs
// what a plain one does plus the record layer's keys: Data opens the
// records in the loop's buffer, in place, and hands their plaintext to
// the plain path; output is sealed in the output buffer it was framed
// in, under the connection's lock, so records go out in order; a close
// sends close_notify.

// econnTLS is an epoll connection's TLS state.
type econnTLS struct {
	rec *tlsrec.Conn
	// state is crypto/tls's view of the handshake, for the router's
	// authentication (TransportInfo.TLSState); dropped once attached.
	state *tls.ConnectionState
	// plain is the plaintext a frame split over records left, kept
	// between Data calls: nil when there is none.
	plain []byte
	// raw is, during Data, the bytes after the records opened (a
	// partial record): an HTTP hand-off takes them along.
	raw []byte
	// releaseAt is when the record layer's ciphers are to be dropped if
	// the connection has been quiet meanwhile (0: not planned). The
	// loop's.
	releaseAt time.Duration
	// open says, under the connection's lock, that the connection is
	// attached (phaseOpen): a write that makes the write cipher may then
	// ask the loop to call Timer, which plans its drop (during the
	// handshake, Timer is the handshake's deadline).
	open bool
}

// tlsReleaseAfter is the quiet after which a connection's ciphers are
// dropped (AES-GCM's tables, some 750 bytes a direction), leaving only
// its keys: a connection quiet that long is idle, and one that wakes up
// pays a few microseconds to make them again. Either direction's cipher
// made again starts the wait: a read in tlsData, a write (an event to an
// idle subscriber, say) in sealLocked, which asks the loop for the timer.
const tlsReleaseAfter = 2 * time.Second

func newEconnTLS(r *tlsrec.Result) *econnTLS {
	st := r.State // not &r.State: that would keep the leftover bytes
	return &econnTLS{rec: r.Conn, state: &st}
}

// handshakeTLS runs nc's TLS handshake on a goroutine of its own, once
// one of the MaxTLSHandshakes slots is free (the accept loop waits for
// one, counted in ServerStats.TLSHandshakeWaits), and hands the
// connection to the engine when it succeeds. spent is the part of the
// handshake timeout nc took already.
func (s *Server) handshakeTLS(e *engine, nc net.Conn, spent time.Duration) {
	select {
	case e.tlsSlots <- struct{}{}:
	default:
		s.stats.tlsHandshakeWaits.Add(1)
		e.tlsSlots <- struct{}{}
	}
	if !s.hold(nc) {
		<-e.tlsSlots
		return
	}
	s.stats.tlsHandshakes.Add(1)
	go s.runHandshakeTLS(e, nc, spent)
}

// runHandshakeTLS is the goroutine of one TLS handshake.
func (s *Server) runHandshakeTLS(e *engine, nc net.Conn, spent time.Duration) {
	defer func() {
		s.stats.tlsHandshakes.Add(-1)
		<-e.tlsSlots
		s.wg.Done()
	}()
	start := time.Now()
	var deadline time.Time
	if d := s.opt.handshakeTimeout; d > 0 {
		deadline = start.Add(max(d-spent, time.Millisecond))
	}
	res, err := s.opt.tls.Handshake(countConn{nc, &s.stats}, deadline)
	s.rel.garbage(handshakeGarbage) // failed or not, it allocated
	closed := s.release(nc)
	if err != nil {
		nc.Close()
		s.unpend()
		if !closed {
			remote := nc.RemoteAddr().String()
			s.refused(remote, fmt.Errorf("%w with %s: %w", errTLSHandshake, remote, err))
		}
		return
	}
	if closed || !s.addToEngine(e, nc, res, spent+time.Since(start)) {
		nc.Close()
		s.unpend()
	}
}

// tlsPlainKeep is the largest plaintext buffer a TLS connection keeps for
// a rest much smaller than it.
const tlsPlainKeep = 64 << 10

// tlsData is Data for a TLS connection: the records in b are opened in
// place and their plaintext goes through the plain path; what a frame
// split over records leaves waits in c.tls.plain.
func (c *econn) tlsData(b []byte) (int, int) {
	t := c.tls
	r, err := t.rec.Open(b)
	p := b[:r.N]
	if len(t.plain) > 0 {
		t.plain = append(t.plain, p...)
		p = t.plain
	}
	if len(p) > 0 {
		t.raw = b[r.Used:]
		used, _ := c.readPlain(p)
		t.raw = nil
		switch rest := p[used:]; {
		case len(rest) == 0:
			t.plain = nil
		case used == 0 && len(t.plain) > 0:
			// Nothing taken: rest is t.plain, kept as it is. (A copy
			// onto itself is skipped by the compiler in a normal build,
			// but under the race detector it instruments all the message
			// so far at every read while a large message arrives:
			// quadratic, seconds for a few MiB on a loaded machine.)
		case len(t.plain) > 0 && (cap(t.plain) <= tlsPlainKeep || cap(t.plain) < 4*len(rest)):
			t.plain = t.plain[:copy(t.plain, rest)]
		default:
			// A buffer of its own, also in place of one a large message
			// grew: a client that went quiet after the start of the next
			// frame would have its connection hold that, a cost no bound
			// counts.
			t.plain = append([]byte(nil), rest...)
		}
	}
	if err != nil {
		c.tlsFailed(err)
		return len(b), 0
	}
	if t.releaseAt == 0 && c.phase == phaseOpen {
		t.releaseAt = epoll.Now() + tlsReleaseAfter
		c.SetTimerBefore(t.releaseAt)
	}
	if r.KeyUpdate {
		c.Lock()
		if c.OpenLocked() {
			c.commitLocked(len(*c.outputLocked())) // seals the KeyUpdate the client asked for
		}
		c.Unlock()
	}
	need := 0
	if r.Need > 0 { // Need counts the bytes missing; the engine wants the rest's whole length
		need = len(b) - r.Used + r.Need
	}
	return r.Used, need
}

// tlsTimer drops the ciphers of a connection quiet for tlsReleaseAfter,
// and returns when to look again (0: when a cipher is next made). The
// econn Timer calls it whenever its timer fires, and the loop calls that
// Timer when a write made the write cipher again (sealLocked asks it
// to): with no drop planned, it plans one.
func (c *econn) tlsTimer(now time.Duration) time.Duration {
	t := c.tls
	switch {
	case t.releaseAt == 0:
		if !t.rec.HoldsReadCipher() && !c.holdsWriteCipher() {
			return 0
		}
		t.releaseAt = now + tlsReleaseAfter
		return t.releaseAt
	case now < t.releaseAt:
		return t.releaseAt
	}
	if last := max(c.LastRead(), c.LastWrite()); now-last < tlsReleaseAfter {
		t.releaseAt = last + tlsReleaseAfter
		return t.releaseAt
	}
	t.releaseAt = 0
	var freed int64
	if t.rec.HoldsReadCipher() {
		t.rec.ReleaseRead()
		freed += cipherGarbage
	}
	c.Lock()
	if t.rec.HoldsWriteCipher() {
		t.rec.ReleaseWrite()
		freed += cipherGarbage
	}
	c.Unlock()
	if freed > 0 {
		c.srv.rel.garbage(freed)
	}
	return 0
}

// holdsWriteCipher reports whether the record layer holds its write
// cipher, which is the writer's: under the lock.
func (c *econn) holdsWriteCipher() bool {
	c.Lock()
	defer c.Unlock()
	return c.tls.rec.HoldsWriteCipher()
}

// tlsFailed ends a connection whose records failed, or that the client
// closed with close_notify (then as at its end of stream). After a fatal
// alert nothing more may be sent, not even a WebSocket close frame: the
// alert Open asks for goes out and the connection closes.
func (c *econn) tlsFailed(err error) {
	c.CloseRead()
	if errors.Is(err, tlsrec.ErrCloseNotify) {
		c.srv.opt.log.Debug("TLS: the client sent close_notify", "remote", c.remote)
		c.EOF()
		return
	}
	c.srv.opt.log.Debug("TLS: closing the connection", "remote", c.remote, "err", err)
	if c.phase == phaseHandshake {
		c.srv.refused(c.remote, fmt.Errorf("%w with %s: %w", errTLSHandshake, c.remote, err))
	}
	c.phase = phaseDraining
	c.Lock()
	if c.OpenLocked() {
		c.closing.Store(true)
		var ae *tlsrec.AlertError
		if errors.As(err, &ae) && !ae.Remote {
			out := c.Output()
			*out = c.tls.rec.SealAlert(*out, ae.Alert)
		}
		c.CloseLocked()
	}
	c.Unlock()
}

// sealLocked turns the output the caller appended after mark into TLS
// records, in place; a no-op without TLS. The caller holds the lock.
func (c *econn) sealLocked(out *[]byte, mark int) {
	if c.tls == nil {
		return
	}
	held := c.tls.rec.HoldsWriteCipher()
	b, err := c.tls.rec.SealInPlace(*out, mark)
	*out = b
	if !held && c.tls.open && c.tls.rec.HoldsWriteCipher() {
		// Made again: the loop's Timer (tlsTimer) plans its drop.
		c.WakeTimerLocked()
	}
	if err != nil { // the sequence number is exhausted (2^64 records)
		c.srv.opt.log.Warn("TLS: cannot seal more records; closing", "remote", c.remote, "err", err)
		c.CloseLocked()
	}
}

// closeNotifyLocked appends close_notify before a close. The caller holds
// the lock.
func (c *econn) closeNotifyLocked() {
	if c.tls == nil {
		return
	}
	out := c.Output()
	*out = c.tls.rec.SealAlert(*out, tlsrec.AlertCloseNotify)
}

// tlsNetConn is a TLS connection handed from the epoll engine to
// net/http (an HTTP request for the Handler): the record layer over the
// socket, read and written by net/http's goroutines.
type tlsNetConn struct {
	net.Conn
	rec *tlsrec.Conn

	rmu   sync.Mutex
	raw   []byte // records read, not yet opened
	plain []byte // opened, not yet read
	rerr  error

	wmu  sync.Mutex
	wbuf []byte
	shut bool // close_notify sent
}

func newTLSNetConn(nc net.Conn, rec *tlsrec.Conn, raw []byte) *tlsNetConn {
	c := &tlsNetConn{Conn: nc, rec: rec, raw: make([]byte, 0, 2*tlsrec.MaxRecord)}
	c.raw = append(c.raw, raw...)
	return c
}

func (c *tlsNetConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.plain) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		r, err := c.rec.Open(c.raw)
		c.plain = append(c.plain[:0], c.raw[:r.N]...)
		c.raw = c.raw[:copy(c.raw, c.raw[r.Used:])]
		if r.KeyUpdate {
			c.write(nil)
		}
		if err != nil {
			c.rerr = err
			if errors.Is(err, tlsrec.ErrCloseNotify) {
				c.rerr = io.EOF
			}
			var ae *tlsrec.AlertError
			if errors.As(err, &ae) && !ae.Remote {
				c.wmu.Lock()
				if !c.shut {
					c.shut = true
					c.Conn.SetWriteDeadline(time.Now().Add(closeGrace))
					c.Conn.Write(c.rec.SealAlert(nil, ae.Alert))
				}
				c.wmu.Unlock()
			}
			continue
		}
		if len(c.plain) > 0 {
			break
		}
		n, err := c.Conn.Read(c.raw[len(c.raw):cap(c.raw)])
		c.raw = c.raw[:len(c.raw)+n]
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Not the end: net/http interrupts its background read with a
			// deadline in the past, and reads on after.
			return 0, err
		case err == io.EOF:
			c.rerr = io.ErrUnexpectedEOF // no close_notify
		default:
			c.rerr = err
		}
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

func (c *tlsNetConn) Write(p []byte) (int, error) {
	return c.write(p)
}

// tlsWriteChunk is how much of a Write is sealed at once: net/http hands
// a large response body over in one Write, and a sealed copy of all of it
// would double its memory for the time of the write.
const tlsWriteChunk = 16 * tlsrec.MaxPlaintext

// tlsKeepWriteBuf is the largest write buffer a connection keeps between
// writes (an idle kept-alive connection holds it).
const tlsKeepWriteBuf = 64 << 10

func (c *tlsNetConn) write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.shut {
		return 0, net.ErrClosed
	}
	defer func() {
		if cap(c.wbuf) > tlsKeepWriteBuf {
			c.wbuf = nil
		}
	}()
	written := 0
	for first := true; first || written < len(p); first = false {
		chunk := p[written:min(len(p), written+tlsWriteChunk)] // nil p: a KeyUpdate's answer alone
		var err error
		if c.wbuf, err = c.rec.Seal(c.wbuf[:0], chunk); err != nil {
			return written, err
		}
		if _, err := c.Conn.Write(c.wbuf); err != nil {
			return written, err
		}
		written += len(chunk)
	}
	return written, nil
}

// CloseWrite sends close_notify and half-closes the socket.
func (c *tlsNetConn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.shut {
		c.shut = true
		c.Conn.Write(c.rec.SealAlert(nil, tlsrec.AlertCloseNotify))
	}
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close sends close_notify and closes the socket; while a Write is under
// way (to a client that does not read, say) it closes the socket at once,
// as crypto/tls does: net/http's Server.Close closes connections to end
// such writes, and must not wait for them.
func (c *tlsNetConn) Close() error {
	if c.wmu.TryLock() {
		if !c.shut {
			c.shut = true
			c.Conn.SetWriteDeadline(time.Now().Add(closeGrace))
			c.Conn.Write(c.rec.SealAlert(nil, tlsrec.AlertCloseNotify))
		}
		c.wmu.Unlock()
	}
	return c.Conn.Close()
}
