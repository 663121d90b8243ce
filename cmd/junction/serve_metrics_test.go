package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeMetrics fetches http://addr/metrics over a real socket and parses it.
func scrapeMetrics(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// metricValue is the value of the series name{labels...} (name, value
// pairs), or -1 when there is no such series.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
	}
	return -1
}

// checkREADMEMetrics fails unless README.md's Metrics section lists
// every junction_* metric of fams.
func checkREADMEMetrics(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n### Metrics\n")
	section, _, _ = strings.Cut(section, "\n### Health\n")
	for name := range fams {
		if strings.HasPrefix(name, "junction_") && !strings.Contains(section, "`"+name+"`") {
			t.Errorf("README.md's Metrics section does not list %s", name)
		}
	}
}

// waitMetric scrapes addr until name{labels} is want.
func waitMetric(t *testing.T, addr string, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := metricValue(scrapeMetrics(t, addr), name, labels...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v is %v, want %v", name, labels, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReady polls addr's /readyz until it answers code.
func waitReady(t *testing.T, addr string, code int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, body := httpDo(t, "GET", "http://"+addr+"/readyz", "")
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q, want %d", got, body, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeMetricsHTTPSides: the long-poll transport, the HTTP bridge and
// a webhook of `junction serve` show in /metrics: a long-poll transport
// open is counted in the gauge, a bridge publication in the requests, its
// event's delivery to the webhook in the webhook's events.
func TestServeMetricsHTTPSides(t *testing.T) {
	delivered := make(chan struct{}, 1)
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		delivered <- struct{}{}
	}))
	defer ep.Close()
	cfg := writeConfig(t, fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
    bridge: {}
realms:
  - name: realm1
webhooks:
  - topic: com.example.metered
    url: %s/hook
    secret: hook-secret
`, ep.URL))
	s := serve(t, "--config", cfg)
	fams := scrapeMetrics(t, s.admin)
	for _, name := range []string{"junction_longpoll_transports", "junction_bridge_requests_total", "junction_webhook_events_total"} {
		if fams[name] == nil {
			t.Fatalf("no %s in /metrics", name)
		}
	}
	if fams["junction_cluster_nats_connected"] != nil {
		t.Fatal("a single router has cluster metrics")
	}
	checkREADMEMetrics(t, fams)
	if v := metricValue(fams, "junction_longpoll_transports"); v != 0 {
		t.Fatalf("junction_longpoll_transports %v before any", v)
	}

	code, body := httpDo(t, "POST", "http://"+s.listen+"/lp/open", `{"protocols": ["wamp.2.json"]}`, "Content-Type", "application/json")
	if code != 200 {
		t.Fatalf("long-poll open: %d %s", code, body)
	}
	waitMetric(t, s.admin, 1, "junction_longpoll_transports")
	waitMetric(t, s.admin, 1, "junction_longpoll_transports_opened_total")

	code, body = httpDo(t, "POST", "http://"+s.listen+"/publish", `{"topic": "com.example.metered", "args": [1]}`, "Content-Type", "application/json")
	if code != 200 {
		t.Fatalf("bridge publish: %d %s", code, body)
	}
	waitMetric(t, s.admin, 1, "junction_bridge_requests_total", "outcome", "published")
	select {
	case <-delivered:
	case <-time.After(20 * time.Second):
		t.Fatalf("no webhook POST\n%s", s.logs.String())
	}
	waitMetric(t, s.admin, 1, "junction_webhook_events_total", "outcome", "delivered")
	waitMetric(t, s.admin, 0, "junction_webhook_events_total", "outcome", "dropped")
}

// startNATS starts a NATS server on 127.0.0.1:port (0: any) and returns
// it; the test's end stops it if it still runs.
func startNATS(t *testing.T, port int) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return ns
}

// TestServeMetricsCluster: two `junction serve` nodes on an existing NATS
// show their cluster in /metrics (connected, one peer, what crossed
// NATS) and are ready; when NATS goes away, /readyz answers 503 and the
// connection gauge is 0, and once NATS is back the node is ready again.
func TestServeMetricsCluster(t *testing.T) {
	ns := startNATS(t, 0)
	port := ns.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	a := serve(t, "--listen", "127.0.0.1:0", "--nats", url, "--node", "a")
	b := serve(t, "--listen", "127.0.0.1:0", "--nats", url, "--node", "b")
	waitMetric(t, a.admin, 1, "junction_cluster_peers")
	waitMetric(t, b.admin, 1, "junction_cluster_peers")
	fams := scrapeMetrics(t, a.admin)
	if v := metricValue(fams, "junction_cluster_nats_connected"); v != 1 {
		t.Fatalf("junction_cluster_nats_connected %v", v)
	}
	checkREADMEMetrics(t, fams)
	for _, name := range []string{"junction_cluster_nats_messages_sent_total", "junction_cluster_nats_received_bytes_total"} {
		if v := metricValue(fams, name); v <= 0 {
			t.Fatalf("%s %v: the heartbeats crossed NATS", name, v)
		}
	}
	if v := metricValue(fams, "junction_cluster_messages_sent_total", "kind", "publication"); v != 0 {
		t.Fatalf("junction_cluster_messages_sent_total{kind=publication} %v", v)
	}
	waitReady(t, a.admin, 200)

	ns.Shutdown()
	ns.WaitForShutdown()
	waitReady(t, a.admin, 503)
	waitMetric(t, a.admin, 0, "junction_cluster_nats_connected")

	startNATS(t, port)
	waitReady(t, a.admin, 200)
	waitMetric(t, a.admin, 1, "junction_cluster_nats_connected")
}

// TestServeReadyEmbeddedAlone: a node with an embedded NATS server and no
// other node is connected to its own server: it has joined its cluster
// of one and is ready.
func TestServeReadyEmbeddedAlone(t *testing.T) {
	s := serve(t, "--listen", "127.0.0.1:0", "--cluster", "127.0.0.1:0", "--node", "alone")
	waitReady(t, s.admin, 200)
	fams := scrapeMetrics(t, s.admin)
	if v := metricValue(fams, "junction_cluster_nats_connected"); v != 1 {
		t.Fatalf("junction_cluster_nats_connected %v", v)
	}
	if v := metricValue(fams, "junction_cluster_peers"); v != 0 {
		t.Fatalf("junction_cluster_peers %v", v)
	}
}
