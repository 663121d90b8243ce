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
//	junction_build_info{version,goversion}         gauge     1, with the version
//
// plus go_* and process_* from client_golang. Every label value is from a
// fixed set (realm names are the router's own: configured, or made from
// the template, at most 1024), so no client can grow the number of series.
//
// A cluster adds its own source to Sources (its connection state and what
// crosses it) and its metrics to the Collector; nothing here assumes a
// single node beyond that.
package metrics

import (
	"log/slog"
	"net/http"
	"runtime"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
)

// Sources are what the Collector reads.
type Sources struct {
	// Router is the router; required.
	Router *router.Router
	// Servers are the transport servers of its listeners.
	Servers []*transport.Server
	// Version is the router's version, for junction_build_info.
	Version string
}

// Collector is a prometheus.Collector of a router's metrics. Create it
// with NewCollector.
type Collector struct {
	src Sources

	sessions, subscriptions, registrations, callsInFlight *prometheus.Desc
	received, sent                                        *prometheus.Desc
	conns, connsOpened, refused, auth                     *prometheus.Desc
	bytesIn, bytesOut                                     *prometheus.Desc
	dropped, slowConsumers                                *prometheus.Desc
	callDuration, callTimeouts, callCancels               *prometheus.Desc
	histQueue, histAppended, histDropped                  *prometheus.Desc
	histWriteErrors, histLost                             *prometheus.Desc
	buildInfo                                             *prometheus.Desc
}

// NewCollector returns a Collector of src.
func NewCollector(src Sources) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("junction_"+name, help, labels, nil)
	}
	return &Collector{
		src:             src,
		sessions:        d("sessions", "Established WAMP sessions.", "realm"),
		subscriptions:   d("subscriptions", "Subscriptions: topics and patterns with their subscribers.", "realm"),
		registrations:   d("registrations", "Registrations: procedures and patterns with their callees.", "realm"),
		callsInFlight:   d("calls_in_flight", "Calls routed to a callee and not answered yet.", "realm"),
		received:        d("messages_received_total", "WAMP messages received from clients, by type.", "type"),
		sent:            d("messages_sent_total", "WAMP messages sent to clients, by type.", "type"),
		conns:           d("connections", "Open client connections.", "transport", "engine"),
		connsOpened:     d("connections_opened_total", "Client connections opened (their handshake done).", "transport", "engine"),
		refused:         d("handshakes_refused_total", "Connections refused during their handshake, by reason.", "reason"),
		auth:            d("authentications_total", "Realm joins by authentication method and outcome (success, failure).", "method", "outcome"),
		bytesIn:         d("received_bytes_total", "Bytes read from client connections.", "engine"),
		bytesOut:        d("sent_bytes_total", "Bytes written to client connections.", "engine"),
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
		buildInfo:       d("build_info", "1, labelled with the router's version.", "version", "goversion"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.sessions, c.subscriptions, c.registrations, c.callsInFlight, c.received, c.sent,
		c.conns, c.connsOpened, c.refused, c.auth, c.bytesIn, c.bytesOut, c.dropped, c.slowConsumers,
		c.callDuration, c.callTimeouts, c.callCancels,
		c.histQueue, c.histAppended, c.histDropped, c.histWriteErrors, c.histLost, c.buildInfo,
	} {
		ch <- d
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

	// The listeners' servers, summed.
	type connKey struct{ transport, engine string }
	open := map[connKey]int64{}
	opened := map[connKey]uint64{}
	refused := map[string]uint64{}
	in, out := map[string]uint64{}, map[string]uint64{}
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
	}
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
