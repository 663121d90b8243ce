package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// raceEnabled is set by race_test.go when the test runs with -race.
var raceEnabled bool

const (
	// pythonBin is Debian's interpreter, the one python3-autobahn is
	// installed for (a python3 earlier on PATH, like a pyenv shim, lacks it).
	pythonBin = "/usr/bin/python3"

	// skipEnv, set to 1, skips the interop tests, saying which clients are
	// missing if any. Without it a missing client is a failure.
	skipEnv = "JUNCTION_SKIP_INTEROP"

	// routerEnv names a router binary to test instead of building
	// ./cmd/junction; it must take `serve --listen ADDR [--config FILE]`.
	routerEnv = "JUNCTION_INTEROP_ROUTER"

	startTimeout   = 30 * time.Second // a probe, or the router to listen
	suiteTimeout   = 2 * time.Minute  // one client process running every scenario
	crossTimeout   = time.Minute      // one cross-client pair
	stopTimeout    = 5 * time.Second  // SIGTERM to exit
	routerLogLimit = 64 << 10         // bytes of router log shown on failure
)

// scenarios are run by every client process of a suite, in this order; the
// client scripts print one RESULT line for each.
var scenarios = []string{"pubsub", "rpc", "errors", "large", "concurrent"}

// A client is one third-party WAMP library driven through its script.
type client struct {
	name    string   // first element of the subtest names
	command []string // program and script; the role and flags follow
	dir     string   // working directory of the script
	env     []string // added to the environment
	combos  []combo  // what the library supports
	// unavailable says why the client cannot run and how to install it; ""
	// when it can.
	unavailable string
}

// A combo is a transport and a serializer.
type combo struct{ transport, serializer string }

func (c combo) String() string { return c.transport + "/" + c.serializer }

// requireClients skips the test when JUNCTION_SKIP_INTEROP=1 and fails it
// when one of clients is missing otherwise: the interop tests never pass
// in silence without the third-party clients.
func requireClients(t *testing.T, clients ...*client) {
	t.Helper()
	var missing []string
	for _, c := range clients {
		if c.unavailable != "" {
			missing = append(missing, c.unavailable)
		}
	}
	switch {
	case os.Getenv(skipEnv) == "1" && len(missing) > 0:
		t.Skipf("%s=1; interop clients missing:\n%s", skipEnv, strings.Join(missing, "\n"))
	case os.Getenv(skipEnv) == "1":
		t.Skipf("%s=1 (the clients are installed; unset it to run the interop tests)", skipEnv)
	case len(missing) > 0:
		t.Fatalf("interop clients missing (or set %s=1 to skip the interop tests):\n%s", skipEnv, strings.Join(missing, "\n"))
	}
}

