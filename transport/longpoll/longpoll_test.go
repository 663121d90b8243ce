package longpoll_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/testwait"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/transport/longpoll"
	"github.com/junction-wamp/junction/wamp"
	"github.com/junction-wamp/junction/wamp/codec"
)

// ioTimeout bounds every wait of these tests on the other side; only a
// broken router makes it matter.
const ioTimeout = 20 * time.Second

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// lpServer is a router serving WebSocket and the long-poll transport at /lp
// on one real listener, as junction serve does.
type lpServer struct {
	rt   *router.Router
	lp   *longpoll.Handler
	addr string
}

func startLP(t *testing.T, rcfg func(*router.Config), cfg func(*longpoll.Config)) *lpServer {
	t.Helper()
	before := goleak.IgnoreCurrent()
	rc := router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}, Logger: testLogger()}
	if rcfg != nil {
		rcfg(&rc)
	}
	rt, err := router.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	lc := longpoll.Config{Router: rt, Logger: testLogger()}
	if cfg != nil {
		cfg(&lc)
	}
	lp, err := longpoll.New(lc)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/lp/", lp)
	ln, err := transport.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: rt, Handler: mux, Logger: testLogger()}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx)
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		lp.Close()
		rt.Close()
		goleak.VerifyNone(t, before)
	})
	return &lpServer{rt: rt, lp: lp, addr: ln.Addr().String()}
}

// ws joins realm1 over WebSocket.
func (s *lpServer) ws(t *testing.T) *client.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+s.addr+"/ws", "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// httpClient is an HTTP client from source address from ("" for any).
func httpClient(t *testing.T, from string) *http.Client {
	d := &net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: ioTimeout}
}

// post sends body to url and returns the status and the body of the
// answer.
func post(t *testing.T, c *http.Client, url string, body []byte, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the answer: %v", url, err)
	}
	return resp.StatusCode, b, resp.Header
}

// lpClient is a long-poll client written against the specification, with
// its own batched framing (not the package's).
type lpClient struct {
	t       *testing.T
	c       *http.Client
	base    string // .../lp/<transport>
	codec   codec.Codec
	batched bool
	pending []wamp.Message // received in a batch, not yet returned
}

func (s *lpServer) open(t *testing.T, proto string) *lpClient {
	t.Helper()
	c := httpClient(t, "")
	status, body, _ := post(t, c, "http://"+s.addr+"/lp/open", []byte(`{"protocols": ["`+proto+`"]}`))
	if status != http.StatusOK {
		t.Fatalf("open: %d %s", status, body)
	}
	var res struct{ Protocol, Transport string }
	if err := json.Unmarshal(body, &res); err != nil || res.Protocol != proto || len(res.Transport) < 22 {
		t.Fatalf("open answered %s (%v)", body, err)
	}
	name := strings.TrimSuffix(proto, ".batched")
	return &lpClient{t: t, c: c, base: "http://" + s.addr + "/lp/" + res.Transport,
		codec: codec.BySubprotocol(name), batched: name != proto}
}

func (c *lpClient) send(ms ...wamp.Message) {
	c.t.Helper()
	var body []byte
	for _, m := range ms {
		b, err := c.codec.Encode(nil, m)
		if err != nil {
			c.t.Fatal(err)
		}
		switch {
		case !c.batched:
			if len(ms) != 1 {
				c.t.Fatal("unbatched: one message per send")
			}
			body = b
		case c.codec == codec.JSON:
			body = append(append(body, b...), 0x1e)
		default:
			body = binary.BigEndian.AppendUint32(body, uint32(len(b)))
			body = append(body, b...)
		}
	}
	if status, ans, _ := post(c.t, c.c, c.base+"/send", body); status != http.StatusNoContent {
		c.t.Fatalf("send: %d %s", status, ans)
	}
}

