package bridge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

const ioTimeout = 20 * time.Second

// server is a router serving WebSocket and the bridge at /publish and
// /call on one real listener, as junction serve does.
type server struct {
	rt   *router.Router
	b    *bridge.Handler
	addr string
}

func start(t *testing.T, cfg func(*bridge.Config)) *server {
	return startWith(t, cfg, nil)
}

func startWith(t *testing.T, cfg func(*bridge.Config), srvCfg func(*transport.Server)) *server {
	t.Helper()
	before := goleak.IgnoreCurrent()
	rt, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	bc := bridge.Config{Router: rt}
	if cfg != nil {
		cfg(&bc)
	}
	b, err := bridge.New(bc)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/publish", b.Publish())
	mux.Handle("/call", b.Call())
	ln, err := transport.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: rt, Handler: mux}
	if srvCfg != nil {
		srvCfg(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = rt.Shutdown(ctx)
		srv.Close()
		<-done
		rt.Close()
		goleak.VerifyNone(t, before)
	})
	return &server{rt: rt, b: b, addr: ln.Addr().String()}
}

func (s *server) ws(t *testing.T) *client.Session {
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

// do sends a request and returns the status, the decoded JSON body (nil
// when it is not JSON) and the raw body.
func (s *server) do(t *testing.T, method, path, contentType, body string, hdr ...string) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: ioTimeout}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(ioTimeout):
		t.Fatalf("no %s in %s", what, ioTimeout)
		panic("unreachable")
	}
}

// TestPublish: a publication over HTTP reaches a WebSocket subscriber with
// its args and kwargs (integers kept integers) and answers its id.
func TestPublish(t *testing.T) {
	s := start(t, nil)
	ws := s.ws(t)
	got := make(chan *client.Event, 1)
	if _, err := ws.Subscribe(t.Context(), "com.example.news", func(ev *client.Event) { got <- ev }, nil); err != nil {
		t.Fatal(err)
	}
	status, body, raw := s.do(t, "POST", "/publish", "application/json",
		`{"topic": "com.example.news", "args": ["hello", 1], "kwargs": {"n": 2.5}, "options": {"exclude_authrole": ["nobody"]}}`)
	if status != 200 || body["id"] == nil {
		t.Fatalf("publish: %d %s", status, raw)
	}
	ev := within(t, got, "the event")
	if fmt.Sprint(ev.Args, ev.Kwargs) != "[hello 1] map[n:2.5]" {
		t.Errorf("event %v %v", ev.Args, ev.Kwargs)
	}
	if _, ok := ev.Args[1].(float64); ok {
		t.Errorf("1 arrived as a float: %T", ev.Args[1])
	}
	if id, _ := wamp.AsUint(body["id"]); id != uint64(ev.Publication) {
		t.Errorf("id %v, event's publication %d", body["id"], ev.Publication)
	}
}

// TestCall: a call over HTTP to a WebSocket callee, its result and its
// errors as real statuses.
func TestCall(t *testing.T) {
	s := start(t, nil)
	ws := s.ws(t)
	ctx := t.Context()
	reg := func(name string, h client.Handler) {
		if _, err := ws.Register(ctx, name, h, nil); err != nil {
			t.Fatal(err)
		}
	}
	reg("com.example.add", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		a, _ := wamp.AsInt(inv.Args[0])
		b, _ := wamp.AsInt(inv.Args[1])
		return &client.Result{Args: wamp.List{a + b}, Kwargs: wamp.Dict{"by": "ws"}}, nil
	})
	reg("com.example.fail", func(context.Context, *client.Invocation) (*client.Result, error) {
		return nil, &client.Error{URI: "com.example.error.overdrawn", Args: wamp.List{"balance", 7}, Kwargs: wamp.Dict{"account": "a1"}}
	})
	release := make(chan struct{})
	reg("com.example.slow", func(ctx context.Context, _ *client.Invocation) (*client.Result, error) {
		select {
		case <-ctx.Done():
		case <-release:
		}
		return &client.Result{}, nil
	})
	defer close(release)

	status, body, raw := s.do(t, "POST", "/call", "application/json", `{"procedure": "com.example.add", "args": [2, 3]}`)
	if status != 200 || fmt.Sprint(body["args"], body["kwargs"]) != "[5] map[by:ws]" {
		t.Errorf("call: %d %s", status, raw)
	}
	// A callee's application error: 502, URI, args and kwargs intact.
	status, body, raw = s.do(t, "POST", "/call", "application/json", `{"procedure": "com.example.fail"}`)
	if status != 502 || body["error"] != "com.example.error.overdrawn" || fmt.Sprint(body["args"], body["kwargs"]) != "[balance 7] map[account:a1]" {
		t.Errorf("application error: %d %s", status, raw)
	}
	status, body, raw = s.do(t, "POST", "/call", "application/json", `{"procedure": "com.example.nothing"}`)
	if status != 404 || body["error"] != string(wamp.ErrNoSuchProcedure) {
		t.Errorf("no such procedure: %d %s", status, raw)
	}
	status, body, raw = s.do(t, "POST", "/call", "application/json", `{"procedure": "com.example.slow", "options": {"timeout": 50}}`)
	if status != 504 || body["error"] != string(wamp.ErrTimeout) {
		t.Errorf("timeout: %d %s", status, raw)
	}
}

