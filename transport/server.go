package transport

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/junction-wamp/junction/internal/lograte"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/internal/tlsrec"
	"github.com/junction-wamp/junction/transport/rawsocket"
	"github.com/junction-wamp/junction/transport/websocket"
)

// Defaults for the Server's zero fields.
const (
	DefaultMaxMessageSize   = 16 << 20
	DefaultOutboundQueue    = 4 << 20
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultHelloTimeout     = 10 * time.Second
	DefaultPingTimeout      = 10 * time.Second
	// DefaultMaxTLSHandshakes bounds the TLS handshakes the epoll engine
	// runs at once.
	DefaultMaxTLSHandshakes = 1024
	// DefaultMaxPendingConnections bounds the connections whose session is
	// not established yet: room for a fleet of some thousands of clients
	// reconnecting at once (each is pending for a few round trips), not
	// for an unbounded flood of sockets that never say HELLO.
	DefaultMaxPendingConnections = 10_000
)

// closeGrace bounds the flush of what is queued when a connection closes,
// and then the wait for the client to close its side.
const closeGrace = 2 * time.Second

// maxUpgradeRequest bounds a WebSocket upgrade request, headers included.
const maxUpgradeRequest = 16 << 10

// Values of Server.Engine.
const (
	EngineAuto      = "auto"
	EngineEpoll     = "epoll"
	EngineGoroutine = "goroutine"
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("transport: server closed")

// Server accepts WAMP clients over WebSocket and RawSocket on the listeners
// given to Serve and attaches them to a router. Set its fields, then call
// Serve; the fields must not change after that. Zero fields take the
// defaults documented on each.
type Server struct {
	// Router receives the sessions. Required.
	Router *router.Router

	// WebSocketPath is the HTTP path of the WebSocket endpoint; default
	// "/ws". Requests for other paths get 404.
	WebSocketPath string
	// WebSocket and RawSocket enable the two protocols on the port. When
	// both are false, both are enabled. A client of a disabled protocol is
	// disconnected without an answer.
	WebSocket, RawSocket bool
	// AllowedOrigins lists the browser origins allowed to open a
	// WebSocket: exact origins ("https://app.example.com"), wildcards in the
	// first label of the host ("https://*.example.com") or "*", compared
	// with Origin headers as origins are, case and default ports aside
	// (websocket.NewOriginPolicy). Empty means any origin; a refused
	// origin gets 403. Clients that send no Origin header (they are not
	// browsers) are not checked.
	AllowedOrigins []string
	// Deflate negotiates permessage-deflate (RFC 7692) with the WebSocket
	// clients that offer it (browsers always do). Such a connection takes
	// compressed messages, decompressed within MaxMessageSize (and
	// MaxPreWelcomeMessageSize before WELCOME: a zip bomb is refused with
	// close 1009 once its output passes the limit, and counted), and is
	// sent its messages of websocket.MinDeflateSize bytes or more
	// compressed when that makes them shorter. Every message is compressed
	// on its own (no context takeover either way), so an idle connection
	// keeps no compressor state. Off by default: it costs CPU on every
	// message for bytes saved (BENCHMARKS.md, "permessage-deflate").
	Deflate bool

	// MaxMessageSize is the largest message accepted from a client, in
	// bytes, and also the largest sent to one; default 16 MiB. A RawSocket
	// connection announces (and enforces) the largest power of two not above
	// it, from 512 bytes to 16 MiB, and never sends more than the client
	// announced.
	MaxMessageSize int64
	// MaxPreWelcomeMessageSize is the largest message accepted from a
	// client whose session is not established yet (HELLO, AUTHENTICATE),
	// in bytes; default 64 KiB, never more than MaxMessageSize. A larger
	// one fails the session (ABORT, WebSocket close 1009) as soon as its
	// frame header announces its length, before any of it is buffered: a
	// client that has not joined makes the router hold no more than this.
	MaxPreWelcomeMessageSize int64
	// PartialBudget bounds the bytes all connections together hold in
	// messages still arriving (see PartialBudget). Nil: the Server makes
	// its own, of DefaultMaxPartialBytes or MaxMessageSize if larger. Give
	// the Servers of one router the same one. Its limit must not be less
	// than MaxMessageSize.
	PartialBudget *PartialBudget
	// OutboundQueue bounds the bytes queued for one connection and not yet
	// written; default 4 MiB. A message that does not fit is refused with
	// router.ErrQueueFull (see the package documentation).
	OutboundQueue int64

	// HandshakeTimeout bounds the TLS handshake and the WebSocket or
	// RawSocket handshake together (with ProxyProtocol, the PROXY header
	// too); default 5s, negative for none.
	HandshakeTimeout time.Duration
	// HelloTimeout is the time a client has, after the transport
	// handshake, to establish its session (send HELLO, and answer a
	// CHALLENGE); the session is then aborted as a protocol violation. It
	// counts the client's time only: while the router has not answered the
	// client's last message (an authentication verifying a password, say),
	// the session is not cut off, and once the router has answered, the
	// client has a whole HelloTimeout again. Default 10s, negative for
	// none.
	HelloTimeout time.Duration
	// PingInterval is the silence after which a connection is sent a
	// keep-alive ping (WebSocket ping, RawSocket PING): the ping goes
	// PingInterval after the last bytes received from the client (any
	// bytes: a message, part of one, a pong), and again PingInterval after
	// whatever answers it. Zero or negative for no pings. The epoll engine
	// may add up to one timer tick (an eighth of the shortest timeout, at
	// most 250ms) to each step; the delays never add up.
	PingInterval time.Duration
	// PingTimeout is the time a client has to send anything (a pong will
	// do) after a ping before the connection is closed as dead (WebSocket
	// close 1001): a client that goes silent is dropped PingInterval +
	// PingTimeout after the last bytes it sent. Default 10s; negative to
	// keep pinging, every PingInterval, without ever closing.
	PingTimeout time.Duration
	// RawSocketPings turns keep-alive pings on for RawSocket connections
	// too. They are off by default because Autobahn|Python's asyncio
	// RawSocket transport (22.x) drops the connection on any PING; TCP
	// keep-alive, which the server enables on every connection, still
	// finds peers that vanished.
	RawSocketPings bool
	// IdleTimeout closes a connection on which the client has sent no WAMP
	// message (pings and pongs do not count) for this long, checked at
	// this granularity: the connection closes after between IdleTimeout and
	// twice that. Zero or negative for no limit.
	IdleTimeout time.Duration

	// TLSConfig, when set, makes every connection TLS (wss:// and
	// RawSocket over TLS). The epoll engine serves TLS 1.2 and 1.3 with
	// AEAD suites only (TLS 1.3's three; TLS 1.2's ECDHE suites with
	// AES-GCM or ChaCha20-Poly1305), whatever TLSConfig allows beyond; the
	// goroutine engine serves what TLSConfig allows.
	TLSConfig *tls.Config
	// MaxTLSHandshakes bounds the TLS handshakes the epoll engine runs at
	// once, each on a goroutine of its own for at most HandshakeTimeout
	// (never on an event loop): while that many are in progress, new
	// connections wait in the listen backlog. It bounds a connect storm's
	// peak memory too: a handshake in progress holds some tens of KB
	// (given back after the storm; see memory.go). Default
	// DefaultMaxTLSHandshakes.
	MaxTLSHandshakes int
	// MaxPendingConnections bounds the connections the Server holds whose
	// session is not established yet: from their accept, through the TLS
	// and transport handshakes, to WELCOME (HELLO and authentication
	// included), whose timeouts alone bound how long each is held, not
	// how many. A connection accepted while that many are pending is
	// closed at once, before a byte of it is read (it costs an accept and
	// a close), and counted in ServerStats.Refused ("pending_full"); the
	// sessions already established are not counted and not affected.
	// Default DefaultMaxPendingConnections; negative for no limit.
	MaxPendingConnections int

	// Cookie, when set, gives WebSocket clients an authentication cookie:
	// the upgrade reads it and, when the client has none, sets a new random
	// one; the router gets its value (router.TransportInfo.Cookie) for
	// cookie authentication.
	Cookie *Cookie

	// Engine says how connections are served (see the package
	// documentation for what each costs): EngineEpoll, the event loops of
	// the epoll engine (Linux only; TCP and Unix sockets, TLS included);
	// EngineGoroutine, two goroutines per connection (everywhere); or
	// EngineAuto, the default (also ""): epoll for the listeners it can
	// serve, goroutine mode for the others (and for TLS when TLSConfig
	// allows nothing the epoll engine's record layer carries).
	Engine string

	// Handler, when set, serves the plain HTTP requests that arrive on the
	// Server's listeners: a request for another path than WebSocketPath,
	// and one for that path that does not ask for a WebSocket upgrade (with
	// WebSocket off, every HTTP request). Such a connection is handed to a
	// net/http Server, with the bytes already read, and served there in
	// goroutine mode whatever the engine, further requests on it
	// (keep-alive) included; HTTP bounds it. Behind TLS the handler sees
	// no Request.TLS. Nil: such requests get the WebSocket handshake's
	// answer, 404 for another path.
	Handler http.Handler
	// HTTP bounds the connections Handler serves: timeouts, sizes and
	// their number.
	HTTP HTTPLimits
	// TrustedProxies are the reverse proxies in front of the listeners:
	// for a WebSocket upgrade or an HTTP request (Handler) that comes
	// from one, the client's address is read from X-Forwarded-For (see
	// forwarded.go), and that is the address the router keys the client
	// on (login throttle, long-poll limits, meta API, logs). Nil trusts
	// none: every connection's address is its socket's peer.
	TrustedProxies *Proxies
	// ProxyProtocol has every connection begin with a PROXY protocol
	// header (version 1 or 2), as TCP load balancers send it: the
	// client's address in it is the connection's when the connection
	// comes from one of TrustedProxies. A connection without a valid
	// header within HandshakeTimeout is closed (refusal reason
	// proxy_header); the time the header took counts in HandshakeTimeout.
	// See proxyproto.go.
	ProxyProtocol bool

	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger

	initOnce sync.Once
	initErr  error
	opt      options

	rel releaser

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	// held are the connections a goroutine of their own holds before a
	// conn or the engine has them: a PROXY header being read
	// (proxyproto.go), a TLS handshake for the epoll engine
	// (tls_linux.go). Close and Shutdown close them, which ends those
	// goroutines.
	held map[net.Conn]struct{}
	eng  *engine    // the epoll engine, once a Serve needs it
	web  *httpFront // net/http for Handler, once a request needs it

	stats    serverCounters  // stats.go
	logLimit lograte.Limiter // for the lines clients cause (refused handshakes)
	wg       sync.WaitGroup  // one per connection (goroutine or engine)
}

// Cookie names the authentication cookie of WebSocket connections.
type Cookie struct {
	Name string
	// MaxAge is how long browsers keep it; 0 keeps it for the browser
	// session.
	MaxAge time.Duration
	// Signer issues the values and accepts only its own (see
	// websocket.CookieSigner); give the listeners of one router the same
	// signer so that a cookie set by one is good at the others. Nil: the
	// Server makes its own.
	Signer *websocket.CookieSigner
}

// Spec is the cookie as a WebSocket upgrade (or another HTTP endpoint of
// the listener, such as the long-poll transport's open) sets it:
// "Path=/; HttpOnly; SameSite=Strict", Max-Age, and Secure on a TLS
// listener (secure). A nil Signer gets a new one, so call Spec once per
// cookie and share the result.
func (c *Cookie) Spec(secure bool) *websocket.Cookie {
	attrs := "; Path=/; HttpOnly; SameSite=Strict"
	if c.MaxAge > 0 {
		attrs += fmt.Sprintf("; Max-Age=%d", int64(c.MaxAge/time.Second))
	}
	if secure {
		attrs += "; Secure"
	}
	signer := c.Signer
	if signer == nil {
		signer = websocket.NewCookieSigner()
	}
	return &websocket.Cookie{Name: c.Name, Attributes: attrs, Signer: signer}
}

// options are the Server's settings with defaults applied.
type options struct {
	webSocket, rawSocket bool
	upgrader             websocket.Upgrader
	maxMessage           int // bytes accepted and sent (WebSocket)
	preWelcome           int // bytes accepted before WELCOME
	budget               *PartialBudget
	rawMaxIn             int // bytes announced to and accepted from RawSocket clients
	queue                int
	handshakeTimeout     time.Duration
	helloTimeout         time.Duration
	pingInterval         time.Duration
	pingTimeout          time.Duration
	rawSocketPings       bool
	idleTimeout          time.Duration
	tls                  *tlsrec.Config // TLS on the epoll engine; nil without TLS or epoll
	maxTLSHandshakes     int
	maxPending           int64 // 0: no limit
	log                  *slog.Logger
	wsPath               string // the WebSocket path, default applied
	http                 httpOptions
}

func (s *Server) init() error {
	s.initOnce.Do(func() { s.initErr = s.setup() })
	return s.initErr
}

func (s *Server) setup() error {
	o := &s.opt
	if s.Router == nil {
		return errors.New("transport: Server.Router is nil")
	}
	o.webSocket, o.rawSocket = s.WebSocket, s.RawSocket
	if !o.webSocket && !o.rawSocket {
		o.webSocket, o.rawSocket = true, true
	}
	switch s.Engine {
	case "", EngineAuto, EngineGoroutine:
	case EngineEpoll:
		if !epollSupported {
			return fmt.Errorf("transport: Engine %q needs Linux", s.Engine)
		}
	default:
		return fmt.Errorf("transport: Engine %q is not one of %s, %s, %s", s.Engine, EngineAuto, EngineEpoll, EngineGoroutine)
	}
	o.upgrader.Path = s.WebSocketPath
	o.wsPath = cmp.Or(s.WebSocketPath, websocket.DefaultPath)
	o.upgrader.MaxRequestSize = maxUpgradeRequest
	o.upgrader.Deflate = s.Deflate
	o.upgrader.ForwardedFor = s.TrustedProxies != nil
	if c := s.Cookie; c != nil {
		if c.Name == "" || strings.ContainsAny(c.Name, "=;, \t\r\n\"") {
			return fmt.Errorf("transport: Cookie.Name %q is not a cookie name", c.Name)
		}
		o.upgrader.Cookie = c.Spec(s.TLSConfig != nil)
	}
	if o.upgrader.Path != "" && !strings.HasPrefix(o.upgrader.Path, "/") {
		return fmt.Errorf("transport: WebSocketPath %q does not start with /", s.WebSocketPath)
	}
	var err error
	if o.upgrader.Origins, err = websocket.NewOriginPolicy(s.AllowedOrigins); err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	switch {
	case s.MaxMessageSize < 0:
		return fmt.Errorf("transport: MaxMessageSize %d is negative", s.MaxMessageSize)
	case s.MaxMessageSize == 0:
		o.maxMessage = DefaultMaxMessageSize
	case s.MaxMessageSize > 1<<31-1:
		o.maxMessage = 1<<31 - 1
	default:
		o.maxMessage = int(s.MaxMessageSize)
	}
	o.rawMaxIn = rawsocket.AnnouncedLength(o.maxMessage)
	switch {
	case s.MaxPreWelcomeMessageSize < 0:
		return fmt.Errorf("transport: MaxPreWelcomeMessageSize %d is negative", s.MaxPreWelcomeMessageSize)
	case s.MaxPreWelcomeMessageSize == 0:
		o.preWelcome = DefaultMaxPreWelcomeMessageSize
	default:
		o.preWelcome = int(min(s.MaxPreWelcomeMessageSize, 1<<31-1))
	}
	o.preWelcome = min(o.preWelcome, o.maxMessage)
	o.budget = s.PartialBudget
	switch {
	case o.budget == nil:
		o.budget = NewPartialBudget(max(DefaultMaxPartialBytes, int64(o.maxMessage)))
	case o.budget.Limit() < int64(o.maxMessage):
		return fmt.Errorf("transport: PartialBudget of %d bytes is less than MaxMessageSize (%d): such a message could never arrive", o.budget.Limit(), o.maxMessage)
	}
	s.rel.init(&s.stats.memoryReleases)
	switch {
	case s.OutboundQueue < 0:
		return fmt.Errorf("transport: OutboundQueue %d is negative", s.OutboundQueue)
	case s.OutboundQueue == 0:
		o.queue = DefaultOutboundQueue
	case s.OutboundQueue > 1<<40:
		o.queue = 1 << 40
	default:
		o.queue = int(s.OutboundQueue)
	}
	o.handshakeTimeout = orDefault(s.HandshakeTimeout, DefaultHandshakeTimeout)
	o.helloTimeout = orDefault(s.HelloTimeout, DefaultHelloTimeout)
	o.pingInterval = max(s.PingInterval, 0)
	o.pingTimeout = orDefault(s.PingTimeout, DefaultPingTimeout)
	o.rawSocketPings = s.RawSocketPings
	o.idleTimeout = max(s.IdleTimeout, 0)
	if o.http, err = s.HTTP.options(); err != nil {
		return err
	}
	o.log = s.Logger
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if s.MaxTLSHandshakes < 0 {
		return fmt.Errorf("transport: MaxTLSHandshakes %d is negative", s.MaxTLSHandshakes)
	}
	o.maxTLSHandshakes = cmp.Or(s.MaxTLSHandshakes, DefaultMaxTLSHandshakes)
	o.maxPending = int64(max(cmp.Or(s.MaxPendingConnections, DefaultMaxPendingConnections), 0))
	if s.TLSConfig != nil && epollSupported && s.Engine != EngineGoroutine {
		if o.tls, err = tlsrec.NewConfig(s.TLSConfig); err != nil {
			if s.Engine == EngineEpoll {
				return fmt.Errorf("transport: Engine %q: %w", s.Engine, err)
			}
			o.log.Warn("TLS connections are served in goroutine mode: the epoll engine cannot carry what TLSConfig allows", "err", err)
		}
	}
	s.listeners = make(map[net.Listener]struct{})
	s.conns = make(map[*conn]struct{})
	s.held = make(map[net.Conn]struct{})
	return nil
}

// orDefault maps zero to def and a negative duration to 0 (none).
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Serve accepts connections on ln and serves them, with the epoll engine or
// in goroutine mode as Server.Engine says. It blocks until Close or
// Shutdown, then returns nil; it returns an error when the Server's fields
// are invalid or ln fails, and ErrServerClosed when the Server was already
// closed. Serve may be called for several listeners at once. It closes ln
// when it returns.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.init(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var eng *engine
	if s.useEngine(ln) {
		s.mu.Lock()
		var err error
		if !s.closed {
			eng, err = s.startEngineLocked()
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				// Out of file descriptors and the like: back off as
				// net/http does rather than spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.opt.log.Warn("accepting a connection failed; retrying", "listener", ln.Addr().String(), "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accepting connections on %s: %w", ln.Addr(), err)
		}
		delay = 0
		if !s.pend() {
			s.refused(nc.RemoteAddr().String(), errTooManyPending) // counted before the client can see it
			nc.Close()
			continue
		}
		if s.ProxyProtocol {
			s.acceptProxied(eng, nc)
			continue
		}
		if !s.serveAccepted(eng, nc, 0) {
			return nil
		}
	}
}

