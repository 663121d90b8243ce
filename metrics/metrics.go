// Package metrics exports what a Junction router does to Prometheus: a
// prometheus.Collector that reads the router's and the transports' counters
// when it is scraped, and the registry and HTTP handler that serve it at
// /metrics, with client_golang's Go and process collectors next to it.
//
// Nothing is counted here. The router and the transports count where the
// work happens (per event loop, per realm) with atomic adds, or not at all
// for the gauges, which are read from the router's tables at scrape time
// (router.Router.Stats, RealmStats; transport.Server.Stats); the collector
// turns a snapshot into metrics. So a scrape costs the hot path nothing but
// a few short locks held for a copy or a length.
//
// The metrics, by Prometheus conventions (counters end in _total, units
// are seconds and bytes):
//
//	junction_sessions{realm}                       gauge     established sessions
//	junction_subscriptions{realm}                  gauge     subscriptions (topics and patterns with subscribers)
//	junction_registrations{realm}                  gauge     registrations (procedures and patterns with callees)
//	junction_calls_in_flight{realm}                gauge     calls routed to a callee and not yet answered
//	junction_messages_received_total{type}         counter   WAMP messages received, by type in lower case (call, publish, ...)
//	junction_messages_sent_total{type}             counter   WAMP messages sent, by type (event, result, ...)
//	junction_connections{transport,engine}         gauge     open connections (websocket, rawsocket, http; epoll, goroutine)
//	junction_connections_opened_total{transport,engine} counter connections opened (their handshake done)
//	junction_handshakes_refused_total{reason}      counter   handshakes refused (transport.RefusalReasons)
//	junction_authentications_total{method,outcome} counter   realm joins by authentication method, success or failure
//	junction_received_bytes_total{engine}          counter   bytes read from client connections
//	junction_sent_bytes_total{engine}              counter   bytes written to client connections
//	junction_websocket_deflate_connections_total   counter   WebSocket connections that negotiated permessage-deflate
//	junction_websocket_inflated_too_large_total    counter   connections closed (1009) for a compressed message over the size limit once decompressed
//	junction_tls_handshakes                        gauge     TLS handshakes in progress for the epoll engine (at most 1024 a listener)
//	junction_tls_handshake_waits_total             counter   TLS connections whose handshake waited for a free slot
//	junction_memory_releases_total                 counter   times memory was given back to the OS after a spike (large messages, a connect storm)
//	junction_events_dropped_total                  counter   EVENTs dropped because a subscriber's queue was full
//	junction_slow_consumers_disconnected_total     counter   sessions disconnected because their queue was full
//	junction_call_duration_seconds                 histogram CALL to final RESULT or ERROR, of one call in 32 (sampled)
//	junction_call_timeouts_total                   counter   calls ended by the router's timeout
//	junction_call_cancels_total                    counter   calls canceled by their caller
//	junction_history_queue_events                  gauge     events waiting to be written to the event history
//	junction_history_appended_total                counter   events queued for the event history
//	junction_history_dropped_total                 counter   events not kept because the history queue was full
//	junction_history_write_errors_total            counter   failed writes of the history file
//	junction_history_lost_total                    counter   queued events lost to those failures
//	junction_history_unencodable_total             counter   publications not kept because they could not be encoded for the history
//	junction_history_too_large_total               counter   publications not kept because they alone are larger than their history rule's max_bytes
//	junction_build_info{version,goversion}         gauge     1, with the version
//
// The HTTP sides of the listeners and the webhooks, summed over all of
// them (present when the config has one):
//
//	junction_longpoll_transports                   gauge     long-poll transports open
//	junction_longpoll_transports_opened_total      counter   long-poll transports opened
//	junction_longpoll_receives_held                gauge     receive requests held open, waiting for a message
//	junction_longpoll_transports_expired_total     counter   transports closed by their session or hello timeout
//	junction_longpoll_requests_refused_total{reason} counter requests refused: address (per-address limit), full (max_transports), moved (another client address), bad (400, 413)
//	junction_bridge_requests_total{outcome}        counter   HTTP bridge requests: published, called (200), refused (4xx), failed (5xx)
//	junction_webhook_events_total{outcome}         counter   events for webhooks: delivered, dropped (queue full, retries spent, refused)
//	junction_webhook_retries_total                 counter   webhook POSTs tried again
//	junction_webhook_retry_after_total             counter   of those, the ones that waited longer because the endpoint's Retry-After asked
//
// A cluster node (clustered routers only; a single router has none of these):
//
//	junction_cluster_nats_connected                gauge     1 while the node has its NATS connection, else 0
//	junction_cluster_peers                         gauge     other nodes this node takes for alive
//	junction_cluster_messages_sent_total{kind}     counter   publications and call messages sent to other nodes (kind publication, call)
//	junction_cluster_messages_received_total{kind} counter   the same, received from other nodes
//	junction_cluster_nats_messages_sent_total      counter   all messages the node sent over NATS (heartbeats, interest tables too)
//	junction_cluster_nats_messages_received_total  counter   all messages it received over NATS
//	junction_cluster_nats_sent_bytes_total         counter   bytes of those messages sent
//	junction_cluster_nats_received_bytes_total     counter   bytes of those messages received
//	junction_cluster_send_failures_total           counter   messages NATS refused (disconnected, too large)
//	junction_cluster_nats_dropped_total            counter   messages NATS dropped before the node read them (slow consumer)
//	junction_cluster_bad_messages_total            counter   messages from other nodes that did not decode
//	junction_cluster_nodes_lost_total              counter   nodes taken for dead after the node timeout
//	junction_cluster_incompatible_messages_total   counter   control messages from nodes of another protocol version (not members)
//	junction_cluster_remote_sessions               gauge     sessions of other nodes this node knows of
//	junction_cluster_remote_testaments             gauge     the testaments those sessions hold
//	junction_cluster_sessions_announced_total      counter   sessions of lost nodes whose leave this node announced
//	junction_cluster_meta_nodes_missing_total      counter   nodes whose part of a meta answer was missing
//
// plus go_* and process_* from client_golang. Every label value is from a
// fixed set (realm names are the router's own: configured, or made from
// the template, at most 1024), so no client can grow the number of series.
package metrics

