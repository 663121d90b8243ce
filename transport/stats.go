package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
)

// Counting.
//
// A Server counts its connections by engine and transport (an atomic add
// per connection opened and closed), the handshakes it refuses by reason,
// and the bytes it reads and writes: the epoll engine per event loop (one
// add per system call, on the loop's own cache line), goroutine mode per
// connection goroutine. Stats reads them.

// The transports a connection is counted under (ConnStats.Transport).
var transportNames = [...]string{"websocket", "rawsocket", "http"}

const (
	kindWebSocket = iota
	kindRawSocket
	kindHTTP
	numKinds
)

// The engines (ConnStats.Engine).
const (
	engGoroutine = iota
	engEpoll
	numEngines
)

var engineNames = [numEngines]string{EngineGoroutine, EngineEpoll}

func kindOf(p protocol) int {
	if p == protoRawSocket {
		return kindRawSocket
	}
	return kindWebSocket
}

// RefusalReasons are the reasons a handshake is refused for, as
// ServerStats.Refused counts them:
//
//	timeout        the handshake did not complete within HandshakeTimeout
//	closed         the client closed or reset the connection first
//	tls            the TLS handshake failed
//	disabled       the client's protocol (WebSocket, RawSocket) is off here
//	rawsocket      the RawSocket handshake asked for what the router refuses
//	not_found      a WebSocket upgrade (or, without Handler, any request)
//	               for another path than the WebSocket path
//	origin         the browser origin is not allowed
//	subprotocol    no WAMP subprotocol the router speaks was offered
//	bad_request    a malformed request, or not a WebSocket upgrade
//	too_large      an upgrade request over 16 KiB (answered 431)
//	http_busy      HTTP connections were at HTTP.MaxConns
//	pending_full   the connections not yet joined were at
//	               MaxPendingConnections: closed at accept, unread
//	proxy_header   no valid PROXY protocol header (Server.ProxyProtocol)
//	other          anything else
var RefusalReasons = []string{"timeout", "closed", "tls", "disabled", "rawsocket", "not_found", "origin",
	"subprotocol", "bad_request", "too_large", "http_busy", "pending_full", "proxy_header", "other"}

const (
	refTimeout = iota
	refClosed
	refTLS
	refDisabled
	refRawSocket
	refNotFound
	refOrigin
	refSubprotocol
	refBadRequest
	refTooLarge
	refHTTPBusy
	refPendingFull
	refProxyHeader
	refOther
	numRefusals
)

// Errors the handshakes return, for refusalReason.
var (
	errNoHandshake       = errors.New("no handshake")
	errClosedInHandshake = errors.New("connection closed during the handshake")
	errTLSHandshake      = errors.New("TLS handshake")
	errRawSocketOff      = errors.New("RawSocket is disabled on this port")
	errWebSocketOff      = errors.New("WebSocket is disabled on this port")
	errHTTPBusy          = errors.New("too many HTTP connections")
	errTooManyPending    = errors.New("too many connections not yet joined")
	errProxyHeader       = errors.New("PROXY protocol header")
)

// refusalReason classes the error that refused a handshake.
func refusalReason(err error) int {
	var rejected *ws.ConnectionRejectedError
	var code rawsocket.ErrorCode
	switch {
	case errors.Is(err, errTLSHandshake):
		return refTLS
	case errors.Is(err, errProxyHeader):
		return refProxyHeader
	case errors.Is(err, errNoHandshake) || errors.Is(err, os.ErrDeadlineExceeded):
		return refTimeout
	case errors.Is(err, errClosedInHandshake) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed):
		return refClosed
	case errors.Is(err, errRawSocketOff) || errors.Is(err, errWebSocketOff):
		return refDisabled
	case errors.As(err, &code):
		return refRawSocket
	case errors.Is(err, websocket.ErrRequestTooLarge):
		return refTooLarge
	case errors.Is(err, websocket.ErrNoSubprotocol) || errors.Is(err, websocket.ErrUnsupportedSubprotocol):
		return refSubprotocol
	case errors.Is(err, errHTTPBusy):
		return refHTTPBusy
	case errors.Is(err, errTooManyPending):
		return refPendingFull
	case errors.As(err, &rejected):
		switch rejected.StatusCode() {
		case 404:
			return refNotFound
		case 403:
			return refOrigin
		}
		return refBadRequest
	}
	return refOther
}

// serverCounters are a Server's counters.
type serverCounters struct {
	conns   [numEngines][numKinds]connCounts
	refused [numRefusals]atomic.Uint64
	// io counts the bytes of goroutine-mode connections; the epoll engine
	// counts its own.
	ioRead, ioWritten atomic.Uint64
	loops             atomic.Uint64 // numbers goroutine-mode connections for the router (TransportInfo.Loop)
	// tooLargeBeforeWelcome, memoryReleases, deflateConns and
	// inflatedTooLarge: see ServerStats.
	tooLargeBeforeWelcome, memoryReleases atomic.Uint64
	tlsHandshakes                         atomic.Int64 // in progress on the epoll engine's goroutines
	tlsHandshakeWaits                     atomic.Uint64
	deflateConns, inflatedTooLarge        atomic.Uint64
	pending                               atomic.Int64 // connections not yet joined (Server.MaxPendingConnections)
}

