package metrics_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/testwait"
	"github.com/junction-wamp/junction/metrics"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is a router serving WAMP and /metrics on one loopback port.
type node struct {
	rt   *router.Router
	srv  *transport.Server
	addr string
}

func start(t *testing.T, policy router.SlowConsumerPolicy, engine string) *node {
	t.Helper()
	return startWith(t, policy, engine, nil)
}

// startWith is start with the Server's settings changed by cfg.
func startWith(t *testing.T, policy router.SlowConsumerPolicy, engine string, cfg func(*transport.Server)) *node {
	t.Helper()
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}, SlowConsumer: policy})
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: rt, Engine: engine, OutboundQueue: 8 << 10}
	if cfg != nil {
		cfg(srv)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler(metrics.NewRegistry(metrics.Sources{Router: rt, Servers: []*transport.Server{srv}, Version: "test"}), nil))
	srv.Handler = mux
	ln, err := transport.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &node{rt: rt, srv: srv, addr: ln.Addr().String()}
}

// scrape fetches /metrics over a real socket and parses it.
func (n *node) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + n.addr + "/metrics")
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

// value returns the sum of the series of family name whose labels
// include labels ("k=v" pairs), or -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	sum, found := 0.0, false
next:
	for _, m := range f.Metric {
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			has := false
			for _, lp := range m.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					has = true
				}
			}
			if !has {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	if !found {
		return -1
	}
	return sum
}

// eventually scrapes until cond holds, for up to 5s.
func (n *node) eventually(t *testing.T, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	testwait.True(t, 5*time.Second, what, func() bool {
		fams = n.scrape(t)
		return cond(fams)
	})
	return fams
}

func dial(t *testing.T, n *node) *client.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := client.Dial(ctx, "ws://"+n.addr+"/ws", "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func engines() []string {
	return []string{transport.EngineGoroutine, transport.EngineAuto}
}

// TestSessionsAndMessages watches the session, subscription, registration
// and message metrics move as clients join, work and leave.
func TestSessionsAndMessages(t *testing.T) {
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			n := start(t, router.DropEvents, engine)
			fams := n.scrape(t)
			if v := value(fams, "junction_sessions", "realm=realm1"); v != 0 {
				t.Fatalf("sessions before anyone joined: %v", v)
			}
			for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "junction_build_info"} {
				if fams[name] == nil {
					t.Errorf("no %s", name)
				}
			}
			ctx := context.Background()
			a, b := dial(t, n), dial(t, n)
			got := make(chan struct{}, 1)
			if _, err := a.Subscribe(ctx, "com.metrics.topic", func(*client.Event) { got <- struct{}{} }, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Register(ctx, "com.metrics.echo", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
				return &client.Result{Args: inv.Args}, nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Publish(ctx, "com.metrics.topic", wamp.List{1}, nil, client.PublishOptions{Acknowledge: true}.Dict()); err != nil {
				t.Fatal(err)
			}
			<-got
			for range router.CallSampling {
				if _, err := b.Call(ctx, "com.metrics.echo", wamp.List{"x"}, nil, nil); err != nil {
					t.Fatal(err)
				}
			}
			// A message is counted once the transport took it, which
			// may be after its receiver acted on it (the last RESULT):
			// the counters are read until they agree, for a while.
			checks := []struct {
				name   string
				labels []string
				want   float64
			}{
				{"junction_sessions", []string{"realm=realm1"}, 2},
				{"junction_subscriptions", []string{"realm=realm1"}, 1},
				{"junction_registrations", []string{"realm=realm1"}, 1},
				{"junction_calls_in_flight", []string{"realm=realm1"}, 0},
				{"junction_messages_received_total", []string{"type=hello"}, 2},
				{"junction_messages_received_total", []string{"type=publish"}, 1},
				{"junction_messages_received_total", []string{"type=call"}, router.CallSampling},
				{"junction_messages_received_total", []string{"type=yield"}, router.CallSampling},
				{"junction_messages_sent_total", []string{"type=welcome"}, 2},
				{"junction_messages_sent_total", []string{"type=event"}, 1},
				{"junction_messages_sent_total", []string{"type=published"}, 1},
				{"junction_messages_sent_total", []string{"type=invocation"}, router.CallSampling},
				{"junction_messages_sent_total", []string{"type=result"}, router.CallSampling},
				{"junction_messages_sent_total", []string{"type=abort"}, 0},
				{"junction_call_duration_seconds", nil, 1},
				{"junction_authentications_total", []string{"method=anonymous", "outcome=success"}, 2},
				{"junction_connections", []string{"transport=websocket"}, 2},
				{"junction_events_dropped_total", nil, 0},
			}
			testwait.For(t, 5*time.Second, func() error {
				fams = n.scrape(t)
				var bad []error
				for _, c := range checks {
					if v := value(fams, c.name, c.labels...); v != c.want {
						bad = append(bad, fmt.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want))
					}
				}
				return errors.Join(bad...)
			})
			if v := value(fams, "junction_received_bytes_total"); v <= 0 {
				t.Errorf("junction_received_bytes_total = %v", v)
			}
			if v := value(fams, "junction_connections", "transport=http"); v < 0 {
				t.Errorf("no junction_connections{transport=http}")
			}

			b.Close(ctx)
			n.eventually(t, "the session to leave", func(f map[string]*dto.MetricFamily) bool {
				return value(f, "junction_sessions", "realm=realm1") == 1 && value(f, "junction_connections", "transport=websocket") == 1
			})
		})
	}
}

