// Package config loads and validates Junction's YAML configuration file.
//
// A config file has six sections: listeners (where the router accepts
// connections), realms (the WAMP realms it serves), store (the file that
// keeps event history), limits (sizes, timeouts and what one session may
// hold), log, and admin (metrics, health and the web view). Every key is
// optional; an omitted key takes its default,
// and an empty file means [Default]. README.md in this directory is the
// reference for every key.
//
// [Parse] walks the YAML node tree itself instead of relying on the YAML
// library's generic decoding, so that every unknown key, wrong type and bad
// value is reported with the file name, line, column and key path, and all
// problems are reported at once (one per line, joined with [errors.Join]):
//
//	junction.yaml:7:5: unknown key "max_msg_size" in limits (known: max_message_size, ...)
//	junction.yaml:3:13: listeners[0].engine: "fast" is not one of auto, epoll, goroutine
//
// The rest of the router receives a validated [*Config] and does not need
// to check it again.
package config

import (
	"fmt"
	"os"
	"time"
)

// Config is the whole router configuration.
type Config struct {
	Listeners []Listener // yaml listeners; default: one listener on 127.0.0.1:8080
	Realms    []Realm    // yaml realms; default: one anonymous realm "realm1"
	Store     Store      // yaml store
	Limits    Limits     // yaml limits
	Log       Log        // yaml log
	Admin     Admin      // yaml admin: metrics, health and the web view (admin.go)
	// Cluster, when set, makes this process a node of a cluster (package
	// cluster); nil runs a single router. Yaml key cluster.
	Cluster *Cluster

	// RealmTemplate, when set, makes the realm a client's HELLO names
	// when it is not configured, with these settings (no name). Yaml key
	// realm_template.
	RealmTemplate *Realm

	// Webhooks POST the events of topics to HTTP endpoints. Yaml key
	// webhooks.
	Webhooks []Webhook
	// Callees register procedures served by HTTP endpoints. Yaml key
	// callees.
	Callees []Callee
}

// Callee registers a procedure whose invocations are POSTed to an HTTP
// endpoint as {"procedure", "args", "kwargs", "details"}; its JSON answer
// is the result or the error.
type Callee struct {
	Realm       string        // yaml realm; default "realm1"
	Procedure   string        // yaml procedure; required
	Match       string        // yaml match: exact (default), prefix or wildcard
	URL         string        // yaml url; required, http or https
	Secret      string        // yaml secret: signs each POST; none by default
	AuthID      string        // yaml authid: the identity it registers with; anonymous by default
	Ticket      string        // yaml ticket: that principal's ticket, in the clear
	Timeout     time.Duration // yaml timeout: of one POST; default 30s
	Concurrency int           // yaml concurrency: POSTs in flight; default 16
}

// Webhook subscribes an HTTP endpoint to a topic: each event is POSTed as
// {"topic", "args", "kwargs", "details"}.
type Webhook struct {
	Realm   string        // yaml realm; default "realm1"
	Topic   string        // yaml topic; required
	Match   string        // yaml match: exact (default), prefix or wildcard
	URL     string        // yaml url; required, http or https
	Secret  string        // yaml secret: signs each POST (X-Junction-Signature); none by default
	AuthID  string        // yaml authid: the identity it subscribes with; anonymous by default
	Ticket  string        // yaml ticket: that principal's ticket, in the clear
	Queue   int           // yaml queue: events waiting for the endpoint; default 1000
	Timeout time.Duration // yaml timeout: of one POST; default 10s
	Retries int           // yaml retries: of a failed POST; default 5
}

