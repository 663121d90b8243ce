package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

const benchUsage = `usage: junction bench idle|rpc|fanout [flags]

Load-test any WAMP router. Every scenario stops by itself: -warmup (not
measured) and then -duration.

  idle     open -sessions sessions, each subscribed to -topic, and hold them;
           report the router's memory per session (with -pid), then publish
           one event and check that every session receives it.
  rpc      one callee registers -procedure (an echo); -callers sessions each
           keep -inflight calls in flight (closed loop) or together offer
           -rate calls/s; report calls/s, latency percentiles, errors and the
           router's CPU per call (with -pid).
  fanout   -subscribers sessions on -topic, one publisher at -rate events/s
           (0: each publication acknowledged before the next); report events
           published and delivered, losses, delivery latency and the
           router's CPU per delivered event (with -pid).

With -rate, each request is scheduled at its intended send time and its
latency counts from that time, so a stalled router shows up in the
percentiles instead of slowing the load down (no coordinated omission).

A process may hold at most 20,000 open files here. For more idle sessions,
run several processes, each with part of the sessions (and its own
-source-addrs when the router is on one address and port: one source
address gives about 28,000 connections to it); each process checks delivery
to its own sessions only and reports the router's memory growth over its
own dial phase, so start them one after the other for a clean figure.

For a cluster, give -url a comma-separated list of nodes: the sessions go
to them in turn (the fan-out's publisher and idle's check event to the
first; the fan-out waits until every subscriber is reachable from it), and
-callee-url puts the rpc callee on another node than the callers. -pid takes
the nodes' process ids, comma-separated: CPU and memory are their sums.

Flags that name a scenario in their help are for that scenario only: given
to another, they are an error rather than ignored. -stalled dials without
TLS (ws://, rs://, tcp:// or unix://).

The exit status is 1 when a check fails: a session not held, an event lost,
a call that failed.
`

// benchConfig is what the flags set.
type benchConfig struct {
	scenario        string
	url             string   // the first of urls: the report's, the publisher's
	urls            []string // sessions are spread over these in turn
	calleeURL       string   // rpc: the callee's router, -url's first by default
	realm           string
	serializer      wamp.Format
	sessions        int
	callers         int
	inflight        int
	subscribers     int
	stalled         int
	payload         int
	rate            float64
	duration        time.Duration
	warmup          time.Duration
	settle          time.Duration
	pids            []int // the routers' processes, sampled together
	sourceAddrs     []net.IP
	jsonFile        string
	topic           string
	procedure       string
	dialConcurrency int
	cpuProfile      string
}

// runBench runs `junction bench SCENARIO [flags]`: progress once a second on
// stderr, a one-line summary on stdout, the JSON report in -json.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseBenchFlags(args, stdout)
	if err != nil {
		return err
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench(ctx, cfg, stderr)
	if rep != nil {
		fmt.Fprintln(stdout, rep.summary())
		if cfg.jsonFile != "" {
			b, jerr := json.MarshalIndent(rep, "", "  ")
			if jerr == nil {
				jerr = os.WriteFile(cfg.jsonFile, append(b, '\n'), 0o644)
			}
			if jerr != nil {
				return errors.Join(err, fmt.Errorf("writing the JSON report: %w", jerr))
			}
		}
	}
	return err
}

