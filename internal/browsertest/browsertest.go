// Package browsertest checks what the tests that drive a headless browser
// need before they start: Debian's Chromium, Node.js and the npm packages
// of the test's own directory (playwright-core and the page's libraries,
// pinned by a lockfile that .ci/deps installs). Three tests drive Chromium
// (the browser example, the web view, the long-poll transport); they say
// what is missing the same way, and skip only when told to.
package browsertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Require returns the path of Chromium ($CHROMIUM, /usr/bin/chromium by
// default) when it, node and each npm package of pkgs under
// dir/node_modules are there. dir is relative to the test's directory;
// prefix is the same directory from the repository's top, as `npm ci
// --prefix` takes it, for the message. What is missing fails the test,
// or skips it when JUNCTION_SKIP_INTEROP=1 says so, as the interop suite
// does.
func Require(t testing.TB, dir, prefix string, pkgs ...string) string {
	t.Helper()
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
	for _, p := range pkgs {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p)); err != nil {
			missing = append(missing, p+" (npm ci --prefix "+prefix+")")
		}
	}
	if len(missing) > 0 {
		if os.Getenv("JUNCTION_SKIP_INTEROP") == "1" {
			t.Skipf("JUNCTION_SKIP_INTEROP=1 and missing: %s", strings.Join(missing, ", "))
		}
		t.Fatalf("%s needs %s (bash .ci/deps installs them; JUNCTION_SKIP_INTEROP=1 skips)", t.Name(), strings.Join(missing, ", "))
	}
	return chromium
}