// rawSubscriber joins with RawSocket, subscribes to topic and then reads
// nothing, with a small socket buffer: a slow consumer.
func rawSubscriber(t *testing.T, n *node, topic wamp.URI) net.Conn {
	t.Helper()
	d := net.Dialer{Control: nil}
	c, err := d.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(4096)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte{0x7f, 0xf1, 0, 0})
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	send := func(m wamp.Message) {
		b, err := codec.JSON.Encode(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		hdr := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
		c.Write(append(hdr, b...))
	}
	recv := func() {
		hdr := make([]byte, 4)
		if _, err := io.ReadFull(c, hdr); err != nil {
			t.Fatal(err)
		}
		io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr)&0xffffff))
	}
	send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"subscriber": wamp.Dict{}}}})
	recv() // WELCOME
	send(&wamp.Subscribe{Request: 1, Topic: topic})
	recv() // SUBSCRIBED
	c.SetDeadline(time.Time{})
	return c
}

// TestSlowConsumers drops events for a subscriber that reads nothing, and
// with slow_consumer: disconnect, disconnects it; both are counted.
func TestSlowConsumers(t *testing.T) {
	for _, tc := range []struct {
		policy router.SlowConsumerPolicy
		metric string
	}{
		{router.DropEvents, "junction_events_dropped_total"},
		{router.Disconnect, "junction_slow_consumers_disconnected_total"},
	} {
		t.Run(tc.metric, func(t *testing.T) {
			n := start(t, tc.policy, transport.EngineAuto)
			rawSubscriber(t, n, "com.metrics.flood")
			pub := dial(t, n)
			payload := wamp.List{strings.Repeat("x", 4000)}
			n.eventually(t, tc.metric+" to move", func(f map[string]*dto.MetricFamily) bool {
				for range 64 {
					pub.Publish(context.Background(), "com.metrics.flood", payload, nil, nil)
				}
				return value(f, tc.metric) > 0
			})
		})
	}
}

// TestRefusedHandshakes counts a refused handshake by its reason.
func TestRefusedHandshakes(t *testing.T) {
	n := start(t, router.DropEvents, transport.EngineAuto)
	c, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c)
	n.eventually(t, "the refusal to be counted", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "junction_handshakes_refused_total", "reason=subprotocol") == 1 &&
			value(f, "junction_handshakes_refused_total", "reason=timeout") == 0
	})
}

// TestDeflate: a WebSocket connection that negotiates permessage-deflate
// is counted, and so is one closed for a compressed message that
// decompresses to more than the limit (1 MiB of spaces in about 1 KiB,
// against the 64 KiB allowed before WELCOME).
func TestDeflate(t *testing.T) {
	n := startWith(t, router.DropEvents, transport.EngineAuto, func(s *transport.Server) { s.Deflate = true })
	c, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
	bomb := websocket.AppendDeflate(nil, bytes.Repeat([]byte{' '}, 1<<20))
	h := ws.Header{Fin: true, OpCode: ws.OpText, Rsv: ws.Rsv(true, false, false), Length: int64(len(bomb)), Masked: true, Mask: ws.NewMask()}
	ws.Cipher(bomb, h.Mask, 0)
	c.Write(append(websocket.AppendHeader(nil, h), bomb...))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c)
	n.eventually(t, "the connection and the refused message to be counted", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "junction_websocket_deflate_connections_total") == 1 &&
			value(f, "junction_websocket_inflated_too_large_total") == 1
	})
}

// TestTLSAndMemoryFamilies: the TLS handshake bound's gauge and counter
// and the memory releases are exported from the first scrape, at zero, so
// that dashboards and alerts find them before anything happened
// (transport's TestTLSHandshakePool counts the waits themselves).
func TestTLSAndMemoryFamilies(t *testing.T) {
	n := start(t, router.DropEvents, transport.EngineAuto)
	f := n.scrape(t)
	for _, name := range []string{"junction_tls_handshakes", "junction_tls_handshake_waits_total", "junction_memory_releases_total"} {
		if f[name] == nil {
			t.Errorf("no %s in the scrape", name)
		} else if v := value(f, name); v != 0 {
			t.Errorf("%s = %v on a router that did nothing", name, v)
		}
	}
}