// recv polls until a message comes.
func (c *lpClient) recv() wamp.Message {
	c.t.Helper()
	for len(c.pending) == 0 {
		status, body, _ := post(c.t, c.c, c.base+"/receive", nil)
		switch status {
		case http.StatusNoContent:
			continue
		case http.StatusOK:
		default:
			c.t.Fatalf("receive: %d %s", status, body)
		}
		var frames [][]byte
		switch {
		case !c.batched:
			frames = [][]byte{body}
		case c.codec == codec.JSON:
			parts := bytes.Split(body, []byte{0x1e})
			if len(parts[len(parts)-1]) != 0 {
				c.t.Fatalf("batch does not end in 0x1E: %q", body)
			}
			frames = parts[:len(parts)-1]
		default:
			for len(body) > 0 {
				n := binary.BigEndian.Uint32(body)
				frames = append(frames, body[4:4+n])
				body = body[4+n:]
			}
		}
		for _, f := range frames {
			m, err := c.codec.Decode(f)
			if err != nil {
				c.t.Fatalf("receive: %v in %q", err, f)
			}
			c.pending = append(c.pending, m)
		}
	}
	m := c.pending[0]
	c.pending = c.pending[1:]
	return m
}

func (c *lpClient) join() wamp.ID {
	c.t.Helper()
	c.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{
		"publisher": wamp.Dict{}, "subscriber": wamp.Dict{}, "caller": wamp.Dict{}, "callee": wamp.Dict{}}}})
	w, ok := c.recv().(*wamp.Welcome)
	if !ok {
		c.t.Fatal("no WELCOME")
	}
	return w.Session
}

func args(m wamp.Message) wamp.List {
	var p *wamp.Payload
	switch m := m.(type) {
	case *wamp.Event:
		p = &m.Payload
	case *wamp.Invocation:
		p = &m.Payload
	case *wamp.Result:
		p = &m.Payload
	default:
		panic(fmt.Sprintf("no payload in %T", m))
	}
	l, _, err := codec.DecodePayload(p)
	if err != nil {
		panic(err)
	}
	return l
}

