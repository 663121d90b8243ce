package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/junction-wamp/junction/cluster"
	"github.com/junction-wamp/junction/config"
	"github.com/junction-wamp/junction/metrics"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
)

const serveUsage = `usage: junction serve [--config FILE [--check]] [--listen ADDR] [--shutdown-timeout DURATION]
                      [--cluster ADDR [--join ADDR,...] [--cluster-store DIR] | --nats URL,...] [--node NAME]
                      [--cluster-tls-cert FILE --cluster-tls-key FILE --cluster-tls-ca FILE]
                      [--nats-credentials FILE]

Runs the router until SIGINT or SIGTERM. Without --config: one listener on
127.0.0.1:8080 (WebSocket at /ws and RawSocket), realm realm1 open to
anonymous clients. config/README.md describes the config file.

The first SIGINT or SIGTERM stops it gracefully: every session gets GOODBYE
wamp.close.system_shutdown, and the router waits up to the shutdown timeout
for the answers, then closes (and logs) the connections that did not answer;
the exit status is 0. A second signal exits at once, with status 1.
SIGHUP reads the config file again and applies its log.level, realms
added and removed, the realms' principals and roles and the admin endpoints' users
and tokens
(the other changes it names wait for a restart, and it says so), and
reloads the TLS listeners' certificate, key and client CA files
and the cluster routes' certificate and key.

With --cluster or --nats the router is one node of a cluster on NATS (the
config's cluster section; README.md, "Clustering"): --cluster ADDR runs a
NATS server in the process whose route port is ADDR, --join lists the other
nodes' route addresses, --nats connects to an existing NATS instead.
--cluster-tls-* set cluster.tls (mutual TLS on the routes; with --nats,
TLS to the NATS servers) and --nats-credentials cluster.credentials.`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveUsage)
	listen := fs.String("listen", "", "listen address, host:port or unix:/path (overrides the first listener of the config)")
	cfgPath := fs.String("config", "", "YAML config file (see config/README.md); without it: 127.0.0.1:8080, realm realm1 open to anonymous clients")
	shutdownTimeout := fs.Duration("shutdown-timeout", config.Default().Limits.ShutdownTimeout, "how long a stop waits for sessions to answer GOODBYE (overrides limits.shutdown_timeout of the config)")
	logLevel := fs.String("log-level", "", "least severe log level written: debug, info, warn or error (overrides the config's log.level)")
	logFormat := fs.String("log-format", "", "log format: text or json (overrides the config's log.format)")
	clusterAddr := fs.String("cluster", "", "run an embedded NATS server with its route port on this host:port, making this router a cluster node (overrides cluster.listen)")
	join := fs.String("join", "", "comma-separated route addresses (host:port) of the other nodes (overrides cluster.join)")
	natsURLs := fs.String("nats", "", "comma-separated URLs of an existing NATS to cluster through, instead of --cluster (overrides cluster.nats)")
	nodeName := fs.String("node", "", "this node's name in logs (overrides cluster.node; default the host name)")
	clusterStore := fs.String("cluster-store", "", "directory of the embedded NATS server's JetStream data: the cluster's event history and retained events (overrides cluster.jetstream_dir)")
	tlsCert := fs.String("cluster-tls-cert", "", "this node's certificate for the routes' mutual TLS, or the client certificate for --nats (overrides cluster.tls.cert)")
	tlsKey := fs.String("cluster-tls-key", "", "the private key of --cluster-tls-cert (overrides cluster.tls.key)")
	tlsCA := fs.String("cluster-tls-ca", "", "the CA certificates that issued the nodes' certificates, or the NATS servers' for --nats (overrides cluster.tls.ca)")
	natsCreds := fs.String("nats-credentials", "", "a NATS .creds file for --nats (overrides cluster.credentials)")
	check := fs.Bool("check", false, "check the config and the files it names (TLS certificates, keys, CAs), print what it serves and exit: status 0 when the router would start with it")
	rest, err := fs.parse(args, stdout)
	if err != nil {
		return err
	}
	if err := fs.noArgs(rest); err != nil {
		return err
	}

	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	// load reads the config and applies the flags over it: at start, and
	// again on SIGHUP (configReloader), so that what the file says is
	// compared with what runs on equal terms.
	load := func() (*config.Config, error) {
		cfg := config.Default()
		if *cfgPath != "" {
			var err error
			if cfg, err = config.Load(*cfgPath); err != nil {
				return nil, err
			}
		}
		if given["listen"] {
			cfg.Listeners[0].Address = *listen
		}
		if given["shutdown-timeout"] {
			cfg.Limits.ShutdownTimeout = *shutdownTimeout
		}
		clusterFlags := clusterOverrides(cfg, given, *clusterAddr, *join, *natsURLs, *nodeName)
		if given["cluster-store"] {
			if cfg.Cluster == nil {
				return nil, fmt.Errorf("--cluster-store: this router is not a cluster node (no --cluster, --nats or cluster section)")
			}
			cfg.Cluster.JetStreamDir = *clusterStore
		}
		if clusterSecurityOverrides(cfg, given, *tlsCert, *tlsKey, *tlsCA, *natsCreds) {
			clusterFlags = true
		}
		if given["listen"] || given["shutdown-timeout"] || clusterFlags {
			if err := cfg.Validate(); err != nil {
				return nil, fmt.Errorf("--listen, --shutdown-timeout or the cluster flags: %w", err)
			}
		}
		if err := logFlags(cfg, *logLevel, *logFormat); err != nil { // serve_admin.go
			return nil, err
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	log, level := newLogger(cfg.Log, stderr)

	rcfg, err := routerConfig(cfg, log)
	if err != nil {
		return err
	}
	if *check {
		return checkConfig(cfg, *cfgPath, stdout)
	}
	// The listeners first: a start that fails on an address (or a TLS
	// file) leaves nothing behind, where the router would have created
	// the history store's file already.
	servers, listeners, tlsFiles, err := openListeners(cfg, log)
	if err != nil {
		return err
	}
	var node *cluster.Node // nil: a single router
	if cfg.Cluster != nil {
		if node, err = startNode(cfg.Cluster, jetStreamDir(cfg), cfg.Limits.MaxMessageSize, log); err != nil {
			closeAll(listeners)
			return err
		}
		rcfg.Backbone = node
		// Cookie logins are the cluster's: each node keeps all of them,
		// and takes a cookie another node issued once a login is known
		// under it (cluster/cookies.go).
		if store := cookieStore(rcfg); store != nil {
			node.SetCookies(store)
			for _, srv := range servers {
				if srv.Cookie != nil && srv.Cookie.Signer != nil {
					srv.Cookie.Signer.Also = store.Known
				}
			}
		}
	}
	rt, err := router.New(rcfg)
	if err != nil {
		closeAll(listeners)
		if node != nil {
			node.Close()
		}
		return err
	}
	if node != nil {
		node.SetRouter(rt)
	}
	// abandon undoes a start that fails from here on.
	abandon := func() {
		closeAll(listeners)
		rt.Close()
		if node != nil {
			node.Close()
		}
	}
	// What the metrics read: the parts below add theirs as they start.
	src := &metrics.Sources{Router: rt, Servers: servers, Version: versionString()}
	// The certificates SIGHUP reloads: the TLS listeners', and the
	// cluster routes'.
	var certs []certFiles
	for _, f := range tlsFiles {
		certs = append(certs, f)
	}
	if node != nil {
		src.Cluster = node
		if rtls := node.RouteTLS(); rtls != nil {
			certs = append(certs, rtls)
			warnExpiry(log, rtls, time.Now())
		}
	}
	for _, f := range certs {
		src.TLS = append(src.TLS, f)
	}
	reloads := &configReloads{}
	if *cfgPath != "" {
		src.ConfigFile = reloads
	}
	closeHTTP, err := attachRouter(cfg, servers, rt, src, log)
	if err != nil {
		abandon()
		return err
	}
	stopWebhooks, err := startWebhooks(ctx, cfg, rt, src, log) // serve_http.go
	if err != nil {
		closeHTTP()
		abandon()
		return err
	}
	adm, err := startAdmin(cfg, src, listeners, log) // serve_admin.go
	if err != nil {
		stopWebhooks()
		closeHTTP()
		abandon()
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
	reloader := &configReloader{running: cfg, load: load, realms: rt, cookies: cookieStore(rcfg), level: level, counts: reloads, log: log}
	if adm.logins != nil {
		reloader.admin = adm.logins
	}
	// SIGHUP reloads the TLS files (serve_tls.go); registered before the
	// line that says the router is up, and whether or not a listener has
	// TLS: the signal's default would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log.Info("junction listening", logArgs...)

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	var errs []error
	adm.ready.Store(true)
serving:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down: saying goodbye to every session (a second signal stops at once)",
				"shutdown_timeout", cfg.Limits.ShutdownTimeout)
			break serving
		case err := <-errc:
			if err != nil {
				log.Error("listener failed", "err", err)
				errs = append(errs, err)
			}
			break serving
		case <-hup:
			if *cfgPath != "" {
				reloader.reload() // serve_reload.go
			}
			if len(certs) == 0 && *cfgPath == "" {
				log.Info("SIGHUP: nothing to reload (it reloads the config file's log level and the certificates of the TLS listeners and the cluster routes; there are none)")
			}
			reloadTLS(certs, log) // logs each one's outcome
		}
	}

	// Sessions that do not answer GOODBYE in time are closed and logged by
	// the router, connections by the transports: the stop then did what
	// it was asked, and only other failures make it one.
	adm.ready.Store(false) // load balancers stop sending new clients
	stopWebhooks()         // they leave before the router says GOODBYE to the rest
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownTimeout)
	defer cancel()
	defer adm.stop(sctx)
	errs = append(errs, failures(rt.Shutdown(sctx))...)
	for _, srv := range servers {
		if sctx.Err() != nil {
			// The wait is over, and the router has closed (and named)
			// the sessions that did not answer: their connections get
			// no second grace period for a close handshake.
			if err := srv.Close(); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		errs = append(errs, failures(srv.Shutdown(sctx))...)
	}
	closeHTTP() // the long-poll sessions left
	// After the transports: nothing publishes any more.
	if err := rt.Close(); err != nil {
		errs = append(errs, err)
	}
	// Last: the sessions' leaving went out to the other nodes.
	if node != nil {
		if err := node.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	log.Info("stopped")
	return errors.Join(errs...)
}

// failures returns the parts of a shutdown error other than the wait
// running out (context.DeadlineExceeded), which the router and the
// transports log with what they closed.
func failures(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, failures(e)...)
		}
		return out
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return []error{err}
}