// parseBenchFlags reads the command line; --help goes to stdout.
func parseBenchFlags(args []string, stdout io.Writer) (*benchConfig, error) {
	fs := newFlagSet("bench", benchUsage)
	cfg := &benchConfig{}
	var serializer, sources, urls, pids string
	fs.StringVar(&urls, "url", "ws://127.0.0.1:8080/ws", "router URL: ws://, wss://, rs://, rss:// or unix:///path; a comma-separated list spreads the sessions over the nodes of a cluster in turn")
	fs.StringVar(&cfg.calleeURL, "callee-url", "", "rpc: the callee's router URL (default: the first -url), e.g. another node of a cluster")
	fs.StringVar(&cfg.realm, "realm", "realm1", "realm to join")
	fs.StringVar(&serializer, "serializer", "json", "json, msgpack or cbor")
	fs.IntVar(&cfg.sessions, "sessions", 1000, "idle: sessions to open and hold")
	fs.IntVar(&cfg.callers, "callers", 8, "rpc: caller sessions")
	fs.IntVar(&cfg.inflight, "inflight", 16, "rpc: calls each caller keeps in flight")
	fs.IntVar(&cfg.subscribers, "subscribers", 100, "fanout: subscriber sessions")
	fs.IntVar(&cfg.stalled, "stalled", 0, "fanout: extra subscribers that stop reading once subscribed (the others must not notice)")
	fs.IntVar(&cfg.payload, "payload", 64, "rpc, fanout: payload bytes in each call or event")
	fs.Float64Var(&cfg.rate, "rate", 0, "rpc: calls/s offered in total; fanout: events/s published; 0 runs a closed loop")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to measure (idle: to hold the sessions)")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "rpc, fanout: load before measuring, not counted")
	fs.DurationVar(&cfg.settle, "settle", 500*time.Millisecond, "idle: how long the router is left after the dial phase before its memory is read (a TLS router drops idle connections' ciphers after 2s and gives a connect storm's memory back once it is over)")
	fs.StringVar(&pids, "pid", "", "the router's process id: sample its memory and CPU from /proc; a comma-separated list sums the processes (the nodes of a cluster)")
	fs.StringVar(&sources, "source-addrs", "", "comma-separated local addresses to spread connections over, e.g. 127.0.0.1,127.0.0.2")
	fs.StringVar(&cfg.jsonFile, "json", "", "write a JSON report to this file")
	fs.StringVar(&cfg.topic, "topic", "junction.bench.topic", "idle, fanout: topic")
	fs.StringVar(&cfg.procedure, "procedure", "junction.bench.echo", "rpc: procedure")
	fs.IntVar(&cfg.dialConcurrency, "dial-concurrency", 64, "sessions opened at once")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile to this file")

	rest, err := fs.parse(args, stdout)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		return nil, fs.usageError("name a scenario: idle, rpc or fanout")
	}
	cfg.scenario = rest[0]
	switch cfg.scenario {
	case "idle", "rpc", "fanout":
	default:
		return nil, fs.usageError(fmt.Sprintf("unknown scenario %q: idle, rpc or fanout", cfg.scenario))
	}
	if err := fs.noArgs(rest[1:]); err != nil {
		return nil, err
	}
	switch serializer {
	case "json":
		cfg.serializer = wamp.FormatJSON
	case "msgpack":
		cfg.serializer = wamp.FormatMsgPack
	case "cbor":
		cfg.serializer = wamp.FormatCBOR
	default:
		return nil, fmt.Errorf("-serializer %q: json, msgpack or cbor", serializer)
	}
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u == "" {
			return nil, fmt.Errorf("-url %q: an empty URL in the list", urls)
		}
		cfg.urls = append(cfg.urls, u)
	}
	cfg.url = cfg.urls[0]
	if cfg.calleeURL == "" {
		cfg.calleeURL = cfg.url
	}
	if pids != "" {
		for _, a := range strings.Split(pids, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(a))
			if err != nil || pid <= 0 {
				return nil, fmt.Errorf("-pid: %q is not a process id", a)
			}
			cfg.pids = append(cfg.pids, pid)
		}
	}
	if sources != "" {
		for _, a := range strings.Split(sources, ",") {
			ip := net.ParseIP(strings.TrimSpace(a))
			if ip == nil {
				return nil, fmt.Errorf("-source-addrs: %q is not an IP address", a)
			}
			cfg.sourceAddrs = append(cfg.sourceAddrs, ip)
		}
	}
	for _, c := range []struct {
		name string
		v    int
		min  int
	}{
		{"sessions", cfg.sessions, 1}, {"callers", cfg.callers, 1}, {"inflight", cfg.inflight, 1},
		{"subscribers", cfg.subscribers, 1}, {"stalled", cfg.stalled, 0}, {"payload", cfg.payload, 0},
		{"dial-concurrency", cfg.dialConcurrency, 1},
	} {
		if c.v < c.min {
			return nil, fmt.Errorf("-%s %d: must be at least %d", c.name, c.v, c.min)
		}
	}
	if math.IsNaN(cfg.rate) || math.IsInf(cfg.rate, 0) {
		return nil, fs.usageError(fmt.Sprintf("-rate %v: calls or events per second, a finite number (0: a closed loop)", cfg.rate))
	}
	if cfg.rate < 0 || cfg.duration <= 0 || cfg.warmup < 0 || cfg.settle < 0 {
		return nil, errors.New("-rate, -warmup and -settle must not be negative, -duration must be positive")
	}
	// A flag of another scenario would be ignored: the run would not be
	// the one asked for.
	var wrong error
	fs.Visit(func(f *flag.Flag) {
		if for_, ok := benchFlagScenarios[f.Name]; ok && wrong == nil && !strings.Contains(for_, cfg.scenario) {
			wrong = fs.usageError(fmt.Sprintf("-%s is for %s, not %s", f.Name, for_, cfg.scenario))
		}
	})
	if wrong != nil {
		return nil, wrong
	}
	if cfg.stalled > 0 {
		// dialStalled speaks the protocol itself, without TLS.
		scheme, _, _ := strings.Cut(cfg.url, "://")
		switch scheme {
		case "ws", "rs", "tcp", "unix":
		default:
			return nil, fs.usageError(fmt.Sprintf("-stalled needs a ws://, rs:// (tcp://) or unix:// URL, not %s://", scheme))
		}
	}
	return cfg, nil
}

