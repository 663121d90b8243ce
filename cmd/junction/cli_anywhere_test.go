package main

// The client commands over a real router, with flags after the arguments
// (issue #10), and the README's command-line examples, run as written.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// backgroundCLI starts a long-running command and returns its stdout and
// stderr lines; the command is interrupted and waited for at cleanup.
func backgroundCLI(t *testing.T, env []string, args ...string) (stdout, stderr <-chan string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, junctionBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := func(r io.Reader) (<-chan string, <-chan struct{}) {
		c, done := make(chan string, 1000), make(chan struct{})
		go func() {
			defer close(done)
			defer close(c)
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				c <- sc.Text()
			}
		}()
		return c, done
	}
	outLines, outDone := lines(outPipe)
	errLines, errDone := lines(errPipe)
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		exited := make(chan struct{})
		go func() {
			<-outDone
			<-errDone
			cmd.Wait()
			close(exited)
		}()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cancel() // kills it
			<-exited
		}
		cancel()
	})
	return outLines, errLines
}

// subscribeEvents subscribes with Go's client and returns the events.
func subscribeEvents(t *testing.T, s *client.Session, topic string) <-chan *client.Event {
	t.Helper()
	events := make(chan *client.Event, 16)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Subscribe(ctx, topic, func(ev *client.Event) { events <- ev }, nil); err != nil {
		t.Fatal(err)
	}
	return events
}

func nextEvent(t *testing.T, events <-chan *client.Event) *client.Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return nil
}

// TestCLIFlagsAfterArguments runs the command lines of issue #10: flags
// after the arguments are flags, not message data; -- ends them.
func TestCLIFlagsAfterArguments(t *testing.T) {
	_, addr := cliRouter(t)
	url := "rs://" + addr
	// The environment names a realm that does not exist: only --realm
	// after the arguments makes pub reach realm1.
	env := []string{"JUNCTION_URL=" + url, "JUNCTION_REALM=no.such.realm"}
	s := dialCLITest(t, url)
	events := subscribeEvents(t, s, "test.cli.topic")

	out, errOut, code := junction(t, env, "pub", "test.cli.topic", "1", "2", "--realm", "realm1")
	if code != 0 || !strings.HasPrefix(out, "published ") {
		t.Fatalf("pub topic 1 2 --realm realm1: %d %q %q", code, out, errOut)
	}
	if ev := nextEvent(t, events); !reflect.DeepEqual(ev.Args, wamp.List{int64(1), int64(2)}) || len(ev.Kwargs) > 0 {
		t.Errorf("pub topic 1 2 --realm realm1 published %v %v, want [1 2]", ev.Args, ev.Kwargs)
	}

	// Negative numbers are arguments; after --, anything is.
	env = []string{"JUNCTION_URL=" + url}
	if out, errOut, code := junction(t, env, "pub", "test.cli.topic", "-5", "--", "-x", "--json", "-1.5"); code != 0 {
		t.Fatalf("pub with --: %d %q %q", code, out, errOut)
	}
	if ev := nextEvent(t, events); !reflect.DeepEqual(ev.Args, wamp.List{int64(-5), "-x", "--json", -1.5}) {
		t.Errorf("pub topic -5 -- -x --json -1.5 published %v", ev.Args)
	}
	// A dash argument without -- is a flag the command does not know.
	if _, errOut, code := junction(t, env, "pub", "test.cli.topic", "-x"); code != 1 || !strings.Contains(errOut, "flag provided but not defined: -x") {
		t.Errorf("pub topic -x: %d %q", code, errOut)
	}

	// call proc 2 3 --json: --json is the output format, not an argument.
	if _, err := s.Register(context.Background(), "test.cli.echo", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: inv.Args, Kwargs: inv.Kwargs}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = junction(t, env, "call", "test.cli.echo", "2", "3", "--json", "-k", "n=1")
	if code != 0 || out != `{"args":[2,3],"kwargs":{"n":1}}`+"\n" {
		t.Errorf("call proc 2 3 --json -k n=1: %d %q %q", code, out, errOut)
	}

	// sub topic --url ...: the URL after the topic.
	lines, _ := backgroundCLI(t, []string{"JUNCTION_URL=rs://127.0.0.1:1"}, "sub", "test.cli.sub", "--url", url, "--json", "--count", "1")
	if l := nextLine(t, lines); !strings.Contains(l, `"subscribed":"test.cli.sub"`) {
		t.Fatalf("sub topic --url: %q", l)
	}
	if out, errOut, code := junction(t, env, "pub", "test.cli.sub", "hi", "--json"); code != 0 || !strings.Contains(out, `"publication"`) {
		t.Fatalf("pub --json: %d %q %q", code, out, errOut)
	}
	if l := nextLine(t, lines); !strings.Contains(l, `"args":["hi"]`) {
		t.Errorf("sub topic --url event %q", l)
	}

	// register PROCEDURE --json -- COMMAND: flags after -- are COMMAND's.
	// The procedure called is in $JUNCTION_PROCEDURE (here one of a prefix).
	reg, _ := backgroundCLI(t, env, "register", "test.cli.args.", "--json", "--match", "prefix", "--", "sh", "-c", `echo "$#:$1:$2:$JUNCTION_PROCEDURE"`, "sh", "--json", "-x")
	if l := nextLine(t, reg); !strings.Contains(l, `"registered":"test.cli.args."`) {
		t.Fatalf("register --json: %q", l)
	}
	if out, errOut, code := junction(t, env, "call", "test.cli.args.one"); code != 0 || out != "\"2:--json:-x:test.cli.args.one\"\n" {
		t.Errorf("call of register --match prefix -- sh -c ... --json -x: %d %q %q", code, out, errOut)
	}
	// A command that prints nothing answers a result without arguments.
	reg, _ = backgroundCLI(t, env, "register", "test.cli.none", "--", "true")
	if l := nextLine(t, reg); l != "registered test.cli.none" {
		t.Fatalf("register: %q", l)
	}
	if out, errOut, code := junction(t, env, "call", "--json", "test.cli.none", "x"); code != 0 || out != `{"args":[]}`+"\n" {
		t.Errorf("call of register -- true: %d %q %q", code, out, errOut)
	}
}

