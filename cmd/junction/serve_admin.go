package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/internal/admin"
	"github.com/junction-wamp/junction/metrics"
	"github.com/junction-wamp/junction/transport"
)

// adminEndpoints are the operator's endpoints (config's admin section):
// metrics, health and the web view, served on a WAMP listener next to its
// WebSocket path or on a listener of their own.
type adminEndpoints struct {
	ready atomic.Bool // /readyz: the listeners serve, and shutdown has not begun
	where string      // for the start log line; "" when not served

	// logins replaces the users and tokens (configReloader); nil when the
	// endpoints ask for none, or are not served.
	logins *admin.Handler

	// A listener of their own, or nil.
	srv    *http.Server
	ln     net.Listener
	cancel context.CancelFunc // ends the requests in progress (streams)
	wg     sync.WaitGroup
}

// startAdmin sets up the admin endpoints of cfg: it gives the chosen WAMP
// listener's server its HTTP handler (before it serves), or opens their
// own listener, which serves at once. The caller calls stop. src is what
// the metrics read (complete: the HTTP sides and webhooks are built).
func startAdmin(cfg *config.Config, src *metrics.Sources, listeners []net.Listener, log *slog.Logger) (*adminEndpoints, error) {
	a := &adminEndpoints{}
	rt, servers := src.Router, src.Servers
	if !cfg.AdminEnabled() {
		if _, addr := cfg.AdminListener(); len(cfg.Listeners) > 0 && !config.IsLocalAddress(addr) {
			log.Info("metrics, health and the web view are not served: the first listener is public and the config has no admin section (see config/README.md#admin)")
		}
		return a, nil
	}
	ac := &cfg.Admin
	users, tokens, throttle := ac.AdminAccess()
	var mh http.Handler
	if ac.Metrics {
		msrc := *src
		if len(users)+len(tokens) > 0 {
			msrc.AdminThrottle = throttle
		}
		mh = metrics.Handler(metrics.NewRegistry(msrc), log)
	}
	index, addr := cfg.AdminListener()
	wsPath := cfg.Listeners[0].WebSocketPath
	if index >= 0 {
		wsPath = cfg.Listeners[index].WebSocketPath
	}
	acfg := admin.Config{
		Router: rt, Servers: servers, Metrics: mh, WebView: ac.WebView, WebSocketPath: wsPath,
		// Without logins, a request must name an IP address or localhost
		// (against DNS rebinding), unless a proxy in front checks, or the
		// endpoints are on a Unix socket, which no browser page reaches
		// but a proxy on the host, passing the names people use.
		AnyHost: ac.AllowUnprotected || strings.HasPrefix(addr, "unix:"),
		Version: versionString(), Logger: log,
		Ready: func() error {
			if !a.ready.Load() {
				return errors.New("starting or shutting down")
			}
			// A cluster node is ready while it has its NATS connection:
			// without it, it routes among its own sessions only, and a
			// load balancer should send clients to a node that has it.
			if src.Cluster != nil && !src.Cluster.Connected() {
				return errors.New("cluster: no NATS connection")
			}
			return nil
		},
	}
	if len(users)+len(tokens) > 0 {
		acc := &admin.Access{Throttle: throttle}
		acc.Users, acc.Tokens = adminLogins(ac)
		acfg.Access = acc
	}
	h, err := admin.New(acfg)
	if err != nil {
		return nil, err
	}
	if acfg.Access != nil {
		a.logins = h
	}
	var what []string
	if ac.WebView {
		what = append(what, "web view /")
	}
	if ac.Metrics {
		what = append(what, "/metrics")
	}
	what = append(what, "/healthz", "/readyz")
	if index >= 0 {
		if mux, ok := servers[index].Handler.(*http.ServeMux); ok {
			// The listener's long-poll and bridge paths (serve_http.go)
			// are more specific than "/" and keep their routes.
			mux.Handle("/", h)
		} else {
			servers[index].Handler = h
		}
		a.where = fmt.Sprintf("%s://%s (%s)", scheme(cfg.Listeners[index]), listenerAddr(listeners[index]), strings.Join(what, ", "))
		return a, nil
	}
	proxies, err := transport.ParseProxies(ac.TrustedProxies) // validated by config
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	ln, err := transport.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.ln, a.cancel = ln, cancel
	a.srv = &http.Server{
		Handler:           http.MaxBytesHandler(transport.TrustForwarded(h, proxies), transport.DefaultHTTPMaxBodyBytes),
		ReadHeaderTimeout: transport.DefaultHTTPReadHeaderTimeout,
		ReadTimeout:       transport.DefaultHTTPReadTimeout,
		WriteTimeout:      transport.DefaultHTTPWriteTimeout,
		IdleTimeout:       transport.DefaultHTTPIdleTimeout,
		MaxHeaderBytes:    transport.DefaultHTTPMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	a.where = fmt.Sprintf("http://%s (%s)", listenerAddr(ln), strings.Join(what, ", "))
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.srv.Serve(newLimitListener(ln, transport.DefaultHTTPMaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener failed", "err", err)
		}
	}()
	return a, nil
}

// adminLogins returns the users and tokens of ac as the admin endpoints
// take them.
func adminLogins(ac *config.Admin) ([]admin.User, []admin.Token) {
	users, tokens, _ := ac.AdminAccess()
	var us []admin.User
	var ts []admin.Token
	for _, u := range users {
		us = append(us, admin.User{Name: u.Name, Password: u.Password, Admin: u.Admin})
	}
	for _, t := range tokens {
		ts = append(ts, admin.Token{Name: t.Name, Hash: t.Token, Admin: t.Admin})
	}
	return us, ts
}

// stop ends the admin endpoints' own listener, if any: requests in
// progress end (their context is canceled), idle connections close, and
// the others are closed when ctx is done.
func (a *adminEndpoints) stop(ctx context.Context) {
	a.ready.Store(false)
	if a.srv == nil {
		return
	}
	a.cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		a.srv.Close()
	}
	a.wg.Wait()
}

func scheme(l config.Listener) string {
	if l.TLS != nil {
		return "https"
	}
	return "http"
}

func listenerAddr(ln net.Listener) string {
	if ln.Addr().Network() == "unix" {
		return "unix:" + ln.Addr().String()
	}
	return ln.Addr().String()
}

// limitListener accepts at most n connections at once: beyond, Accept
// waits for one to close (the kernel's backlog holds the others).
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{} // closed by Close: a waiting Accept gives up
	once  sync.Once
}

func newLimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// logFlags applies serve's --log-level and --log-format to cfg.
func logFlags(cfg *config.Config, level, format string) error {
	if level != "" {
		if !slices.Contains([]string{"debug", "info", "warn", "error"}, level) {
			return fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
		}
		cfg.Log.Level = level
	}
	if format != "" {
		if format != "text" && format != "json" {
			return fmt.Errorf("--log-format: %q is not one of text, json", format)
		}
		cfg.Log.Format = format
	}
	return nil
}