// benchFlagScenarios names the scenarios of the flags that not every
// scenario uses.
var benchFlagScenarios = map[string]string{
	"sessions":    "idle",
	"settle":      "idle",
	"callers":     "rpc",
	"inflight":    "rpc",
	"procedure":   "rpc",
	"callee-url":  "rpc",
	"subscribers": "fanout",
	"stalled":     "fanout",
	"payload":     "rpc and fanout",
	"rate":        "rpc and fanout",
	"warmup":      "rpc and fanout",
	"topic":       "idle and fanout",
}

// bench runs the configured scenario. The report is returned even when a
// check failed (the error says which).
func bench(ctx context.Context, cfg *benchConfig, stderr io.Writer) (*benchReport, error) {
	rep := &benchReport{
		Scenario:   cfg.scenario,
		URL:        cfg.url,
		Realm:      cfg.realm,
		Serializer: cfg.serializer.String(),
		Rate:       cfg.rate,
		Started:    time.Now().UTC().Format(time.RFC3339),
	}
	if cfg.scenario != "idle" {
		rep.Payload = cfg.payload
	}
	if len(cfg.pids) > 0 {
		if _, err := sampleProcs(cfg.pids); err != nil {
			return nil, fmt.Errorf("-pid: %w", err)
		}
		rep.Router = &routerReport{PID: cfg.pids[0]}
		if len(cfg.pids) > 1 {
			rep.Router.PIDs = cfg.pids
		}
	}
	b := &benchRun{cfg: cfg, rep: rep, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	switch cfg.scenario {
	case "idle":
		return rep, b.idle(ctx)
	case "rpc":
		return rep, b.rpc(ctx)
	default:
		return rep, b.fanout(ctx)
	}
}

// benchRun is one scenario's run.
type benchRun struct {
	cfg    *benchConfig
	rep    *benchReport
	stderr io.Writer
	// logger for the sessions: warnings only, on stderr.
	log *slog.Logger
}

// options returns the client options of the i-th session.
func (b *benchRun) options(i int, url string, readBuffer int) *client.Options {
	o := &client.Options{
		Serializer:     b.cfg.serializer,
		Agent:          "junction-bench",
		ReadBufferSize: readBuffer,
		Dialer:         &net.Dialer{Timeout: 10 * time.Second},
	}
	if n := len(b.cfg.sourceAddrs); n > 0 && !strings.HasPrefix(url, "unix:") {
		o.Dialer.LocalAddr = &net.TCPAddr{IP: b.cfg.sourceAddrs[i%n]}
	}
	o.Logger = b.log
	return o
}

// dialAll opens n sessions, at most -dial-concurrency at a time, calling
// setup on each (to subscribe, say) before it counts as held. Session i
// goes to urls[(first+i) % len(urls)]: the nodes of a cluster in turn,
// starting from the first for the first session of a run. It returns
// the sessions held (nil where the dial or setup failed), the number of
// failures and the first error.
func (b *benchRun) dialAll(ctx context.Context, urls []string, n, first int, readBuffer int, what string,
	setup func(i int, s *client.Session) error) ([]*client.Session, int, error) {
	sessions := make([]*client.Session, n)
	var (
		next     atomic.Int64
		failed   atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	stop := b.progress(ctx, func(el time.Duration) string {
		return fmt.Sprintf("%s: %d/%d sessions open, %d failed", what, int(next.Load())-int(failed.Load()), n, failed.Load())
	})
	defer stop()
	workers := min(b.cfg.dialConcurrency, n)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					next.Add(-1)
					return
				}
				dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				u := urls[(first+i)%len(urls)]
				s, err := client.Dial(dctx, u, b.cfg.realm, b.options(first+i, u, readBuffer))
				if err == nil && setup != nil {
					if err = setup(i, s); err != nil {
						s.Close(dctx)
					}
				}
				cancel()
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				sessions[i] = s
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil && firstErr == nil {
		firstErr = ctx.Err()
	}
	return sessions, int(failed.Load()), firstErr
}

// closeAll closes the sessions, a few at a time, each within a short wait.
func (b *benchRun) closeAll(sessions []*client.Session) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, b.cfg.dialConcurrency)
	for _, s := range sessions {
		if s == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.Close(ctx)
			cancel()
		}()
	}
	wg.Wait()
}

// progress prints line() to stderr once a second until the returned stop is
// called (once or more).
func (b *benchRun) progress(ctx context.Context, line func(elapsed time.Duration) string) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintln(b.stderr, line(time.Since(start).Round(time.Second)))
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// payloadBytes returns n random bytes: a binary argument, so every
// serializer carries it in its binary form (JSON as base64).
func payloadBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

// sleepUntil waits until t or ctx, reporting false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
