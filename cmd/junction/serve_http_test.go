package main

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/auth"
	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestServeLongPoll: with no config, `junction serve` serves the long-poll
// transport at /lp; a long-poll session joins realm1 and gets GOODBYE
// wamp.close.system_shutdown when the router stops.
func TestServeLongPoll(t *testing.T) {
	addr := "127.0.0.1:0" // the listening line says which port
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addrs, logs, exit := serveInProcess(t, ctx, "--listen", addr)
	addr = addrs[0]

	c := &http.Client{Timeout: 20 * time.Second}
	post := func(url, body string) (int, string) {
		t.Helper()
		resp, err := c.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v\n%s", url, err, logs.String())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var status int
	var body string
	for i := 0; i < 100; i++ {
		resp, err := c.Post("http://"+addr+"/lp/open", "application/json", strings.NewReader(`{"protocols": ["wamp.2.json"]}`))
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status, body = resp.StatusCode, string(b)
		break
	}
	var open struct{ Protocol, Transport string }
	if err := json.Unmarshal([]byte(body), &open); status != 200 || err != nil {
		t.Fatalf("open: %d %s\n%s", status, body, logs.String())
	}
	if !strings.Contains(logs.String(), "http://"+addr+"/lp long-poll") {
		t.Errorf("the listening line does not name the long-poll URL:\n%s", logs.String())
	}
	base := "http://" + addr + "/lp/" + open.Transport
	if status, body := post(base+"/send", `[1,"realm1",{"roles":{"subscriber":{}}}]`); status != 204 {
		t.Fatalf("send HELLO: %d %s", status, body)
	}
	recv := func() string {
		t.Helper()
		for {
			status, body := post(base+"/receive", "")
			if status == 200 {
				return body
			}
			if status != 204 {
				t.Fatalf("receive: %d %s", status, body)
			}
		}
	}
	if m := recv(); !strings.HasPrefix(m, "[2,") {
		t.Fatalf("no WELCOME: %s", m)
	}

	stop()
	if m := recv(); !strings.HasPrefix(m, `[6,`) || !strings.Contains(m, "wamp.close.system_shutdown") {
		t.Fatalf("no GOODBYE: %s", m)
	}
	if status, body := post(base+"/send", `[6,{},"wamp.close.goodbye_and_out"]`); status != 204 {
		t.Fatalf("send GOODBYE: %d %s", status, body)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
	}
}

// readmeHTTPBlocks returns the sh blocks of the README's HTTP section.
func readmeHTTPBlocks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## HTTP\n")
	if !ok {
		t.Fatal("README.md has no HTTP section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var blocks []string
	for {
		_, rest, ok := strings.Cut(sec, "```sh\n")
		if !ok {
			break
		}
		block, after, _ := strings.Cut(rest, "```")
		blocks = append(blocks, block)
		sec = after
	}
	if len(blocks) == 0 {
		t.Fatal("the README's HTTP section has no sh block")
	}
	return blocks
}

// TestREADMEHTTP runs the curl examples of the README's HTTP section
// against `junction serve` with no config (its address for 127.0.0.1:8080)
// and checks what they print and what a WebSocket session sees.
func TestREADMEHTTP(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	blocks := readmeHTTPBlocks(t)
	addr := "127.0.0.1:0" // the listening line says which port
	ctx, stop := context.WithCancel(context.Background())
	addrs, logs, exit := serveInProcess(t, ctx, "--listen", addr)
	addr = addrs[0]
	t.Cleanup(func() {
		stop()
		select {
		case <-exit:
		case <-time.After(10 * time.Second):
			t.Error("serve did not return")
		}
	})
	var ws *client.Session
	for i := 0; ; i++ {
		dctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var err error
		ws, err = client.Dial(dctx, "ws://"+addr+"/ws", "realm1", nil)
		cancel()
		if err == nil {
			break
		}
		if i == 100 {
			t.Fatalf("dial: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer ws.Close(context.Background())
	news := make(chan string, 4)
	if _, err := ws.Subscribe(t.Context(), "com.example.news", func(ev *client.Event) { news <- fmt.Sprint(ev.Args...) }, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Register(t.Context(), "com.example.add2", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		a, _ := wamp.AsInt(inv.Args[0])
		b, _ := wamp.AsInt(inv.Args[1])
		return &client.Result{Args: wamp.List{a + b}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Register(t.Context(), "com.example.count", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		n, _ := wamp.AsInt(inv.Args[0])
		for i := range n {
			if err := inv.SendProgress(ctx, wamp.List{i}, nil); err != nil {
				return nil, err
			}
		}
		return &client.Result{Args: wamp.List{"done"}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	event := func(want string) {
		t.Helper()
		select {
		case got := <-news:
			if got != want {
				t.Errorf("event %q, want %q", got, want)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("no event %q", want)
		}
	}

	for _, block := range blocks {
		script := strings.ReplaceAll(block, "127.0.0.1:8080", addr)
		cctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		out, err := exec.CommandContext(cctx, "sh", "-ec", script).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s\n%v: %s", script, err, out)
		}
		switch {
		case strings.HasPrefix(block, "LP="):
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "[2,") || !strings.HasPrefix(lines[1], "[17,1,") ||
				lines[2] != `[6,{},"wamp.close.goodbye_and_out"]` {
				t.Errorf("the long-poll example printed:\n%s", out)
			}
			event("hello from curl")
		case strings.HasPrefix(block, "# publish"):
			if !regexp.MustCompile(`^\{"id":\d+\}\n$`).Match(out) {
				t.Errorf("the publish example printed %q", out)
			}
			event("hello from the bridge")
		case strings.HasPrefix(block, "# call"):
			if want := `{"args":[5],"kwargs":{}}` + "\n" + `{"error":"wamp.error.no_such_procedure","args":["no callee has registered procedure \"com.example.nothing\""],"kwargs":{}}` + "\n404\n"; string(out) != want {
				t.Errorf("the call example printed\n%s\nwant\n%s", out, want)
			}
		case strings.HasPrefix(block, "# progressive"):
			want := "event: progress\ndata: {\"args\":[0],\"kwargs\":{},\"progress\":true}\n\n" +
				"event: progress\ndata: {\"args\":[1],\"kwargs\":{},\"progress\":true}\n\n" +
				"event: progress\ndata: {\"args\":[2],\"kwargs\":{},\"progress\":true}\n\n" +
				"event: result\ndata: {\"args\":[\"done\"],\"kwargs\":{}}\n\n"
			if string(out) != want {
				t.Errorf("the progressive example printed\n%s\nwant\n%s", out, want)
			}
		default:
			t.Errorf("no check for the README block:\n%s", block)
		}
	}
}

// TestServeBridgeIdentity: a bridge configured on a listener for a realm
// that admits only its principals: no credentials or a wrong secret get
// 401, a principal's request is authorized by its role as a WAMP session
// would be (403 outside its permissions), and disclose_me shows its
// authid to the callee.
func TestServeBridgeIdentity(t *testing.T) {
	dir := t.TempDir()
	ticket, err := auth.NewPasswordHash("joe-secret", "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	const svcSecret = "svc-secret-0123456789"
	svcTicket, err := auth.NewPasswordHash(svcSecret, "pbkdf2-sha256", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:0" // the listening line says which port
	cfg := fmt.Sprintf(`listeners:
  - address: %s
    bridge:
      realm: secure
      publish_path: /api/publish
      call_path: /api/call
      keys:
        - {key: svc-key, secret: %s, authid: svc}
realms:
  - name: secure
    anonymous: false
    auth:
      throttle: {max_delay: 0s}
      dynamic: {procedure: com.example.authenticate, methods: [ticket]}
      principals:
        - {authid: joe, role: reporter, ticket: "%s"}
        - {authid: svc, role: backend, ticket: "%s"}
      roles:
        - name: reporter
          permissions:
            - {uri: com.example.news., match: prefix, allow: [publish]}
            - {uri: com.example.whoami, allow: [call]}
        - name: backend
          permissions:
            - {uri: "*", allow: [call, register, publish, subscribe]}
`, addr, svcSecret, ticket, svcTicket)
	path := filepath.Join(dir, "junction.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	addrs, logs, exit := serveInProcess(t, ctx, "--config", path)
	addr = addrs[0]
	defer func() {
		stop()
		<-exit
	}()
	var svc *client.Session
	for i := 0; ; i++ {
		dctx, cancel := context.WithTimeout(context.Background(), time.Second)
		svc, err = client.Dial(dctx, "ws://"+addr+"/ws", "secure", &client.Options{AuthID: "svc", Credentials: []client.Credential{client.Ticket(svcSecret)}})
		cancel()
		if err == nil {
			break
		}
		if i == 100 {
			t.Fatalf("dial: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer svc.Close(context.Background())
	if _, err := svc.Register(t.Context(), "com.example.whoami", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{inv.Details["caller_authid"]}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	// The dynamic authenticator: a Bearer token without an authid.
	if _, err := svc.Register(t.Context(), "com.example.authenticate", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		details, _ := inv.Args[2].(map[string]any)
		if details["ticket"] != "bearer-token-1" {
			return nil, &client.Error{URI: wamp.ErrAuthenticationFailed, Args: wamp.List{"unknown token"}}
		}
		return &client.Result{Args: wamp.List{wamp.Dict{"role": "reporter", "authid": "token-user"}}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	// The bridge's sessions carry the HTTP client's address (the realm's
	// throttle keys on it).
	peers := make(chan string, 64)
	if _, err := svc.Subscribe(t.Context(), "wamp.session.on_join", func(ev *client.Event) {
		d, _ := ev.Args[0].(map[string]any)
		tr, _ := d["transport"].(map[string]any)
		if d["authid"] == "joe" {
			peers <- fmt.Sprint(tr["peer"])
		}
	}, nil); err != nil {
		t.Fatal(err)
	}
	news := make(chan string, 2)
	if _, err := svc.Subscribe(t.Context(), "com.example.news.today", func(ev *client.Event) { news <- fmt.Sprint(ev.Args...) }, nil); err != nil {
		t.Fatal(err)
	}

	do := func(path, body string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	pub := `{"topic": "com.example.news.today", "args": ["it works"]}`
	orders := `{"topic": "com.example.orders.new"}`
	for _, tc := range []struct {
		name, path, body, auth string
		status                 int
		says                   string
	}{
		{"anonymous", "/api/publish", pub, "", 401, "wamp.error."},
		{"wrong secret", "/api/publish", pub, basic("joe", "nope"), 401, "wamp.error.authentication_failed"},
		{"no such principal", "/api/publish", pub, basic("eve", "joe-secret"), 401, "wamp.error."},
		{"outside the role", "/api/publish", orders, basic("joe", "joe-secret"), 403, "wamp.error.not_authorized"},
		{"outside the role, call", "/api/call", `{"procedure": "com.example.other"}`, basic("joe", "joe-secret"), 403, "wamp.error.not_authorized"},
		{"the default path is off", "/publish", pub, basic("joe", "joe-secret"), 404, ""},
		{"allowed", "/api/publish", pub, basic("joe", "joe-secret"), 200, `"id":`},
		{"signed by svc's key", "/api/publish?" + bridge.SignQuery(bridge.Key{Key: "svc-key", Secret: svcSecret}, 1, 7, time.Now(), []byte(orders)), orders, "", 200, `"id":`},
		{"signed with a wrong secret", "/api/publish?" + bridge.SignQuery(bridge.Key{Key: "svc-key", Secret: "joe-secret"}, 2, 8, time.Now(), []byte(orders)), orders, "", 401, "does not match"},
		{"bearer, unknown token", "/api/publish", pub, "Bearer nope", 401, "wamp.error.authentication_failed"},
		{"bearer, outside the role", "/api/publish", orders, "Bearer bearer-token-1", 403, "wamp.error.not_authorized"},
		{"bearer disclosed", "/api/call", `{"procedure": "com.example.whoami", "options": {"disclose_me": true}}`, "Bearer bearer-token-1", 200, `"args":["token-user"]`},
		{"disclosed", "/api/call", `{"procedure": "com.example.whoami", "options": {"disclose_me": true}}`, basic("joe", "joe-secret"), 200, `"args":["joe"]`},
	} {
		var hdr []string
		if tc.auth != "" {
			hdr = []string{"Authorization", tc.auth}
		}
		status, body := do(tc.path, tc.body, hdr...)
		if status != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, status, body, tc.status, tc.says)
		}
	}
	select {
	case got := <-news:
		if got != "it works" {
			t.Errorf("event %q", got)
		}
	case <-time.After(20 * time.Second):
		t.Error("the allowed publication did not arrive")
	}
	select {
	case peer := <-peers:
		if !strings.HasPrefix(peer, "127.0.0.1:") {
			t.Errorf("a bridge session's peer is %q, want the HTTP client's address", peer)
		}
	case <-time.After(20 * time.Second):
		t.Error("no on_join for joe's bridge sessions")
	}
}

// TestServeWebhook: a webhook from the config receives, signed, what the
// bridge publishes, and a callee from the config answers what the bridge
// calls: HTTP in, HTTP out.
func TestServeWebhook(t *testing.T) {
	got := make(chan string, 1)
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/callee" {
			fmt.Fprint(w, `{"args": ["answered over HTTP"]}`)
			return
		}
		sig, _ := hex.DecodeString(strings.TrimPrefix(r.Header.Get("X-Junction-Signature"), "sha256="))
		if !hmac.Equal(sig, bridge.WebhookSignature("hook-secret", r.Header.Get("X-Junction-Timestamp"), body)) {
			t.Errorf("bad signature on %s", body)
		}
		got <- string(body)
	}))
	defer ep.Close()
	addr := "127.0.0.1:0" // the listening line says which port
	path := filepath.Join(t.TempDir(), "junction.yaml")
	cfg := fmt.Sprintf(`listeners:
  - address: %s
    bridge: {}
realms:
  - name: realm1
webhooks:
  - topic: com.example.
    match: prefix
    url: %s/hook
    secret: hook-secret
callees:
  - procedure: com.example.http
    url: %s/callee
`, addr, ep.URL, ep.URL)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	addrs, logs, exit := serveInProcess(t, ctx, "--config", path)
	addr = addrs[0]
	defer func() {
		stop()
		if code := <-exit; code != 0 {
			t.Errorf("exit code %d\n%s", code, logs.String())
		}
	}()
	var resp *http.Response
	var err error
	for i := 0; ; i++ {
		resp, err = http.Post("http://"+addr+"/publish", "application/json", strings.NewReader(`{"topic": "com.example.hooked", "args": ["via HTTP"]}`))
		if err == nil {
			break
		}
		if i == 100 {
			t.Fatalf("publish: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
	select {
	case body := <-got:
		if !strings.Contains(body, `"topic":"com.example.hooked"`) || !strings.Contains(body, `"args":["via HTTP"]`) {
			t.Errorf("webhook body %s", body)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no webhook POST\n%s", logs.String())
	}
	resp, err = http.Post("http://"+addr+"/call", "application/json", strings.NewReader(`{"procedure": "com.example.http"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"args":["answered over HTTP"],"kwargs":{}}`+"\n" {
		t.Errorf("call of the HTTP callee: %d %s", resp.StatusCode, b)
	}
}
