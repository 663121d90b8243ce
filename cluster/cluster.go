package cluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/router"
)

// Config configures a Node. Exactly one of Listen and NATS is set.
type Config struct {
	// Name is the cluster's name: every node of one cluster has the same,
	// and it prefixes every subject, so that several clusters can share
	// a NATS deployment. Default "junction".
	Name string
	// NodeName names this node in logs (and its embedded NATS server);
	// default the host name.
	NodeName string
	// Listen is the embedded NATS server's route address (host:port; port
	// 0 picks one): the address the other nodes join. Set it to run NATS
	// inside the process.
	Listen string
	// Join lists the other nodes' route addresses (host:port). A node may
	// list itself; nodes may start in any order, and routes that fail are
	// retried.
	Join []string
	// NATS lists the URLs of an existing NATS deployment to connect to
	// instead (nats://host:port, with user:password@ if it asks for them).
	NATS []string
	// TLS secures the embedded server's routes (mutual TLS against the
	// cluster's CA) or the connection to an existing NATS; see TLS.
	TLS *TLS
	// Credentials is a NATS .creds file (a user JWT and its nkey seed)
	// for an existing NATS that authenticates with them.
	Credentials string
	// RouteUser and RoutePassword, when set, are asked of every route to
	// the embedded server, and given on the routes this node dials: a
	// process that does not know them cannot join. (With TLS, the CA
	// check already keeps strangers out.)
	RouteUser, RoutePassword string
	// HeartbeatInterval is how often the node says it is alive (1 s);
	// NodeTimeout how long a silent node is given before it is taken for
	// dead (4 s). NodeTimeout must be at least twice HeartbeatInterval.
	HeartbeatInterval time.Duration
	NodeTimeout       time.Duration
	// QueryTimeout is how long a meta procedure answered for the whole
	// cluster waits for the other nodes' parts (default half the node
	// timeout); a node that has not answered by then is left out of the
	// answer, counted and logged.
	QueryTimeout time.Duration
	// MaxMessageSize is the router's largest message (limits.
	// max_message_size): the embedded NATS server accepts messages that
	// large plus room for what the node adds (at most 64 MiB, NATS's own
	// limit). An existing NATS that accepts less is logged at start; a
	// publication or call too large for it stays on its node (counted,
	// and a call ends with wamp.error.payload_size_exceeded). 0 keeps
	// NATS's default, 1 MiB.
	MaxMessageSize int64
	// StoreDir is where the embedded NATS server's JetStream keeps its
	// streams (the cluster's event history and retained events) and the
	// node's server name, so that a restarted node is the same JetStream
	// peer and keeps its replicas. "" uses a new temporary directory,
	// removed at Close: the node then starts empty each time, and what it
	// held survives only on the other replicas. Not used with an existing
	// NATS, whose servers keep JetStream's data.
	StoreDir string
	// Replicas is how many copies JetStream keeps of each stream. 0
	// picks: with an embedded server, min(3, the number of nodes this
	// node knows of: itself and Join); with an existing NATS, 1 (set it to
	// the NATS cluster's size, at most 5, for copies that survive a
	// server). Every node must use the same.
	Replicas int
	// Logger receives the node's logs (and the embedded server's warnings
	// and errors); nil discards them.
	Logger *slog.Logger

	// pickPort, when set, picks the route port of a node that joins no
	// one and listens on port 0, instead of asking the kernel for a free
	// one (selfRoute); for tests of a picked port taken meanwhile.
	pickPort func() int
	// wire, when set, is the protocol version the node speaks instead of
	// wireVersion; for tests of nodes of different versions.
	wire int
	// metaAnswerMax, when set, replaces metaAnswerMax (meta.go); for
	// tests of parts larger than it.
	metaAnswerMax int
}