// hold adds nc to the held connections, for a goroutine of the server's
// that is to read it before a conn or the engine has it (a PROXY header,
// a TLS handshake): Close and Shutdown close it, and wait for the
// goroutine (s.wg). On a closed Server it closes nc, takes it off the
// pending connections and reports false.
func (s *Server) hold(nc net.Conn) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		s.unpend()
		return false
	}
	s.held[nc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	return true
}

// release takes nc off the held connections (its goroutine is done with
// it) and reports whether the Server closed meanwhile.
func (s *Server) release(nc net.Conn) (closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, nc)
	return s.closed
}

// closeHeldLocked closes the held connections. The caller holds s.mu.
func (s *Server) closeHeldLocked() {
	for nc := range s.held {
		nc.Close()
	}
}

// serveAccepted serves nc, accepted and counted as pending (pend): on the
// engine eng when there is one and it takes nc, in goroutine mode
// otherwise. spent is the part of the handshake timeout already taken
// (by its PROXY header). It reports false, with nc closed, when the
// Server is closed.
func (s *Server) serveAccepted(eng *engine, nc net.Conn, spent time.Duration) bool {
	if eng != nil && s.serveEngine(eng, nc, spent) {
		return true
	}
	c := newConn(s, nc)
	c.spent = spent
	c.in.join.pend()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		s.unpend()
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.serveConn(c)
	return true
}