// TestLongPollSession runs a long-poll session in every protocol against a
// WebSocket session: pubsub and RPC both ways, a burst of events in
// order, and close ends the session.
func TestLongPollSession(t *testing.T) {
	for _, proto := range []string{"wamp.2.json", "wamp.2.json.batched", "wamp.2.msgpack", "wamp.2.msgpack.batched", "wamp.2.cbor", "wamp.2.cbor.batched"} {
		t.Run(proto, func(t *testing.T) {
			s := startLP(t, nil, nil)
			ctx := t.Context()
			ws := s.ws(t)
			lp := s.open(t, proto)
			id := lp.join()

			left := make(chan wamp.ID, 4)
			if _, err := ws.Subscribe(ctx, "wamp.session.on_leave", func(ev *client.Event) {
				if n, ok := wamp.AsUint(ev.Args[0]); ok {
					left <- wamp.ID(n)
				}
			}, nil); err != nil {
				t.Fatal(err)
			}

			// Long-poll publishes, WebSocket receives.
			got := make(chan *client.Event, 64)
			if _, err := ws.Subscribe(ctx, "lp.to.ws", func(ev *client.Event) { got <- ev }, nil); err != nil {
				t.Fatal(err)
			}
			lp.send(&wamp.Publish{Request: 1, Topic: "lp.to.ws", Options: wamp.Dict{"acknowledge": true}, Payload: wamp.Payload{Args: wamp.List{"hi", 1}}})
			if _, ok := lp.recv().(*wamp.Published); !ok {
				t.Fatal("no PUBLISHED")
			}
			if ev := within(t, got, "the event"); fmt.Sprint(ev.Args) != "[hi 1]" {
				t.Errorf("event %v", ev.Args)
			}

			// WebSocket publishes a burst, long-poll receives it in order.
			lp.send(&wamp.Subscribe{Request: 2, Topic: "ws.to.lp", Options: wamp.Dict{}})
			if _, ok := lp.recv().(*wamp.Subscribed); !ok {
				t.Fatal("no SUBSCRIBED")
			}
			const burst = 50
			for i := range burst {
				if _, err := ws.Publish(ctx, "ws.to.lp", wamp.List{i}, nil, wamp.Dict{"acknowledge": true}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range burst {
				m := lp.recv()
				if a := args(m); len(a) != 1 || fmt.Sprint(a[0]) != fmt.Sprint(i) {
					t.Fatalf("event %d: %v", i, a)
				}
			}

			// Long-poll calls a WebSocket callee.
			if _, err := ws.Register(ctx, "ws.add", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
				a, _ := wamp.AsInt(inv.Args[0])
				b, _ := wamp.AsInt(inv.Args[1])
				return &client.Result{Args: wamp.List{a + b}}, nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			lp.send(&wamp.Call{Request: 3, Procedure: "ws.add", Options: wamp.Dict{}, Payload: wamp.Payload{Args: wamp.List{2, 3}}})
			if r, ok := lp.recv().(*wamp.Result); !ok || fmt.Sprint(args(r)) != "[5]" {
				t.Fatalf("RESULT %v", r)
			}

			// WebSocket calls a long-poll callee.
			lp.send(&wamp.Register{Request: 4, Procedure: "lp.echo", Options: wamp.Dict{}})
			if _, ok := lp.recv().(*wamp.Registered); !ok {
				t.Fatal("no REGISTERED")
			}
			res := make(chan error, 1)
			var result *client.Result
			go func() {
				var err error
				result, err = ws.Call(ctx, "lp.echo", wamp.List{"ping"}, nil, nil)
				res <- err
			}()
			inv, ok := lp.recv().(*wamp.Invocation)
			if !ok {
				t.Fatal("no INVOCATION")
			}
			lp.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Payload: wamp.Payload{Args: wamp.List{args(inv)[0], "pong"}}})
			if err := within(t, res, "the call's result"); err != nil || fmt.Sprint(result.Args) != "[ping pong]" {
				t.Fatalf("call: %v %v", result, err)
			}

			// GOODBYE, then close: the session leaves and the transport is
			// gone.
			lp.send(&wamp.Goodbye{Reason: wamp.CloseRealm, Details: wamp.Dict{}})
			if _, ok := lp.recv().(*wamp.Goodbye); !ok {
				t.Fatal("no GOODBYE")
			}
			if status, body, _ := post(t, lp.c, lp.base+"/close", nil); status != http.StatusNoContent {
				t.Fatalf("close: %d %s", status, body)
			}
			if n := within(t, left, "on_leave"); n != id {
				t.Errorf("on_leave for %d, want %d", n, id)
			}
			if status, _, _ := post(t, lp.c, lp.base+"/receive", nil); status != http.StatusNotFound {
				t.Errorf("receive after close: %d", status)
			}
		})
	}
}

// TestLongPollCloseWithoutGoodbye: /close alone ends the session, its
// testament is published.
func TestLongPollCloseWithoutGoodbye(t *testing.T) {
	s := startLP(t, nil, nil)
	ws := s.ws(t)
	got := make(chan *client.Event, 1)
	if _, err := ws.Subscribe(t.Context(), "gone", func(ev *client.Event) { got <- ev }, nil); err != nil {
		t.Fatal(err)
	}
	lp := s.open(t, "wamp.2.json")
	lp.join()
	lp.send(&wamp.Call{Request: 1, Procedure: "wamp.session.add_testament", Options: wamp.Dict{},
		Payload: wamp.Payload{Args: wamp.List{"gone", wamp.List{"bye"}, wamp.Dict{}}}})
	if _, ok := lp.recv().(*wamp.Result); !ok {
		t.Fatal("add_testament failed")
	}
	if status, body, _ := post(t, lp.c, lp.base+"/close", nil); status != http.StatusNoContent {
		t.Fatalf("close: %d %s", status, body)
	}
	if ev := within(t, got, "the testament"); fmt.Sprint(ev.Args) != "[bye]" {
		t.Errorf("testament %v", ev.Args)
	}
}

// TestLongPollSessionTimeout: a transport with no request for
// SessionTimeout is closed, its session leaves and its testament is
// published; a receive is held at most RequestTimeout and answered empty.
func TestLongPollSessionTimeout(t *testing.T) {
	s := startLP(t, nil, func(c *longpoll.Config) {
		c.SessionTimeout = 200 * time.Millisecond
		c.RequestTimeout = 50 * time.Millisecond
	})
	ws := s.ws(t)
	got := make(chan *client.Event, 1)
	if _, err := ws.Subscribe(t.Context(), "gone", func(ev *client.Event) { got <- ev }, nil); err != nil {
		t.Fatal(err)
	}
	lp := s.open(t, "wamp.2.json")
	lp.join()
	lp.send(&wamp.Call{Request: 1, Procedure: "wamp.session.add_testament", Options: wamp.Dict{},
		Payload: wamp.Payload{Args: wamp.List{"gone", wamp.List{"timed out"}, wamp.Dict{}}}})
	if _, ok := lp.recv().(*wamp.Result); !ok {
		t.Fatal("add_testament failed")
	}
	// Nothing pending: the receive is answered empty.
	if status, body, _ := post(t, lp.c, lp.base+"/receive", nil); status != http.StatusNoContent || len(body) != 0 {
		t.Errorf("idle receive: %d %q", status, body)
	}
	if ev := within(t, got, "the testament"); fmt.Sprint(ev.Args) != "[timed out]" {
		t.Errorf("testament %v", ev.Args)
	}
	if status, _, _ := post(t, lp.c, lp.base+"/receive", nil); status != http.StatusNotFound {
		t.Errorf("receive after the session timeout: %d", status)
	}
	if n := s.lp.Stats().Expired; n != 1 {
		t.Errorf("Expired %d", n)
	}
}

// TestLongPollSlowConsumer: the transport's queue is bounded by
// OutboundQueue; with the disconnect policy a client that does not poll is
// disconnected, and the transport answers 410 once its queue is read.
func TestLongPollSlowConsumer(t *testing.T) {
	s := startLP(t, func(c *router.Config) { c.SlowConsumer = router.Disconnect },
		func(c *longpoll.Config) { c.OutboundQueue = 4 << 10 })
	ws := s.ws(t)
	lp := s.open(t, "wamp.2.json")
	id := lp.join()
	left := make(chan wamp.ID, 1)
	if _, err := ws.Subscribe(t.Context(), "wamp.session.on_leave", func(ev *client.Event) {
		if n, ok := wamp.AsUint(ev.Args[0]); ok {
			left <- wamp.ID(n)
		}
	}, nil); err != nil {
		t.Fatal(err)
	}
	lp.send(&wamp.Subscribe{Request: 1, Topic: "flood", Options: wamp.Dict{}})
	if _, ok := lp.recv().(*wamp.Subscribed); !ok {
		t.Fatal("no SUBSCRIBED")
	}
	big := strings.Repeat("x", 1000)
	for ctx, i := t.Context(), 0; ; i++ {
		if i == 10_000 {
			t.Fatal("10,000 events of 1 KB to a client that does not poll and it was not disconnected")
		}
		if _, err := ws.Publish(ctx, "flood", wamp.List{big}, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-left:
			if n != id {
				t.Fatalf("on_leave for %d, want %d", n, id)
			}
		default:
			continue
		}
		break
	}
	// What was queued is still delivered, then 410.
	for {
		status, body, _ := post(t, lp.c, lp.base+"/receive", nil)
		if status == http.StatusGone {
			break
		}
		if status != http.StatusOK {
			t.Fatalf("receive: %d %s", status, body)
		}
	}
}

// TestLongPollBadInput: each bad request gets its clear status and costs
// only itself.
func TestLongPollBadInput(t *testing.T) {
	s := startLP(t, nil, func(c *longpoll.Config) {
		c.MaxMessageSize = 1 << 10
		c.MaxPerAddress = 3
		c.AllowedOrigins = []string{"https://app.example.com"}
	})
	c := httpClient(t, "")
	base := "http://" + s.addr + "/lp"
	good := s.open(t, "wamp.2.json.batched")
	good.join()
	bin := s.open(t, "wamp.2.msgpack.batched")

	req := func(method, url string, body []byte, hdr ...string) (int, string) {
		t.Helper()
		r, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name   string
		method string
		url    string
		body   string
		hdr    []string
		status int
		says   string
	}{
		{"GET open", "GET", base + "/open", "", nil, 405, "takes POST"},
		{"PUT send", "PUT", good.base + "/send", "", nil, 405, "takes POST"},
		{"open not JSON", "POST", base + "/open", "protocols", nil, 400, "not {\"protocols\""},
		{"open no common protocol", "POST", base + "/open", `{"protocols": ["wamp.2.ubjson"]}`, nil, 400, "no protocol in common"},
		{"open oversized", "POST", base + "/open", `{"protocols": ["` + strings.Repeat("x", 5000) + `"]}`, nil, 413, "over"},
		{"unknown transport", "POST", base + "/AAAAAAAAAAAAAAAAAAAAAA/send", "[1]", nil, 404, "no long-poll transport"},
		{"unknown action", "POST", good.base + "/poll", "", nil, 404, "receive, send and close"},
		{"no such path", "POST", base + "/", "", nil, 404, "no long-poll endpoint"},
		{"open below a transport", "POST", good.base + "/open", `{"protocols": ["wamp.2.json"]}`, nil, 404, "no long-poll endpoint"},
		{"too deep", "POST", good.base + "/x/send", "", nil, 404, "no long-poll endpoint"},
		{"send oversized", "POST", good.base + "/send", `[16,1,{},"t",["` + strings.Repeat("x", 2000) + `"]]` + "\x1e", nil, 413, "over 1024 bytes"},
		{"batch without separator", "POST", good.base + "/send", `[16,1,{},"t"]`, nil, 400, "no record separator"},
		{"empty batch", "POST", good.base + "/send", "", nil, 400, "empty batch"},
		{"empty message in batch", "POST", good.base + "/send", "\x1e", nil, 400, "empty message"},
		{"message not WAMP", "POST", good.base + "/send", `{"a":1}` + "\x1e", nil, 400, "does not decode"},
		{"binary batch length beyond body", "POST", bin.base + "/send", "\x00\x00\x01\x00\x93", nil, 400, "says it has 256 bytes"},
		{"binary batch short length", "POST", bin.base + "/send", "\x00\x00", nil, 400, "4-byte length"},
		{"origin refused", "POST", base + "/open", `{"protocols": ["wamp.2.json"]}`, []string{"Origin", "https://evil.example.com"}, 403, "not allowed"},
	} {
		status, body := req(tc.method, tc.url, []byte(tc.body), tc.hdr...)
		if status != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, status, body, tc.status, tc.says)
		}
	}
	// The transport that got the bad sends still works.
	good.send(&wamp.Call{Request: 1, Procedure: "wamp.session.count", Options: wamp.Dict{}})
	if _, ok := good.recv().(*wamp.Result); !ok {
		t.Error("the transport broke after bad requests")
	}

	// CORS: an allowed origin gets its headers, preflight included.
	r, _ := http.NewRequest(http.MethodOptions, base+"/open", nil)
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header; resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		h.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		h.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	// Another address may not use the transport (127.0.0.2 is loopback
	// too).
	other := httpClient(t, "127.0.0.2")
	if status, body, _ := post(t, other, good.base+"/receive", nil); status != http.StatusForbidden || !strings.Contains(string(body), "another address") {
		t.Errorf("from another address: %d %s", status, body)
	}
	if n := s.lp.Stats().RefusedMoved; n != 1 {
		t.Errorf("RefusedMoved %d", n)
	}

	// An open flood from one address: MaxPerAddress (3) open at once,
	// then 429; another address is not affected.
	s.open(t, "wamp.2.json")
	status, body, hdr := post(t, c, base+"/open", []byte(`{"protocols": ["wamp.2.json"]}`))
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Errorf("open beyond MaxPerAddress: %d %s", status, body)
	}
	if status, body, _ := post(t, other, base+"/open", []byte(`{"protocols": ["wamp.2.json"]}`)); status != http.StatusOK {
		t.Errorf("open from another address: %d %s", status, body)
	}
	// Closing one makes room again.
	if status, _, _ := post(t, c, bin.base+"/close", nil); status != http.StatusNoContent {
		t.Errorf("close: %d", status)
	}
	if status, body, _ := post(t, c, base+"/open", []byte(`{"protocols": ["wamp.2.json"]}`)); status != http.StatusOK {
		t.Errorf("open after a close: %d %s", status, body)
	}
	if n := s.lp.Stats().RefusedAddress; n != 1 {
		t.Errorf("RefusedAddress %d", n)
	}
}