// The defaults of Config.
const (
	DefaultName              = "junction"
	DefaultHeartbeatInterval = time.Second
	DefaultNodeTimeout       = 4 * time.Second
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate checks c and fills in its defaults.
func (c *Config) Validate() error {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if err := CheckName(c.Name); err != nil {
		return err
	}
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "junction"
		}
		c.NodeName = h
	}
	if err := CheckMode(c.Listen, c.Join, c.NATS); err != nil {
		return err
	}
	if c.Listen != "" {
		if err := CheckRouteAddr(c.Listen, false); err != nil {
			return err
		}
	}
	for _, j := range c.Join {
		if err := CheckRouteAddr(j, true); err != nil {
			return err
		}
	}
	for _, u := range c.NATS {
		if err := CheckNATSURL(u); err != nil {
			return err
		}
	}
	if ps := CheckSecurity(c); len(ps) > 0 {
		return joinProblems(ps)
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.NodeTimeout == 0 {
		c.NodeTimeout = DefaultNodeTimeout
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = c.NodeTimeout / 2
	}
	if err := CheckReplicas(c.Replicas); err != nil {
		return err
	}
	return CheckTimes(c.HeartbeatInterval, c.NodeTimeout)
}

// CheckReplicas checks the number of JetStream replicas: 0 (pick) to 5,
// JetStream's most.
func CheckReplicas(n int) error {
	if n < 0 || n > 5 {
		return fmt.Errorf("replicas %d: JetStream keeps 1 to 5 copies of a stream (0 picks)", n)
	}
	return nil
}

// The checks of Validate, one setting each, so that a config file can
// report each problem at its place.

// CheckName checks a cluster name: it is a NATS subject token.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("cluster name %q: only letters, digits, '_' and '-' (it is a NATS subject token)", name)
	}
	return nil
}

// CheckMode checks that the node runs an embedded NATS server (listen,
// with join) or connects to an existing one (nats), not both or neither.
func CheckMode(listen string, join, natsURLs []string) error {
	switch {
	case listen == "" && len(natsURLs) == 0:
		return errors.New("neither a route address for the embedded NATS server (--cluster) nor NATS URLs (--nats)")
	case listen != "" && len(natsURLs) > 0:
		return errors.New("an embedded NATS server (--cluster) and an existing NATS (--nats) exclude each other")
	case len(join) > 0 && listen == "":
		return errors.New("joining other nodes (--join) needs an embedded NATS server (--cluster): the routes are its")
	}
	return nil
}

// CheckRouteAddr checks a route address, host:port; needPort refuses port
// 0 (an address to join must name the port).
func CheckRouteAddr(addr string, needPort bool) error {
	_, port, err := splitHostPort(addr)
	if err == nil && needPort && port == 0 {
		err = errors.New("the port must not be 0")
	}
	if err != nil {
		return fmt.Errorf("route address %q: %w", addr, err)
	}
	return nil
}

// CheckNATSURL checks the URL of an existing NATS server.
func CheckNATSURL(u string) error {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || (pu.Scheme != "nats" && pu.Scheme != "tls") {
		return fmt.Errorf("NATS URL %q: must be nats://host:port (or tls://host:port)", u)
	}
	return nil
}

// CheckTimes checks the heartbeat interval against the node timeout.
func CheckTimes(heartbeat, timeout time.Duration) error {
	if heartbeat <= 0 || timeout < 2*heartbeat {
		return fmt.Errorf("the node timeout (%v) must be at least twice the heartbeat interval (%v), which must be more than 0", timeout, heartbeat)
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number in [0, 65535]", p)
	}
	return host, port, nil
}