// TestREADMECLIExamples runs the README's command-line examples for sub,
// pub, call and register as they are written there.
func TestREADMECLIExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// Each example as the README shows it (a comment may follow), and its
	// words as the shell passes them.
	examples := map[string][]string{
		"sub":      {"junction sub --match prefix com.example.", "sub", "--match", "prefix", "com.example."},
		"pub":      {`junction pub com.example.news 42 '{"a":1}' hello -k source=cli`, "pub", "com.example.news", "42", `{"a":1}`, "hello", "-k", "source=cli"},
		"call":     {"junction call com.example.add 2 3", "call", "com.example.add", "2", "3"},
		"register": {"junction register com.example.upper -- sh -c 'tr a-z A-Z'", "register", "com.example.upper", "--", "sh", "-c", "tr a-z A-Z"},
	}
	for name, ex := range examples {
		found := false
		for _, line := range strings.Split(string(readme), "\n") {
			found = found || line == ex[0] || strings.HasPrefix(line, ex[0]+" ") && strings.Contains(line, "#")
		}
		if !found {
			t.Errorf("README.md has no line %q: update the %s example here", ex[0], name)
		}
	}
	_, addr := cliRouter(t)
	env := []string{"JUNCTION_URL=ws://" + addr + "/ws"}

	// sub, then pub: the event as sub prints it.
	out, errs := backgroundCLI(t, env, examples["sub"][1:]...)
	if l := nextLine(t, errs); l != "subscribed to com.example." {
		t.Fatalf("sub said %q", l)
	}
	if o, e, code := junction(t, env, examples["pub"][1:]...); code != 0 {
		t.Fatalf("pub: %d %q %q", code, o, e)
	}
	if l := nextLine(t, out); l != `com.example.news 42 {"a":1} "hello" source="cli"` {
		t.Errorf("the README's pub printed by its sub: %q", l)
	}

	// call, with a callee that adds: 5, as the README's comment says.
	s := dialCLITest(t, "ws://"+addr+"/ws")
	if _, err := s.Register(context.Background(), "com.example.add", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		a, err := client.Arg[int64](inv.Args, 0)
		if err != nil {
			return nil, err
		}
		b, err := client.Arg[int64](inv.Args, 1)
		return &client.Result{Args: wamp.List{a + b}}, err
	}, nil); err != nil {
		t.Fatal(err)
	}
	if o, e, code := junction(t, env, examples["call"][1:]...); code != 0 || o != "5\n" {
		t.Errorf("call com.example.add 2 3: %d %q %q", code, o, e)
	}

	// register, then a call: the arguments came as JSON on stdin.
	reg, _ := backgroundCLI(t, env, examples["register"][1:]...)
	if l := nextLine(t, reg); l != "registered com.example.upper" {
		t.Fatalf("register said %q", l)
	}
	o, e, code := junction(t, env, "call", "--json", "com.example.upper", "hello", "-k", "x=1")
	var res struct{ Args []any }
	if code != 0 || json.Unmarshal([]byte(o), &res) != nil || !reflect.DeepEqual(res.Args, []any{[]any{"HELLO"}}) {
		t.Errorf("call com.example.upper hello: %d %q %q", code, o, e)
	}
}