func TestInterop(t *testing.T) {
	clients := []*client{pythonClient(t), jsClient(t)}
	// wampy runs its own scenarios (TestInteropWampy); here it takes part
	// in the cross-client cases only.
	wampy := wampyClient(t)
	byName := map[string]*client{wampy.name: wampy}
	for _, c := range clients {
		byName[c.name] = c
	}
	requireClients(t, append(slices.Clone(clients), wampy)...)

	bin := routerBinary(t)
	r := startRouter(t, bin)
	// pinger pings idle connections every 1.5s; the default is 30s.
	pinger := startRouter(t, bin, "--config", writeFile(t, "pings.yaml", pingsConfig))
	// rawPinger also pings RawSocket clients (limits.rawsocket_pings), which
	// only Autobahn|JS answers: Autobahn|Python's asyncio RawSocket drops
	// the connection on any PING, which is why those pings are off by
	// default and the Python client idles on pinger, proving that.
	rawPinger := startRouter(t, bin, "--config", writeFile(t, "rawpings.yaml", pingsConfig+"  rawsocket_pings: true\n"))

	for _, c := range clients {
		for _, cb := range c.combos {
			t.Run(c.name+"/"+cb.String(), func(t *testing.T) {
				t.Parallel()
				runSuite(t, r, c, cb, scenarios, c.name+"/"+cb.String())
			})
		}
	}

	// Keep-alive pings, once per client and transport (the serializer does
	// not matter). The clients mostly idle, so they all run at once.
	t.Run("pings", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), suiteTimeout)
		defer cancel()
		type run struct {
			name string
			r    *router
			p    *proc
		}
		var runs []run
		for _, c := range clients {
			seen := map[string]bool{}
			for _, cb := range c.combos {
				if seen[cb.transport] {
					continue
				}
				seen[cb.transport] = true
				name := c.name + "/" + cb.String()
				r := pinger
				if c.name == "js" && cb.transport == "rawsocket" {
					r = rawPinger
				}
				p := startSuite(ctx, t, r, c, cb, []string{"keepalive"}, "pings/"+name, "--idle", "6")
				runs = append(runs, run{name, r, p})
			}
		}
		for _, run := range runs {
			t.Run(run.name, func(t *testing.T) {
				checkSuite(t, run.r, run.p, []string{"keepalive"}, "pings/"+run.name)
			})
		}
	})

	// One event to subscribers of every transport and serializer at once.
	t.Run("cross/fanout/python", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), crossTimeout)
		defer cancel()
		p := r.startClient(ctx, t, byName["python"], "fanout", "--url", r.url("websocket"), "--serializer", "json",
			"--topic", "interop.cross.fanout", "--fanout-urls", r.url("websocket")+","+r.url("rawsocket"))
		if err := p.wait(); err != nil {
			t.Errorf("fanout %s", p.exitDescription(err))
		}
		p.checkResults(t, "fanout")
		if t.Failed() {
			p.report(t, r)
		}
	})

	for _, cc := range crossCases() {
		t.Run(cc.name(), func(t *testing.T) {
			t.Parallel()
			runCross(t, r, byName, cc)
		})
	}
}

// runSuite runs the scenarios of one client and combination in one process
// and reports each scenario as a subtest. name is the subtest's path below
// TestInterop.
func runSuite(t *testing.T, r *router, c *client, cb combo, scenarios []string, name string, extraArgs ...string) {
	ctx, cancel := context.WithTimeout(t.Context(), suiteTimeout)
	defer cancel()
	p := startSuite(ctx, t, r, c, cb, scenarios, name, extraArgs...)
	checkSuite(t, r, p, scenarios, name)
}

// startSuite starts a client process running scenarios; see runSuite.
func startSuite(ctx context.Context, t *testing.T, r *router, c *client, cb combo, scenarios []string, name string, extraArgs ...string) *proc {
	t.Helper()
	args := append([]string{"suite",
		"--url", r.url(cb.transport),
		"--serializer", cb.serializer,
		"--prefix", "interop." + strings.ReplaceAll(name, "/", "."),
		"--scenarios", strings.Join(scenarios, ","),
	}, extraArgs...)
	return r.startClient(ctx, t, c, args...)
}

// checkSuite waits for a process from startSuite and reports its scenarios.
func checkSuite(t *testing.T, r *router, p *proc, scenarios []string, name string) {
	t.Helper()
	err := p.wait()
	results := p.results()
	for _, sc := range scenarios {
		res, ok := results[sc]
		t.Run(sc, func(t *testing.T) {
			if ok {
				t.Logf("took %.3fs %s", res.Seconds, res.Info)
			}
			switch {
			case !ok:
				t.Errorf("no result for scenario %s; client %s", sc, p.exitDescription(err))
			case !res.OK:
				for _, e := range res.Errors {
					t.Error(e)
				}
				if len(res.Errors) == 0 {
					t.Error("scenario failed without saying why")
				}
			}
		})
	}
	if err != nil {
		t.Errorf("client %s", p.exitDescription(err))
	}
	if t.Failed() {
		p.report(t, r)
	}
}

// knownIssues are client limitations that make a check fail, by subtest path
// below TestInterop. Such a check still runs; its failure is reported as a
// skip with the explanation, and its success is logged.

