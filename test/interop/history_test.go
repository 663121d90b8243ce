package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// historyConfig is the router config of TestHistoryInterop: the event
// history file and a history rule for the test's topics. %s is the file.
const historyConfig = `# written by test/interop: event history kept across a restart
store:
  path: %s
realms:
  - name: realm1
    anonymous: true
    history:
      - topic: interop.history.
        match: prefix
        limit: 100
`

// TestHistoryInterop checks event retention and event history with
// Autobahn|Python: retained events reach a later subscriber that asks for
// them, and wamp.subscription.get_events returns what was published before
// the router restarted, in every serializer.
func TestHistoryInterop(t *testing.T) {
	py := pythonClient(t)
	requireClients(t, py)
	hist := *py
	hist.command = []string{pythonBin, "history.py"}

	bin := routerBinary(t)
	cfg := writeFile(t, "history.yaml", fmt.Sprintf(historyConfig, filepath.Join(t.TempDir(), "history.db")))
	serializers := []string{"json", "msgpack", "cbor"}
	topic := func(ser string) string { return "interop.history." + ser }

	ctx, cancel := context.WithTimeout(t.Context(), suiteTimeout)
	defer cancel()

	// Before the restart: publish, and get the retained event.
	r := startRouter(t, bin, "--config", cfg)
	pubs := map[string][]string{}
	for _, ser := range serializers {
		p := r.startClient(ctx, t, &hist, "publish", "--url", r.url("websocket"), "--serializer", ser, "--topic", topic(ser))
		err := p.wait()
		res, ok := p.results()["publish"]
		if err != nil || !ok || !res.OK {
			p.checkResults(t, "publish")
			p.report(t, r)
			t.Fatalf("publish/%s: %s", ser, p.exitDescription(err))
		}
		var info struct {
			Publications []uint64 `json:"publications"`
		}
		if err := json.Unmarshal(res.Info, &info); err != nil || len(info.Publications) != 4 {
			t.Fatalf("publish/%s: info %s: %v", ser, res.Info, err)
		}
		for _, id := range info.Publications {
			pubs[ser] = append(pubs[ser], strconv.FormatUint(id, 10))
		}
	}
	r.stop(t)

	// After the restart: the history is still there.
	r = startRouter(t, bin, "--config", cfg)
	for _, ser := range serializers {
		t.Run("history/"+ser, func(t *testing.T) {
			p := r.startClient(ctx, t, &hist, "history", "--url", r.url("websocket"), "--serializer", ser,
				"--topic", topic(ser), "--publications", strings.Join(pubs[ser], ","))
			if err := p.wait(); err != nil {
				t.Errorf("history %s", p.exitDescription(err))
			}
			p.checkResults(t, "history")
			if t.Failed() {
				p.report(t, r)
			}
		})
	}
}
