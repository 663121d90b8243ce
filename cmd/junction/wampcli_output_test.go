package main

// What the client commands print and refuse, run in this process (run, as
// main calls it) against a router on a loopback port.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// runCLI runs one command line in this process and returns what it
// printed and its exit status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// registerEcho registers proc on s: it answers with the arguments it got.
func registerEcho(t *testing.T, s *client.Session, proc string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Register(ctx, proc, func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: inv.Args, Kwargs: inv.Kwargs}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestCLIPrintsTextAsSent: <, > and & print as themselves, not as the
// \u003c, \u003e and \u0026 of Go's HTML-safe JSON, for a person and
// with --json.
func TestCLIPrintsTextAsSent(t *testing.T) {
	_, addr := cliRouter(t)
	url := "rs://" + addr
	registerEcho(t, dialCLITest(t, url), "test.cli.echo")
	out, errOut, code := runCLI(t, "call", "--url", url, "test.cli.echo", "a<b&c>", "-k", "k=<&>")
	if code != 0 || out != `"a<b&c>" k="<&>"`+"\n" {
		t.Errorf("call: %d %q %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "call", "--url", url, "--json", "test.cli.echo", "a<b&c>")
	if code != 0 || out != `{"args":["a<b&c>"]}`+"\n" {
		t.Errorf("call --json: %d %q %q", code, out, errOut)
	}
}

// TestCLIBinaryValues: a binary value prints in WAMP's JSON form for
// binary, "\u0000" and its bytes in base64, not as a base64 string that
// reads as text; an argument in that form is sent as binary, for any
// serializer.
func TestCLIBinaryValues(t *testing.T) {
	_, addr := cliRouter(t)
	url := "rs://" + addr
	s := dialCLITest(t, url)
	got := make(chan wamp.List, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Register(ctx, "test.cli.bytes", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		got <- inv.Args
		return &client.Result{Args: wamp.List{[]byte{0, 1, 2, 0xff}, "AAEC/w=="}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	for _, ser := range []string{"json", "msgpack", "cbor"} {
		out, errOut, code := runCLI(t, "call", "--url", url, "--serializer", ser, "test.cli.bytes", `"\u0000aGk="`, "[1]")
		if code != 0 || out != `"\u0000AAEC/w==" "AAEC/w=="`+"\n" {
			t.Errorf("%s: call printed %d %q %q", ser, code, out, errOut)
		}
		if code != 0 {
			continue
		}
		if args := <-got; len(args) != 2 || !bytes.Equal(asBytes(args[0]), []byte("hi")) {
			t.Errorf("%s: the callee got %#v, want the binary hi first", ser, args)
		}
	}
	if _, errOut, code := runCLI(t, "call", "--url", url, "test.cli.bytes", `"\u0000not base64"`); code != 1 || !strings.Contains(errOut, "argument 1: ") {
		t.Errorf("binary that is not base64: %d %q", code, errOut)
	}
}

func asBytes(v any) []byte {
	b, _ := v.([]byte)
	return b
}

// TestCLIRefusesBadValues: flag values and arguments the command cannot
// use are usage errors, said before it connects (no router listens at
// the URL here): a negative --count (sub subscribed and exited at once), a
// --timeout of 0 or less (every dial failed with "i/o timeout"), a number
// beyond a 64-bit float (sent as +Inf, which JSON cannot carry).
func TestCLIRefusesBadValues(t *testing.T) {
	url := "rs://127.0.0.1:1"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sub", "--count", "-1", "t"}, "--count -1: must be 0 (no limit) or more"},
		{[]string{"call", "--timeout", "0s", "p"}, "--timeout 0s: must be more than 0"},
		{[]string{"pub", "--timeout", "-1s", "t"}, "--timeout -1s: must be more than 0"},
		{[]string{"sub", "--timeout", "0s", "t"}, "--timeout 0s: must be more than 0"},
		{[]string{"register", "--timeout", "0s", "p", "--url", url, "--", "true"}, "--timeout 0s: must be more than 0"},
		{[]string{"pub", "t", "1", "1e400"}, "argument 2: number 1e400 is beyond a 64-bit float"},
		{[]string{"call", "p", "-k", "x=-1e999"}, "x: number -1e999 is beyond a 64-bit float"},
	} {
		_, errOut, code := runCLI(t, append(tc.args, "--url", url)...)
		if code != 1 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "--help for more") {
			t.Errorf("%q: %d %q, want a usage error with %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestCLISubCountReturnsAtOnce: sub --count N on a busy topic ends its
// session at once once it has printed N events. Its event handler used to
// stay blocked handing on events nobody read, so the session's Close
// waited its whole bound (2s) for it, and gave up with it still blocked.
func TestCLISubCountReturnsAtOnce(t *testing.T) {
	_, addr := cliRouter(t)
	url := "rs://" + addr
	pub := dialCLITest(t, url)
	out := &gateWriter{subscribed: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"sub", "--url", url, "--json", "--count", "1", "test.cli.busy"}, out, &bytes.Buffer{})
	}()
	select {
	case <-out.subscribed:
	case <-ctx.Done():
		t.Fatal("sub did not subscribe")
	}
	// The first event's line waits in out's Write while the handler
	// fills the command's queue of events and blocks.
	for i := range 300 {
		if _, err := pub.Publish(ctx, "test.cli.busy", wamp.List{i}, nil, wamp.Dict{"acknowledge": true}); err != nil {
			t.Fatal(err)
		}
	}
	for !inFunc("/cmd/junction.runSub.func", "[select") {
		if ctx.Err() != nil {
			buf := make([]byte, 1<<20)
			t.Fatalf("the handler of sub never blocked\n%s", buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
	close(out.release)
	if code := <-exit; code != 0 {
		t.Fatalf("sub exited %d", code)
	}
	if inFunc("/cmd/junction.runSub.func", "") {
		t.Error("sub returned with its event handler still blocked")
	}
}

// inFunc reports whether a goroutine whose state starts with state (any,
// for "") is in a function whose name contains fn.
func inFunc(fn, state string) bool {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(g, fn) && strings.Contains(header, " "+state) {
			return true
		}
	}
	return false
}

// gateWriter signals the "subscribed" line and holds the next write until
// release is closed.
type gateWriter struct {
	mu                  sync.Mutex
	lines               int
	subscribed, release chan struct{}
}

func (w *gateWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.lines++
	n := w.lines
	w.mu.Unlock()
	if n == 1 {
		close(w.subscribed)
	} else {
		<-w.release
	}
	return len(p), nil
}

// TestCLILoginWithSecretAndPassword: the README's "also --secret,
// --password" of junction call, against the stored forms junction passwd
// prints: salted WAMP-CRA, and WAMP-SCRAM with each kdf of the wamp-scram
// dialect; a wrong secret
// or password exits 1 with wamp.error.authentication_failed on stderr.
func TestCLILoginWithSecretAndPassword(t *testing.T) {
	indent := func(s string) string {
		return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n          ")
	}
	cra, code := passwd(t, "cra-secret", "--method", "wampcra", "--iterations", "100")
	if code != 0 {
		t.Fatal(cra)
	}
	var principals strings.Builder
	fmt.Fprintf(&principals, "        - authid: cra\n          role: backend\n          %s\n", indent(cra))
	for _, kdf := range []string{"argon2id13", "pbkdf2"} {
		args := []string{"--method", "scram"} // Argon2id's default cost: the client refuses less
		if kdf == "pbkdf2" {
			args = []string{"--method", "scram", "--kdf", kdf, "--iterations", "1000"}
		}
		scram, code := passwd(t, "scram-password", args...)
		if code != 0 {
			t.Fatal(scram)
		}
		fmt.Fprintf(&principals, "        - authid: scram-%s\n          role: backend\n          %s\n", kdf, indent(scram))
	}
	path := filepath.Join(t.TempDir(), "junction.yaml")
	cfg := `listeners:
  - address: 127.0.0.1:0
realms:
  - name: realm1
    anonymous: true
    disclose_caller: always
    auth:
      anonymous_role: backend
      throttle: {max_delay: 0s}
      principals:
` + principals.String()
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs, logs := serveUntilEnd(t, "--config", path)
	url := "rs://" + addrs[0]
	callee := dialCLITest(t, url)
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := callee.Register(rctx, "test.auth.whoami", func(_ context.Context, inv *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{inv.Details["caller_authid"]}}, nil
	}, nil); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--authid", "cra", "--secret", "cra-secret"}, `"cra"`},
		{[]string{"--authid", "scram-argon2id13", "--password", "scram-password"}, `"scram-argon2id13"`},
		{[]string{"--authid", "scram-pbkdf2", "--password", "scram-password"}, `"scram-pbkdf2"`},
	} {
		out, errOut, code := runCLI(t, append(append([]string{"call", "--url", url}, tc.args...), "test.auth.whoami")...)
		if code != 0 || out != tc.want+"\n" {
			t.Errorf("call %q: %d %q %q", tc.args, code, out, errOut)
		}
	}
	for _, args := range [][]string{
		{"--authid", "cra", "--secret", "wrong"},
		{"--authid", "scram-pbkdf2", "--password", "wrong"},
	} {
		out, errOut, code := runCLI(t, append(append([]string{"call", "--url", url}, args...), "test.auth.whoami")...)
		if code != 1 || out != "" || !strings.Contains(errOut, string(wamp.ErrAuthenticationFailed)) {
			t.Errorf("call %q: %d %q %q", args, code, out, errOut)
		}
	}
}

// TestCLIJSONFromEnvironment: $JUNCTION_JSON is a boolean, as the flag:
// false or 0 prints for a person (any value but the empty one turned JSON
// on), and a value that is not a boolean is an error.
func TestCLIJSONFromEnvironment(t *testing.T) {
	_, addr := cliRouter(t)
	url := "rs://" + addr
	registerEcho(t, dialCLITest(t, url), "test.cli.echo")
	for env, want := range map[string]string{"false": "1\n", "0": "1\n", "true": `{"args":[1]}` + "\n", "1": `{"args":[1]}` + "\n", "": "1\n"} {
		t.Setenv("JUNCTION_JSON", env)
		if out, errOut, code := runCLI(t, "call", "--url", url, "test.cli.echo", "1"); code != 0 || out != want {
			t.Errorf("JUNCTION_JSON=%s: %d %q %q, want %q", env, code, out, errOut, want)
		}
	}
	t.Setenv("JUNCTION_JSON", "yes please")
	if _, errOut, code := runCLI(t, "call", "--url", url, "test.cli.echo", "1"); code != 1 || !strings.Contains(errOut, `$JUNCTION_JSON "yes please": not a boolean`) {
		t.Errorf("JUNCTION_JSON=yes please: %d %q", code, errOut)
	}
	// The flag wins over the environment.
	if out, errOut, code := runCLI(t, "call", "--url", url, "--json=false", "test.cli.echo", "1"); code != 0 || out != "1\n" {
		t.Errorf("--json=false with JUNCTION_JSON set: %d %q %q", code, out, errOut)
	}
}

// TestCLISubRefusedPrintsTheError: a SUBSCRIBE the router refuses prints
// its ERROR as call and register do (the URI, then the payload; a JSON
// object with --json) and exits 1.
func TestCLISubRefusedPrintsTheError(t *testing.T) {
	_, addr := cliRouter(t)
	url := "rs://" + addr
	_, errOut, code := runCLI(t, "sub", "--url", url, "--match", "bogus", "test.cli.x")
	if code != 1 || !strings.HasPrefix(errOut, string(wamp.ErrInvalidArgument)+` "`) {
		t.Errorf("sub --match bogus: %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "sub", "--url", url, "--json", "--match", "bogus", "test.cli.x")
	if code != 1 || !strings.HasPrefix(errOut, `{"args":["`) || !strings.Contains(errOut, `"error":"`+string(wamp.ErrInvalidArgument)+`"`) {
		t.Errorf("sub --json --match bogus: %d %q", code, errOut)
	}
}

// TestCLIRegisterEndsItsCommands: the processes a command started die with
// it, when its call is canceled and when register is interrupted (its
// context ends, as on Ctrl-C): the command runs in a process group of its
// own, killed as a whole. Only the shell died before, and its sleep, which
// held the output pipe open, kept the invocation waiting; interrupted,
// register waited 2s for it and left it running.
func TestCLIRegisterEndsItsCommands(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to see the command's processes")
	}
	_, addr := cliRouter(t)
	url := "rs://" + addr
	dir := t.TempDir()
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	out := &lineWriter{lines: make(chan string, 16)}
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"register", "--url", url, "test.cli.slow", "--",
			"sh", "-c", `sleep 300 & echo $! > "` + dir + `/$1.pid"; wait`, "sh"}, out, &bytes.Buffer{})
	}()
	select {
	case l := <-out.lines:
		if l != "registered test.cli.slow\n" {
			t.Fatalf("register said %q", l)
		}
	case code := <-exit:
		t.Fatalf("register exited %d", code)
	}
	// $1 is empty: the pid file is named ".pid" for every call; one at
	// a time.
	s := dialCLITest(t, url)
	callAndCancel := func() int {
		cctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := s.Call(cctx, "test.cli.slow", nil, nil, nil)
			done <- err
		}()
		pid := waitPidFile(t, filepath.Join(dir, ".pid"))
		cancel()
		if err := <-done; err == nil {
			t.Error("the canceled call succeeded")
		}
		return pid
	}
	waitGone(t, "the sleep of a canceled call", callAndCancel())
	os.Remove(filepath.Join(dir, ".pid"))

	// A call in progress when register is interrupted.
	go s.Call(context.Background(), "test.cli.slow", nil, nil, nil)
	pid := waitPidFile(t, filepath.Join(dir, ".pid"))
	interrupt()
	if code := <-exit; code != 0 {
		t.Errorf("interrupted register exited %d", code)
	}
	// Close waited for the invocation: it had ended its command, rather
	// than Close giving up on it after its bound.
	if inFunc("/cmd/junction.runRegister.func", "") {
		t.Error("register returned with an invocation still running")
	}
	waitGone(t, "the sleep of the command of an interrupted register", pid)
}

// waitPidFile waits for a command to write its process id to file.
func waitPidFile(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var pid int
		if b, err := os.ReadFile(file); err == nil {
			if _, err := fmt.Sscanf(string(b), "%d\n", &pid); err == nil {
				return pid
			}
		}
		runtime.Gosched()
	}
	t.Fatalf("no process id in %s", file)
	return 0
}

// waitGone waits for process pid to end (a zombie has ended).
func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
			t.Fatalf("%s (process %d) still runs", what, pid)
		}
		runtime.Gosched()
	}
}

