package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
	"github.com/junction-wamp/junction/wamp"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the binary junctionBin built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// junctionBin builds the command once for the package's tests.
func junctionBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "junction-cli-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "junction")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildFailure{err, string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildFailure struct {
	err error
	out string
}

func (b *buildFailure) Error() string { return "go build: " + b.err.Error() + "\n" + b.out }

// cliRouter serves a router on a loopback port for the command to reach.
func cliRouter(t *testing.T) (*router.Router, string) {
	t.Helper()
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: r}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		srv.Shutdown(ctx)
		<-done
	})
	return r, ln.Addr().String()
}

// junction runs the command to completion.
func junction(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, junctionBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// background starts a long-running command and returns its stdout lines.
func background(t *testing.T, env []string, args ...string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, junctionBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	return lines
}

func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the command ended")
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no output")
	}
	return ""
}

func TestCLIPubSub(t *testing.T) {
	_, addr := cliRouter(t)
	env := []string{"JUNCTION_URL=rs://" + addr, "JUNCTION_REALM=realm1"}
	lines := background(t, env, "sub", "--json", "--serializer", "cbor", "--count", "2", "test.cli.news")
	if l := nextLine(t, lines); !strings.Contains(l, `"subscribed":"test.cli.news"`) {
		t.Fatalf("first line %q", l)
	}
	out, errOut, code := junction(t, env, "pub", "-k", "n=5", "-k", "who=me", "test.cli.news", "42", "hello", `{"a":[1,true]}`, "1.5", "null")
	if code != 0 || !strings.HasPrefix(out, "published ") {
		t.Fatalf("pub: %d %q %q", code, out, errOut)
	}
	out, _, code = junction(t, env, "pub", "--json", "--serializer", "msgpack", "test.cli.news", "two words")
	var pubd map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &pubd) != nil || pubd["publication"] == nil {
		t.Fatalf("pub --json: %d %q", code, out)
	}
	var ev struct {
		Topic  string
		Args   []any
		Kwargs map[string]any
	}
	if err := json.Unmarshal([]byte(nextLine(t, lines)), &ev); err != nil {
		t.Fatal(err)
	}
	want := []any{42.0, "hello", map[string]any{"a": []any{1.0, true}}, 1.5, nil}
	if ev.Topic != "test.cli.news" || !reflect.DeepEqual(ev.Args, want) || !reflect.DeepEqual(ev.Kwargs, map[string]any{"n": 5.0, "who": "me"}) {
		t.Errorf("event %+v", ev)
	}
	if err := json.Unmarshal([]byte(nextLine(t, lines)), &ev); err != nil || ev.Args[0] != "two words" {
		t.Errorf("second event %+v %v", ev, err)
	}
	// --count 2: the subscriber exits.
	select {
	case _, ok := <-lines:
		if ok {
			t.Error("output after the last event")
		}
	case <-time.After(10 * time.Second):
		t.Error("sub --count 2 did not exit")
	}

	// Human-readable events.
	lines = background(t, env, "sub", "test.cli.plain")
	// The subscription is confirmed on stderr: publish until an event comes.
	for i := 0; ; i++ {
		junction(t, env, "pub", "test.cli.plain", "--", "x", "-k")
		select {
		case l := <-lines:
			if l != `test.cli.plain "x" "-k"` {
				t.Errorf("human event line %q", l)
			}
			return
		case <-time.After(200 * time.Millisecond):
			if i == 50 {
				t.Fatal("no event")
			}
		}
	}
}

