package interop

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestMetaSession drives the session and testament meta API with
// Autobahn|Python (python/meta_session.py), Autobahn|JS
// (js/meta_session.js) and wampy.js (wampy/meta_session.mjs): meta events,
// count/list/get, the kill procedures, and testaments published when a
// client drops its connection without GOODBYE. The scripts count the
// sessions of their realm, so each combination gets a realm of its own on
// a router of this test.
func TestMetaSession(t *testing.T) {
	clients := []*client{
		withScript(pythonClient(t), "meta_session.py"),
		withScript(jsClient(t), "meta_session.js"),
		withScript(wampyClient(t), "meta_session.mjs"),
	}
	combos := map[string][]combo{
		"python": {{"websocket", "json"}, {"websocket", "msgpack"}, {"rawsocket", "cbor"}},
		"js":     {{"websocket", "json"}, {"websocket", "cbor"}, {"rawsocket", "json"}},
		"wampy":  {{"websocket", "json"}, {"websocket", "msgpack"}, {"websocket", "cbor"}},
	}
	requireClients(t, clients...)

	realm := func(c *client, cb combo) string {
		return fmt.Sprintf("interop.meta.%s.%s.%s", c.name, cb.transport, cb.serializer)
	}
	var cfg strings.Builder
	cfg.WriteString("# written by test/interop: one realm per meta API client\nrealms:\n")
	for _, c := range clients {
		for _, cb := range combos[c.name] {
			fmt.Fprintf(&cfg, "  - name: %s\n", realm(c, cb))
		}
	}
	r := startRouter(t, routerBinary(t), "--config", writeFile(t, "meta.yaml", cfg.String()))

	for _, c := range clients {
		for _, cb := range combos[c.name] {
			t.Run(c.name+"/"+cb.String(), func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(t.Context(), suiteTimeout)
				defer cancel()
				p := r.startClient(ctx, t, c, "meta", "--url", r.url(cb.transport), "--serializer", cb.serializer,
					"--realm", realm(c, cb), "--prefix", realm(c, cb))
				if err := p.wait(); err != nil {
					t.Errorf("meta %s", p.exitDescription(err))
				}
				p.checkResults(t, "meta")
				if t.Failed() {
					p.report(t, r)
				}
			})
		}
	}
}

// withScript returns c running script (in the same directory) instead of
// its suite script.
func withScript(c *client, script string) *client {
	cc := *c
	if len(cc.command) > 0 && cc.unavailable == "" {
		cc.command = append(append([]string{}, cc.command[:len(cc.command)-1]...), script)
	}
	return &cc
}