import (
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/cluster"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/longpoll"
)

// Sources are what the Collector reads.
type Sources struct {
	// Router is the router; required.
	Router *router.Router
	// Servers are the transport servers of its listeners.
	Servers []*transport.Server
	// LongPolls, Bridges and Webhooks are the listeners' long-poll
	// transports and HTTP bridges and the config's webhooks.
	LongPolls []*longpoll.Handler
	Bridges   []*bridge.Handler
	Webhooks  []*bridge.Webhook
	// AdminThrottle is the login throttle of the admin endpoints' users
	// and tokens; nil without them (or with it turned off).
	AdminThrottle *auth.Throttle
	// TLS are the TLS listeners' certificate files.
	TLS []TLSFiles
	// ConfigFile counts the reloads of the config file (SIGHUP); nil when
	// the router runs without one.
	ConfigFile Reloader
	// Cluster is the router's cluster node; nil for a single router (then
	// there are no junction_cluster_* metrics at all).
	Cluster Cluster
	// Version is the router's version, for junction_build_info.
	Version string
}

// Reloader counts reloads: those done and those that failed.
type Reloader interface {
	Reloads() (done, failed uint64)
}

// TLSFiles is a TLS listener's certificate, which the router reads again
// on reload (SIGHUP).
type TLSFiles interface {
	Listener() string
	// NotAfter is when the certificate in use expires.
	NotAfter() time.Time
	// Reloads counts the reloads done and those that failed (the
	// listener kept its certificate).
	Reloads() (done, failed uint64)
}

// Cluster is what the Collector reads of a cluster node; *cluster.Node
// satisfies it.
type Cluster interface {
	Stats() cluster.Stats
	Peers() []cluster.Peer
	Connected() bool
}

