package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/transport/websocket"
)

// Plain HTTP on the WAMP port.
//
// A listener serves WebSocket and RawSocket, and, when Server.Handler is
// set, plain HTTP as well: metrics, health checks and pages share the port
// of the WAMP endpoint. Both engines read the start of an HTTP request
// themselves (the epoll engine without a goroutine) and decide by its
// request line and headers: a WebSocket upgrade for the WebSocket path is
// theirs, anything else goes to the Handler. The connection is then handed,
// with the bytes already read, to a net/http Server that serves it in
// goroutine mode (one goroutine per connection, as net/http does) through
// a listener that only ever yields handed-over connections; an epoll
// connection is first taken off its event loop (epoll.Conn.Detach).

// Defaults for the zero fields of HTTPLimits.
const (
	DefaultHTTPReadHeaderTimeout = 5 * time.Second
	DefaultHTTPReadTimeout       = 30 * time.Second
	DefaultHTTPWriteTimeout      = 30 * time.Second
	DefaultHTTPIdleTimeout       = 60 * time.Second
	DefaultHTTPMaxHeaderBytes    = 16 << 10
	DefaultHTTPMaxBodyBytes      = 1 << 20
	DefaultHTTPMaxConns          = 256
)

// HTTPLimits bound the plain HTTP connections Server.Handler serves, so
// that a client that sends slowly (slowloris), sends much or opens many
// connections costs little. Zero fields take the defaults named on each;
// a negative duration means none.
type HTTPLimits struct {
	// ReadHeaderTimeout is the time a client has to send a request's
	// headers, counted from the start of the request (for the first
	// request of a connection, from the server's first read); default 5s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout is the time a client has to send a whole request, body
	// included; default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds the writing of a response; default 30s. A
	// handler that streams (Server-Sent Events) lifts it for its request
	// with http.ResponseController.SetWriteDeadline.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that has sent no new
	// request for this long; default 60s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers; default 16 KiB
	// (net/http allows a little slack beyond it; more gets 431).
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body: reading beyond it fails
	// (http.MaxBytesReader), and the handler answers 413; default 1 MiB.
	MaxBodyBytes int64
	// MaxConns bounds the HTTP connections served at once, per Server;
	// default 256. A request arriving on a new connection beyond it is
	// answered 503 Service Unavailable and the connection closed.
	MaxConns int
}

// httpOptions are HTTPLimits with defaults applied.
type httpOptions struct {
	readHeaderTimeout, readTimeout, writeTimeout, idleTimeout time.Duration
	maxHeaderBytes                                            int
	maxBodyBytes                                              int64
	maxConns                                                  int64
}

func (l *HTTPLimits) options() (httpOptions, error) {
	switch {
	case l.MaxHeaderBytes < 0:
		return httpOptions{}, fmt.Errorf("transport: HTTP.MaxHeaderBytes %d is negative", l.MaxHeaderBytes)
	case l.MaxBodyBytes < 0:
		return httpOptions{}, fmt.Errorf("transport: HTTP.MaxBodyBytes %d is negative", l.MaxBodyBytes)
	case l.MaxConns < 0:
		return httpOptions{}, fmt.Errorf("transport: HTTP.MaxConns %d is negative", l.MaxConns)
	}
	o := httpOptions{
		readHeaderTimeout: orDefault(l.ReadHeaderTimeout, DefaultHTTPReadHeaderTimeout),
		readTimeout:       orDefault(l.ReadTimeout, DefaultHTTPReadTimeout),
		writeTimeout:      orDefault(l.WriteTimeout, DefaultHTTPWriteTimeout),
		idleTimeout:       orDefault(l.IdleTimeout, DefaultHTTPIdleTimeout),
		maxHeaderBytes:    l.MaxHeaderBytes,
		maxBodyBytes:      l.MaxBodyBytes,
		maxConns:          int64(l.MaxConns),
	}
	if o.maxHeaderBytes == 0 {
		o.maxHeaderBytes = DefaultHTTPMaxHeaderBytes
	}
	if o.maxBodyBytes == 0 {
		o.maxBodyBytes = DefaultHTTPMaxBodyBytes
	}
	if o.maxConns == 0 {
		o.maxConns = DefaultHTTPMaxConns
	}
	return o, nil
}