// Node is this process's member of a cluster. Start it with Start, give it
// its router with SetRouter, stop it with Close.
type Node struct {
	cfg  Config
	log  *slog.Logger
	id   uint64
	subj subjects
	wire int // the protocol version this node speaks: wireVersion but in tests

	ns    *server.Server // the embedded server; nil with an existing NATS
	token string         // its clients' token
	// routeTLS is the embedded server's route TLS; nil without.
	routeTLS *RouteTLS
	nc       *nats.Conn

	// JetStream, for the event store (store.go): nil when the existing
	// NATS does not run it, jsErr then says so.
	js       jetstream.JetStream
	jsErr    error
	replicas int
	tmpDir   string // Config.StoreDir's stand-in, removed at Close
	st       atomic.Pointer[jsStore]

	rt atomic.Pointer[router.Router]

	// The cookie logins shared with the other nodes (cookies.go).
	cookies      atomic.Pointer[auth.Cookies]
	cookiesAsked atomic.Bool

	nextCallee atomic.Uint64 // spreads calls over the nodes of a registration whose callees are not known yet
	clock      atomic.Uint64 // the hybrid logical clock that stamps callees (policy.go)
	skew       atomic.Int64  // ns added to the wall clock: a test's node whose clock is off

	// Registrations that lost a conflict, revoked by run (settle).
	revokeMu sync.Mutex
	revokes  []entry
	revokeC  chan struct{}

	local    localInterest
	sessions localSessions
	members  members
	stats    counters

	// announcers are the goroutines announcing a lost node's sessions
	// (announceLost); Close waits for them.
	announcers sync.WaitGroup

	// calls are the messages of calls held back for other nodes
	// (call.go).
	calls callBatches
	// out publishes what the node sends, off its callers' goroutines
	// (outbox.go).
	out outbox
	// maxPayload is nc's MaxPayload, kept at each (re)connect: Forward
	// checks every call message against it, and nats.Conn.MaxPayload
	// takes the connection's lock.
	maxPayload atomic.Int64
	// connected and natsStats are what Connected and Stats report of
	// nats.go, kept here because nats.go answers IsConnected and Stats
	// under its connection's lock, which its flusher holds while it
	// writes: /readyz and /metrics of a node whose NATS stopped reading
	// would wait up to the flusher's timeout (a minute). connected
	// follows nats.go's status callbacks (noteConnState), natsStats the
	// outbox's rounds (the one goroutine of the node that may wait on
	// nats.go; a heartbeat wakes it at least once a HeartbeatInterval).
	connected atomic.Bool
	connMu    sync.Mutex // orders noteConnState's look and store
	natsStats natsStats
	// failing are the goroutines ending the calls of batches NATS
	// refused (failCalls); failMu orders their start against Close,
	// which waits for them.
	failMu  sync.Mutex
	failing sync.WaitGroup

	subs    []*nats.Subscription
	closing atomic.Bool // Close has begun: the disconnect is expected
	cancel  context.CancelFunc
	done    chan struct{}
}

// Stats are a node's counters, a snapshot taken by Node.Stats (the same
// convention as router.Router.Stats and transport.Server.Stats).
type Stats struct {
	PublicationsSent     uint64 // NATS messages with a publication, one per interested node
	PublicationsReceived uint64 // publications from other nodes delivered here
	// SendFailures counts messages NATS refused (disconnected with a full
	// reconnect buffer, a publication larger than NATS's max_payload).
	SendFailures uint64
	// Dropped counts messages NATS dropped before this node read them
	// (slow consumer: a subscription's pending limit was reached).
	Dropped              uint64
	CallMessagesSent     uint64 // INVOCATION, INTERRUPT, RESULT, ERROR sent to other nodes
	CallMessagesReceived uint64
	// BadMessages counts messages from other nodes that did not decode
	// (and retained events and history records in JetStream that did
	// not: a history record that does not is left out of get_events).
	BadMessages uint64
	// RetainedReceived counts retained events this node read from
	// JetStream (its own included) and gave its router.
	RetainedReceived uint64
	Syncs            uint64 // interest and session tables asked for
	NodesLost        uint64 // nodes taken for dead after NodeTimeout
	// Incompatible counts control messages (heartbeats, interest and
	// session changes, goodbyes) from nodes that run another protocol
	// version, which are not members (doc.go, "Protocol version").
	Incompatible uint64

	// MetaQueries counts the meta procedure calls that asked the other
	// nodes for their parts; MetaNodesMissing the nodes whose part did
	// not come within QueryTimeout, or not whole, or was larger than a
	// node takes (the answer went without them, and said so).
	MetaQueries, MetaNodesMissing uint64
	// SessionBatchesSent counts the batches of session changes this node
	// told the others; SessionsAnnounced the sessions of lost nodes whose
	// leave this node announced (on_leave, testaments).
	SessionBatchesSent, SessionsAnnounced uint64

	// What crossed the node's NATS connection, all kinds together
	// (heartbeats and interest tables too), as the NATS client counts it,
	// at most a HeartbeatInterval old (Node.natsStats says why).
	NATSMessagesSent, NATSMessagesReceived uint64
	NATSBytesSent, NATSBytesReceived       uint64

	// OutboxBytes is what waits in the node's outbox now: handed to it to
	// send, not yet taken by the NATS client (a gauge; past 8 MiB the
	// outbox refuses, see SendFailures).
	OutboxBytes uint64
}

