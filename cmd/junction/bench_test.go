package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport"
)

// benchRouter starts a router and transport server on a loopback port and
// returns its address.
func benchRouter(t *testing.T) string {
	t.Helper()
	// Registered first, so it runs after every other cleanup: the router,
	// the server and every session must be gone by then.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	r, err := router.New(router.Config{Realms: []router.RealmConfig{{Name: "realm1", Anonymous: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &transport.Server{Router: r}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		srv.Shutdown(ctx)
		wg.Wait()
	})
	return ln.Addr().String()
}

func runBenchT(t *testing.T, args ...string) *benchReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	file := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := runBench(ctx, append(args, "-json", file), &stdout, &stderr)
	t.Logf("stdout: %s", stdout.String())
	if err != nil {
		t.Fatalf("bench %v: %v\nstderr:\n%s", args, err, stderr.String())
	}
	if lines := strings.Count(stdout.String(), "\n"); lines != 1 {
		t.Errorf("summary has %d lines, want 1", lines)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, b)
	}
	return &rep
}

func TestBenchIdle(t *testing.T) {
	addr := benchRouter(t)
	pid := os.Getpid() // the router runs in this process
	for _, url := range []string{"ws://" + addr + "/ws", "rs://" + addr} {
		rep := runBenchT(t, "idle", "-url", url, "-sessions", "50", "-duration", "1s", "-settle", "100ms",
			"-serializer", "msgpack", "-pid", itoa(pid), "-source-addrs", "127.0.0.1,127.0.0.2")
		if rep.SessionsHeld != 50 || rep.SessionsAtEnd != 50 || rep.DialFailures != 0 {
			t.Errorf("%s: held %d, at end %d, failures %d", url, rep.SessionsHeld, rep.SessionsAtEnd, rep.DialFailures)
		}
		if rep.Expected != 50 || rep.Delivered != 50 || rep.Lost != 0 {
			t.Errorf("%s: event delivered %d/%d, lost %d", url, rep.Delivered, rep.Expected, rep.Lost)
		}
		if rep.Router == nil || rep.Router.RSSBeforeKiB <= 0 || rep.Router.RSSAfterKiB <= 0 {
			t.Errorf("%s: router memory not sampled: %+v", url, rep.Router)
		}
	}
}

func TestBenchRPC(t *testing.T) {
	addr := benchRouter(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"closed-loop", []string{"-url", "ws://" + addr + "/ws", "-serializer", "json"}},
		{"fixed-rate", []string{"-url", "rs://" + addr, "-serializer", "cbor", "-rate", "500"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"rpc", "-callers", "2", "-inflight", "4", "-payload", "100",
				"-duration", "1s", "-warmup", "200ms", "-pid", itoa(os.Getpid())}, tc.args...)
			rep := runBenchT(t, args...)
			if rep.Errors != 0 || rep.Calls == 0 || rep.CallsPerSec <= 0 {
				t.Errorf("%d calls, %g/s, %d errors (%s)", rep.Calls, rep.CallsPerSec, rep.Errors, rep.FirstError)
			}
			if l := rep.Latency; l == nil || l.Count != rep.Calls || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
				t.Errorf("latency %+v for %d calls", rep.Latency, rep.Calls)
			}
			if rep.Router == nil || rep.Router.CPUPerCallUs <= 0 {
				t.Errorf("router CPU not sampled: %+v", rep.Router)
			} else if sw := rep.Router.SwitchesPerOp; sw == nil || sw.Voluntary <= 0 || sw.Involuntary < 0 {
				// Thousands of calls over sockets: the threads block
				// (in epoll, on futexes) many times.
				t.Errorf("router context switches not sampled: %+v", sw)
			}
			if rep.Rate > 0 && (rep.Calls < 300 || rep.Calls > 600) {
				t.Errorf("%d calls at 500/s for 1s", rep.Calls)
			}
		})
	}
}

func TestBenchFanout(t *testing.T) {
	addr := benchRouter(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"acknowledged", []string{"-url", "rs://" + addr, "-serializer", "msgpack"}},
		{"fixed-rate", []string{"-url", "ws://" + addr + "/ws", "-serializer", "json", "-rate", "200"}},
		// Two subscribers that never read: the others still get every event.
		{"stalled", []string{"-url", "rs://" + addr, "-serializer", "cbor", "-stalled", "2", "-payload", "4096"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"fanout", "-subscribers", "20", "-payload", "64",
				"-duration", "2s", "-warmup", "200ms"}, tc.args...)
			rep := runBenchT(t, args...)
			if rep.Published == 0 || rep.Expected != rep.Published*20 {
				t.Errorf("published %d, expected %d deliveries", rep.Published, rep.Expected)
			}
			if rep.Delivered != rep.Expected || rep.Lost != 0 || rep.Errors != 0 || rep.Misordered != 0 {
				t.Errorf("delivered %d of %d, lost %d, errors %d, out of order or twice %d", rep.Delivered, rep.Expected, rep.Lost, rep.Errors, rep.Misordered)
			}
			if l := rep.Latency; l == nil || l.Count != rep.Delivered || l.P50 > l.Max {
				t.Errorf("latency %+v for %d deliveries", rep.Latency, rep.Delivered)
			}
		})
	}
}