type connCounts struct {
	open  atomic.Int64
	total atomic.Uint64
}

// connOpened counts a connection that finished its handshake; connClosed,
// the end of one.
func (s *Server) connOpened(engine, kind int) {
	c := &s.stats.conns[engine][kind]
	c.open.Add(1)
	c.total.Add(1)
}

func (s *Server) connClosed(engine, kind int) { s.stats.conns[engine][kind].open.Add(-1) }

// refused counts a handshake refused with err and logs it, at info level
// but rate-limited per reason: a flood of bad clients must not fill the
// disk.
func (s *Server) refused(remote string, err error) {
	if errors.Is(err, ErrServerClosed) {
		return // not the client's doing
	}
	reason := refusalReason(err)
	s.stats.refused[reason].Add(1)
	if ok, skipped := s.logLimit.Allow(RefusalReasons[reason]); ok {
		s.opt.log.Info("handshake refused", "reason", RefusalReasons[reason], "remote", remote, "err", err, "not_logged_since", skipped)
	}
}

// ConnStats counts the connections of one engine and transport.
type ConnStats struct {
	Engine    string // goroutine or epoll
	Transport string // websocket, rawsocket or http
	Open      int64  // open now
	Total     uint64 // opened since the Server started (their handshake done)
}

// ServerStats is a snapshot of a Server's counters.
type ServerStats struct {
	// Conns has one entry per engine and transport, zeros included.
	Conns []ConnStats
	// Refused counts the handshakes refused, by reason (every one of
	// RefusalReasons, zeros included).
	Refused map[string]uint64
	// BytesRead and BytesWritten count, by engine, the bytes read from and
	// written to the sockets of the Server's connections (WAMP and HTTP,
	// TLS records included).
	BytesRead, BytesWritten map[string]uint64
	// TooLargeBeforeWelcome counts connections closed for a message over
	// Server.MaxPreWelcomeMessageSize. What the Server's PartialBudget
	// refused is counted there (Refused), and the slow consumers it
	// dropped in the router's Stats.
	TooLargeBeforeWelcome uint64
	// MemoryReleases counts the times memory was given back to the
	// operating system after a spike: of large messages, or of TLS
	// handshakes (a connect storm).
	MemoryReleases uint64
	// TLSHandshakes is the number of TLS handshakes in progress for the
	// epoll engine (at most Server.MaxTLSHandshakes); the ones that
	// failed are in Refused ("tls").
	TLSHandshakes int64
	// TLSHandshakeWaits counts the accepted TLS connections whose
	// handshake had to wait for one of the MaxTLSHandshakes slots (the
	// accept loop waits meanwhile): a bound that is met.
	TLSHandshakeWaits uint64
	// DeflateConns counts the WebSocket connections that negotiated
	// permessage-deflate (Server.Deflate).
	DeflateConns uint64
	// Pending is the number of connections accepted whose session is not
	// established yet (at most Server.MaxPendingConnections); those
	// refused for it are in Refused ("pending_full").
	Pending int64
	// InflatedTooLarge counts connections closed (1009) for a compressed
	// message whose decompressed form was over the size limit that applied
	// (zip bombs among them); those refused before WELCOME are also in
	// TooLargeBeforeWelcome.
	InflatedTooLarge uint64
}

// Stats returns a snapshot of the Server's counters.
func (s *Server) Stats() ServerStats {
	st := ServerStats{
		Refused:      make(map[string]uint64, numRefusals),
		BytesRead:    map[string]uint64{EngineGoroutine: s.stats.ioRead.Load()},
		BytesWritten: map[string]uint64{EngineGoroutine: s.stats.ioWritten.Load()},

		TooLargeBeforeWelcome: s.stats.tooLargeBeforeWelcome.Load(),
		MemoryReleases:        s.stats.memoryReleases.Load(),
		TLSHandshakes:         s.stats.tlsHandshakes.Load(),
		TLSHandshakeWaits:     s.stats.tlsHandshakeWaits.Load(),
		DeflateConns:          s.stats.deflateConns.Load(),
		InflatedTooLarge:      s.stats.inflatedTooLarge.Load(),
		Pending:               s.stats.pending.Load(),
	}
	for e := range numEngines {
		for k := range numKinds {
			c := &s.stats.conns[e][k]
			st.Conns = append(st.Conns, ConnStats{Engine: engineNames[e], Transport: transportNames[k], Open: c.open.Load(), Total: c.total.Load()})
		}
	}
	for i, name := range RefusalReasons {
		st.Refused[name] = s.stats.refused[i].Load()
	}
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	st.BytesRead[EngineEpoll], st.BytesWritten[EngineEpoll] = eng.bytes()
	return st
}

// countConn counts the bytes of a goroutine-mode connection.
type countConn struct {
	net.Conn
	st *serverCounters
}

func (c countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.st.ioRead.Add(uint64(n))
	}
	return n, err
}

func (c countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.st.ioWritten.Add(uint64(n))
	}
	return n, err
}

// CloseWrite half-closes the connection, as the wrapped one does.
func (c countConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