// counters are the live counters behind Stats, counted where the work
// happens.
type counters struct {
	PublicationsSent, PublicationsReceived atomic.Uint64
	SendFailures, Dropped                  atomic.Uint64
	CallMessagesSent, CallMessagesReceived atomic.Uint64
	BadMessages, Syncs, NodesLost          atomic.Uint64
	Incompatible                           atomic.Uint64
	MetaQueries, MetaNodesMissing          atomic.Uint64
	SessionBatchesSent, SessionsAnnounced  atomic.Uint64
	RetainedReceived                       atomic.Uint64
}

// natsStats are the NATS client's counts as of the outbox's last round.
type natsStats struct {
	msgsSent, msgsReceived, bytesSent, bytesReceived atomic.Uint64
}

// note keeps nc's counts; on the outbox's goroutine (see Node.natsStats).
func (s *natsStats) note(nc *nats.Conn) {
	st := nc.Stats()
	s.msgsSent.Store(st.OutMsgs)
	s.msgsReceived.Store(st.InMsgs)
	s.bytesSent.Store(st.OutBytes)
	s.bytesReceived.Store(st.InBytes)
}

type subjects struct {
	ctl, syncPrefix, snapPrefix, pubPrefix, callPrefix string
	meta, ansPrefix                                    string
	cookie, cookieSyncPrefix, cookieSnapPrefix         string
}

// Start starts the node: the embedded NATS server (Config.Listen) or the
// connection to an existing NATS (Config.NATS), then its subscriptions
// and heartbeats. It does not wait for other nodes.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, id: mrand.Uint64N(1<<53) + 1, done: make(chan struct{}), revokeC: make(chan struct{}, 1)}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.log = n.log.With("node", cfg.NodeName)
	n.wire = cmp.Or(cfg.wire, wireVersion)
	n.subj = subjects{ctl: cfg.Name + ".ctl", syncPrefix: cfg.Name + ".sync.", snapPrefix: cfg.Name + ".snap.", pubPrefix: cfg.Name + ".pub.", callPrefix: cfg.Name + ".call.",
		meta: cfg.Name + ".meta", ansPrefix: cfg.Name + ".ans.",
		cookie: cfg.Name + ".cookie", cookieSyncPrefix: cfg.Name + ".cookiesync.", cookieSnapPrefix: cfg.Name + ".cookiesnap."}
	n.local.init()
	n.sessions.init()
	n.members.init()
	if err := n.connect(); err != nil {
		n.shutdownNATS()
		return nil, err
	}
	n.noteConnState(n.nc)
	n.natsStats.note(n.nc)
	n.out.start(n)
	n.maxPayload.Store(n.nc.MaxPayload())
	if err := n.subscribe(); err != nil {
		n.shutdownNATS()
		return nil, err
	}
	if err := n.startJetStream(); err != nil {
		n.shutdownNATS()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if m := n.cfg.MaxMessageSize; m > 0 && n.nc.MaxPayload() < m+envelopeRoom {
		n.log.Warn("cluster: NATS accepts smaller messages than the router: larger publications and calls stay on their node",
			"nats_max_payload", n.nc.MaxPayload(), "max_message_size", m)
	}
	n.heartbeat() // at once: the others learn of this node without waiting a period
	go n.run(ctx)
	mode := "embedded NATS, routes on " + n.RouteAddr()
	if n.ns == nil {
		mode = "NATS at " + n.nc.ConnectedUrlRedacted()
	}
	n.log.Info("cluster node started", "cluster", cfg.Name, "id", n.idString(), "nats", mode, "jetstream_replicas", n.replicas)
	return n, nil
}

