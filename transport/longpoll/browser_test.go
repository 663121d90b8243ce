package longpoll_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/browsertest"
	"github.com/junction-wamp/junction/transport/longpoll"
	"github.com/junction-wamp/junction/wamp"
)

// TestBrowserLongPoll has Autobahn|JS, in headless Chromium, join over its
// long-poll transport from a page of another origin (CORS) and talk to a
// WebSocket session: RPC both ways, pubsub both ways, a burst of events
// received in order, and close ending the session. Chromium (Debian's
// chromium package), Node.js and testdata/browser's npm packages (npm ci
// --prefix transport/longpoll/testdata/browser) are required, as .ci/deps
// installs them: without them the test fails, unless JUNCTION_SKIP_INTEROP=1
// says to skip it, as for the interop suite.
func TestBrowserLongPoll(t *testing.T) {
	dir := filepath.Join("testdata", "browser")
	chromium := browsertest.Require(t, dir, "transport/longpoll/testdata/browser", "playwright-core", "autobahn-browser")

	// The page comes from another origin than the router's: every
	// long-poll request is a CORS request (with preflights).
	var routerURL string
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			b, err := os.ReadFile(filepath.Join(dir, "page.html"))
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(strings.ReplaceAll(string(b), "__ROUTER_URL__", strconv.Quote(routerURL))))
		case "/autobahn.min.js":
			http.ServeFile(w, r, filepath.Join(dir, "node_modules", "autobahn-browser", "autobahn.min.js"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(page.Close)
	s := startLP(t, nil, func(c *longpoll.Config) { c.AllowedOrigins = []string{page.URL} })
	routerURL = "http://" + s.addr + "/lp"

	ctx := t.Context()
	ws := s.ws(t)
	if _, err := ws.Register(ctx, "ws.add", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		a, _ := wamp.AsInt(inv.Args[0])
		b, _ := wamp.AsInt(inv.Args[1])
		return &client.Result{Args: wamp.List{a + b}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	hello := make(chan string, 1)
	if _, err := ws.Subscribe(ctx, "lp.hello", func(ev *client.Event) { hello <- fmt.Sprint(ev.Args...) }, nil); err != nil {
		t.Fatal(err)
	}
	left := make(chan uint64, 4)
	if _, err := ws.Subscribe(ctx, "wamp.session.on_leave", func(ev *client.Event) {
		n, _ := wamp.AsUint(ev.Args[0])
		left <- n
	}, nil); err != nil {
		t.Fatal(err)
	}
	const burst = 100
	mul := make(chan string, 1)
	if _, err := ws.Subscribe(ctx, "lp.ready", func(*client.Event) {
		go func() {
			res, err := ws.Call(ctx, "lp.mul", wamp.List{6, 7}, nil, nil)
			if err != nil {
				mul <- err.Error()
				return
			}
			mul <- fmt.Sprint(res.Args...)
			for i := range burst {
				if _, err := ws.Publish(ctx, "ws.burst", wamp.List{i}, nil, wamp.Dict{"acknowledge": true}); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		}()
	}, nil); err != nil {
		t.Fatal(err)
	}

	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, "node", "check.mjs", page.URL+"/")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("check.mjs: %v\nstdout %s\nstderr %s", err, stdout, stderr.String())
	}
	var rep struct {
		Session   uint64
		Transport string
		Add       int
		Burst     []int
		Errors    []string
		Closed    string
		MulCalled bool
	}
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("check.mjs printed %q: %v", stdout, err)
	}
	if len(rep.Errors) > 0 || rep.Transport != "longpoll" || rep.Add != 5 || !rep.MulCalled || rep.Closed != "closed" {
		t.Fatalf("page report %+v\nstderr %s", rep, stderr.String())
	}
	if len(rep.Burst) != burst {
		t.Errorf("%d events of the burst, want %d", len(rep.Burst), burst)
	}
	for i, v := range rep.Burst {
		if v != i {
			t.Fatalf("burst out of order: %v", rep.Burst)
		}
	}
	if got := within(t, hello, "lp.hello"); got != "hi from the browser" {
		t.Errorf("lp.hello: %q", got)
	}
	if got := within(t, mul, "the call of lp.mul"); got != "42" {
		t.Errorf("lp.mul: %q", got)
	}
	// Closing the connection ended the session.
	if n := within(t, left, "on_leave"); n != rep.Session {
		t.Errorf("on_leave for %d, want the page's %d", n, rep.Session)
	}
	if n := s.lp.Stats().Open; n != 0 {
		t.Errorf("%d transports still open", n)
	}
}

// within returns what ch gives, failing the test when it gives nothing in
// ioTimeout.
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