// Collector is a prometheus.Collector of a router's metrics. Create it
// with NewCollector.
type Collector struct {
	src Sources

	sessions, subscriptions, registrations, callsInFlight *prometheus.Desc
	received, sent                                        *prometheus.Desc
	conns, connsOpened, refused, auth                     *prometheus.Desc
	passwordChecks, passwordChecksNow, loginsThrottled    *prometheus.Desc
	adminLoginsThrottled                                  *prometheus.Desc
	tlsNotAfter, tlsReloads                               *prometheus.Desc
	configReloads                                         *prometheus.Desc
	bytesIn, bytesOut                                     *prometheus.Desc
	deflateConns, inflatedTooLarge                        *prometheus.Desc
	tlsHandshakes, tlsHandshakeWaits, memoryReleases      *prometheus.Desc
	dropped, slowConsumers                                *prometheus.Desc
	callDuration, callTimeouts, callCancels               *prometheus.Desc
	histQueue, histAppended, histDropped                  *prometheus.Desc
	histWriteErrors, histLost, histUnencodable            *prometheus.Desc
	histTooLarge                                          *prometheus.Desc
	buildInfo                                             *prometheus.Desc

	lpOpen, lpOpened, lpHeld, lpExpired, lpRefused *prometheus.Desc
	bridgeRequests, webhookEvents, webhookRetries  *prometheus.Desc
	webhookRetryAfter                              *prometheus.Desc

	clConnected, clPeers, clSent, clReceived           *prometheus.Desc
	clNATSSent, clNATSReceived, clNATSBytesSent        *prometheus.Desc
	clNATSBytesReceived, clSendFailures, clNATSDropped *prometheus.Desc
	clBadMessages, clNodesLost, clIncompatible         *prometheus.Desc
	clRemoteSessions, clRemoteTestaments               *prometheus.Desc
	clSessionsAnnounced, clMetaMissing, clOutbox       *prometheus.Desc
}