// TestBadRequests: every bad request gets its status and a body naming the
// error.
func TestBadRequests(t *testing.T) {
	s := start(t, func(c *bridge.Config) { c.MaxBodyBytes = 1 << 10 })
	for _, tc := range []struct {
		name, method, path, ctype, body string
		hdr                             []string
		status                          int
		error                           string
	}{
		{"GET", "GET", "/publish", "", "", nil, 405, "junction.error.method_not_allowed"},
		{"not JSON", "POST", "/publish", "text/plain", `{"topic": "a"}`, nil, 415, "junction.error.unsupported_media_type"},
		{"no content type", "POST", "/call", "", `{"procedure": "a"}`, nil, 415, "junction.error.unsupported_media_type"},
		{"malformed JSON", "POST", "/publish", "application/json", `{"topic": `, nil, 400, "wamp.error.invalid_argument"},
		{"two values", "POST", "/publish", "application/json", `{"topic": "a"} {}`, nil, 400, "wamp.error.invalid_argument"},
		{"not UTF-8", "POST", "/publish", "application/json", "{\"topic\": \"a\", \"args\": [\"caf\xe9\"]}", nil, 400, "wamp.error.invalid_argument"},
		{"args not a list", "POST", "/publish", "application/json", `{"topic": "a", "args": 1}`, nil, 400, "wamp.error.invalid_argument"},
		{"missing topic", "POST", "/publish", "application/json", `{"args": [1]}`, nil, 400, "wamp.error.invalid_uri"},
		{"missing procedure", "POST", "/call", "application/json", `{}`, nil, 400, "wamp.error.invalid_uri"},
		{"invalid topic", "POST", "/publish", "application/json", `{"topic": "a..b"}`, nil, 400, "wamp.error.invalid_uri"},
		{"invalid procedure", "POST", "/call", "application/json", `{"procedure": "a b"}`, nil, 400, "wamp.error.invalid_uri"},
		{"unknown option", "POST", "/publish", "application/json", `{"topic": "a", "options": {"exclude_me": false}}`, nil, 400, "wamp.error.invalid_argument"},
		{"bad timeout", "POST", "/call", "application/json", `{"procedure": "a", "options": {"timeout": "soon"}}`, nil, 400, "wamp.error.invalid_argument"},
		{"bad option value", "POST", "/publish", "application/json", `{"topic": "a", "options": {"exclude": "me"}}`, nil, 400, "wamp.error.invalid_argument"},
		{"oversized", "POST", "/publish", "application/json", `{"topic": "a", "args": ["` + strings.Repeat("x", 2000) + `"]}`, nil, 413, "wamp.error.payload_size_exceeded"},
		{"unknown auth scheme", "POST", "/publish", "application/json", `{"topic": "a"}`, []string{"Authorization", "Digest x"}, 401, "wamp.error.authentication_failed"},
		{"bad basic", "POST", "/publish", "application/json", `{"topic": "a"}`, []string{"Authorization", "Basic !!"}, 401, "wamp.error.authentication_failed"},
	} {
		status, body, raw := s.do(t, tc.method, tc.path, tc.ctype, tc.body, tc.hdr...)
		if status != tc.status || body["error"] != tc.error {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.error)
		}
	}
	if n := s.b.Stats().Refused; n != 17 {
		t.Errorf("Refused %d, want 17", n)
	}
}

// TestNoSuchRealm: a bridge for a realm the router does not have answers
// 404.
func TestNoSuchRealm(t *testing.T) {
	s := start(t, func(c *bridge.Config) { c.Realm = "nowhere" })
	status, body, raw := s.do(t, "POST", "/publish", "application/json", `{"topic": "a"}`)
	if status != 404 || body["error"] != string(wamp.ErrNoSuchRealm) {
		t.Errorf("%d %s", status, raw)
	}
}