// pingsConfig makes the router ping a connection idle for 1.5s. It pings
// once a connection has received nothing for one to two intervals and gives
// up a timeout later, so a client that does not answer is cut off about
// 4.4s after its last message: the keepalive scenario idles for 6s. The
// generous timeout keeps a client on a loaded machine from missing it.
const pingsConfig = `# written by test/interop: ping idle connections
limits:
  ping_interval: 1500ms
  ping_timeout: 1400ms
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// An endpoint is one side of a cross-client case.
type endpoint struct {
	client string
	combo
}

func (e endpoint) String() string { return e.client + "-" + e.transport + "-" + e.serializer }

// A crossCase passes binary values between two clients, usually of different
// libraries and serializers. For pubsub, first subscribes and second
// publishes; for rpc, first registers and second calls. A wampy endpoint
// speaks msgpack or cbor: wampy's JSON serializer has no binary convention.
type crossCase struct {
	kind          string // "pubsub" or "rpc"
	first, second endpoint
}

func (cc crossCase) name() string {
	return fmt.Sprintf("cross/%s/%s_to_%s", cc.kind, cc.second, cc.first)
}

func crossCases() []crossCase {
	ep := func(client, transport, serializer string) endpoint {
		return endpoint{client, combo{transport, serializer}}
	}
	var (
		pyWSJSON    = ep("python", "websocket", "json")
		pyWSMsgpack = ep("python", "websocket", "msgpack")
		pyWSCBOR    = ep("python", "websocket", "cbor")
		pyRSJSON    = ep("python", "rawsocket", "json")
		pyRSMsgpack = ep("python", "rawsocket", "msgpack")
		pyRSCBOR    = ep("python", "rawsocket", "cbor")
		jsWSJSON    = ep("js", "websocket", "json")
		jsWSMsgpack = ep("js", "websocket", "msgpack")
		jsWSCBOR    = ep("js", "websocket", "cbor")
		// wampy's Uint8Arrays travel in CBOR as typed arrays (tag 64), which
		// the router must forward as plain byte strings.
		wampyWSMsgpack = ep("wampy", "websocket", "msgpack")
		wampyWSCBOR    = ep("wampy", "websocket", "cbor")
	)
	return []crossCase{
		// subscriber, publisher
		{"pubsub", jsWSJSON, pyWSMsgpack},
		{"pubsub", jsWSJSON, pyWSCBOR},
		{"pubsub", pyWSMsgpack, jsWSJSON},
		{"pubsub", pyWSCBOR, jsWSJSON},
		{"pubsub", pyRSJSON, jsWSMsgpack},
		{"pubsub", pyWSJSON, jsWSCBOR},
		{"pubsub", jsWSMsgpack, pyRSCBOR},
		{"pubsub", pyWSCBOR, wampyWSCBOR},
		{"pubsub", jsWSJSON, wampyWSMsgpack},
		{"pubsub", wampyWSCBOR, pyRSMsgpack},
		{"pubsub", wampyWSMsgpack, jsWSJSON},
		// callee, caller
		{"rpc", pyWSJSON, jsWSCBOR},
		{"rpc", jsWSCBOR, pyWSJSON},
		{"rpc", jsWSJSON, pyRSMsgpack},
		{"rpc", pyRSCBOR, jsWSMsgpack},
		{"rpc", pyWSCBOR, wampyWSCBOR},
		{"rpc", wampyWSMsgpack, jsWSCBOR},
		{"rpc", pyRSJSON, wampyWSMsgpack},
		{"rpc", wampyWSCBOR, pyWSMsgpack},
	}
}

func runCross(t *testing.T, r *router, clients map[string]*client, cc crossCase) {
	ctx, cancel := context.WithTimeout(t.Context(), crossTimeout)
	defer cancel()
	roles := map[string][2]string{
		"pubsub": {"sub-bytes", "pub-bytes"},
		"rpc":    {"callee-bytes", "caller-bytes"},
	}[cc.kind]
	uri := "interop." + strings.NewReplacer("/", ".", "-", "_").Replace(cc.name())
	args := func(role string, e endpoint) []string {
		return []string{role, "--url", r.url(e.transport), "--serializer", e.serializer, "--topic", uri, "--procedure", uri}
	}

	first := r.startClient(ctx, t, clients[cc.first.client], args(roles[0], cc.first)...)
	select {
	case <-first.stdout.ready:
	case <-first.exited:
		first.wait()
	case <-ctx.Done():
	}
	var second *proc
	if first.stdout.sawReady() {
		second = r.startClient(ctx, t, clients[cc.second.client], args(roles[1], cc.second)...)
		if err := second.wait(); err != nil {
			t.Errorf("%s (%s) %s", roles[1], cc.second, second.exitDescription(err))
		}
		second.checkResults(t, roles[1])
	} else {
		t.Errorf("%s (%s) did not print READY", roles[0], cc.first)
		cancel()
	}
	if err := first.wait(); err != nil {
		t.Errorf("%s (%s) %s", roles[0], cc.first, first.exitDescription(err))
	}
	first.checkResults(t, roles[0])
	if t.Failed() {
		first.report(t, r)
		if second != nil {
			second.report(t, r)
		}
	}
}

// --- clients ---------------------------------------------------------------

func pythonClient(t *testing.T) *client {
	c := &client{
		name:    "python",
		command: []string{pythonBin, "client.py"},
		dir:     "python",
		env:     []string{"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"},
	}
	for _, tr := range []string{"websocket", "rawsocket"} {
		for _, ser := range []string{"json", "msgpack", "cbor"} {
			c.combos = append(c.combos, combo{tr, ser})
		}
	}
	const probe = "import autobahn, msgpack, cbor2\n" +
		"from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer, CBORSerializer\n" +
		"from autobahn.asyncio.rawsocket import WampRawSocketClientFactory\n" +
		"from autobahn.asyncio.websocket import WampWebSocketClientFactory\n"
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, pythonBin, "-c", probe).CombinedOutput(); err != nil {
		c.unavailable = fmt.Sprintf("Autobahn|Python is not usable with %s (%v: %s); install it with `make deps` "+
			"or `apt-get install -y python3-autobahn python3-msgpack python3-cbor2 python3-ujson`",
			pythonBin, err, lastLine(out))
	}
	return c
}

func jsClient(t *testing.T) *client {
	c := &client{
		name:    "js",
		command: []string{"node"},
		dir:     "js",
		combos: []combo{
			{"websocket", "json"}, {"websocket", "msgpack"}, {"websocket", "cbor"},
			// Autobahn|JS's RawSocket transport (Node only) speaks JSON only.
			{"rawsocket", "json"},
		},
	}
	const install = "install it with `make deps` or `npm ci --prefix test/interop/js` (Node.js >= 20.10 with npm)"
	node, err := exec.LookPath("node")
	if err != nil {
		c.unavailable = "Autobahn|JS: node is not on PATH; " + install
		return c
	}
	if _, err := os.Stat(filepath.Join("js", "node_modules", "autobahn", "package.json")); err != nil {
		c.unavailable = "Autobahn|JS: test/interop/js/node_modules/autobahn is missing; " + install
		return c
	}
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "-p", "process.versions.node").Output()
	if err != nil {
		c.unavailable = fmt.Sprintf("Autobahn|JS: `node -p process.versions.node` failed: %v; %s", err, install)
		return c
	}
	// Autobahn|JS 26 uses Node's global WebSocket: built in from Node 22,
	// behind a flag in Node 20.10 and 21.
	version := strings.TrimSpace(string(out))
	major, _ := strconv.Atoi(strings.SplitN(version, ".", 2)[0])
	c.command = []string{node}
	if major < 22 {
		c.command = append(c.command, "--experimental-websocket")
	}
	probe := append(append([]string{}, c.command[1:]...), "-e",
		"require('autobahn'); if (typeof WebSocket === 'undefined') { console.error('no global WebSocket'); process.exit(3); }")
	cmd := exec.CommandContext(ctx, node, probe...)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		c.unavailable = fmt.Sprintf("Autobahn|JS is not usable with node %s (%v: %s); %s",
			version, err, lastLine(out), install)
		return c
	}
	c.command = append(c.command, "client.js")
	return c
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// --- router ----------------------------------------------------------------

type router struct {
	addr   string
	cmd    *exec.Cmd
	log    *output
	exited chan struct{} // closed when the process has exited
	err    error         // from Wait, once exited is closed

	stopped bool // stop has run (a test may stop a router before its cleanup does)
}

// startRouter starts the router on a loopback port of its own choosing
// (port 0: a port picked here and handed over could be taken meanwhile by
// another process of a parallel test run), waits until it logs where it
// listens, and stops it with SIGTERM when the test and all its subtests
// are done.
func startRouter(t *testing.T, bin string, extraArgs ...string) *router {
	t.Helper()

	r := &router{log: newOutput(false), exited: make(chan struct{})}
	r.cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, extraArgs...)...)
	r.cmd.Stdout = r.log
	r.cmd.Stderr = r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting the router: %v", err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() { r.stop(t) })

	deadline := time.Now().Add(startTimeout)
	for {
		if m := listeningRE.FindStringSubmatch(r.log.String()); m != nil {
			r.addr = m[1]
			break
		}
		select {
		case <-r.exited:
			t.Fatalf("router exited before listening: %v\nrouter log:\n%s", r.err, r.log.tail(routerLogLimit))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("router not listening after %v\nrouter log:\n%s", startTimeout, r.log.tail(routerLogLimit))
		}
	}
	t.Logf("router %s listening on %s (race detector: %v)", strings.Join(append([]string{bin}, extraArgs...), " "), r.addr, raceEnabled)
	return r
}

// listeningRE finds the address in the router's "junction listening" log
// line (listen="127.0.0.1:PORT (ws://...").
var listeningRE = regexp.MustCompile(`junction listening.*listen="(127\.0\.0\.1:[0-9]+) `)