// Listener is one address the router accepts connections on. WebSocket and
// RawSocket share the port: a RawSocket client is recognised by its first
// byte, 0x7F.
type Listener struct {
	// Address is "host:port" for TCP or "unix:/path/to.sock" for a Unix
	// socket. Required. Yaml key address.
	Address string
	// WebSocketPath is the HTTP path of the WebSocket endpoint. Yaml key
	// websocket_path; default "/ws".
	WebSocketPath string
	// WebSocket enables WAMP over WebSocket. Yaml key websocket; default true.
	WebSocket bool
	// RawSocket enables WAMP over RawSocket. Yaml key rawsocket; default true.
	RawSocket bool
	// TLS, when set, serves TLS on this listener; nil means plain text.
	// Yaml key tls.
	TLS *TLS
	// AllowedOrigins lists the WebSocket origins accepted; empty means any
	// origin. An entry is an exact origin ("https://app.example.com"), a
	// leading wildcard host ("https://*.example.com") or "*". Yaml key
	// allowed_origins.
	AllowedOrigins []string
	// TrustedProxies are the reverse proxies in front of the listener
	// (IP addresses, networks as address/bits, "unix:"), whose
	// X-Forwarded-For says who the client is. Yaml key trusted_proxies;
	// default none.
	TrustedProxies []string
	// ProxyProtocol has every connection begin with a PROXY protocol
	// header (v1 or v2) from a TCP load balancer; the address in it is
	// believed from TrustedProxies. Yaml key proxy_protocol; default
	// false.
	ProxyProtocol bool
	// Engine selects the connection engine: "auto", "epoll" or "goroutine".
	// Yaml key engine; default "auto".
	Engine string
	// MaxPendingConnections bounds the connections on the listener whose
	// session is not established yet (in their TLS or transport
	// handshake, or before WELCOME); one accepted past it is closed at
	// once (transport.Server.MaxPendingConnections). Yaml key
	// max_pending_connections; default 10000; 1 or more.
	MaxPendingConnections int
	// Compression is the WebSocket compression the listener agrees to:
	// "none", or "deflate" for permessage-deflate (RFC 7692) with the
	// clients that offer it (transport.Server.Deflate). Yaml key
	// compression; default "none".
	Compression string
	// Cookie, when set, gives WebSocket clients an authentication cookie
	// (for realms with auth.cookie). Yaml key cookie.
	Cookie *Cookie
	// LongPoll is the WAMP long-poll transport (HTTP) of the listener.
	// Yaml key longpoll.
	LongPoll LongPoll
	// Bridge, when set, serves the HTTP bridge (POST publish and call) on
	// the listener. Yaml key bridge; the default config (no file) has one
	// for realm1, a listener of a config file only with the key.
	Bridge *Bridge
}

// Bridge configures a listener's HTTP bridge: publications and calls as
// JSON POST requests, each made by a session of the request's identity.
type Bridge struct {
	// Realm is the realm the requests' sessions join. Yaml key realm;
	// default "realm1".
	Realm string
	// PublishPath and CallPath are the endpoints' URL paths. Yaml keys
	// publish_path and call_path; default "/publish" and "/call".
	PublishPath, CallPath string
	// CallTimeout bounds a call (a call may ask for less). Yaml key
	// call_timeout; default 60s.
	CallTimeout time.Duration
	// Keys sign requests (Crossbar.io's signed requests, with replay
	// protection). Yaml key keys.
	Keys []BridgeKey
	// SignatureWindow is how far a signed request's timestamp may be
	// from the router's clock. Yaml key signature_window; default 5m.
	SignatureWindow time.Duration
}

// BridgeKey is a key of signed bridge requests: a signed request joins as
// principal AuthID with Secret as its ticket (or wampcra secret).
type BridgeKey struct {
	Key    string // yaml key
	Secret string // yaml secret
	AuthID string // yaml authid
}

// defaultBridge is what a bridge key starts from.
func defaultBridge() *Bridge {
	return &Bridge{Realm: "realm1", PublishPath: "/publish", CallPath: "/call", CallTimeout: 60 * time.Second,
		SignatureWindow: 5 * time.Minute}
}