func routerConfig(cfg *config.Config, log *slog.Logger) (router.Config, error) {
	rc := router.Config{Agent: "Junction/" + versionString(), Logger: log}
	if cfg.Limits.SlowConsumer == "disconnect" {
		rc.SlowConsumer = router.Disconnect
	}
	rc.HistoryPath = cfg.Store.Path
	rc.Limits = router.SessionLimits{
		Subscriptions: cfg.Limits.MaxSubscriptionsPerSession,
		Registrations: cfg.Limits.MaxRegistrationsPerSession,
		CallsInFlight: cfg.Limits.MaxCallsInFlightPerSession,
	}
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
		history = append(history, router.HistoryRule{Match: m, Topic: wamp.URI(h.Topic), Limit: h.Limit, MaxBytes: h.MaxBytes})
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

// attachRouter gives every server the router and its listener's plain
// HTTP side (long-poll, bridge: serve_http.go). The function it returns
// closes what the HTTP sides hold, once the router and the listeners are
// shut down. The long-poll transports and bridges it builds are added to
// src, for the metrics.
func attachRouter(cfg *config.Config, servers []*transport.Server, rt *router.Router, src *metrics.Sources, log *slog.Logger) (func(), error) {
	var closers []func()
	closeHTTP := func() {
		for _, c := range closers {
			c()
		}
	}
	for i, srv := range servers {
		srv.Router = rt
		l := cfg.Listeners[i]
		mux, closer, err := listenerHTTP(cfg, l, srv, rt, src, log)
		if err != nil {
			closeHTTP()
			return nil, fmt.Errorf("listener %s: %w", l.Address, err)
		}
		closers = append(closers, closer)
		if mux != nil {
			srv.Handler = mux
		}
	}
	return closeHTTP, nil
}

// openListeners opens every configured listener before any serves, so a
// bad address fails the start instead of half a router running. The
// servers' Router is for the caller to set. It also returns the TLS
// listeners' files, for reloads.
func openListeners(cfg *config.Config, log *slog.Logger) ([]*transport.Server, []net.Listener, []*listenerTLS, error) {
	var servers []*transport.Server
	var listeners []net.Listener
	var tlsFiles []*listenerTLS
	cookies := websocket.NewCookieSigner()
	// One budget for messages in progress, whichever listener they come
	// from: limits.max_partial_bytes bounds the process.
	partial := transport.NewPartialBudget(cfg.Limits.MaxPartialBytes)
	for _, l := range cfg.Listeners {
		proxies, err := transport.ParseProxies(l.TrustedProxies)
		if err != nil {
			closeAll(listeners)
			return nil, nil, nil, fmt.Errorf("listener %s: %w", l.Address, err) // config.Validate refused it already
		}
		srv := &transport.Server{
			TrustedProxies:   proxies,
			ProxyProtocol:    l.ProxyProtocol,
			WebSocketPath:    l.WebSocketPath,
			WebSocket:        l.WebSocket,
			RawSocket:        l.RawSocket,
			AllowedOrigins:   l.AllowedOrigins,
			Deflate:          l.Compression == "deflate",
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
		srv.MaxPendingConnections = l.MaxPendingConnections
		srv.MaxPreWelcomeMessageSize = cfg.Limits.MaxPreWelcomeMessageSize
		srv.PartialBudget = partial
		if l.TLS != nil {
			files, err := newListenerTLS(l) // serve_tls.go
			if err != nil {
				closeAll(listeners)
				return nil, nil, nil, err
			}
			srv.TLSConfig = files.config()
			tlsFiles = append(tlsFiles, files)
		}
		if l.Cookie != nil {
			srv.Cookie = &transport.Cookie{Name: l.Cookie.Name, MaxAge: l.Cookie.MaxAge, Signer: cookies}
		}
		ln, err := transport.Listen(l.Address)
		if err != nil {
			closeAll(listeners)
			return nil, nil, nil, fmt.Errorf("listener %s: %w", l.Address, err)
		}
		if l.TLS != nil {
			files := tlsFiles[len(tlsFiles)-1]
			files.addr = listenerAddr(ln)
			warnExpiry(log, files, time.Now())
		}
		servers = append(servers, srv)
		listeners = append(listeners, ln)
	}
	return servers, listeners, tlsFiles, nil
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
	if l.LongPoll.Enabled {
		httpScheme := "http"
		if l.TLS != nil {
			httpScheme = "https"
		}
		what = append(what, httpScheme+"://"+addr+l.LongPoll.Path+" long-poll")
	}
	if b := l.Bridge; b != nil {
		what = append(what, "bridge "+b.PublishPath+" "+b.CallPath+" for "+b.Realm)
	}
	return addr + " (" + strings.Join(what, " + ") + ")"
}

// newLogger makes the router's logger, and the level it writes from,
// which a reload may change.
func newLogger(c config.Log, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}

// clusterOverrides applies the cluster flags to cfg's cluster section
// (made when a flag gives the first cluster setting) and reports whether
// any was given.
func clusterOverrides(cfg *config.Config, given map[string]bool, addr, join, natsURLs, node string) bool {
	if !given["cluster"] && !given["join"] && !given["nats"] && !given["node"] {
		return false
	}
	if cfg.Cluster == nil {
		cl := config.DefaultCluster()
		cfg.Cluster = &cl
	}
	c := cfg.Cluster
	list := func(s string) []string {
		var out []string
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
		return out
	}
	if given["cluster"] {
		c.Listen, c.NATS = addr, nil
	}
	if given["join"] {
		c.Join = list(join)
	}
	if given["nats"] {
		c.NATS, c.Listen, c.Join = list(natsURLs), "", nil
	}
	if given["node"] {
		c.Node = node
	}
	return true
}

// jetStreamDir is where the embedded NATS server keeps its JetStream
// data: cluster.jetstream_dir, else a directory "jetstream" next to the
// event history file (store.path), the data directory the config already
// names; "" (a temporary directory) when neither is set.
func jetStreamDir(cfg *config.Config) string {
	if d := cfg.Cluster.JetStreamDir; d != "" {
		return d
	}
	if cfg.Store.Path != "" {
		return filepath.Join(filepath.Dir(cfg.Store.Path), "jetstream")
	}
	return ""
}

// clusterSecurityOverrides applies --cluster-tls-cert, -key, -ca and
// --nats-credentials to cfg's cluster section (made when they give the
// first cluster setting) and reports whether any was given.
func clusterSecurityOverrides(cfg *config.Config, given map[string]bool, cert, key, ca, creds string) bool {
	if !given["cluster-tls-cert"] && !given["cluster-tls-key"] && !given["cluster-tls-ca"] && !given["nats-credentials"] {
		return false
	}
	if cfg.Cluster == nil {
		cl := config.DefaultCluster()
		cfg.Cluster = &cl
	}
	c := cfg.Cluster
	if given["cluster-tls-cert"] || given["cluster-tls-key"] || given["cluster-tls-ca"] {
		if c.TLS == nil {
			c.TLS = &config.ClusterTLS{}
		}
		if given["cluster-tls-cert"] {
			c.TLS.CertFile = cert
		}
		if given["cluster-tls-key"] {
			c.TLS.KeyFile = key
		}
		if given["cluster-tls-ca"] {
			c.TLS.CAFile = ca
		}
	}
	if given["nats-credentials"] {
		c.Credentials = creds
	}
	return true
}

// startNode starts this process's cluster node from the config's section,
// with its JetStream data in storeDir.
func startNode(c *config.Cluster, storeDir string, maxMessageSize int64, log *slog.Logger) (*cluster.Node, error) {
	nc := c.NodeConfig()
	nc.StoreDir, nc.MaxMessageSize, nc.Logger = storeDir, maxMessageSize, log
	return cluster.Start(nc)
}

// checkConfig is serve --check once the config has loaded (its checks, the
// flags' overrides, the router's configuration of the realms): it loads
// the TLS listeners' files as a start would, and says what the router
// would serve. It opens no listener (an address in use shows only at
// start).
func checkConfig(cfg *config.Config, path string, stdout io.Writer) error {
	for _, l := range cfg.Listeners {
		if l.TLS != nil {
			if _, err := newListenerTLS(l); err != nil {
				return err
			}
		}
	}
	if path == "" {
		path = "the default config"
	}
	what := []string{plural(len(cfg.Listeners), "listener"), plural(len(cfg.Realms), "realm")}
	if cfg.Cluster != nil {
		what = append(what, "a cluster node")
	}
	fmt.Fprintf(stdout, "%s: OK (%s)\n", path, strings.Join(what, ", "))
	return nil
}

// plural is "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