// routerBinary returns $JUNCTION_INTEROP_ROUTER or else builds cmd/junction
// into a temporary directory, with the race detector if the test has it.
func routerBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(routerEnv); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "junction")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/junction")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", args...)
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the router in %s: go %s: %v\n%s", build.Dir, strings.Join(args, " "), err, out)
	}
	return bin
}

func (r *router) url(transport string) string {
	if transport == "rawsocket" {
		return "rs://" + r.addr
	}
	return "ws://" + r.addr + "/ws"
}

// stop sends SIGTERM and expects a clean exit within stopTimeout.
func (r *router) stop(t *testing.T) {
	if r.stopped {
		return
	}
	r.stopped = true
	select {
	case <-r.exited:
		t.Errorf("router exited before SIGTERM: %v\nrouter log:\n%s", r.err, r.log.tail(routerLogLimit))
		return
	default:
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("sending SIGTERM to the router: %v", err)
	}
	select {
	case <-r.exited:
		if r.err != nil {
			t.Errorf("router exited with %v after SIGTERM, want exit status 0\nrouter log:\n%s", r.err, r.log.tail(routerLogLimit))
		}
	case <-time.After(stopTimeout):
		r.cmd.Process.Kill()
		<-r.exited
		t.Errorf("router still running %v after SIGTERM; killed\nrouter log:\n%s", stopTimeout, r.log.tail(routerLogLimit))
	}
	if log := r.log.String(); strings.Contains(log, "WARNING: DATA RACE") || strings.Contains(log, "panic:") {
		t.Errorf("router log reports a data race or a panic:\n%s", r.log.tail(routerLogLimit))
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: not inside a module (got %q)", gomod)
	}
	return filepath.Dir(gomod)
}