// LongPoll configures a listener's WAMP long-poll transport: a WAMP
// session over HTTP POST requests, for clients that cannot hold a
// WebSocket. Its queue and message bounds are limits.outbound_queue and
// limits.max_message_size, its join deadline limits.hello_timeout, as for
// WebSocket connections.
type LongPoll struct {
	// Enabled serves it. Yaml key enabled; default true.
	Enabled bool
	// Path is its base URL path (<path>/open, <path>/<id>/receive, ...).
	// Yaml key path; default "/lp".
	Path string
	// RequestTimeout is how long a receive is held when nothing is pending
	// before it is answered empty. Yaml key request_timeout; default 10s.
	RequestTimeout time.Duration
	// SessionTimeout closes a transport with no request for this long; its
	// session leaves. Yaml key session_timeout; default 30s.
	SessionTimeout time.Duration
	// MaxPerAddress bounds the transports open at once from one client
	// address. Yaml key max_per_address; default 32.
	MaxPerAddress int
	// MaxTransports bounds the transports open at once on the listener.
	// Yaml key max_transports; default 10000.
	MaxTransports int
	// AllowAddressChange lets a transport be used from another address
	// than the one that opened it. Yaml key allow_address_change; default
	// false.
	AllowAddressChange bool
}

// TLS names the certificate and private key of a TLS listener. Both files
// must exist and load as a pair (tls.LoadX509KeyPair) when the config is
// validated.
type TLS struct {
	CertFile string // yaml cert: PEM certificate chain, leaf first
	KeyFile  string // yaml key: PEM private key
	// ClientAuth asks clients for certificates: "none" (the default),
	// "request" (any certificate; principals name it by fingerprint) or
	// "verify" (issued by ClientCA). Yaml key client_auth.
	ClientAuth string
	ClientCA   string // yaml client_ca: PEM CA certificates for verify
}

// Realm is one WAMP realm served by the router.
type Realm struct {
	// Name is the realm's WAMP URI, unique within the config. Yaml key name.
	Name string
	// StrictURIs turns on strict URI checking (components of lower-case
	// letters, digits and '_') for URIs used in the realm. Yaml key
	// strict_uris; default false (loose checking).
	StrictURIs bool
	// Anonymous lets clients join without authenticating, with every
	// permission. Yaml key anonymous; default true.
	Anonymous bool
	// MetaAPI answers the meta procedures (wamp.session.*,
	// wamp.registration.*, wamp.subscription.*) and publishes the meta
	// events in the realm. Yaml key meta_api; default true.
	MetaAPI bool
	// DiscloseCaller says whether callees learn who called: "on_request"
	// (when the caller asks with disclose_me), "always" or "never" (a
	// caller asking is refused). Yaml key disclose_caller; default
	// "on_request".
	DiscloseCaller string
	// DisclosePublisher is DiscloseCaller for publishers and subscribers.
	// Yaml key disclose_publisher; default "on_request".
	DisclosePublisher string
	// TrustLevels gives calls and publications a trust level by the
	// authrole of their caller or publisher; authroles not listed get
	// none. Yaml key trust_levels (a mapping of authrole to level); each
	// level is a whole number from 0 to MaxTrustLevel.
	TrustLevels map[string]int
	// History lists the topics whose events the router keeps for event
	// history (wamp.subscription.get_events). Rules need Store.Path. Yaml
	// key history.
	History []HistoryRule
	// Auth authenticates and authorizes the realm's clients (see
	// RealmAuth); nil for none. Yaml key auth.
	Auth *RealmAuth
}

// MaxTrustLevel is the highest trust level a realm may assign: 2^53-1, the
// largest integer every WAMP client (JavaScript's numbers included) reads
// exactly.
const MaxTrustLevel = 1<<53 - 1