func TestBenchFlags(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"-url", "ws://x"},
		{"nosuch"},
		{"rpc", "-serializer", "xml"},
		{"rpc", "-callers", "0"},
		{"idle", "-source-addrs", "not-an-ip"},
		{"fanout", "extra"},
		{"rpc", "-duration", "0s"},
		{"idle", "-settle", "-1s"},
	} {
		var out, errOut bytes.Buffer
		if err := runBench(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("bench %q: no error", args)
		}
	}
}

// A failed check is an error, after the summary: here no router listens.
func TestBenchNoRouter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out, errOut bytes.Buffer
	err = runBench(context.Background(), []string{"idle", "-url", "rs://" + addr, "-sessions", "3", "-duration", "100ms"}, &out, &errOut)
	if err == nil || !strings.Contains(out.String(), "0/3 sessions held") {
		t.Errorf("bench without a router: %v, summary %q", err, out.String())
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestBenchRefusesFlagsItCannotUse: a flag of another scenario (which the
// run would ignore), a rate that is not a number of calls per second, and
// -stalled on a URL its hand-made sessions cannot dial are usage errors,
// said before any session is dialed (nothing listens at port 1).
func TestBenchRefusesFlagsItCannotUse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rpc", "-stalled", "2"}, "-stalled is for fanout, not rpc"},
		{[]string{"rpc", "-subscribers", "5"}, "-subscribers is for fanout, not rpc"},
		{[]string{"idle", "-rate", "100"}, "-rate is for rpc and fanout, not idle"},
		{[]string{"fanout", "-callers", "3"}, "-callers is for rpc, not fanout"},
		{[]string{"idle", "-procedure", "x.y"}, "-procedure is for rpc, not idle"},
		{[]string{"fanout", "-sessions", "3"}, "-sessions is for idle, not fanout"},
		{[]string{"rpc", "-rate", "NaN"}, "-rate NaN: "},
		{[]string{"fanout", "-rate", "+Inf"}, "-rate +Inf: "},
		{[]string{"fanout", "-stalled", "1", "-url", "wss://127.0.0.1:1/ws"}, "-stalled needs a ws://, rs:// (tcp://) or unix:// URL, not wss://"},
		{[]string{"fanout", "-stalled", "1", "-url", "rss://127.0.0.1:1"}, "-stalled needs a ws://, rs:// (tcp://) or unix:// URL, not rss://"},
	} {
		var out, errOut bytes.Buffer
		err := runBench(context.Background(), append([]string{"-url", "rs://127.0.0.1:1"}, tc.args...), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--help for more") {
			t.Errorf("bench %q: %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
	// The flags a scenario uses are accepted (the run then fails: no
	// router), whichever scenario they are for.
	for _, args := range [][]string{
		{"fanout", "-stalled", "1", "-url", "tcp://127.0.0.1:1", "-topic", "t", "-rate", "5", "-payload", "1", "-warmup", "0s"},
		{"rpc", "-callee-url", "rs://127.0.0.1:1", "-procedure", "p", "-callers", "1", "-inflight", "1"},
		{"idle", "-sessions", "1", "-settle", "0s", "-topic", "t"},
	} {
		var out, errOut bytes.Buffer
		err := runBench(context.Background(), append(args, "-duration", "1ms"), &out, &errOut)
		var ue *usageError
		if err == nil || errors.As(err, &ue) {
			t.Errorf("bench %q: %v, want the run's error", args, err)
		}
	}
}

// TestBenchIdleRouterRefuses: when no session could be held (the router
// refuses the realm), idle says so at once rather than holding nothing for
// -duration.
func TestBenchIdleRouterRefuses(t *testing.T) {
	addr := benchRouter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err := runBench(ctx, []string{"idle", "-url", "rs://" + addr, "-realm", "no.such.realm", "-sessions", "3", "-duration", "10m"}, &out, &errOut)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "3 of 3 sessions could not be opened") || !strings.Contains(err.Error(), "no_such_realm") {
		t.Errorf("idle against a router that refuses: %v (context: %v)\n%s", err, ctx.Err(), errOut.String())
	}
	if !strings.Contains(out.String(), "0/3 sessions held") {
		t.Errorf("summary %q", out.String())
	}
}