// gone reports whether process pid has ended: no longer there, or a
// zombie.
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

// lineWriter hands on each write.
type lineWriter struct{ lines chan string }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.lines <- string(p)
	return len(p), nil
}

// TestCLISubInterruptSaysGoodbye: Ctrl-C (SIGINT to the process) ends sub
// with exit status 0, and its session with a GOODBYE, not a dropped
// connection: the router logs the session leaving with
// wamp.close.close_realm.
func TestCLISubInterruptSaysGoodbye(t *testing.T) {
	addrs, logs := serveUntilEnd(t, "--listen", "127.0.0.1:0", "--log-level", "debug")
	cmd := exec.Command(junctionBin(t), "sub", "--url", "ws://"+addrs[0]+"/ws", "--json", "test.cli.sigint")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var sub struct{ Session uint64 }
	if err != nil || json.Unmarshal([]byte(line), &sub) != nil || sub.Session == 0 {
		t.Fatalf("sub said %q, %v", line, err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("sub, interrupted: %v", err)
	}
	left := regexp.MustCompile(`msg="session left" .*session=` + strconv.FormatUint(sub.Session, 10) + ` .*reason=(\S+)`)
	timeout := time.After(10 * time.Second)
	for {
		if m := left.FindStringSubmatch(logs.String()); m != nil {
			if m[1] != string(wamp.CloseRealm) {
				t.Errorf("the session left with %s, want a GOODBYE %s", m[1], wamp.CloseRealm)
			}
			return
		}
		select {
		case <-logs.changed:
		case <-timeout:
			t.Fatalf("the router logged no leave of session %d:\n%s", sub.Session, logs.String())
		}
	}
}
