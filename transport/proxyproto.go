package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
)

// The PROXY protocol (HAProxy's, versions 1 and 2) is how TCP load
// balancers (HAProxy, nginx's stream module, AWS NLB, Google's and
// Azure's) tell the server behind them who the client is, in a header
// before the client's first byte: the only way for a RawSocket client
// behind one to be told apart from the others (X-Forwarded-For needs an
// HTTP request). With Server.ProxyProtocol every connection must begin
// with one; the address in it is believed only from a trusted proxy
// (Server.TrustedProxies), as anyone reaching the port could send one.
//
// The header is read exactly, peeked at (MSG_PEEK) until it is whole and
// then consumed, so that not a byte of the client's own is read with it:
// the socket is then handed on untouched to the TLS handshake, the epoll
// engine or a connection goroutine, as a connection without the header
// would be. Parsing is go-proxyproto's.

// proxyHeaderMax bounds a header: version 1 is at most 107 bytes, and
// version 2's TLVs (a load balancer's endpoint ids, TLS details) take a
// few hundred bytes in practice; a longer one is refused.
const proxyHeaderMax = 4096

var (
	proxyV1Prefix = []byte("PROXY ")
	proxyV2Sig    = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// proxyHeaderSize returns the length of the PROXY header at the start of
// b, 0 when b is a part of one, or an error when b does not begin one.
func proxyHeaderSize(b []byte) (int, error) {
	switch {
	case bytes.HasPrefix(b, proxyV2Sig):
		if len(b) < 16 {
			return 0, nil
		}
		size := 16 + int(binary.BigEndian.Uint16(b[14:16]))
		if size > proxyHeaderMax {
			return 0, fmt.Errorf("a version 2 header of %d bytes (at most %d)", size, proxyHeaderMax)
		}
		if len(b) < size {
			return 0, nil
		}
		return size, nil
	case bytes.HasPrefix(b, proxyV1Prefix):
		line := b[:min(len(b), 107)]
		if i := bytes.Index(line, []byte("\r\n")); i >= 0 {
			return i + 2, nil
		}
		if len(line) == 107 {
			return 0, errors.New("a version 1 header longer than 107 bytes")
		}
		return 0, nil
	case bytes.HasPrefix(proxyV2Sig, b) || bytes.HasPrefix(proxyV1Prefix, b):
		return 0, nil
	}
	return 0, errors.New("the connection does not begin with a PROXY protocol header")
}

// readProxyHeader reads the PROXY header nc begins with, before deadline,
// and returns the client's address in it: "" for the balancer's own
// connection (version 2's LOCAL: a health check), unknownClient for a
// client the header does not name (UNKNOWN, AF_UNSPEC, a Unix socket).
func readProxyHeader(nc net.Conn, deadline time.Time) (string, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return "", fmt.Errorf("%w: %T is not a socket", errProxyHeader, nc)
	}
	nc.SetReadDeadline(deadline)
	defer nc.SetReadDeadline(time.Time{})
	buf := make([]byte, proxyHeaderMax)
	size, err := peekProxyHeader(sc, buf)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errProxyHeader, err)
	}
	if _, err := io.ReadFull(nc, buf[:size]); err != nil {
		return "", fmt.Errorf("%w: %w", errProxyHeader, err)
	}
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(buf[:size])))
	if err != nil {
		return "", fmt.Errorf("%w: %w", errProxyHeader, err)
	}
	if h.Version == 2 && h.Command.IsLocal() {
		return "", nil // the balancer's own connection (a health check)
	}
	switch a := h.SourceAddr.(type) {
	case *net.TCPAddr:
		return a.String(), nil
	case *net.UDPAddr:
		return a.String(), nil
	}
	// A client of the balancer it cannot name: version 1's UNKNOWN
	// (go-proxyproto reads it as LOCAL), an address family without one
	// (AF_UNSPEC) or a Unix socket's.
	return unknownClient, nil
}

// unknownClient is what readProxyHeader returns for a client the header
// does not name.
const unknownClient = "unknown"

// unnamedClientAddr is the address of a client that came through the
// proxy at remote without a name: the proxy's host, marked so that it is
// never taken for the proxy itself (whose X-Forwarded-For would be
// believed: the bytes after the header are the unknown client's), and
// without the port, so that such clients share one address for the
// throttles as they would the proxy's.
func unnamedClientAddr(remote string) string {
	if a := hostAddr(remote); a.IsValid() {
		return "unknown-via-" + a.String()
	}
	return "unknown-via-" + remote
}

// proxiedConn is a connection whose client's address came in its PROXY
// header: the address every layer above (the engines, the router's
// TransportInfo, the logs) reads. It is still the socket underneath,
// for the epoll engine and deadlines.
type proxiedConn struct {
	net.Conn
	client proxiedAddr
}

type proxiedAddr struct{ addr string }

func (a proxiedAddr) Network() string { return "tcp" }
func (a proxiedAddr) String() string  { return a.addr }

func (c *proxiedConn) RemoteAddr() net.Addr { return c.client }

// CloseWrite half-closes the socket, for a graceful close.
func (c *proxiedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// SyscallConn is the socket's, for the epoll engine.
func (c *proxiedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	return sc.SyscallConn()
}

// acceptProxied reads nc's PROXY header on a goroutine of its own (a
// silent client must not stall the accept loop), within the handshake
// timeout, and then serves it as serveAccepted does, with what is left of
// that timeout for the TLS and transport handshakes, with the client's
// address from the header when nc comes from a trusted proxy. Server.Close
// ends the reads in progress.
func (s *Server) acceptProxied(eng *engine, nc net.Conn) {
	if !s.hold(nc) {
		return
	}
	go func() {
		defer s.wg.Done()
		start := time.Now()
		var deadline time.Time
		if d := s.opt.handshakeTimeout; d > 0 {
			deadline = start.Add(d)
		}
		client, err := readProxyHeader(nc, deadline)
		closed := s.release(nc)
		remote := nc.RemoteAddr().String()
		if err != nil || closed {
			nc.Close()
			s.unpend()
			if err != nil && !closed {
				s.refused(remote, fmt.Errorf("from %s: %w", remote, err))
			}
			return
		}
		if client != "" && s.TrustedProxies.peer(remote) {
			if client == unknownClient {
				client = unnamedClientAddr(remote)
			}
			nc = &proxiedConn{Conn: nc, client: proxiedAddr{client}}
		}
		s.serveAccepted(eng, nc, time.Since(start)) // the header took part of the handshake timeout
	}()
}