// --- client processes ------------------------------------------------------

// A proc is one running client script.
type proc struct {
	c        *client
	args     []string
	cmd      *exec.Cmd
	ctx      context.Context
	stdout   *output
	stderr   *output
	logStart int // router log offset when the client started
	exited   chan struct{}
	err      error
	started  time.Time
	elapsed  time.Duration
}

func (r *router) startClient(ctx context.Context, t *testing.T, c *client, args ...string) *proc {
	t.Helper()
	p := &proc{
		c:        c,
		args:     args,
		ctx:      ctx,
		stdout:   newOutput(true),
		stderr:   newOutput(false),
		logStart: r.log.len(),
		exited:   make(chan struct{}),
		started:  time.Now(),
	}
	p.cmd = exec.CommandContext(ctx, c.command[0], append(c.command[1:], args...)...)
	p.cmd.Dir = c.dir
	p.cmd.Env = append(os.Environ(), c.env...)
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.commandLine(), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.elapsed = time.Since(p.started)
		close(p.exited)
	}()
	return p
}

func (p *proc) wait() error {
	<-p.exited
	return p.err
}

func (p *proc) commandLine() string {
	return strings.Join(append(append([]string{}, p.c.command...), p.args...), " ")
}

func (p *proc) exitDescription(err error) string {
	switch {
	case err == nil:
		return "exited 0"
	case p.ctx.Err() != nil:
		return fmt.Sprintf("killed after %v (%v): %v", p.elapsed.Round(time.Millisecond), p.ctx.Err(), err)
	default:
		return fmt.Sprintf("failed after %v: %v", p.elapsed.Round(time.Millisecond), err)
	}
}