// NewCollector returns a Collector of src.
func NewCollector(src Sources) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("junction_"+name, help, labels, nil)
	}
	return &Collector{
		src:           src,
		sessions:      d("sessions", "Established WAMP sessions.", "realm"),
		subscriptions: d("subscriptions", "Subscriptions: topics and patterns with their subscribers.", "realm"),
		registrations: d("registrations", "Registrations: procedures and patterns with their callees.", "realm"),
		callsInFlight: d("calls_in_flight", "Calls routed to a callee and not answered yet.", "realm"),
		received:      d("messages_received_total", "WAMP messages received from clients, by type.", "type"),
		sent:          d("messages_sent_total", "WAMP messages sent to clients, by type.", "type"),
		conns:         d("connections", "Open client connections.", "transport", "engine"),
		connsOpened:   d("connections_opened_total", "Client connections opened (their handshake done).", "transport", "engine"),
		refused:       d("handshakes_refused_total", "Connections refused during their handshake, by reason.", "reason"),
		auth:          d("authentications_total", "Realm joins by authentication method and outcome (success, failure).", "method", "outcome"),
		passwordChecks: d("password_checks_total",
			"Password hashes checked (ticket logins, admin logins), by outcome: computed, abandoned (the client left first), refused (too many in flight from its address).", "outcome"),
		passwordChecksNow: d("password_checks", "Password checks being computed (running) and waiting for a slot (waiting) now.", "state"),
		loginsThrottled: d("logins_throttled_total",
			"Realm logins the login throttle delayed (their address failed recently), refused (their address had too many logins waiting) or timed out (their time ran out while they waited).", "outcome"),
		adminLoginsThrottled: d("admin_logins_throttled_total",
			"Logins to the admin endpoints (users, tokens) their throttle delayed (their address failed recently) or refused (their address had too many logins waiting).", "outcome"),
		tlsNotAfter: d("tls_certificate_not_after_seconds",
			"When the certificate a TLS listener serves expires, in Unix seconds (alert on it; SIGHUP reloads the files).", "listener"),
		tlsReloads: d("tls_reloads_total",
			"Reloads of a TLS listener's files (SIGHUP): done, or failed (the listener kept its certificate).", "listener", "outcome"),
		configReloads: d("config_reloads_total",
			"Reads of the config file on SIGHUP: done (it loaded; what a running router takes on is applied), or failed (it did not load: nothing changed).", "outcome"),
		bytesIn:      d("received_bytes_total", "Bytes read from client connections.", "engine"),
		bytesOut:     d("sent_bytes_total", "Bytes written to client connections.", "engine"),
		deflateConns: d("websocket_deflate_connections_total", "WebSocket connections that negotiated permessage-deflate."),
		inflatedTooLarge: d("websocket_inflated_too_large_total",
			"Connections closed (1009) for a compressed message larger than the size limit once decompressed (zip bombs among them)."),
		tlsHandshakes: d("tls_handshakes", "TLS handshakes in progress for the epoll engine, on goroutines of their own (at most 1024 a listener)."),
		tlsHandshakeWaits: d("tls_handshake_waits_total",
			"TLS connections whose handshake had to wait for a free slot (the handshake bound was met)."),
		memoryReleases: d("memory_releases_total",
			"Times memory was given back to the operating system after a spike (large messages, a storm of TLS handshakes)."),
		dropped:         d("events_dropped_total", "EVENTs dropped because a subscriber's outbound queue was full (slow consumers)."),
		slowConsumers:   d("slow_consumers_disconnected_total", "Sessions disconnected because their outbound queue was full."),
		callDuration:    d("call_duration_seconds", "Time from CALL to its final RESULT or ERROR (or cancel or timeout), of one call in 32: a sample."),
		callTimeouts:    d("call_timeouts_total", "Calls ended by the router's timeout (call_timeout)."),
		callCancels:     d("call_cancels_total", "Calls canceled by their caller (CANCEL)."),
		histQueue:       d("history_queue_events", "Events waiting to be written to the event history."),
		histAppended:    d("history_appended_total", "Events queued for the event history."),
		histDropped:     d("history_dropped_total", "Events not kept in the history because its write queue was full."),
		histWriteErrors: d("history_write_errors_total", "Writes of the event history file that failed."),
		histLost:        d("history_lost_total", "Queued history events lost to failed writes."),
		histUnencodable: d("history_unencodable_total", "Publications not kept in the history because they could not be encoded for it (values no serializer takes, from a session in the router's process)."),
		histTooLarge:    d("history_too_large_total", "Publications not kept in the history because they alone are larger than their history rule's max_bytes."),
		buildInfo:       d("build_info", "1, labelled with the router's version.", "version", "goversion"),

		lpOpen:            d("longpoll_transports", "Long-poll transports open."),
		lpOpened:          d("longpoll_transports_opened_total", "Long-poll transports opened."),
		lpHeld:            d("longpoll_receives_held", "Long-poll receive requests held open, waiting for a message."),
		lpExpired:         d("longpoll_transports_expired_total", "Long-poll transports closed by their session or hello timeout."),
		lpRefused:         d("longpoll_requests_refused_total", "Long-poll requests refused, by reason (address, full, moved, bad).", "reason"),
		bridgeRequests:    d("bridge_requests_total", "HTTP bridge requests by outcome: published, called (answered 200), refused (4xx), failed (5xx), client_closed (ended before its answer: the client left).", "outcome"),
		webhookEvents:     d("webhook_events_total", "Events for webhooks by outcome (delivered, dropped).", "outcome"),
		webhookRetries:    d("webhook_retries_total", "Webhook POSTs tried again."),
		webhookRetryAfter: d("webhook_retry_after_total", "Webhook POSTs tried again that waited longer than the backoff because the endpoint's Retry-After asked (at most 60s)."),

		clConnected:         d("cluster_nats_connected", "1 while the cluster node has its NATS connection, else 0."),
		clPeers:             d("cluster_peers", "Other cluster nodes this node takes for alive."),
		clSent:              d("cluster_messages_sent_total", "Publications and call messages sent to other nodes, by kind (publication, call).", "kind"),
		clReceived:          d("cluster_messages_received_total", "Publications and call messages received from other nodes, by kind (publication, call).", "kind"),
		clNATSSent:          d("cluster_nats_messages_sent_total", "Messages the node sent over NATS, all kinds."),
		clNATSReceived:      d("cluster_nats_messages_received_total", "Messages the node received over NATS, all kinds."),
		clNATSBytesSent:     d("cluster_nats_sent_bytes_total", "Bytes of the messages the node sent over NATS."),
		clNATSBytesReceived: d("cluster_nats_received_bytes_total", "Bytes of the messages the node received over NATS."),
		clSendFailures:      d("cluster_send_failures_total", "Messages NATS refused (disconnected with a full buffer, too large)."),
		clNATSDropped:       d("cluster_nats_dropped_total", "Messages NATS dropped before the node read them (slow consumer)."),
		clOutbox:            d("cluster_outbox_bytes", "Bytes waiting in the node's outbox for the NATS client to take them (refused past 8 MiB)."),
		clBadMessages:       d("cluster_bad_messages_total", "Messages from other nodes that did not decode."),
		clNodesLost:         d("cluster_nodes_lost_total", "Nodes taken for dead after the node timeout."),
		clIncompatible:      d("cluster_incompatible_messages_total", "Control messages from nodes that run another protocol version, which are not members."),
		clRemoteSessions:    d("cluster_remote_sessions", "Sessions of other nodes this node knows of."),
		clRemoteTestaments:  d("cluster_remote_testaments", "Testaments held by the sessions of other nodes this node knows of."),
		clSessionsAnnounced: d("cluster_sessions_announced_total", "Sessions of lost nodes whose leave (testaments, on_leave) this node announced."),
		clMetaMissing:       d("cluster_meta_nodes_missing_total", "Nodes whose part of a meta answer did not come within the query timeout or whole, or was too large (the answer went without it and said so)."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.sessions, c.subscriptions, c.registrations, c.callsInFlight, c.received, c.sent,
		c.conns, c.connsOpened, c.refused, c.auth, c.passwordChecks, c.passwordChecksNow, c.loginsThrottled, c.adminLoginsThrottled, c.tlsNotAfter, c.tlsReloads, c.configReloads,
		c.bytesIn, c.bytesOut, c.deflateConns, c.inflatedTooLarge,
		c.tlsHandshakes, c.tlsHandshakeWaits, c.memoryReleases,
		c.dropped, c.slowConsumers,
		c.callDuration, c.callTimeouts, c.callCancels,
		c.histQueue, c.histAppended, c.histDropped, c.histWriteErrors, c.histLost, c.histUnencodable, c.histTooLarge, c.buildInfo,
	} {
		ch <- d
	}
	if len(c.src.LongPolls) > 0 {
		for _, d := range []*prometheus.Desc{c.lpOpen, c.lpOpened, c.lpHeld, c.lpExpired, c.lpRefused} {
			ch <- d
		}
	}
	if len(c.src.Bridges) > 0 {
		ch <- c.bridgeRequests
	}
	if len(c.src.Webhooks) > 0 {
		ch <- c.webhookEvents
		ch <- c.webhookRetries
		ch <- c.webhookRetryAfter
	}
	if c.src.Cluster != nil {
		for _, d := range []*prometheus.Desc{
			c.clConnected, c.clPeers, c.clSent, c.clReceived, c.clNATSSent, c.clNATSReceived,
			c.clNATSBytesSent, c.clNATSBytesReceived, c.clSendFailures, c.clNATSDropped, c.clBadMessages, c.clNodesLost, c.clIncompatible,
			c.clRemoteSessions, c.clRemoteTestaments, c.clSessionsAnnounced, c.clMetaMissing, c.clOutbox,
		} {
			ch <- d
		}
	}
}