// TestProgressiveCall: with receive_progress, Accept text/event-stream and
// application/x-ndjson stream each progressive result as it comes (the
// callee sends the next only once the client has read the previous), then
// the final one.
func TestProgressiveCall(t *testing.T) {
	s := start(t, nil)
	ws := s.ws(t)
	read := make(chan struct{})
	if _, err := ws.Register(t.Context(), "com.example.count", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		for i := range 3 {
			if err := inv.SendProgress(ctx, wamp.List{i}, nil); err != nil {
				return nil, err
			}
			select {
			case <-read: // the HTTP client got it: streamed, not buffered
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return &client.Result{Args: wamp.List{"done"}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	for _, accept := range []string{"text/event-stream", "application/x-ndjson"} {
		t.Run(accept, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://"+s.addr+"/call",
				strings.NewReader(`{"procedure": "com.example.count", "options": {"receive_progress": true}}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", accept)
			resp, err := (&http.Client{Timeout: ioTimeout}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), accept) {
				t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			br := bufio.NewReader(resp.Body)
			next := func() (string, map[string]any) {
				t.Helper()
				event := ""
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatalf("reading the stream: %v", err)
					}
					line = strings.TrimSuffix(line, "\n")
					if e, ok := strings.CutPrefix(line, "event: "); ok {
						event = e
						continue
					}
					data, ok := strings.CutPrefix(line, "data: ")
					if accept != "text/event-stream" {
						data, ok = line, true
					}
					if !ok {
						continue
					}
					var m map[string]any
					if err := json.Unmarshal([]byte(data), &m); err != nil {
						t.Fatalf("%q: %v", data, err)
					}
					return event, m
				}
			}
			for i := range 3 {
				event, m := next()
				if fmt.Sprint(m["args"]) != fmt.Sprintf("[%d]", i) || m["progress"] != true ||
					accept == "text/event-stream" && event != "progress" {
					t.Fatalf("progress %d: %s %v", i, event, m)
				}
				read <- struct{}{}
			}
			event, m := next()
			if fmt.Sprint(m["args"]) != "[done]" || m["progress"] != nil || accept == "text/event-stream" && event != "result" {
				t.Errorf("final: %s %v", event, m)
			}
		})
	}
}

// TestSignedRequests: a signed request is accepted once; a replay, a
// tampered body, an old timestamp, an unknown key and a bad signature are
// refused (401), and a full nonce memory refuses (503).
func TestSignedRequests(t *testing.T) {
	key := bridge.Key{Key: "svc-key", Secret: "s3cret", AuthID: "svc"}
	s := start(t, func(c *bridge.Config) {
		c.Keys = []bridge.Key{key}
		c.MaxNonces = 3
	})
	body := `{"topic": "com.example.signed", "args": [1]}`
	signed := func(k bridge.Key, seq, nonce uint64, at time.Time, b string) string {
		return "/publish?" + bridge.SignQuery(k, seq, nonce, at, []byte(b))
	}
	now := time.Now()
	first := signed(key, 1, 1001, now, body)
	for _, tc := range []struct {
		name, path, body string
		status           int
		says             string
	}{
		{"signed", first, body, 200, `"id":`},
		{"replayed", first, body, 401, "replayed"},
		{"tampered body", signed(key, 2, 1002, now, body), `{"topic": "com.example.other"}`, 401, "does not match"},
		{"old", signed(key, 3, 1003, now.Add(-10*time.Minute), body), body, 401, "from the router's clock"},
		{"future", signed(key, 4, 1004, now.Add(10*time.Minute), body), body, 401, "from the router's clock"},
		{"unknown key", signed(bridge.Key{Key: "other", Secret: "s3cret"}, 5, 1005, now, body), body, 401, "unknown key"},
		{"wrong secret", signed(bridge.Key{Key: "svc-key", Secret: "guess"}, 6, 1006, now, body), body, 401, "does not match"},
		{"missing nonce", "/publish?key=svc-key&signature=x", body, 401, "needs key, timestamp, seq, nonce"},
		{"second", signed(key, 7, 1007, now, body), body, 200, `"id":`},
		{"third", signed(key, 8, 1008, now, body), body, 200, `"id":`},
		{"memory full", signed(key, 9, 1009, now, body), body, 503, "too many signed requests"},
	} {
		status, _, raw := s.do(t, "POST", tc.path, "application/json", tc.body)
		if status != tc.status || !strings.Contains(raw, tc.says) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, status, raw, tc.status, tc.says)
		}
	}
}

// TestSlowBody: a POST whose body never finishes (slowloris) is cut by the
// listener's read timeout and answered 400; it costs only its connection.
func TestSlowBody(t *testing.T) {
	s := startWith(t, nil, func(srv *transport.Server) { srv.HTTP.ReadTimeout = 200 * time.Millisecond })
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"topic\":")
	nc.SetReadDeadline(time.Now().Add(ioTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("no answer to the slow body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "reading the body") {
		t.Errorf("slow body: %d %s", resp.StatusCode, b)
	}
	// Others are served meanwhile and after.
	if status, _, raw := s.do(t, "POST", "/publish", "application/json", `{"topic": "com.example.t"}`); status != 200 {
		t.Errorf("publish after the slow body: %d %s", status, raw)
	}
}
