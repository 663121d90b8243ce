package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/examples/internal/demo/demotest"
)

// TestBrowser serves the page and has headless Chromium open it. Chromium
// (Debian's chromium package), Node.js and this directory's npm packages
// (npm ci --prefix examples/browser) are required, as .ci/deps installs
// them: without them the test fails, unless JUNCTION_SKIP_INTEROP=1 says
// to skip it, as for the interop suite.
func TestBrowser(t *testing.T) {
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

	ex := demotest.Start(t, run, "-listen", "127.0.0.1:0")
	m := ex.WaitFor(`open (\S+) \(router `, 30*time.Second)
	if m == nil {
		t.Fatalf("the example serves no page:\n%s", ex.Output())
	}
	pageURL := m[1]

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "check.mjs", pageURL)
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
	if ex.WaitFor("browser says: hello from ", 10*time.Second) == nil {
		t.Errorf("the browser's publication did not arrive:\n%s", ex.Output())
	}
}