// httpRoute says where an HTTP request goes.
type httpRoute uint8

const (
	routeMore      httpRoute = iota // the request head is not all there yet
	routeWebSocket                  // a WebSocket upgrade (or a request the upgrader refuses)
	routeHandler                    // Server.Handler
)

// routeHTTP decides, from the start of an HTTP request in b, whether it
// goes to the WebSocket upgrader or to the Handler (the caller has one): a
// request for another path than the WebSocket path goes to the Handler as
// soon as its request line is there; one for the WebSocket path once its
// headers are, unless they ask for a WebSocket upgrade. With WebSocket off,
// everything goes to the Handler. A request head over the upgrader's limit
// is left to the upgrader, which refuses it (431).
func routeHTTP(b []byte, o *options) httpRoute {
	if !o.webSocket {
		return routeHandler
	}
	line := bytes.IndexByte(b, '\n')
	if line < 0 {
		if len(b) >= o.upgrader.MaxRequestSize {
			return routeWebSocket
		}
		return routeMore
	}
	// "METHOD SP target SP version": a line of another shape is the
	// upgrader's to refuse, as before there was a Handler.
	fields := bytes.Fields(b[:line])
	if len(fields) != 3 {
		return routeWebSocket
	}
	if string(websocket.RequestPath(fields[1])) != o.wsPath {
		return routeHandler
	}
	end := requestEnd(b)
	if end < 0 {
		if len(b) >= o.upgrader.MaxRequestSize {
			return routeWebSocket
		}
		return routeMore
	}
	if isWebSocketUpgrade(b[:end]) {
		return routeWebSocket
	}
	return routeHandler
}

// isWebSocketUpgrade reports whether the request head asks for a
// WebSocket upgrade: an Upgrade header naming websocket.
func isWebSocketUpgrade(head []byte) bool {
	for rest := head; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("Upgrade")) {
			continue
		}
		for _, token := range bytes.Split(value, []byte(",")) {
			if bytes.EqualFold(bytes.TrimSpace(token), []byte("websocket")) {
				return true
			}
		}
	}
	return false
}

// requestEnd returns the length of the HTTP request head at the start of
// b, up to and including the empty line that ends its headers, or -1 when
// b does not hold it all.
func requestEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
	}
	return -1
}

// httpFront is the net/http side of a Server: the http.Server that serves
// the connections handed over, and the listener they come through.
type httpFront struct {
	server *Server
	srv    *http.Server
	ln     *handoffListener
	cancel context.CancelFunc // ends the requests' base context
	limit  int64
	conns  atomic.Int64   // connections reserved or being served
	wg     sync.WaitGroup // the Serve goroutine and each connection's
}

// reserveHTTP reserves room for one more HTTP connection, starting the
// http.Server the first time. It returns nil when the Server is closed,
// and full when MaxConns connections are being served: the caller answers
// busyResponse.
func (s *Server) reserveHTTP() (f *httpFront, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	if s.web == nil {
		s.web = s.startHTTPLocked()
	}
	f = s.web
	if f.conns.Add(1) > f.limit {
		f.conns.Add(-1)
		return f, true
	}
	return f, false
}

func (s *Server) startHTTPLocked() *httpFront {
	ho := &s.opt.http
	ctx, cancel := context.WithCancel(context.Background())
	f := &httpFront{
		server: s,
		ln:     &handoffListener{conns: make(chan net.Conn, ho.maxConns), done: make(chan struct{})},
		cancel: cancel,
		limit:  ho.maxConns,
	}
	f.srv = &http.Server{
		Handler:           http.MaxBytesHandler(TrustForwarded(s.Handler, s.TrustedProxies), ho.maxBodyBytes),
		ReadHeaderTimeout: ho.readHeaderTimeout,
		ReadTimeout:       ho.readTimeout,
		WriteTimeout:      ho.writeTimeout,
		IdleTimeout:       ho.idleTimeout,
		MaxHeaderBytes:    ho.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.opt.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnState: func(nc net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				f.wg.Add(1)
			case http.StateClosed, http.StateHijacked:
				f.conns.Add(-1)
				s.connClosed(nc.(*replayConn).engine, kindHTTP)
				f.wg.Done()
			}
		},
	}
	// net/http takes a zero header or idle timeout for ReadTimeout's; here
	// zero means none.
	if ho.readHeaderTimeout == 0 {
		f.srv.ReadHeaderTimeout = -1
	}
	if ho.idleTimeout == 0 {
		f.srv.IdleTimeout = -1
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.srv.Serve(f.ln)
	}()
	return f
}

