package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/wamp"
)

// TestPythonSubscriberOnAnotherNode: an Autobahn|Python session on node2
// receives what a Go session publishes on node1, with its payload, the
// disclosed publisher, and the concrete topic of its prefix subscription.
func TestPythonSubscriberOnAnotherNode(t *testing.T) {
	if out, err := exec.Command("python3", "-c", "import autobahn.asyncio.wamp").CombinedOutput(); err != nil {
		t.Skipf("Autobahn|Python is not usable (apt-get install python3-autobahn): %v: %s", err, out)
	}
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "ws://" + strings.TrimPrefix(b.url, "rs://") + "/ws"
	cmd := exec.CommandContext(ctx, "python3", "testdata/subscriber.py", url, "com.example.py", "2")
	cmd.Env = append(cmd.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel() // kills the process if it still runs
		<-exited
	})
	line := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the Python subscriber ended early: %s", stderr.String())
			}
			return l
		case <-ctx.Done():
			t.Fatalf("the Python subscriber said nothing: %s", stderr.String())
		}
		return ""
	}
	if l := line(); l != "ready" {
		t.Fatalf("the Python subscriber said %q, want ready", l)
	}
	waitInterest(t, a, "com.example.py.x", 1)

	pub := dial(t, a, wamp.FormatMsgPack)
	ids := make([]wamp.ID, 2)
	for i, topic := range []string{"com.example.py.one", "com.example.py.two"} {
		if ids[i], err = pub.Publish(ctx, topic, wamp.List{i, "é"}, wamp.Dict{"n": i}, wamp.Dict{"acknowledge": true, "disclose_me": true}); err != nil {
			t.Fatal(err)
		}
	}
	for i, topic := range []string{"com.example.py.one", "com.example.py.two"} {
		var ev struct {
			Args        []any          `json:"args"`
			Kwargs      map[string]any `json:"kwargs"`
			Publisher   uint64         `json:"publisher"`
			Publication uint64         `json:"publication"`
			Topic       string         `json:"topic"`
		}
		if err := json.Unmarshal([]byte(line()), &ev); err != nil {
			t.Fatal(err)
		}
		if len(ev.Args) != 2 || ev.Args[0] != float64(i) || ev.Args[1] != "é" || ev.Kwargs["n"] != float64(i) ||
			wamp.ID(ev.Publisher) != pub.ID() || wamp.ID(ev.Publication) != ids[i] || ev.Topic != topic {
			t.Fatalf("event %d as Python got it: %+v; want args [%d é], kwargs {n: %d}, publisher %d, publication %d, topic %s",
				i, ev, i, i, pub.ID(), ids[i], topic)
		}
	}
	if err := <-exited; err != nil {
		t.Fatalf("the Python subscriber failed: %v: %s", err, stderr.String())
	}
	exited <- nil // for the cleanup
}
