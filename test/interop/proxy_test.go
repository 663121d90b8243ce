package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	goclient "github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestBehindHAProxy puts HAProxy (Debian's haproxy) in front of the
// router, as an operator would: an HTTP frontend that adds
// X-Forwarded-For (option forwardfor) to the WebSocket upgrades, and TCP
// frontends that send the PROXY protocol, version 1 (send-proxy) and 2
// (send-proxy-v2), to a listener with proxy_protocol. A client dialing
// HAProxy from 127.0.0.2 must be 127.0.0.2 to the router, never HAProxy's
// 127.0.0.1 (the listeners trust 127.0.0.1 only).
func TestBehindHAProxy(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		const why = "HAProxy: haproxy is not on PATH; install it with `make deps` (apt-get install haproxy)"
		if os.Getenv(skipEnv) == "1" {
			t.Skip(why)
		}
		t.Fatal(why)
	}
	cfg := writeFile(t, "proxied.yaml", `listeners:
  - address: 127.0.0.1:0
    trusted_proxies: [127.0.0.1]
  - address: 127.0.0.1:0
    websocket: false
    trusted_proxies: [127.0.0.1]
    proxy_protocol: true
realms:
  - name: realm1
    anonymous: true
`)
	r := startRouter(t, routerBinary(t), "--config", cfg)
	m := regexp.MustCompile(`, (127\.0\.0\.1:[0-9]+) \(rawsocket`).FindStringSubmatch(r.log.String())
	if m == nil {
		t.Fatalf("no second listener in the router's log:\n%s", r.log.tail(routerLogLimit))
	}
	plain, proxied := r.addr, m[1]

	ports, out := startHAProxy(t, haproxy, plain, proxied)

	for _, c := range []struct{ name, url string }{
		{"websocket, X-Forwarded-For", fmt.Sprintf("ws://127.0.0.1:%d/ws", ports[0])},
		{"rawsocket, PROXY v1", fmt.Sprintf("rs://127.0.0.1:%d", ports[1])},
		{"rawsocket, PROXY v2", fmt.Sprintf("rs://127.0.0.1:%d", ports[2])},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			s, err := goclient.Dial(ctx, c.url, "realm1", &goclient.Options{
				Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}},
			})
			if err != nil {
				t.Fatalf("dialing %s through HAProxy: %v\nhaproxy:\n%s\nrouter:\n%s", c.url, err, out.tail(routerLogLimit), r.log.tail(routerLogLimit))
			}
			defer s.Close(context.Background())
			res, err := s.Call(ctx, "wamp.session.get", wamp.List{uint64(s.ID())}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := res.Args[0].(wamp.Dict)
			tr, _ := d["transport"].(wamp.Dict)
			peer := wamp.String(tr, "peer")
			host, _, err := net.SplitHostPort(peer)
			if err != nil {
				host = peer // X-Forwarded-For carries no port
			}
			if host != "127.0.0.2" {
				t.Fatalf("the router sees the session at %q, want 127.0.0.2 (the client behind HAProxy)", peer)
			}
		})
	}
}

// startHAProxy runs haproxy in the foreground in front of the router's
// listeners plain (HTTP) and proxied (PROXY protocol), on three ports
// picked free, and returns them: the HTTP frontend, then the TCP ones
// with PROXY v1 and v2. Ports picked free may be taken before haproxy
// binds them (another test's connection, say): it is tried again with
// others, three times.
func startHAProxy(t *testing.T, haproxy, plain, proxied string) ([]int, *output) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ports := freePorts(t, 3)
		hcfg := writeFile(t, "haproxy.cfg", fmt.Sprintf(`global
  maxconn 100
defaults
  timeout connect 5s
  timeout client 1m
  timeout server 1m
  timeout tunnel 1h
frontend ws
  mode http
  bind 127.0.0.1:%d
  option forwardfor
  default_backend router_ws
backend router_ws
  mode http
  server r %s source 127.0.0.1
frontend rs1
  mode tcp
  bind 127.0.0.1:%d
  default_backend router_rs1
backend router_rs1
  mode tcp
  server r %s send-proxy source 127.0.0.1
frontend rs2
  mode tcp
  bind 127.0.0.1:%d
  default_backend router_rs2
backend router_rs2
  mode tcp
  server r %s send-proxy-v2 source 127.0.0.1
`, ports[0], plain, ports[1], proxied, ports[2], proxied))
		hp := exec.Command(haproxy, "-db", "-f", hcfg)
		out := newOutput(false)
		hp.Stdout, hp.Stderr = out, out
		if err := hp.Start(); err != nil {
			t.Fatalf("starting haproxy: %v", err)
		}
		exited := make(chan struct{})
		go func() { hp.Wait(); close(exited) }()
		t.Cleanup(func() {
			hp.Process.Kill()
			<-exited
		})
		up := true
		for _, p := range ports {
			if !waitListening(t, fmt.Sprintf("127.0.0.1:%d", p), exited) {
				up = false
				break
			}
		}
		if up {
			return ports, out
		}
		if attempt == 3 {
			t.Fatalf("haproxy did not listen on %v:\n%s", ports, out.tail(routerLogLimit))
		}
		t.Logf("haproxy did not listen on %v (tried again with other ports):\n%s", ports, out.tail(routerLogLimit))
	}
}

// freePorts returns n ports free on 127.0.0.1 a moment ago, for a program
// that cannot be told to pick its own and say which.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// waitListening waits until addr takes connections, and reports false
// when the program that was to listen there exits first.
func waitListening(t *testing.T, addr string, exited <-chan struct{}) bool {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %v", addr, startTimeout)
		}
	}
}