// TestLongPollAddressChangeAllowed: with AllowAddressChange, another
// address may use the transport.
func TestLongPollAddressChangeAllowed(t *testing.T) {
	s := startLP(t, nil, func(c *longpoll.Config) { c.AllowAddressChange = true })
	lp := s.open(t, "wamp.2.json")
	lp.c = httpClient(t, "127.0.0.2")
	lp.join()
}

// TestLongPollHelloTimeout: a transport whose session does not join in
// HelloTimeout is aborted.
func TestLongPollHelloTimeout(t *testing.T) {
	s := startLP(t, nil, func(c *longpoll.Config) { c.HelloTimeout = 50 * time.Millisecond })
	lp := s.open(t, "wamp.2.json")
	a, ok := lp.recv().(*wamp.Abort)
	if !ok || a.Reason != wamp.ErrProtocolViolation {
		t.Fatalf("got %v", a)
	}
	if status, _, _ := post(t, lp.c, lp.base+"/receive", nil); status != http.StatusGone {
		t.Errorf("receive after the abort: %d", status)
	}
}

// TestLongPollCookie: /open sets the listener's cookie, and a client that
// sends it back keeps it.
func TestLongPollCookie(t *testing.T) {
	cookie := (&transport.Cookie{Name: "jc"}).Spec(false)
	s := startLP(t, nil, func(c *longpoll.Config) { c.Cookie = cookie })
	c := httpClient(t, "")
	status, _, hdr := post(t, c, "http://"+s.addr+"/lp/open", []byte(`{"protocols": ["wamp.2.json"]}`))
	set := hdr.Get("Set-Cookie")
	v, ok := strings.CutPrefix(set, "jc=")
	if status != 200 || !ok || !strings.Contains(v, "HttpOnly") {
		t.Fatalf("open: %d Set-Cookie %q", status, set)
	}
	v, _, _ = strings.Cut(v, ";")
	if !cookie.Signer.Valid(v) {
		t.Fatalf("cookie %q is not the signer's", v)
	}
	status, _, hdr = post(t, c, "http://"+s.addr+"/lp/open", []byte(`{"protocols": ["wamp.2.json"]}`), "Cookie", "jc="+v)
	if status != 200 || hdr.Get("Set-Cookie") != "" {
		t.Errorf("open with the cookie: %d Set-Cookie %q", status, hdr.Get("Set-Cookie"))
	}
}