func TestCLICallRegister(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Fatal("sh is needed to run commands per invocation")
	}
	_, addr := cliRouter(t)
	env := []string{"JUNCTION_URL=ws://" + addr + "/ws"}
	lines := background(t, env, "register", "test.cli.upper", "--", "sh", "-c", `tr a-z A-Z; printf "%s" "$JUNCTION_KWARGS" >&2`)
	if l := nextLine(t, lines); l != "registered test.cli.upper" {
		t.Fatalf("register said %q", l)
	}
	out, errOut, code := junction(t, env, "call", "test.cli.upper", "abc", "7")
	if code != 0 || out != "[\"ABC\",7]\n" {
		t.Errorf("call: %d %q %q", code, out, errOut)
	}
	out, _, code = junction(t, env, "call", "--json", "test.cli.upper", "x")
	if code != 0 || out != `{"args":[["X"]]}`+"\n" {
		t.Errorf("call --json: %d %q", code, out)
	}

	fail := background(t, env, "register", "--json", "test.cli.fail", "--", "sh", "-c", "cat >/dev/null; echo nope >&2; exit 3")
	if l := nextLine(t, fail); !strings.Contains(l, `"registered":"test.cli.fail"`) {
		t.Fatalf("register --json said %q", l)
	}
	out, errOut, code = junction(t, env, "call", "test.cli.fail")
	if code == 0 || out != "" || errOut != "junction.error.command_failed \"nope\" exit_code=3\n" {
		t.Errorf("failing command: %d %q %q", code, out, errOut)
	}
	_, errOut, code = junction(t, env, "call", "--json", "test.cli.missing", "1")
	var e map[string]any
	if code == 0 || json.Unmarshal([]byte(errOut), &e) != nil || e["error"] != string(wamp.ErrNoSuchProcedure) {
		t.Errorf("missing procedure: %d %q", code, errOut)
	}
	// A second registration of the same procedure is refused with the URI.
	_, errOut, code = junction(t, env, "register", "test.cli.upper", "--", "true")
	if code == 0 || !strings.HasPrefix(errOut, string(wamp.ErrProcedureAlreadyExists)) {
		t.Errorf("duplicate register: %d %q", code, errOut)
	}
	// Bad flags and a router that is not there.
	if _, _, code := junction(t, env, "call"); code != 1 {
		t.Errorf("call without a procedure exited %d", code)
	}
	if _, errOut, code := junction(t, nil, "pub", "--url", "rs://127.0.0.1:1", "x.y", "1", "18446744073709551616"); code != 1 || !strings.Contains(errOut, "argument 2: integer 18446744073709551616 does not fit in 64 bits") {
		t.Errorf("pub with an integer beyond 64 bits: %d %q", code, errOut)
	}
	if _, errOut, code := junction(t, nil, "call", "--url", "rs://127.0.0.1:1", "--timeout", "2s", "x.y"); code != 1 || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("call to no router: %d %q", code, errOut)
	}
}

func TestParseValue(t *testing.T) {
	for in, want := range map[string]any{
		"42": int64(42), "-7": int64(-7), "18446744073709551615": uint64(18446744073709551615),
		"1.5": 1.5, "true": true, "null": nil, `"quoted"`: "quoted", "hello": "hello",
		"two words": "two words", "[1,2]": []any{int64(1), int64(2)}, `{"a":1}`: map[string]any{"a": int64(1)},
		"1 2": "1 2", "{bad": "{bad", "": "",
	} {
		if got, err := parseValue(in); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseValue(%q) = %#v, %v, want %#v", in, got, err, want)
		}
	}
	// An integer beyond 64 bits would reach the router as an inexact float
	// (which refuses it), so it is an error, nested or not; quoted, it is a
	// string.
	for _, in := range []string{"18446744073709551616", "-9223372036854775809", "[1,[123456789012345678901234567890]]", `{"a":99999999999999999999}`} {
		if got, err := parseValue(in); err == nil || !strings.Contains(err.Error(), "does not fit in 64 bits") {
			t.Errorf("parseValue(%q) = %#v, %v, want an error", in, got, err)
		}
	}
	if got, err := parseValue(`"18446744073709551616"`); err != nil || got != "18446744073709551616" {
		t.Errorf("quoted big integer: %#v, %v", got, err)
	}
}

// dialCLITest joins the test router with Go's client.
func dialCLITest(t *testing.T, url string) *client.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Dial(ctx, url, "realm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSession(s) })
	return s
}

// registerProgress registers test.cli.progress: N progressive results
// 0..N-1 when the caller asks for them, then N.
func registerProgress(t *testing.T, s *client.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Register(ctx, "test.cli.progress", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		n, err := client.Arg[int](inv.Args, 0)
		if err != nil {
			return nil, err
		}
		for i := range n {
			if inv.ReceiveProgress() {
				if err := inv.SendProgress(ctx, wamp.List{i}, nil); err != nil {
					return nil, err
				}
			}
		}
		return &client.Result{Args: wamp.List{n}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
}
