package transport

import (
	"io"
	"net/http"
	"testing"

	"github.com/gobwas/ws"

	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

func TestClientAddr(t *testing.T) {
	proxies, err := ParseProxies([]string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "fe80::/10", "unix:"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"not from a proxy: the header is anyone's", "198.51.100.9:4711", []string{"203.0.113.5"}, "198.51.100.9:4711"},
		{"from a proxy, no header", "10.1.2.3:4711", nil, "10.1.2.3:4711"},
		{"from a proxy", "10.1.2.3:4711", []string{"203.0.113.5"}, "203.0.113.5"},
		{"what the client wrote is left of what the proxy added", "10.1.2.3:4711", []string{"6.6.6.6, 203.0.113.5"}, "203.0.113.5"},
		{"through two proxies", "192.0.2.1:4711", []string{"203.0.113.5, 10.9.9.9"}, "203.0.113.5"},
		{"over lines", "10.1.2.3:4711", []string{"6.6.6.6", "203.0.113.5 , 10.0.0.7"}, "203.0.113.5"},
		{"every hop a proxy: the first", "10.1.2.3:4711", []string{"10.0.0.2, 10.0.0.3"}, "10.0.0.2"},
		{"with a port", "10.1.2.3:4711", []string{"203.0.113.5:999"}, "203.0.113.5"},
		{"IPv6", "[2001:db8::1]:4711", []string{"2001:db8:ffff::1, [2001:db9::5]:80"}, "2001:db9::5"},
		{"IPv4-mapped", "[::ffff:10.1.2.3]:4711", []string{"::ffff:203.0.113.5"}, "203.0.113.5"},
		{"garbage from the proxy: not believed", "10.1.2.3:4711", []string{"203.0.113.5, unknown"}, "10.1.2.3:4711"},
		{"garbage from the client, behind what the proxy added", "10.1.2.3:4711", []string{"<script>, 203.0.113.5"}, "203.0.113.5"},
		{"a Unix socket", "unix:/run/junction.sock", []string{"203.0.113.5"}, "203.0.113.5"},
		{"empty entries", "10.1.2.3:4711", []string{" , 203.0.113.5,"}, "203.0.113.5"},
		{"a link-local proxy: its zone names an interface", "[fe80::1%eth0]:4711", []string{"203.0.113.5"}, "203.0.113.5"},
		{"a zone from the proxy is not kept", "10.1.2.3:4711", []string{"[fe80::9%<b>x</b>]:80"}, "fe80::9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := clientAddr(c.remote, c.xff, proxies); got != c.want {
				t.Fatalf("clientAddr(%q, %q) = %q, want %q", c.remote, c.xff, got, c.want)
			}
		})
	}
	if got := clientAddr("10.1.2.3:4711", []string{"203.0.113.5"}, nil); got != "10.1.2.3:4711" {
		t.Fatalf("with no trusted proxy: %q", got)
	}
	noUnix, _ := ParseProxies([]string{"10.0.0.0/8"})
	if got := clientAddr("unix:/run/junction.sock", []string{"203.0.113.5"}, noUnix); got != "unix:/run/junction.sock" {
		t.Fatalf("a Unix socket not trusted: %q", got)
	}
}

func TestParseProxies(t *testing.T) {
	for _, bad := range []string{"", "10.0.0.0/33", "example.com", "10.0.0.1:80", "fe80::1%eth0", "unix"} {
		if _, err := ParseProxies([]string{bad}); err == nil {
			t.Errorf("ParseProxies(%q) accepted it", bad)
		}
	}
	p, err := ParseProxies([]string{"::ffff:10.0.0.0/104", "10.1.2.3/8"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.peer("10.200.0.1:1") || p.peer("11.0.0.1:1") {
		t.Fatalf("networks parsed as %v", p.nets)
	}
	if p, err := ParseProxies(nil); p != nil || err != nil {
		t.Fatalf("no proxies: %v, %v", p, err)
	}
}

// peerOf asks the router, over c, for session id's transport address.
func peerOf(t *testing.T, c client, id wamp.ID) string {
	t.Helper()
	c.send(&wamp.Call{Request: 7, Procedure: "wamp.session.get", Payload: wamp.Payload{Args: wamp.List{uint64(id)}}})
	r := expect[*wamp.Result](t, c)
	args, _, err := codec.DecodePayload(&r.Payload)
	if err != nil || len(args) != 1 {
		t.Fatalf("wamp.session.get: %v, %v", args, err)
	}
	d, _ := args[0].(wamp.Dict)
	tr, _ := d["transport"].(wamp.Dict)
	return wamp.String(tr, "peer")
}

// Behind a trusted proxy a WebSocket session's address is the client's,
// from X-Forwarded-For; from anywhere else the header is ignored. Plain
// HTTP requests on the listener reach the Handler with the same address.
func TestTrustedProxies(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		trusted, err := ParseProxies([]string{"127.0.0.0/8"})
		if err != nil {
			t.Fatal(err)
		}
		handler, seen := remoteAddrs()
		ts := m.start(t, func(s *Server) {
			s.TrustedProxies = trusted
			s.Handler = handler
		})
		xff := ws.HandshakeHeaderHTTP(http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.5", "127.0.0.9"}})
		c, err := ts.tryWS(t, codec.ByFormat(wamp.FormatJSON).Subprotocol(), ts.wsPath(), xff)
		if err != nil {
			t.Fatal(err)
		}
		id := join(t, c)
		if got := peerOf(t, c, id); got != "203.0.113.5" {
			t.Fatalf("session's address behind the proxy: %q, want 203.0.113.5", got)
		}
		plain := ts.dialWS(t, codec.ByFormat(wamp.FormatJSON).Subprotocol())
		pid := join(t, plain)
		if got := peerOf(t, plain, pid); got == "203.0.113.5" || hostAddr(got).String() != "127.0.0.1" {
			t.Fatalf("session's address without the header: %q, want 127.0.0.1:port", got)
		}

		if got := handlerSaw(t, ts, seen, "203.0.113.6"); got != "203.0.113.6" {
			t.Fatalf("the Handler saw %q, want 203.0.113.6", got)
		}
	})

	// Not trusted: the header changes nothing.
	ts := startServer(t, EngineAuto, nil)
	xff := ws.HandshakeHeaderHTTP(http.Header{"X-Forwarded-For": {"203.0.113.5"}})
	c, err := ts.tryWS(t, codec.ByFormat(wamp.FormatJSON).Subprotocol(), ts.wsPath(), xff)
	if err != nil {
		t.Fatal(err)
	}
	id := join(t, c)
	if got := peerOf(t, c, id); hostAddr(got).String() != "127.0.0.1" {
		t.Fatalf("session's address with no trusted proxy: %q", got)
	}
}

// remoteAddrs is a Handler that answers "ok" and sends the RemoteAddr of
// each request it serves on the channel it returns.
func remoteAddrs() (http.Handler, <-chan string) {
	seen := make(chan string, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.RemoteAddr
		io.WriteString(w, "ok")
	}), seen
}

// handlerSaw GETs a path of ts's Handler (remoteAddrs, whose channel is
// seen) with the X-Forwarded-For header forwardedFor and returns the
// address the Handler saw.
func handlerSaw(t *testing.T, ts *testServer, seen <-chan string, forwardedFor string) string {
	t.Helper()
	hc, base := ts.httpClient(t)
	req, _ := http.NewRequest("GET", base+"/other", nil)
	req.Header.Set("X-Forwarded-For", forwardedFor)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return <-seen
}