// TestLongPollInvalidPayload: a CALL or a YIELD sent over long-poll whose
// payload not every serializer can carry (an integer beyond 64 bits) is
// refused as on WebSocket: the send is taken (204), its sender gets ERROR
// wamp.error.invalid_argument, and a refused YIELD's caller gets one at
// once instead of the answer.
func TestLongPollInvalidPayload(t *testing.T) {
	s := startLP(t, nil, nil)
	lp := s.open(t, "wamp.2.json")
	lp.join()
	status, body, _ := post(t, lp.c, lp.base+"/send", []byte(`[48,7,{},"wamp.session.count",[18446744073709551616]]`))
	if status != http.StatusNoContent {
		t.Fatalf("a CALL with an integer beyond 64 bits: send answered %d %s", status, body)
	}
	if e, ok := lp.recv().(*wamp.Error); !ok || e.Request != 7 || e.Error != wamp.ErrInvalidArgument {
		t.Fatalf("for that CALL: %+v", e)
	}

	lp.send(&wamp.Register{Request: 8, Options: wamp.Dict{}, Procedure: "com.example.p"})
	if _, ok := lp.recv().(*wamp.Registered); !ok {
		t.Fatal("no REGISTERED")
	}
	caller := s.ws(t)
	done := make(chan error, 1)
	go func() {
		_, err := caller.Call(t.Context(), "com.example.p", nil, nil, nil)
		done <- err
	}()
	inv, ok := lp.recv().(*wamp.Invocation)
	if !ok {
		t.Fatal("no INVOCATION")
	}
	yield := fmt.Sprintf(`[70,%d,{},[18446744073709551616]]`, inv.Request)
	if status, body, _ := post(t, lp.c, lp.base+"/send", []byte(yield)); status != http.StatusNoContent {
		t.Fatalf("a YIELD with an integer beyond 64 bits: send answered %d %s", status, body)
	}
	if e, ok := lp.recv().(*wamp.Error); !ok || e.RequestType != wamp.TypeYield || e.Error != wamp.ErrInvalidArgument {
		t.Fatalf("for that YIELD: %+v", e)
	}
	select {
	case err := <-done:
		if we, ok := errors.AsType[*client.Error](err); !ok || we.URI != wamp.ErrInvalidArgument {
			t.Fatalf("the caller got %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("the caller of a refused YIELD got nothing")
	}
	if got := s.rt.Stats().InvalidRequests; got != 2 {
		t.Errorf("invalid requests counted: %d, want 2", got)
	}
}

// TestLongPollRefusedOpenSetsNoCookie: an /open refused for load (429 for
// an address over MaxPerAddress, 503 over MaxTransports or once the
// Handler is closed) hands out nothing: no transport and no cookie.
func TestLongPollRefusedOpenSetsNoCookie(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    func(*longpoll.Config)
		refuse func(*lpServer) // makes the next open refused
		status int
	}{
		{"over MaxPerAddress", func(c *longpoll.Config) { c.MaxPerAddress = 1 }, nil, http.StatusTooManyRequests},
		{"over MaxTransports", func(c *longpoll.Config) { c.MaxTransports = 1 }, nil, http.StatusServiceUnavailable},
		{"closed", nil, func(s *lpServer) { s.lp.Close() }, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cookie := (&transport.Cookie{Name: "jc"}).Spec(false)
			s := startLP(t, nil, func(c *longpoll.Config) {
				c.Cookie = cookie
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			c := httpClient(t, "")
			open := []byte(`{"protocols": ["wamp.2.json"]}`)
			if tc.refuse == nil {
				// The one transport allowed, with its cookie.
				if status, body, hdr := post(t, c, "http://"+s.addr+"/lp/open", open); status != http.StatusOK || hdr.Get("Set-Cookie") == "" {
					t.Fatalf("first open: %d %s Set-Cookie %q", status, body, hdr.Get("Set-Cookie"))
				}
			} else {
				tc.refuse(s)
			}
			status, body, hdr := post(t, c, "http://"+s.addr+"/lp/open", open)
			if status != tc.status {
				t.Fatalf("refused open: %d %s, want %d", status, body, tc.status)
			}
			if set := hdr.Values("Set-Cookie"); len(set) != 0 {
				t.Errorf("refused open (%d) set a cookie: %q", status, set)
			}
		})
	}
}

// TestLongPollReceiveAbandoned: a client that closes its connection while
// its receive is held loses nothing: once the server has seen it go, the
// receive ends without taking a message, and the next receive gets what
// came meanwhile (README, "Long-poll has no acknowledgement").
func TestLongPollReceiveAbandoned(t *testing.T) {
	s := startLP(t, nil, nil)
	lp := s.open(t, "wamp.2.json")
	lp.join()
	lp.send(&wamp.Subscribe{Request: 1, Topic: "news", Options: wamp.Dict{}})
	if _, ok := lp.recv().(*wamp.Subscribed); !ok {
		t.Fatal("no SUBSCRIBED")
	}
	ctx, leave := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, lp.base+"/receive", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := lp.c.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %d", resp.StatusCode)
		}
		done <- err
	}()
	testwait.True(t, ioTimeout, "the receive to be held", func() bool { return s.lp.Stats().ReceivesHeld == 1 })
	leave() // the client gives up: its connection closes
	if err := within(t, done, "the abandoned receive"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the abandoned receive: %v", err)
	}
	testwait.True(t, ioTimeout, "the server to see the client go", func() bool { return s.lp.Stats().ReceivesHeld == 0 })
	if _, err := s.ws(t).Publish(t.Context(), "news", wamp.List{"kept"}, nil, wamp.Dict{"acknowledge": true}); err != nil {
		t.Fatal(err)
	}
	if a := args(lp.recv()); fmt.Sprint(a) != "[kept]" {
		t.Fatalf("the next receive got %v", a)
	}
	if n := s.lp.Stats().MessagesDelivered; n != 3 { // WELCOME, SUBSCRIBED, the event
		t.Errorf("%d messages delivered, want 3", n)
	}
	post(t, lp.c, lp.base+"/close", nil)
}
