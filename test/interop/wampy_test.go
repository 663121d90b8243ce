package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestInteropWampy drives the router with wampy.js (npm's wampy, pinned by
// wampy/package-lock.json), a WAMP client common in browsers, running under
// Node.js with the ws package as its WebSocket: wampy/client.mjs runs the
// scenarios of each serializer in one process, one subtest each, e.g.
// TestInteropWampy/websocket/cbor/rpc. wampy speaks WebSocket only.
func TestInteropWampy(t *testing.T) {
	c := wampyClient(t)
	requireClients(t, c)
	r := startRouter(t, routerBinary(t))
	for _, cb := range c.combos {
		t.Run(cb.String(), func(t *testing.T) {
			t.Parallel()
			runSuite(t, r, c, cb, wampyScenarios(cb.serializer), c.name+"/"+cb.String())
		})
	}
}

// wampyScenarios are the scenarios of wampy/client.mjs for serializer.
// binary needs MessagePack or CBOR: wampy's JSON serializer is plain
// JSON.stringify, without WAMP's convention for binary values.
func wampyScenarios(serializer string) []string {
	s := []string{"pubsub", "rpc", "errors"}
	if serializer != "json" {
		s = append(s, "binary")
	}
	return s
}

// wampyClient finds Node.js and wampy/node_modules. Any Node.js that runs
// ES modules will do: wampy gets its WebSocket from the ws package, not
// from Node.
func wampyClient(t *testing.T) *client {
	c := &client{
		name:    "wampy",
		command: []string{"node"},
		dir:     "wampy",
		combos:  []combo{{"websocket", "json"}, {"websocket", "msgpack"}, {"websocket", "cbor"}},
	}
	const install = "install it with `make deps` or `npm ci --prefix test/interop/wampy` (Node.js >= 20 with npm)"
	node, err := exec.LookPath("node")
	if err != nil {
		c.unavailable = "wampy.js: node is not on PATH; " + install
		return c
	}
	if _, err := os.Stat(filepath.Join(c.dir, "node_modules", "wampy", "package.json")); err != nil {
		c.unavailable = "wampy.js: test/interop/wampy/node_modules/wampy is missing; " + install
		return c
	}
	// What the scripts import, resolved from their directory as they will be;
	// a failure prints one line (Node's own report ends with its version).
	const probe = "try { await Promise.all(['wampy', 'wampy/JsonSerializer.js', 'wampy/MsgpackSerializer.js', " +
		"'wampy/CborSerializer.js', 'wampy/wampcra.js', 'wampy/cryptosign.js', 'tweetnacl', 'ws'].map((m) => import(m))); } " +
		"catch (e) { console.error(String(e.message).split('\\n')[0]); process.exit(3); }"
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--input-type=module", "-e", probe)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		c.unavailable = fmt.Sprintf("wampy.js is not usable with %s (%v: %s); %s", node, err, lastLine(out), install)
		return c
	}
	c.command = []string{node, "client.mjs"}
	return c
}