// HistoryRule keeps the last Limit events published to the topics that
// Topic matches under Match (all of them together), and of those at most
// MaxBytes bytes when MaxBytes is set.
type HistoryRule struct {
	// Topic is a topic URI, or a pattern for prefix and wildcard matching
	// (checked strictly when the realm has strict_uris). Required. Yaml
	// key topic.
	Topic string
	// Match is "exact", "prefix" or "wildcard", as in the Advanced
	// Profile's pattern-based subscriptions. Yaml key match; default
	// "exact".
	Match string
	// Limit is the number of events the rule keeps, for all the topics it
	// matches together, from 1 to MaxHistoryLimit. Required. Yaml key limit.
	Limit int
	// MaxBytes bounds the bytes of the events the rule keeps (as stored:
	// payload, details and topic), for all its topics together; the oldest
	// go first, and an event larger on its own is not kept. 0 for no
	// bound, else at least MinHistoryMaxBytes. Yaml key max_bytes (a
	// size); default 0.
	MaxBytes int64
}

// MaxHistoryLimit is the most events one history rule may keep.
const MaxHistoryLimit = 10_000_000

// MinHistoryMaxBytes is the least a history rule's MaxBytes may be, when
// it is set.
const MinHistoryMaxBytes = 1 << 10

// Store configures the router's persistent store.
type Store struct {
	// Path is the bbolt file that keeps event history, created when
	// missing; its directory must exist. Relative names are relative to the
	// config file's directory. Required when a realm has history rules.
	// Yaml key path; default none.
	Path string
}

// Cluster makes the router a node of a cluster on NATS: with Listen it
// runs a NATS server inside the process, whose route port the other nodes
// Join; with NATS it connects to an existing NATS deployment instead.
type Cluster struct {
	// Name is the cluster's name, the same on every node (a NATS subject
	// token). Yaml key name; default "junction".
	Name string
	// Node names this node in logs. Yaml key node; default the host name.
	Node string
	// Listen is the embedded NATS server's route address, host:port.
	// Yaml key listen.
	Listen string
	// Join lists the other nodes' route addresses. Yaml key join.
	Join []string
	// NATS lists the URLs of an existing NATS. Yaml key nats.
	NATS []string
	// HeartbeatInterval and NodeTimeout: a node silent for NodeTimeout
	// is taken for dead. Yaml keys heartbeat_interval (default 1s) and
	// node_timeout (default 4s, at least twice the interval).
	HeartbeatInterval time.Duration
	NodeTimeout       time.Duration
	// JetStreamDir is where the embedded NATS server keeps its JetStream
	// data (the cluster's event history and retained events); relative
	// to the config file's directory. Yaml key jetstream_dir; default
	// "jetstream" next to store.path, or a temporary directory when that
	// is not set either.
	JetStreamDir string
	// Replicas is how many copies JetStream keeps of the event store's
	// streams, 1 to 5; 0 picks (min(3, this node and its join list) with
	// an embedded NATS, 1 with an existing one). Yaml key replicas.
	Replicas int
	// TLS: with Listen, the routes' mutual TLS (cert, key and ca all
	// required; a node is accepted only with a certificate ca issued);
	// with NATS, the client side (ca, optional client cert and key).
	// Yaml key tls.
	TLS *ClusterTLS
	// Credentials is a NATS .creds file, for NATS only. Yaml key
	// credentials.
	Credentials string
	// RouteUser and RoutePassword authorize the routes of the embedded
	// server (Listen only). Yaml keys route_user and route_password
	// (environment variables expanded, as in file names).
	RouteUser, RoutePassword string
}

// ClusterTLS names the PEM files of a cluster node's TLS (see
// cluster.TLS). Yaml keys cert, key and ca.
type ClusterTLS struct {
	CertFile, KeyFile, CAFile string
}

// DefaultCluster is a cluster section's settings before its keys apply.
func DefaultCluster() Cluster {
	return Cluster{Name: "junction", HeartbeatInterval: time.Second, NodeTimeout: 4 * time.Second}
}

