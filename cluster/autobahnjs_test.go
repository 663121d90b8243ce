package cluster

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// startJS runs testdata/autobahn.js with args under Node, with the
// Autobahn|JS of test/interop/js (`npm ci --prefix test/interop/js`).
func startJS(t *testing.T, args ...string) *script {
	t.Helper()
	// Missing clients fail the test, as everywhere in the project's
	// interop tests, unless JUNCTION_SKIP_INTEROP=1 says to skip.
	missing := func(what string) {
		if os.Getenv("JUNCTION_SKIP_INTEROP") == "1" {
			t.Skipf("JUNCTION_SKIP_INTEROP=1 and %s", what)
		}
		t.Fatalf("%s (bash .ci/deps installs it; JUNCTION_SKIP_INTEROP=1 skips)", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("Autobahn|JS: node is not on PATH (Node.js >= 20.10)")
	}
	modules, err := filepath.Abs(filepath.Join("..", "test", "interop", "js", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "autobahn", "package.json")); err != nil {
		missing("Autobahn|JS is missing: npm ci --prefix test/interop/js")
	}
	out, err := exec.Command(node, "-p", "process.versions.node").Output()
	if err != nil {
		t.Fatalf("node -p process.versions.node: %v", err)
	}
	argv := []string{node}
	// Autobahn|JS uses Node's global WebSocket: built in from Node 22,
	// behind a flag in Node 20.10 and 21.
	if major, _ := strconv.Atoi(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0]); major < 22 {
		argv = append(argv, "--experimental-websocket")
	}
	argv = append(argv, append([]string{"testdata/autobahn.js"}, args...)...)
	return startScript(t, argv, "NODE_PATH="+modules)
}

func wsURL(tn *testNode) string { return "ws://" + strings.TrimPrefix(tn.url, "rs://") + "/ws" }

// jsLine decodes the next JSON line of s into v.
func jsLine(t *testing.T, s *script, v any) {
	t.Helper()
	l := s.line()
	if err := json.Unmarshal([]byte(l), v); err != nil {
		t.Fatalf("line %q: %v", l, err)
	}
}

func ready(t *testing.T, s *script) {
	t.Helper()
	if l := s.line(); l != "ready" {
		t.Fatalf("the script said %q, want ready", l)
	}
}

// TestAutobahnJSAcrossNodes: Autobahn|JS sessions on different nodes of
// a three-node cluster, each node serving another serializer: a
// subscriber on node 3 gets what a publisher on node 1 publishes (payload,
// disclosed publisher, the concrete topic of its prefix subscription); a
// caller on node 1 calls a callee on node 2 (result with the disclosed
// caller, and an application error with its args and kwargs); a caller
// on node 3 gets the progressive results of a callee on node 2.
func TestAutobahnJSAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]

	t.Run("pubsub", func(t *testing.T) {
		sub := startJS(t, "subscriber", wsURL(c), "cbor", "com.example.js", "3")
		ready(t, sub)
		waitInterest(t, a, "com.example.js.x", 1)
		pub := startJS(t, "publisher", wsURL(a), "json", "com.example.js", "3")
		ready(t, pub)
		var done struct {
			Published int     `json:"published"`
			Session   float64 `json:"session"`
		}
		jsLine(t, pub, &done)
		pub.wait(t)
		for i := range 3 {
			var ev struct {
				Args      []any          `json:"args"`
				Kwargs    map[string]any `json:"kwargs"`
				Publisher float64        `json:"publisher"`
				Topic     string         `json:"topic"`
			}
			jsLine(t, sub, &ev)
			topic := "com.example.js." + strconv.Itoa(i)
			if !reflect.DeepEqual(ev.Args, []any{float64(i), "hé"}) || ev.Kwargs["n"] != float64(i) || ev.Publisher != done.Session || ev.Topic != topic {
				t.Fatalf("event %d as the JS subscriber got it: %+v; want args [%d hé], kwargs {n: %d}, publisher %v, topic %s", i, ev, i, i, done.Session, topic)
			}
		}
		sub.wait(t)
	})

	t.Run("rpc", func(t *testing.T) {
		callee := startJS(t, "callee", wsURL(b), "msgpack", "com.example.js.echo")
		ready(t, callee)
		waitCallee(t, a, "com.example.js.echo", true)
		caller := startJS(t, "caller", wsURL(a), "json", "com.example.js.echo")
		ready(t, caller)
		var res struct {
			Args    []any          `json:"args"`
			Kwargs  map[string]any `json:"kwargs"`
			Session float64        `json:"session"`
		}
		jsLine(t, caller, &res)
		// Autobahn|JS announces no call canceling, so (as on one node)
		// it is not offered progress even when the caller asks for it.
		if !reflect.DeepEqual(res.Args, []any{"echo", "x", float64(2)}) || res.Kwargs["caller"] != res.Session || res.Kwargs["offered_progress"] != false {
			t.Fatalf("result %+v", res)
		}
		var e struct {
			Error  string         `json:"error"`
			Args   []any          `json:"args"`
			Kwargs map[string]any `json:"kwargs"`
		}
		jsLine(t, caller, &e)
		if e.Error != "com.example.failed" || !reflect.DeepEqual(e.Args, []any{"no", float64(1)}) || e.Kwargs["why"] != "asked" {
			t.Fatalf("error %+v", e)
		}
		caller.wait(t)
		callee.stdin.Close()
		callee.wait(t)
	})

	t.Run("progressive", func(t *testing.T) {
		register(t, dial(t, b, wamp.FormatCBOR), "com.example.js.count", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
			n, _ := wamp.AsUint(inv.Args[0])
			for i := range n {
				if err := inv.SendProgress(ctx, wamp.List{i}, nil); err != nil {
					return nil, err
				}
			}
			return &client.Result{Args: wamp.List{"done", n}}, nil
		}, nil)
		waitCallee(t, c, "com.example.js.count", true)
		caller := startJS(t, "progress", wsURL(c), "msgpack", "com.example.js.count", "4")
		ready(t, caller)
		var got struct {
			Progress []any `json:"progress"`
			Result   []any `json:"result"`
		}
		jsLine(t, caller, &got)
		if !reflect.DeepEqual(got.Progress, []any{float64(0), float64(1), float64(2), float64(3)}) || !reflect.DeepEqual(got.Result, []any{"done", float64(4)}) {
			t.Fatalf("progressive results %v, final %v", got.Progress, got.Result)
		}
		caller.wait(t)
	})
}
