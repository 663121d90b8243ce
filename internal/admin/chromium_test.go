package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/browsertest"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

// TestWebViewInChromium opens the web view in headless Chromium (Debian's
// chromium, driven by playwright-core from webtest/, npm ci --prefix
// internal/admin/webtest) while WAMP sessions join, work and leave over
// real WebSocket connections: the page's numbers follow without a reload,
// someone who may only look sees no kill button, and an admin looks a
// session up and kills it. Without Chromium, Node.js or the npm package
// the test fails, unless JUNCTION_SKIP_INTEROP=1 says to skip it, as for
// the interop suite. JUNCTION_WEBVIEW_SCREENSHOT=/path.png saves a
// screenshot of the page.
func TestWebViewInChromium(t *testing.T) {
	chromium := browsertest.Require(t, "webtest", "internal/admin/webtest", "playwright-core")

	rt := newRouter(t)
	srv := &transport.Server{Router: rt}
	h, err := New(Config{Router: rt, Servers: []*transport.Server{srv}, WebView: true, Version: "test", Access: &Access{Users: []User{
		{Name: "ops", Password: fastHash(t, "ops-secret"), Admin: true},
		{Name: "viewer", Password: fastHash(t, "viewer-secret")},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handler = h
	ln, err := transport.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		<-served
	}()
	addr := ln.Addr().String()

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "check.mjs", "http://"+addr+"/")
	cmd.Dir = "webtest"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "ADMIN_USER=ops", "ADMIN_PASS=ops-secret",
		"VIEWER_USER=viewer", "VIEWER_PASS=viewer-secret", "SCREENSHOT="+os.Getenv("JUNCTION_WEBVIEW_SCREENSHOT"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	toPage, _ := cmd.StdinPipe()
	fromPage, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	saw := bufio.NewScanner(fromPage)
	expect := func(what string) {
		t.Helper()
		if !saw.Scan() {
			cmd.Wait()
			t.Fatalf("the page script ended before %q: %v\n%s", what, saw.Err(), stderr.String())
		}
		if got := saw.Text(); got != "saw "+what {
			t.Fatalf("the page script said %q, want %q\n%s", got, "saw "+what, stderr.String())
		}
	}
	dial := func(authid string) *client.Session {
		t.Helper()
		s, err := client.Dial(ctx, "ws://"+addr+"/ws", "realm1", &client.Options{AuthID: authid})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	}

	expect("sessions 0")
	alice, bob, carol := dial("alice"), dial("bob"), dial("carol")
	if _, err := bob.Subscribe(ctx, "com.example.ticks", func(*client.Event) {}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Register(ctx, "com.example.add", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{len(inv.Args)}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := carol.Call(ctx, "com.example.add", wamp.List{2, 3}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintln(toPage, "go joined")
	expect("sessions 3")

	if err := carol.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(toPage, "go left")
	expect("sessions 2")
	expect("viewer cannot kill")
	expect("alice killed")
	select {
	case <-alice.Done():
	case <-ctx.Done():
		t.Fatal("alice's session did not end")
	}
	var ce *client.CloseError
	if !errors.As(alice.Err(), &ce) || ce.Reason != wamp.CloseKilled {
		t.Fatalf("alice's session ended with %v, want %s", alice.Err(), wamp.CloseKilled)
	}
	toPage.Close()
	io.Copy(io.Discard, fromPage)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("check.mjs: %v\n%s", err, stderr.String())
	}
}