// Collect implements prometheus.Collector: it reads the counters now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	rt := c.src.Router
	for _, rs := range rt.RealmStats() {
		realm := string(rs.Name)
		gauge(c.sessions, float64(rs.Sessions), realm)
		gauge(c.subscriptions, float64(rs.Subscriptions), realm)
		gauge(c.registrations, float64(rs.Registrations), realm)
		gauge(c.callsInFlight, float64(rs.CallsInFlight), realm)
	}
	st := rt.Stats()
	for t, n := range st.Received {
		counter(c.received, n, strings.ToLower(t.String()))
	}
	for t, n := range st.Sent {
		counter(c.sent, n, strings.ToLower(t.String()))
	}
	for _, a := range st.Authentications {
		counter(c.auth, a.Count, a.Method, a.Outcome)
	}
	counter(c.passwordChecks, st.Passwords.Computed, "computed")
	counter(c.passwordChecks, st.Passwords.Abandoned, "abandoned")
	counter(c.passwordChecks, st.Passwords.Refused, "refused")
	gauge(c.passwordChecksNow, float64(st.Passwords.Running), "running")
	gauge(c.passwordChecksNow, float64(st.Passwords.Waiting), "waiting")
	counter(c.loginsThrottled, st.LoginsDelayed, "delayed")
	counter(c.loginsThrottled, st.LoginsRefused, "refused")
	counter(c.loginsThrottled, st.LoginsTimedOut, "timed_out")
	for _, f := range c.src.TLS {
		gauge(c.tlsNotAfter, float64(f.NotAfter().Unix()), f.Listener())
		done, failed := f.Reloads()
		counter(c.tlsReloads, done, f.Listener(), "done")
		counter(c.tlsReloads, failed, f.Listener(), "failed")
	}
	if cf := c.src.ConfigFile; cf != nil {
		done, failed := cf.Reloads()
		counter(c.configReloads, done, "done")
		counter(c.configReloads, failed, "failed")
	}
	if th := c.src.AdminThrottle; th != nil {
		counter(c.adminLoginsThrottled, th.Delayed(), "delayed")
		counter(c.adminLoginsThrottled, th.Refused(), "refused")
	}
	counter(c.dropped, st.EventsDropped)
	counter(c.slowConsumers, st.SlowConsumers)
	counter(c.callTimeouts, st.CallTimeouts)
	counter(c.callCancels, st.CallCancels)
	h := st.CallDurations
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b.Seconds()] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.callDuration, h.Count, h.Sum.Seconds(), buckets)
	gauge(c.histQueue, float64(st.History.Queued))
	counter(c.histAppended, st.History.Appended)
	counter(c.histDropped, st.History.Dropped)
	counter(c.histWriteErrors, st.History.WriteErrors)
	counter(c.histLost, st.History.Lost)
	counter(c.histUnencodable, st.History.Unencodable)
	counter(c.histTooLarge, st.History.TooLarge)

	// The listeners' servers, summed.
	type connKey struct{ transport, engine string }
	open := map[connKey]int64{}
	opened := map[connKey]uint64{}
	refused := map[string]uint64{}
	in, out := map[string]uint64{}, map[string]uint64{}
	var deflateConns, inflatedTooLarge, tlsWaits, releases uint64
	var tlsHandshakes int64
	for _, name := range transport.RefusalReasons {
		refused[name] = 0
	}
	for _, srv := range c.src.Servers {
		ss := srv.Stats()
		for _, cs := range ss.Conns {
			k := connKey{cs.Transport, cs.Engine}
			open[k] += cs.Open
			opened[k] += cs.Total
		}
		for r, n := range ss.Refused {
			refused[r] += n
		}
		for e, n := range ss.BytesRead {
			in[e] += n
		}
		for e, n := range ss.BytesWritten {
			out[e] += n
		}
		deflateConns += ss.DeflateConns
		inflatedTooLarge += ss.InflatedTooLarge
		tlsHandshakes += ss.TLSHandshakes
		tlsWaits += ss.TLSHandshakeWaits
		releases += ss.MemoryReleases
	}
	counter(c.deflateConns, deflateConns)
	counter(c.inflatedTooLarge, inflatedTooLarge)
	gauge(c.tlsHandshakes, float64(tlsHandshakes))
	counter(c.tlsHandshakeWaits, tlsWaits)
	counter(c.memoryReleases, releases)
	for k, n := range open {
		gauge(c.conns, float64(n), k.transport, k.engine)
		counter(c.connsOpened, opened[k], k.transport, k.engine)
	}
	for r, n := range refused {
		counter(c.refused, n, r)
	}
	for e, n := range in {
		counter(c.bytesIn, n, e)
		counter(c.bytesOut, out[e], e)
	}
	gauge(c.buildInfo, 1, c.src.Version, runtime.Version())
	c.collectHTTP(counter, gauge)
	c.collectCluster(counter, gauge)
}