// Limits bounds what one session may cost the router, and how long a
// stopping router waits for its sessions.
type Limits struct {
	// MaxMessageSize is the largest message accepted, in bytes. Yaml key
	// max_message_size; default 16 MiB; 1 KiB to 1 GiB.
	MaxMessageSize int64
	// MaxPreWelcomeMessageSize is the largest message accepted from a
	// client before its session is established (HELLO, AUTHENTICATE); the
	// smaller of it and MaxMessageSize applies. A larger frame is refused
	// from its header. Yaml key max_pre_welcome_message_size; default 64
	// KiB; 1 KiB to 1 GiB.
	MaxPreWelcomeMessageSize int64
	// MaxPartialBytes bounds the bytes all connections together hold in
	// messages still arriving; a connection whose message does not fit is
	// closed. Yaml key max_partial_bytes; default 256 MiB; at least
	// MaxMessageSize, at most 64 GiB.
	MaxPartialBytes int64
	// OutboundQueue is the number of bytes queued for one session before
	// the slow-consumer policy applies. Yaml key outbound_queue; default
	// 4 MiB; 4 KiB to 1 GiB.
	OutboundQueue int64
	// SlowConsumer is "drop" (EVENTs that do not fit in the outbound queue
	// are dropped and counted; other messages that do not fit disconnect
	// the session) or "disconnect" (any message that does not fit
	// disconnects the session). Yaml key slow_consumer; default "drop".
	SlowConsumer string
	// HelloTimeout is the time a new session has to send HELLO, and then
	// to answer each CHALLENGE (the router's own time does not count).
	// Yaml key hello_timeout; default 10s; more than 0.
	HelloTimeout time.Duration
	// HandshakeTimeout is the time allowed for the WebSocket or RawSocket
	// handshake. Yaml key handshake_timeout; default 5s; more than 0.
	HandshakeTimeout time.Duration
	// PingInterval is the silence after which a client is sent a
	// keep-alive ping: it goes this long after the last bytes received
	// from the client; 0 disables pings. Yaml key ping_interval; default
	// 30s.
	PingInterval time.Duration
	// PingTimeout is the time a peer has to send anything after a ping
	// before it is disconnected. Yaml key ping_timeout; default 10s; more
	// than 0 and less than PingInterval when pings are on.
	PingTimeout time.Duration
	// RawSocketPings sends keep-alive pings to RawSocket clients too. Yaml
	// key rawsocket_pings; default false, because Autobahn|Python's asyncio
	// RawSocket transport drops the connection on any PING (TCP keep-alive
	// still finds vanished peers).
	RawSocketPings bool
	// IdleTimeout closes a session that has sent nothing for this long;
	// 0 means never. Yaml key idle_timeout; default 0.
	IdleTimeout time.Duration
	// ShutdownTimeout is how long a stopping router waits for its
	// sessions to answer GOODBYE before it closes the connections of the
	// rest (and logs them); 0 closes them at once. Yaml key
	// shutdown_timeout; default 5s; 0 or more.
	ShutdownTimeout time.Duration
	// MaxSubscriptionsPerSession is the most subscriptions one session may
	// hold; a SUBSCRIBE past it is refused with ERROR
	// wamp.error.limit_exceeded and the session goes on. Yaml key
	// max_subscriptions_per_session; default 10000; 1 to MaxSessionLimit.
	MaxSubscriptionsPerSession int
	// MaxRegistrationsPerSession is the same for registrations (REGISTER).
	// Yaml key max_registrations_per_session; default 1000; 1 to
	// MaxSessionLimit.
	MaxRegistrationsPerSession int
	// MaxCallsInFlightPerSession is the most calls one session may have
	// made and not yet had answered; a CALL past it is refused the same
	// way. Yaml key max_calls_in_flight_per_session; default 1000; 1 to
	// MaxSessionLimit.
	MaxCallsInFlightPerSession int
}

// MaxSessionLimit is the highest value a per-session limit may take.
const MaxSessionLimit = 10_000_000

// Log configures the router's log/slog output.
type Log struct {
	Level  string // yaml level: debug, info, warn or error; default info
	Format string // yaml format: text or json; default text
}