// connect starts the embedded server and connects to it in-process, or
// connects to the existing NATS.
func (n *Node) connect() error {
	opts := []nats.Option{
		nats.Name("junction " + n.cfg.NodeName),
		// A node ignores what it sent itself (heartbeats, changes,
		// batches on N.ctl, meta queries): the server need not send
		// it back, nor the node decode it to find that out.
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			n.noteConnState(c)
			if n.closing.Load() {
				return
			}
			n.log.Warn("cluster: lost NATS; routing among this node's sessions only until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.noteConnState(c)
			n.maxPayload.Store(c.MaxPayload())
			n.log.Info("cluster: NATS reconnected", "url", c.ConnectedUrlRedacted())
			n.heartbeat()
		}),
		nats.ClosedHandler(n.noteConnState),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				return // counted and logged from Dropped by the heartbeat loop
			}
			n.log.Warn("cluster: NATS error", "err", err)
		}),
	}
	if n.cfg.Listen == "" {
		nc, err := nats.Connect(strings.Join(n.cfg.NATS, ","), append(opts, n.cfg.clientSecurity()...)...)
		if err != nil {
			return fmt.Errorf("cluster: connecting to NATS %s: %w", strings.Join(n.cfg.NATS, ","), err)
		}
		n.nc = nc
		return nil
	}
	host, port, _ := splitHostPort(n.cfg.Listen)
	// The server must listen for clients for its routes to start
	// (nats-server waits for the client port before routing): it listens
	// on a random loopback port, behind a random token that only this
	// process knows, and this node connects to it in-process.
	token := rand.Text()
	dir, name, err := n.storeDir()
	if err != nil {
		return err
	}
	so := &server.Options{
		// JetStream keeps the cluster's event store (store.go); its
		// peers are known by server name, so the name lives with the
		// data (storeDir).
		ServerName: name,
		JetStream:  true,
		StoreDir:   dir,
		// Every stored message is synced to disk before JetStream
		// acknowledges it, as the single node's history commits its
		// batch before PUBLISHED: an acknowledged publication survives
		// the loss of power of every node, not only the crash of some.
		SyncAlways:    true,
		Host:          "127.0.0.1",
		Port:          server.RANDOM_PORT,
		Authorization: token,
		NoSigs:        true,
		// Routes to nodes that are down are retried with a growing
		// delay, so that a node stopped for good is not dialled (and
		// logged) every second.
		Cluster: server.ClusterOpts{Name: n.cfg.Name, Host: host, Port: port, ConnectBackoff: true},
	}
	if port == 0 {
		so.Cluster.Port = server.RANDOM_PORT
	}
	if t := n.cfg.TLS; t != nil {
		rt, err := newRouteTLS(t, n.cfg.Listen)
		if err != nil {
			return err
		}
		n.routeTLS = rt
		so.Cluster.TLSConfig = rt.config()
		so.Cluster.TLSTimeout = routeTLSTimeout.Seconds()
	}
	// The in-process connection never crosses a socket: it needs neither
	// TLS nor the route password.
	so.Cluster.Username, so.Cluster.Password = n.cfg.RouteUser, n.cfg.RoutePassword
	if n.cfg.openRoutes() {
		n.log.Warn("cluster: the routes accept any process that reaches " + n.cfg.Listen + ": set cluster.tls or cluster.route_user and route_password")
	}
	if m := n.cfg.MaxMessageSize; m > 0 {
		so.MaxPayload = int32(min(m+envelopeRoom, maxNATSPayload))
	}
	for _, j := range n.cfg.Join {
		so.Routes = append(so.Routes, n.cfg.routeURL(j))
	}
	// Clustered JetStream refuses to start without a route, and a first
	// node joins no one (the others join it): it routes to itself, which
	// the server recognises and ignores. When its route port is to be
	// picked (port 0), the port is free when picked but may be taken by
	// another process before the server listens on it: then the server
	// is stopped and started again on another.
	self := len(so.Routes) == 0
	var ns *server.Server
	for attempt := 1; ; attempt++ {
		o := so.Clone()
		if self {
			addr, err := selfRoute(host, port, n.cfg.pickPort)
			if err != nil {
				return err
			}
			o.Cluster.Port = addr.Port
			o.Routes = []*url.URL{{Scheme: "nats-route", Host: net.JoinHostPort(addr.IP.String(), strconv.Itoa(addr.Port))}}
		}
		if ns, err = server.NewServer(o); err != nil {
			return fmt.Errorf("cluster: embedded NATS server: %w", err)
		}
		fatal := make(chan string, 1)
		ns.SetLoggerV2(natsLogger{log: n.log, fatal: fatal}, false, false, false)
		ns.Start()
		err = awaitListeners(ns, fatal, embeddedStartTimeout)
		if err == nil {
			break
		}
		// Only a route port that could not be listened on is worth
		// another pick; any other failure is the answer.
		routePort := ns.Addr() != nil && ns.ClusterAddr() == nil
		ns.Shutdown()
		ns.WaitForShutdown()
		if !self || port != 0 || !routePort || attempt == 3 {
			return fmt.Errorf("cluster: embedded NATS server on %s: %w", n.cfg.Listen, err)
		}
		n.log.Warn("cluster: the embedded NATS server could not listen on the route port picked for it; picking another", "err", err)
	}
	n.ns = ns
	n.token = token
	if n.routeTLS != nil {
		n.routeTLS.listen = n.RouteAddr() // the port picked, when it was 0
	}
	nc, err := nats.Connect("", append(opts, nats.InProcessServer(ns), nats.Token(token))...)
	if err != nil {
		return fmt.Errorf("cluster: connecting to the embedded NATS server: %w", err)
	}
	n.nc = nc
	return nil
}