// collectHTTP reads the long-poll transports, bridges and webhooks, each
// kind summed over its instances and present only when there is one.
func (c *Collector) collectHTTP(counter func(*prometheus.Desc, uint64, ...string), gauge func(*prometheus.Desc, float64, ...string)) {
	if len(c.src.LongPolls) > 0 {
		var sum longpoll.Stats
		for _, h := range c.src.LongPolls {
			s := h.Stats()
			sum.Open += s.Open
			sum.Opened += s.Opened
			sum.ReceivesHeld += s.ReceivesHeld
			sum.Expired += s.Expired
			sum.RefusedAddress += s.RefusedAddress
			sum.RefusedFull += s.RefusedFull
			sum.RefusedMoved += s.RefusedMoved
			sum.BadRequests += s.BadRequests
		}
		gauge(c.lpOpen, float64(sum.Open))
		counter(c.lpOpened, uint64(sum.Opened))
		gauge(c.lpHeld, float64(sum.ReceivesHeld))
		counter(c.lpExpired, uint64(sum.Expired))
		counter(c.lpRefused, uint64(sum.RefusedAddress), "address")
		counter(c.lpRefused, uint64(sum.RefusedFull), "full")
		counter(c.lpRefused, uint64(sum.RefusedMoved), "moved")
		counter(c.lpRefused, uint64(sum.BadRequests), "bad")
	}
	if len(c.src.Bridges) > 0 {
		var sum bridge.Stats
		for _, h := range c.src.Bridges {
			s := h.Stats()
			sum.Publications += s.Publications
			sum.Calls += s.Calls
			sum.Refused += s.Refused
			sum.Failed += s.Failed
			sum.ClientClosed += s.ClientClosed
		}
		counter(c.bridgeRequests, uint64(sum.Publications), "published")
		counter(c.bridgeRequests, uint64(sum.Calls), "called")
		counter(c.bridgeRequests, uint64(sum.Refused), "refused")
		counter(c.bridgeRequests, uint64(sum.Failed), "failed")
		counter(c.bridgeRequests, uint64(sum.ClientClosed), "client_closed")
	}
	if len(c.src.Webhooks) > 0 {
		var sum bridge.WebhookStats
		for _, w := range c.src.Webhooks {
			s := w.Stats()
			sum.Delivered += s.Delivered
			sum.Dropped += s.Dropped
			sum.Retried += s.Retried
			sum.RetryAfter += s.RetryAfter
		}
		counter(c.webhookEvents, uint64(sum.Delivered), "delivered")
		counter(c.webhookEvents, uint64(sum.Dropped), "dropped")
		counter(c.webhookRetries, uint64(sum.Retried))
		counter(c.webhookRetryAfter, uint64(sum.RetryAfter))
	}
}

