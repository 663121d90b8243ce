package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
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
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	url := "ws://" + strings.TrimPrefix(b.url, "rs://") + "/ws"
	py := startPython(t, "testdata/subscriber.py", url, "com.example.py", "2")
	ctx, line := py.ctx, py.line
	if l := line(); l != "ready" {
		t.Fatalf("the Python subscriber said %q, want ready", l)
	}
	waitInterest(t, a, "com.example.py.x", 1)

	pub := dial(t, a, wamp.FormatMsgPack)
	ids := make([]wamp.ID, 2)
	var err error
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
	py.wait(t)
}

// script is a running Autobahn script (Python or JS).
type script struct {
	ctx    context.Context
	line   func() string // the next line it prints
	exited chan error
	stderr *strings.Builder
	stdin  io.WriteCloser // closing it ends a JS callee
}

// startPython runs a script of testdata with args; cleanup kills it if it
// still runs.
func startPython(t *testing.T, args ...string) *script {
	t.Helper()
	if out, err := exec.Command("python3", "-c", "import autobahn.asyncio.wamp").CombinedOutput(); err != nil {
		t.Skipf("Autobahn|Python is not usable (apt-get install python3-autobahn): %v: %s", err, out)
	}
	return startScript(t, append([]string{"python3"}, args...), "PYTHONDONTWRITEBYTECODE=1")
}

// startScript runs argv with env added; cleanup kills it if it still
// runs.
func startScript(t *testing.T, argv []string, env ...string) *script {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &script{ctx: ctx, exited: make(chan error, 1), stderr: new(strings.Builder)}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	name := argv[len(argv)-1]
	for _, a := range argv[1:] {
		if strings.HasSuffix(a, ".py") || strings.HasSuffix(a, ".js") {
			name = a
			break
		}
	}
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel() // kills the process if it still runs
		<-p.exited
	})
	p.line = func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%s ended early: %s", name, p.stderr.String())
			}
			return l
		case <-ctx.Done():
			t.Fatalf("%s said nothing: %s", name, p.stderr.String())
		}
		return ""
	}
	return p
}

// wait waits for the script to exit and checks it succeeded.
func (p *script) wait(t *testing.T) {
	t.Helper()
	err := <-p.exited
	p.exited <- nil // for the cleanup
	if err != nil {
		t.Fatalf("the script failed: %v: %s", err, p.stderr.String())
	}
}

// TestPythonCalleeOnAnotherNode: a Go session on node1 calls an
// Autobahn|Python callee on node2: its result, its application error with
// args and kwargs, and the caller it was disclosed.
func TestPythonCalleeOnAnotherNode(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	py := startPython(t, "testdata/callee.py", "ws://"+strings.TrimPrefix(b.url, "rs://")+"/ws")
	if l := py.line(); l != "ready" {
		t.Fatalf("the Python callee said %q, want ready", l)
	}
	waitCallee(t, a, "com.example.py.stop", true)
	s := dial(t, a, wamp.FormatCBOR)
	res, err := s.Call(py.ctx, "com.example.py.add", wamp.List{2, 40}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := res.Args[0].(map[string]any)
	sum, _ := wamp.AsUint(r["sum"])
	caller, _ := wamp.AsUint(r["caller"])
	if sum != 42 || wamp.ID(caller) != s.ID() {
		t.Fatalf("add(2, 40) = %v; want sum 42 and caller %d", res.Args, s.ID())
	}
	_, err = s.Call(py.ctx, "com.example.py.fail", nil, nil, nil)
	we := wampError(t, err, "com.example.error.py")
	if len(we.Args) != 2 || we.Args[0] != "failed" || we.Kwargs["reason"] != "on purpose" {
		t.Fatalf("error %v %v", we.Args, we.Kwargs)
	}
	if _, err := s.Call(py.ctx, "com.example.py.stop", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	py.wait(t)
}
