package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/examples/internal/demo/demotest"
	"github.com/junction-wamp/junction/internal/browsertest"
)

// TestBrowser serves the page and has headless Chromium open it. Chromium
// (Debian's chromium package), Node.js and this directory's npm packages
// (npm ci --prefix examples/browser) are required, as .ci/deps installs
// them: without them the test fails, unless JUNCTION_SKIP_INTEROP=1 says
// to skip it, as for the interop suite.
func TestBrowser(t *testing.T) {
	chromium := browsertest.Require(t, ".", "examples/browser", "playwright-core", "autobahn-browser")

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
