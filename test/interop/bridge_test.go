package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestBridgeInterop drives Junction's HTTP bridge with Go's HTTP client
// against Autobahn|Python (python/bridge.py) and Autobahn|JS (js/bridge.js)
// sessions on several transports and serializers: a call answered by the
// callee (its result, and its application error as 502 with URI, args and
// kwargs intact) and a publication the subscriber receives.
func TestBridgeInterop(t *testing.T) {
	clients := []*client{withScript(pythonClient(t), "bridge.py"), withScript(jsClient(t), "bridge.js")}
	requireClients(t, clients...)
	r := startRouter(t, routerBinary(t)) // no config: the bridge serves realm1
	cases := []struct {
		c  *client
		cb combo
	}{
		{clients[0], combo{"websocket", "json"}}, {clients[0], combo{"websocket", "msgpack"}}, {clients[0], combo{"rawsocket", "cbor"}},
		{clients[1], combo{"websocket", "json"}}, {clients[1], combo{"websocket", "cbor"}}, {clients[1], combo{"rawsocket", "json"}},
	}
	for _, tc := range cases {
		cb := tc.cb
		t.Run(tc.c.name+"/"+cb.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), suiteTimeout)
			defer cancel()
			by := tc.c.name // what the callee puts in its kwargs
			prefix := "interop.bridge." + tc.c.name + "." + cb.transport + "." + cb.serializer
			p := r.startClient(ctx, t, tc.c, "bridge", "--url", r.url(cb.transport), "--serializer", cb.serializer, "--prefix", prefix)
			select {
			case <-p.stdout.ready:
			case <-p.exited:
			case <-ctx.Done():
			}
			if !p.stdout.sawReady() {
				p.wait()
				p.report(t, r)
				t.Fatal("the bridge script did not print READY")
			}
			post := func(path, body string) (int, map[string]any) {
				t.Helper()
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+r.addr+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Errorf("POST %s answered %s", path, b)
				}
				return resp.StatusCode, m
			}
			status, m := post("/call", `{"procedure": "`+prefix+`.add", "args": [2, 3]}`)
			if status != 200 || fmt.Sprint(m["args"], m["kwargs"]) != "[5] map[by:"+by+"]" {
				t.Errorf("call: %d %v", status, m)
			}
			status, m = post("/call", `{"procedure": "`+prefix+`.fail"}`)
			if status != 502 || m["error"] != prefix+".error.refused" || fmt.Sprint(m["args"], m["kwargs"]) != "[refused 7] map[why:test]" {
				t.Errorf("application error: %d %v", status, m)
			}
			status, m = post("/publish", `{"topic": "`+prefix+`.news", "args": ["from the bridge", 1], "kwargs": {"k": "v"}}`)
			if status != 200 || m["id"] == nil {
				t.Errorf("publish: %d %v", status, m)
			}
			if err := p.wait(); err != nil {
				t.Errorf("the bridge script %s", p.exitDescription(err))
			}
			p.checkResults(t, "bridge")
			if t.Failed() {
				p.report(t, r)
			}
		})
	}
}
