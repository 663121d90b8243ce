package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"strings"
	"time"

	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
)

// shutdownGrace bounds how long a graceful stop waits for sessions to
// answer GOODBYE and for connections to drain.
const shutdownGrace = 5 * time.Second

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "listen address, host:port or unix:/path (overrides the first listener of the config)")
	cfgPath := fs.String("config", "", "YAML config file (see config/README.md); without it: 127.0.0.1:8080, realm realm1 open to anonymous clients")
	logLevel := fs.String("log-level", "", "least severe log level written: debug, info, warn or error (overrides the config's log.level)")
	logFormat := fs.String("log-format", "", "log format: text or json (overrides the config's log.format)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}

	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	if *listen != "" {
		cfg.Listeners[0].Address = *listen
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
	}
	if err := logFlags(cfg, *logLevel, *logFormat); err != nil { // serve_admin.go
		return err
	}
	log := newLogger(cfg.Log, stderr)

	rcfg, err := routerConfig(cfg, log)
	if err != nil {
		return err
	}
	rt, err := router.New(rcfg)
	if err != nil {
		return err
	}
	servers, listeners, err := startListeners(cfg, rt, log)
	if err != nil {
		return err
	}
	adm, err := startAdmin(cfg, rt, servers, listeners, log) // serve_admin.go
	if err != nil {
		closeAll(listeners)
		return err
	}
	addrs := make([]string, len(listeners))
	for i, ln := range listeners {
		addrs[i] = describe(cfg.Listeners[i], ln)
	}
	realms := make([]string, len(cfg.Realms))
	for i, r := range cfg.Realms {
		realms[i] = r.Name
	}
	logArgs := []any{"version", versionString(), "listen", strings.Join(addrs, ", "), "realms", strings.Join(realms, ", ")}
	if adm.where != "" {
		logArgs = append(logArgs, "admin", adm.where)
	}
	log.Info("junction listening", logArgs...)

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	adm.ready.Store(true)
	select {
	case <-ctx.Done():
		log.Info("shutting down: saying goodbye to every session")
	case err := <-errc:
		if err != nil {
			log.Error("listener failed", "err", err)
		}
	}

	adm.ready.Store(false) // load balancers stop sending new clients
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	defer adm.stop(sctx)
	var errs []error
	if err := rt.Shutdown(sctx); err != nil {
		errs = append(errs, err)
	}
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	// After the transports: nothing publishes any more.
	if err := rt.Close(); err != nil {
		errs = append(errs, err)
	}
	log.Info("stopped")
	return errors.Join(errs...)
}

func routerConfig(cfg *config.Config, log *slog.Logger) (router.Config, error) {
	rc := router.Config{Agent: "Junction/" + versionString(), Logger: log}
	if cfg.Limits.SlowConsumer == "disconnect" {
		rc.SlowConsumer = router.Disconnect
	}
	rc.HistoryPath = cfg.Store.Path
	shared := newAuthShared(cfg) // serve_auth.go
	for i := range cfg.Realms {
		rc.Realms = append(rc.Realms, realmConfig(&cfg.Realms[i]))
		if err := shared.withAuth(&rc.Realms[len(rc.Realms)-1], &cfg.Realms[i]); err != nil {
			return rc, err
		}
	}
	var err error
	rc.RealmTemplate, err = shared.realmTemplate(cfg)
	return rc, err
}

// realmConfig maps a realm's settings other than authentication (a
// configured realm's or the realm template's).
func realmConfig(r *config.Realm) router.RealmConfig {
	var history []router.HistoryRule
	for _, h := range r.History {
		m, _ := wamp.ParseMatch(h.Match) // validated by config
		history = append(history, router.HistoryRule{Match: m, Topic: wamp.URI(h.Topic), Limit: h.Limit})
	}
	return router.RealmConfig{
		Name:              wamp.URI(r.Name),
		StrictURIs:        r.StrictURIs,
		Anonymous:         r.Anonymous,
		DisableMetaAPI:    !r.MetaAPI,
		DiscloseCaller:    disclosure(r.DiscloseCaller),
		DisclosePublisher: disclosure(r.DisclosePublisher),
		TrustLevels:       maps.Clone(r.TrustLevels),
		History:           history,
	}
}

// disclosure maps a validated disclose_caller or disclose_publisher value.
func disclosure(s string) router.Disclosure {
	switch s {
	case "always":
		return router.DiscloseAlways
	case "never":
		return router.DiscloseNever
	}
	return router.DiscloseOnRequest
}

// startListeners opens every configured listener before any serves, so a
// bad address fails the start instead of half a router running.
func startListeners(cfg *config.Config, rt *router.Router, log *slog.Logger) ([]*transport.Server, []net.Listener, error) {
	var servers []*transport.Server
	var listeners []net.Listener
	cookies := websocket.NewCookieSigner()
	for _, l := range cfg.Listeners {
		srv := &transport.Server{
			Router:           rt,
			WebSocketPath:    l.WebSocketPath,
			WebSocket:        l.WebSocket,
			RawSocket:        l.RawSocket,
			AllowedOrigins:   l.AllowedOrigins,
			MaxMessageSize:   cfg.Limits.MaxMessageSize,
			OutboundQueue:    cfg.Limits.OutboundQueue,
			HandshakeTimeout: cfg.Limits.HandshakeTimeout,
			HelloTimeout:     cfg.Limits.HelloTimeout,
			PingInterval:     cfg.Limits.PingInterval,
			PingTimeout:      cfg.Limits.PingTimeout,
			RawSocketPings:   cfg.Limits.RawSocketPings,
			Engine:           l.Engine,
			IdleTimeout:      cfg.Limits.IdleTimeout,
			Logger:           log.With("listener", l.Address),
		}
		if l.TLS != nil {
			cert, err := tls.LoadX509KeyPair(l.TLS.CertFile, l.TLS.KeyFile)
			if err != nil {
				closeAll(listeners)
				return nil, nil, fmt.Errorf("listener %s: loading TLS certificate: %w", l.Address, err)
			}
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		if err := listenerAuth(l, srv, cookies); err != nil { // serve_auth.go
			closeAll(listeners)
			return nil, nil, err
		}
		ln, err := transport.Listen(l.Address)
		if err != nil {
			closeAll(listeners)
			return nil, nil, fmt.Errorf("listener %s: %w", l.Address, err)
		}
		servers = append(servers, srv)
		listeners = append(listeners, ln)
	}
	return servers, listeners, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

func describe(l config.Listener, ln net.Listener) string {
	addr := ln.Addr().String()
	if ln.Addr().Network() == "unix" {
		addr = "unix:" + addr
	}
	var what []string
	scheme := "ws"
	if l.TLS != nil {
		scheme = "wss"
	}
	if l.WebSocket {
		what = append(what, scheme+"://"+addr+l.WebSocketPath)
	}
	if l.RawSocket {
		what = append(what, "rawsocket")
	}
	return addr + " (" + strings.Join(what, " + ") + ")"
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