// Byte sizes used for defaults and ranges.
const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// Default returns the configuration used when the config file is empty:
// one listener on 127.0.0.1:8080 with WebSocket (path /ws) and RawSocket,
// engine auto; one realm "realm1" with anonymous access, loose URI
// checking and the meta API; no store; default limits; info logs as text. Each call returns a new
// Config that the caller may modify.
func Default() *Config {
	return &Config{
		Listeners: []Listener{defaultListenerWithBridge("127.0.0.1:8080")},
		Realms:    []Realm{defaultRealm("realm1")},
		Limits: Limits{
			MaxMessageSize:           16 * mib,
			MaxPreWelcomeMessageSize: 64 * kib,
			MaxPartialBytes:          256 * mib,
			OutboundQueue:            4 * mib,
			SlowConsumer:             "drop",
			HelloTimeout:             10 * time.Second,
			HandshakeTimeout:         5 * time.Second,
			PingInterval:             30 * time.Second,
			PingTimeout:              10 * time.Second,
			IdleTimeout:              0,
			ShutdownTimeout:          5 * time.Second,

			MaxSubscriptionsPerSession: 10_000,
			MaxRegistrationsPerSession: 1_000,
			MaxCallsInFlightPerSession: 1_000,
		},
		Log:   Log{Level: "info", Format: "text"},
		Admin: defaultAdmin(),
	}
}

// defaultListenerWithBridge is the listener of the default config: the
// HTTP bridge for realm1 on.
func defaultListenerWithBridge(address string) Listener {
	l := defaultListener(address)
	l.Bridge = defaultBridge()
	return l
}

// defaultListener is the listener a listeners[] entry starts from before
// its keys are applied.
func defaultListener(address string) Listener {
	return Listener{
		Address:       address,
		WebSocketPath: "/ws",
		WebSocket:     true,
		RawSocket:     true,
		Engine:        "auto",
		Compression:   "none",

		MaxPendingConnections: 10_000,
		LongPoll: LongPoll{Enabled: true, Path: "/lp", RequestTimeout: 10 * time.Second, SessionTimeout: 30 * time.Second,
			MaxPerAddress: 32, MaxTransports: 10_000},
	}
}

// defaultRealm is the realm a realms[] entry starts from before its keys
// are applied.
func defaultRealm(name string) Realm {
	return Realm{Name: name, StrictURIs: false, Anonymous: true, MetaAPI: true,
		DiscloseCaller: "on_request", DisclosePublisher: "on_request"}
}

// Load reads the config file at path, parses and validates it. Errors name
// the file as path was given. Relative file names inside the config (tls
// cert and key, unix: socket paths, store path) are taken relative to the
// directory of path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes the YAML config in data on top of [Default] and validates
// it. name is the file name used in error messages; relative file names
// inside the config are taken relative to filepath.Dir(name). On success
// the returned Config has passed [Config.Validate]; on failure Parse returns
// a nil Config and every problem found, one per line, each starting with
// name:line:column (name:line for YAML syntax errors).
func Parse(name string, data []byte) (*Config, error) {
	if name == "" {
		name = "config"
	}
	r := newReport(name, true)
	cfg := Default()
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	if root != nil {
		d := decoder{r: r, dir: baseDir(name)}
		d.config(root, cfg)
	}
	validate(cfg, r)
	if err := r.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate checks c and returns every problem found, joined with
// [errors.Join]. It does not fill in defaults: start from [Default] when
// building a Config in code. Validate reads the TLS certificate and key
// files (relative names are relative to the working directory). Errors name the key path (listeners[0].engine) but no line, since
// a Config built in code has none; [Parse] reports the same problems with
// their lines.
func (c *Config) Validate() error {
	if c == nil {
		return fmt.Errorf("validating config: nil *Config")
	}
	r := newReport("", false)
	validate(c, r)
	return r.err()
}