// useEngine says whether ln is served by the epoll engine.
func (s *Server) useEngine(ln net.Listener) bool {
	switch s.Engine {
	case EngineEpoll:
		return true
	case EngineGoroutine:
		return false
	}
	if !epollSupported || (s.TLSConfig != nil && s.opt.tls == nil) {
		return false
	}
	switch ln.(type) {
	case *net.TCPListener, *net.UnixListener:
		return true
	}
	return false
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) serveConn(c *conn) {
	defer func() {
		c.in.join.settle(s)
		s.forget(c)
		s.wg.Done()
	}()
	c.serve()
}

// pend counts a connection just accepted as pending (see
// MaxPendingConnections), unless that many are: it reports false then,
// and the caller refuses the connection. Whoever holds the connection
// uncounts it once: at WELCOME, or at its end (joinState.settle), or
// with unpend where it is dropped before it has a joinState.
func (s *Server) pend() bool {
	if n := s.stats.pending.Add(1); s.opt.maxPending > 0 && n > s.opt.maxPending {
		s.stats.pending.Add(-1)
		return false
	}
	return true
}

func (s *Server) unpend() { s.stats.pending.Add(-1) }

// forget drops c from the connections Close and Shutdown end: at its end,
// or when it is handed to the HTTP handler, whose connection it is then.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// attachable reports whether a connection that finished its handshake may
// join the router, that is whether the server is still open.
func (s *Server) attachable() bool { return !s.isClosed() }

