package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// syncWriter collects the example's output from its goroutines.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestBrowser serves the page and has headless Chromium open it. Chromium
// (Debian's chromium package), Node.js and this directory's npm packages
// (npm ci --prefix examples/browser) are required, as .ci/deps installs
// them: without them the test fails, unless JUNCTION_SKIP_INTEROP=1 says
// to skip it, as for the interop suite.
func TestBrowser(t *testing.T) {
	defer goleak.VerifyNone(t)
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, "chromium ("+chromium+"; apt-get install chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	for _, p := range []string{"playwright-core", "autobahn-browser"} {
		if _, err := os.Stat(filepath.Join("node_modules", p)); err != nil {
			missing = append(missing, p+" (npm ci --prefix examples/browser)")
		}
	}
	if len(missing) > 0 {
		if os.Getenv("JUNCTION_SKIP_INTEROP") == "1" {
			t.Skipf("JUNCTION_SKIP_INTEROP=1 and missing: %s", strings.Join(missing, ", "))
		}
		t.Fatalf("the browser test needs %s (bash .ci/deps installs them; JUNCTION_SKIP_INTEROP=1 skips)", strings.Join(missing, ", "))
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out syncWriter
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-listen", "127.0.0.1:0"}, &out, ready) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("example: %v", err)
		}
	}()
	var pageURL string
	select {
	case pageURL = <-ready:
	case err := <-done:
		t.Fatalf("example ended: %v", err)
	}

	cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
	defer ccancel()
	cmd := exec.CommandContext(cctx, "node", "check.mjs", pageURL)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("check.mjs: %v\nstdout %s\nstderr %s", err, stdout, stderr.String())
	}
	var res struct {
		Status, Result, Session string
		Events                  []string
	}
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("check.mjs printed %q: %v", stdout, err)
	}
	if res.Status != "ok" || res.Result != "5" || res.Session == "" || len(res.Events) < 2 || !strings.HasPrefix(res.Events[0], "tick ") {
		t.Errorf("page state %+v", res)
	}
	// The page's publication reached the Go component.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "browser says: hello from ") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "browser says: hello from ") {
		t.Errorf("the browser's publication did not arrive:\n%s", out.String())
	}
}