// serve hands nc, whose first bytes head were already read by engine, to
// the http.Server; room for it was reserved.
func (f *httpFront) serve(nc net.Conn, head []byte, engine int) {
	nc.SetDeadline(time.Time{})
	// Counted before the hand-over: once net/http has the connection, its
	// response (and the connection's end) may come before this goroutine
	// runs again.
	f.server.connOpened(engine, kindHTTP)
	select {
	case f.ln.conns <- &replayConn{Conn: nc, pending: head, engine: engine}:
	default: // cannot happen: the channel holds MaxConns, and room was reserved
		f.server.connClosed(engine, kindHTTP)
		f.conns.Add(-1)
		nc.Close()
	}
}

// close closes the http.Server and its connections at once and waits for
// their goroutines.
func (f *httpFront) close() {
	if f == nil {
		return
	}
	f.cancel()
	f.srv.Close()
	f.ln.drain(f)
	f.wg.Wait()
}

// shutdown ends the requests in progress (their context is canceled, which
// ends streams), closes idle connections and waits for the others until
// ctx is done, then closes them.
func (f *httpFront) shutdown(ctx context.Context) {
	if f == nil {
		return
	}
	f.cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		f.srv.Close()
	}
	f.ln.drain(f)
	f.wg.Wait()
}

// busyResponse answers a request beyond HTTPLimits.MaxConns.
func busyResponse(limit int64) []byte {
	body := fmt.Sprintf("this server serves at most %d HTTP connections at once; try again later\n", limit)
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nRetry-After: 1\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// handoffListener is the http.Server's listener: it yields the connections
// the Server hands over, and nothing else.
type handoffListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

// drain closes the connections handed over but never accepted.
func (l *handoffListener) drain(f *httpFront) {
	for {
		select {
		case c := <-l.conns:
			c.Close()
			f.conns.Add(-1)
			f.server.connClosed(c.(*replayConn).engine, kindHTTP)
		default:
			return
		}
	}
}

type handoffAddr struct{}

func (handoffAddr) Network() string { return "junction" }
func (handoffAddr) String() string  { return "handed over by transport.Server" }

// replayConn is a connection whose first bytes were read already: Read
// returns them first.
type replayConn struct {
	net.Conn
	pending []byte
	engine  int // that read the first bytes, for the counters
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets net/http half-close the connection before it closes it,
// so that a client's unread request bytes do not reset the response.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// errHandedOff ends a goroutine-mode handshake whose connection went to
// the Handler.
var errHandedOff = errors.New("handed to the HTTP handler")

// readHTTPHead reads (in goroutine mode) as much of an HTTP request as
// routeHTTP needs to decide where it goes.
func (c *conn) readHTTPHead() (httpRoute, error) {
	for {
		if r := routeHTTP(c.rb.unread(), c.opt); r != routeMore {
			return r, nil
		}
		// Room for a whole head: the buffer doubles as bytes arrive
		// (asking for one byte more each time grew it a byte per read,
		// a head near the limit costing thousands of reads and copies).
		if err := c.rb.fill(c.nc, c.opt.upgrader.MaxRequestSize); err != nil {
			return 0, fmt.Errorf("reading an HTTP request from %s: %w", c.remote, err)
		}
	}
}

// handOffHTTP gives a goroutine-mode connection to the Handler, or
// answers 503 when MaxConns are served.
func (c *conn) handOffHTTP() error {
	f, full := c.srv.reserveHTTP()
	switch {
	case f == nil:
		return fmt.Errorf("HTTP request from %s: %w", c.remote, ErrServerClosed)
	case full:
		c.nc.Write(busyResponse(f.limit))
		return fmt.Errorf("HTTP request from %s: %w (%d served already)", c.remote, errHTTPBusy, f.limit)
	}
	// From here the socket is net/http's: a Shutdown must not abort it as
	// a handshake in progress (it would cut a response net/http is
	// finishing).
	c.srv.forget(c)
	f.serve(c.nc, bytes.Clone(c.rb.unread()), engGoroutine)
	return errHandedOff
}