// result is one RESULT line of a client script.
type result struct {
	Scenario string          `json:"scenario"`
	OK       bool            `json:"ok"`
	Errors   []string        `json:"errors"`
	Info     json.RawMessage `json:"info"`
	Seconds  float64         `json:"seconds"`
}

func (p *proc) results() map[string]result {
	out := map[string]result{}
	for _, line := range strings.Split(p.stdout.String(), "\n") {
		rest, ok := strings.CutPrefix(line, "RESULT ")
		if !ok {
			continue
		}
		var res result
		if err := json.Unmarshal([]byte(rest), &res); err != nil {
			res = result{Errors: []string{fmt.Sprintf("unparsable RESULT line %q: %v", rest, err)}}
		}
		out[res.Scenario] = res
	}
	return out
}

func (p *proc) checkResults(t *testing.T, scenario string) {
	t.Helper()
	res, ok := p.results()[scenario]
	switch {
	case !ok:
		t.Errorf("%s printed no RESULT", scenario)
	case !res.OK:
		for _, e := range res.Errors {
			t.Errorf("%s: %s", scenario, e)
		}
	}
}

func (p *proc) report(t *testing.T, r *router) {
	t.Helper()
	<-p.exited
	t.Logf("client: %s (in %s, %s)\n--- stdout ---\n%s\n--- stderr ---\n%s\n--- router log while it ran ---\n%s",
		p.commandLine(), p.c.dir, p.exitDescription(p.err),
		p.stdout.String(), p.stderr.tail(routerLogLimit), r.log.since(p.logStart, routerLogLimit))
}

// --- output ----------------------------------------------------------------

// output collects a process's output; it may be written and read at once.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	watch   bool
	scanned int
	ready   chan struct{} // closed at the first line "READY" if watch
	seen    bool
}

func newOutput(watchReady bool) *output {
	return &output{watch: watchReady, ready: make(chan struct{})}
}

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(b)
	for o.watch && !o.seen {
		rest := o.buf.Bytes()[o.scanned:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		o.scanned += i + 1
		if string(bytes.TrimSpace(rest[:i])) == "READY" {
			o.seen = true
			close(o.ready)
		}
	}
	return len(b), nil
}

func (o *output) sawReady() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func (o *output) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Len()
}

// since returns what was written after offset off, at most limit bytes (the
// last ones).
func (o *output) since(off, limit int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return clip(o.buf.Bytes()[off:], limit)
}

func (o *output) tail(limit int) string { return o.since(0, limit) }

func clip(b []byte, limit int) string {
	if len(b) <= limit {
		return string(b)
	}
	return fmt.Sprintf("[... %d bytes left out ...]\n%s", len(b)-limit, b[len(b)-limit:])
}
