package transport

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/internal/browsertest"
)

// TestBrowserDeflate has headless Chromium open a WAMP session over its
// own WebSocket, which offers permessage-deflate, to a Deflate listener on
// each engine and to one without it: the browser sees the extension
// negotiated (ws.extensions) where it is on, and PUBLISH, EVENT, CALL,
// INVOCATION, YIELD and RESULT, each with 8 KiB of JSON, arrive intact
// in far fewer bytes than they are long, both ways. Chromium (Debian's
// chromium package), Node.js and testdata/browser's npm packages (npm ci
// --prefix transport/testdata/browser) are required, as .ci/deps installs
// them: without them the test fails, unless JUNCTION_SKIP_INTEROP=1 says to
// skip it.
func TestBrowserDeflate(t *testing.T) {
	dir := filepath.Join("testdata", "browser")
	chromium := browsertest.Require(t, dir, "transport/testdata/browser", "playwright-core")

	// Each server is seen serving (its engine's goroutines started)
	// before the next one starts: each checks, when it closes, that no
	// goroutine is left but those that ran before it started.
	serving := func(ts *testServer) *testServer {
		ts.dialWS(t, "wamp.2.json").conn.Close()
		return ts
	}
	var servers []*testServer
	var urls []string
	for _, e := range engines() {
		ts := serving(startServer(t, e, func(s *Server) { s.Deflate = true }))
		servers = append(servers, ts)
		urls = append(urls, "ws://"+ts.addr+"/ws")
	}
	off := serving(startServer(t, EngineAuto, nil))
	urls = append(urls, "ws://"+off.addr+"/ws")

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"deflate.mjs"}, urls...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("deflate.mjs: %v\nstdout %s\nstderr %s", err, stdout, stderr.String())
	}
	var reports []struct {
		Extensions    string
		Event, Result bool
		Error         string
	}
	if err := json.Unmarshal(stdout, &reports); err != nil || len(reports) != len(urls) {
		t.Fatalf("deflate.mjs printed %q: %v", stdout, err)
	}
	for i, r := range reports {
		if r.Error != "" || !r.Event || !r.Result {
			t.Errorf("%s: %+v", urls[i], r)
		}
	}
	const uncompressed = 3 * 8 << 10 // three messages of 8 KiB each way
	for i, ts := range servers {
		r, st := reports[i], ts.Stats()
		if !strings.Contains(r.Extensions, "permessage-deflate") || !strings.Contains(r.Extensions, "client_no_context_takeover") {
			t.Errorf("%s engine: the browser sees extensions %q", ts.Engine, r.Extensions)
		}
		in, out := st.BytesRead[ts.Engine], st.BytesWritten[ts.Engine]
		t.Logf("%s engine: %d bytes read, %d written for %d bytes of messages each way", ts.Engine, in, out, uncompressed)
		if st.DeflateConns != 1 || in >= uncompressed/2 || out >= uncompressed/2 { // the bytes count the probe's upgrade too
			t.Errorf("%s engine: DeflateConns %d, %d bytes read and %d written: not compressed", ts.Engine, st.DeflateConns, in, out)
		}
	}
	if r := reports[len(reports)-1]; r.Extensions != "" {
		t.Errorf("listener without Deflate: the browser sees extensions %q", r.Extensions)
	}
}