// Close closes the listeners and every connection at once, without a close
// handshake, and returns when the connections' goroutines have ended. It
// returns the first error from closing a listener.
func (s *Server) Close() error {
	if err := s.init(); err != nil {
		return err
	}
	s.mu.Lock()
	s.closed = true
	err := s.closeListenersLocked()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.eng.abortAllLocked()
	s.closeHeldLocked()
	eng, web := s.eng, s.web
	s.mu.Unlock()
	for _, c := range conns {
		c.abort()
	}
	web.close()
	s.wg.Wait()
	eng.stop()
	s.rel.stop()
	return err
}

// Shutdown closes the listeners, drops the connections that have not yet
// finished their transport handshake, and waits for the others to end. To
// end the sessions politely, shut the router down (router.Router.Shutdown
// says GOODBYE to every session) at the same time or before. When ctx is done
// first, the remaining connections are closed (WebSocket code 1001, going
// away) within the close grace period of 2s, and Shutdown returns ctx's
// error. No connection goroutine is left when Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.init(); err != nil {
		return err
	}
	s.mu.Lock()
	s.closed = true
	err := s.closeListenersLocked()
	for c := range s.conns {
		if !c.attached() {
			c.abort()
		}
	}
	s.eng.abortUnattachedLocked()
	s.closeHeldLocked()
	eng, web := s.eng, s.web
	s.mu.Unlock()
	defer s.rel.stop()
	defer eng.stop()
	// HTTP requests in progress end (their context is canceled) and the
	// connections close once idle, alongside the WAMP sessions.
	webDone := make(chan struct{})
	go func() {
		web.shutdown(ctx)
		close(webDone)
	}()
	defer func() { <-webDone }()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return err
	case <-ctx.Done():
	}
	s.mu.Lock()
	n := len(s.conns)
	for c := range s.conns {
		c.goAway()
	}
	n += s.eng.goAwayLocked()
	s.mu.Unlock()
	<-done
	s.opt.log.Warn("shutdown: closed connections that were still open", "connections", n)
	return errors.Join(err, fmt.Errorf("transport shutdown: %d connections still open: %w", n, ctx.Err()))
}

func (s *Server) closeListenersLocked() error {
	var first error
	for ln := range s.listeners {
		if err := ln.Close(); err != nil && first == nil && !errors.Is(err, net.ErrClosed) {
			first = fmt.Errorf("closing listener %s: %w", ln.Addr(), err)
		}
		delete(s.listeners, ln)
	}
	return first
}

// Listen opens a listener for Server.Serve: "host:port" is TCP, and
// "unix:/path/to.sock" a Unix socket. A socket file left behind by a
// server that is gone is removed first; one that a live server listens on
// is an error.
func Listen(address string) (net.Listener, error) {
	path, ok := strings.CutPrefix(address, "unix:")
	if !ok {
		ln, err := net.Listen("tcp", address)
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", address, err)
		}
		return ln, nil
	}
	if path == "" {
		return nil, fmt.Errorf("listening on %q: no socket path", address)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", address, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", address, err)
	}
	return ln, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another server is listening on %s", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing stale socket: %w", err)
	}
	return nil
}