// collectCluster reads the cluster node, if there is one.
func (c *Collector) collectCluster(counter func(*prometheus.Desc, uint64, ...string), gauge func(*prometheus.Desc, float64, ...string)) {
	cl := c.src.Cluster
	if cl == nil {
		return
	}
	connected := 0.0
	if cl.Connected() {
		connected = 1
	}
	gauge(c.clConnected, connected)
	peers := cl.Peers()
	gauge(c.clPeers, float64(len(peers)))
	var sessions, testaments int
	for _, p := range peers {
		sessions += p.Sessions
		testaments += p.Testaments
	}
	gauge(c.clRemoteSessions, float64(sessions))
	gauge(c.clRemoteTestaments, float64(testaments))
	s := cl.Stats()
	counter(c.clSent, s.PublicationsSent, "publication")
	counter(c.clSent, s.CallMessagesSent, "call")
	counter(c.clReceived, s.PublicationsReceived, "publication")
	counter(c.clReceived, s.CallMessagesReceived, "call")
	counter(c.clNATSSent, s.NATSMessagesSent)
	counter(c.clNATSReceived, s.NATSMessagesReceived)
	counter(c.clNATSBytesSent, s.NATSBytesSent)
	counter(c.clNATSBytesReceived, s.NATSBytesReceived)
	counter(c.clSendFailures, s.SendFailures)
	counter(c.clNATSDropped, s.Dropped)
	counter(c.clBadMessages, s.BadMessages)
	counter(c.clNodesLost, s.NodesLost)
	counter(c.clIncompatible, s.Incompatible)
	counter(c.clSessionsAnnounced, s.SessionsAnnounced)
	counter(c.clMetaMissing, s.MetaNodesMissing)
	gauge(c.clOutbox, float64(s.OutboxBytes))
}

// NewRegistry returns a registry of src's Collector and client_golang's Go
// and process collectors.
func NewRegistry(src Sources) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in Prometheus's exposition formats. A scrape that
// fails is logged to log (nil discards) and answered 500.
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.HTTPErrorOnError,
		MaxRequestsInFlight: 4, // a scrape storm waits in line (503 beyond) instead of walking the tables in parallel
	})
}