// embeddedStartTimeout bounds how long the embedded NATS server may take
// to listen for clients and routes once started.
const embeddedStartTimeout = 10 * time.Second

// awaitListeners waits until ns listens for clients and routes, for at
// most timeout. A fatal error the server logs meanwhile (fatal, from its
// natsLogger: a port it cannot listen on) ends the wait at once; the
// server itself would wait out the timeout.
func awaitListeners(ns *server.Server, fatal <-chan string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for ns.Addr() == nil || ns.ClusterAddr() == nil {
		select {
		case msg := <-fatal:
			return errors.New(msg)
		case <-deadline.C:
			return fmt.Errorf("not listening for clients and routes after %v", timeout)
		case <-tick.C:
		}
	}
	return nil
}

// selfRoute returns the address a node that joins no one routes to: its
// own route address, with a port picked now when it is 0 (the port is
// free when picked; the server takes it a moment later), by pick when
// it is set.
func selfRoute(host string, port int, pick func() int) (*net.TCPAddr, error) {
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if port != 0 {
		return &net.TCPAddr{IP: ip, Port: port}, nil
	}
	if pick != nil {
		return &net.TCPAddr{IP: ip, Port: pick()}, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("cluster: picking a route port on %s: %w", host, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	return &net.TCPAddr{IP: ip, Port: addr.Port}, nil
}

// subscription is one of a node's NATS subscriptions: its subject and
// the handler of what arrives there.
type subscription struct {
	subj string
	fn   nats.MsgHandler
}

// subscriptions are what the node subscribes to: everything other nodes
// send it (the meta answers excepted: each query waits on an inbox of its
// own).
func (n *Node) subscriptions() []subscription {
	return []subscription{
		{n.subj.ctl, n.onControl},
		{n.subj.syncPrefix + n.idString(), n.onSyncRequest},
		{n.subj.snapPrefix + n.idString(), n.onSnapshot},
		{n.subj.pubPrefix + n.idString(), n.onPublication},
		{n.subj.callPrefix + n.idString(), n.onCall},
		{n.subj.meta, n.onMeta},
		{n.subj.cookie, n.onCookie},
		{n.subj.cookieSyncPrefix + n.idString(), n.onCookieSync},
		{n.subj.cookieSnapPrefix + n.idString(), n.onCookieSnap},
	}
}

func (n *Node) subscribe() error {
	for _, s := range n.subscriptions() {
		sub, err := n.nc.Subscribe(s.subj, s.fn)
		if err != nil {
			return fmt.Errorf("cluster: subscribing to %s: %w", s.subj, err)
		}
		n.subs = append(n.subs, sub)
	}
	if err := n.nc.Flush(); err != nil {
		return fmt.Errorf("cluster: subscribing: %w", err)
	}
	return nil
}

// SetRouter gives the node the router whose subscribers receive what other
// nodes publish; until then such publications are dropped (there is no
// subscriber to take them, and so no other node sends any).
func (n *Node) SetRouter(r *router.Router) { n.rt.Store(r) }

// RouteAddr is the embedded NATS server's route address (the one others
// join), "" with an existing NATS.
func (n *Node) RouteAddr() string {
	if n.ns == nil || n.ns.ClusterAddr() == nil {
		return ""
	}
	return n.ns.ClusterAddr().String()
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	c := &n.stats
	ns := &n.natsStats
	return Stats{
		PublicationsSent: c.PublicationsSent.Load(), PublicationsReceived: c.PublicationsReceived.Load(),
		SendFailures: c.SendFailures.Load(), Dropped: c.Dropped.Load(),
		CallMessagesSent: c.CallMessagesSent.Load(), CallMessagesReceived: c.CallMessagesReceived.Load(),
		BadMessages: c.BadMessages.Load(), Syncs: c.Syncs.Load(), NodesLost: c.NodesLost.Load(),
		Incompatible: c.Incompatible.Load(), MetaQueries: c.MetaQueries.Load(), MetaNodesMissing: c.MetaNodesMissing.Load(),
		SessionBatchesSent: c.SessionBatchesSent.Load(), SessionsAnnounced: c.SessionsAnnounced.Load(),
		RetainedReceived: c.RetainedReceived.Load(),
		NATSMessagesSent: ns.msgsSent.Load(), NATSMessagesReceived: ns.msgsReceived.Load(),
		NATSBytesSent: ns.bytesSent.Load(), NATSBytesReceived: ns.bytesReceived.Load(),
		OutboxBytes: n.out.waiting(),
	}
}

// Connected reports whether the node has its NATS connection now: with an
// embedded server, the in-process connection to it (a node alone in its
// cluster is connected); with an existing NATS, a connection to one of its
// servers. While it is not, the node routes among its own sessions only
// (and the NATS client keeps reconnecting). It never waits on NATS.
func (n *Node) Connected() bool { return n.connected.Load() }

// noteConnState keeps nc's connection status for Connected. nats.go calls
// its status callbacks in order, each after the change it reports; a
// callback looks again rather than trusting what it was called for, and
// connMu keeps an older look from being stored over a newer one, so the
// last store is always the status after the last change.
func (n *Node) noteConnState(nc *nats.Conn) {
	n.connMu.Lock()
	n.connected.Store(nc.IsConnected())
	n.connMu.Unlock()
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.NodeName }

// RouteTLS is the TLS of the embedded server's routes, to reload its
// certificate; nil when the routes have none or the node uses an
// existing NATS (whose client, nats.go, reads its files again at every
// reconnection).
func (n *Node) RouteTLS() *RouteTLS { return n.routeTLS }

func (n *Node) idString() string { return strconv.FormatUint(n.id, 16) }

// Close says goodbye to the other nodes, so that they forget this one at
// once, and stops the node and its embedded NATS server. Call it after the
// router has shut down.
func (n *Node) Close() error {
	n.cancel()
	<-n.done
	n.announcers.Wait()
	n.send(n.subj.ctl, n.encodeControl(&control{Kind: kindBye, Node: n.id}))
	n.out.stop() // after publishing what it holds, the goodbye last
	var err error
	if fe := n.nc.FlushTimeout(time.Second); fe != nil && !errors.Is(fe, nats.ErrConnectionClosed) {
		err = fmt.Errorf("cluster: flushing the goodbye: %w", fe)
	}
	// Under failMu: a failCalls from now on starts nothing, and one
	// before has counted its goroutine in failing.
	n.failMu.Lock()
	n.closing.Store(true)
	n.failMu.Unlock()
	n.failing.Wait()
	n.shutdownNATS()
	n.log.Info("cluster node stopped")
	return err
}

func (n *Node) shutdownNATS() {
	n.out.stop()
	if n.nc != nil {
		n.nc.Close()
	}
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
	if n.tmpDir != "" {
		if err := os.RemoveAll(n.tmpDir); err != nil {
			n.log.Warn("cluster: removing the temporary JetStream directory", "dir", n.tmpDir, "err", err)
		}
	}
}

// routeTLSTimeout bounds a route's TLS handshake (nats-server's default
// is 2 s, tight for a loaded machine, and a handshake that fails is
// retried anyway).
const routeTLSTimeout = 5 * time.Second

// envelopeRoom is what a node adds to a message of the router's (realm,
// routing options) when it crosses NATS; maxNATSPayload is NATS's largest
// max_payload.
const (
	envelopeRoom   = 64 << 10
	maxNATSPayload = 64 << 20
)

// send publishes data on subj through the outbox (nothing waits on
// NATS); false when the outbox refused it (counted and logged there, as
// what NATS refuses later is).
func (n *Node) send(subj string, data []byte) bool { return n.out.put(subj, data, 0, 0) }

// run sends the heartbeats and takes silent nodes for dead until ctx ends.
func (n *Node) run(ctx context.Context) {
	defer close(n.done)
	hb := time.NewTicker(n.cfg.HeartbeatInterval)
	defer hb.Stop()
	check := time.NewTicker(n.cfg.HeartbeatInterval / 2)
	defer check.Stop()
	var dropped uint64
	var batch <-chan time.Time // the session changes' batch is due
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.sessions.kick:
			if batch == nil {
				batch = time.After(sessionBatchDelay)
			}
		case <-batch:
			batch = nil
			n.flushSessions()
		case <-n.sessions.full:
			batch = nil
			n.flushSessions()
		case <-hb.C:
			n.heartbeat()
			dropped = n.countDropped(dropped)
		case now := <-check.C:
			n.expire(now)
		case <-n.revokeC:
			n.revokeLost()
		}
	}
}

// countDropped logs and counts what NATS dropped since the last look.
func (n *Node) countDropped(before uint64) uint64 {
	var total uint64
	for _, s := range n.subs {
		if d, err := s.Dropped(); err == nil {
			total += uint64(d)
		}
	}
	if total > before {
		n.stats.Dropped.Add(total - before)
		n.log.Warn("cluster: NATS dropped messages for this node (slow consumer)", "dropped", total-before, "total", total)
	}
	return total
}

// natsLogger passes the embedded server's warnings and errors to slog,
// and its first fatal error to fatal too (see awaitListeners).
type natsLogger struct {
	log   *slog.Logger
	fatal chan<- string
}

func (l natsLogger) Noticef(format string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Warnf(format string, v ...any) { l.log.Warn("nats: " + fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error("nats: " + msg)
	select {
	case l.fatal <- msg:
	default:
	}
}

// Errorf logs at warning level: the embedded server's errors are about
// one connection (a route to a node that is down, most often), and the
// node goes on.
func (l natsLogger) Errorf(format string, v ...any) {
	l.log.Warn("nats: " + fmt.Sprintf(format, v...))
}
func (l natsLogger) Debugf(format string, v ...any) {}
func (l natsLogger) Tracef(format string, v ...any) {}
