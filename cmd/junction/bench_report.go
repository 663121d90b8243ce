package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// benchReport is the result of one run, printed as a summary line and
// written as JSON with -json.
type benchReport struct {
	Scenario   string  `json:"scenario"`
	URL        string  `json:"url"`
	Realm      string  `json:"realm"`
	Serializer string  `json:"serializer"`
	Started    string  `json:"started"`
	Measured   float64 `json:"measured_seconds"`

	// idle
	Sessions     int `json:"sessions,omitempty"`
	SessionsHeld int `json:"sessions_held,omitempty"`
	DialFailures int `json:"dial_failures,omitempty"`
	// SessionsAtEnd is how many sessions were still open when the hold
	// ended.
	SessionsAtEnd int `json:"sessions_at_end,omitempty"`
	// The load generator's own cost of an idle session: live heap and
	// goroutine stacks, and goroutines.
	ClientBytesPerSession      float64 `json:"client_bytes_per_session,omitempty"`
	ClientGoroutinesPerSession float64 `json:"client_goroutines_per_session,omitempty"`

	// rpc
	Callers     int     `json:"callers,omitempty"`
	Inflight    int     `json:"inflight,omitempty"`
	Calls       int64   `json:"calls,omitempty"`
	CallsPerSec float64 `json:"calls_per_second,omitempty"`

	// fanout and idle
	Subscribers   int     `json:"subscribers,omitempty"`
	Stalled       int     `json:"stalled_subscribers,omitempty"`
	Published     int64   `json:"published,omitempty"`
	PublishPerSec float64 `json:"published_per_second,omitempty"`
	Expected      int64   `json:"expected_deliveries,omitempty"`
	Delivered     int64   `json:"delivered"`
	Lost          int64   `json:"lost"`
	// Misordered counts the events a subscriber got out of the order
	// published, or twice (fanout: the spec's ordering guarantee); none
	// is counted as delivered.
	Misordered int64 `json:"misordered,omitempty"`

	Rate       float64 `json:"rate,omitempty"`
	Payload    int     `json:"payload_bytes,omitempty"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`

	Latency *latencyReport `json:"latency_us,omitempty"`
	Router  *routerReport  `json:"router,omitempty"`
}

// latencyReport holds percentiles in microseconds.
type latencyReport struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	Max   int64   `json:"max"`
}

// routerReport is what /proc said about the router process.
type routerReport struct {
	PID               int     `json:"pid"`
	PIDs              []int   `json:"pids,omitempty"` // all of them, when several were summed
	RSSBeforeKiB      int64   `json:"rss_before_kib,omitempty"`
	RSSAfterKiB       int64   `json:"rss_after_kib,omitempty"`
	RSSPerSessionByte float64 `json:"rss_per_session_bytes,omitempty"`
	SettleSeconds     float64 `json:"settle_s,omitempty"` // idle: the wait after the dial phase before RSSAfterKiB
	CPUSeconds        float64 `json:"cpu_seconds,omitempty"`
	CPUPerCallUs      float64 `json:"cpu_per_call_us,omitempty"`
	CPUPerEventUs     float64 `json:"cpu_per_event_us,omitempty"`
	// Context switches of the router's threads per call or delivered
	// event: where a router's CPU goes on a machine whose context
	// switches are dear (BENCHMARKS.md). Threads that exit during the
	// run take theirs with them.
	SwitchesPerOp *switchesReport `json:"ctx_switches_per_op,omitempty"`
}

// switchesReport is a count of context switches per operation.
type switchesReport struct {
	Voluntary   float64 `json:"voluntary"`   // the thread blocked: a wait, a sleep, a poll
	Involuntary float64 `json:"involuntary"` // the thread was preempted
}

func (r *benchReport) summary() string {
	var b strings.Builder
	switch r.Scenario {
	case "idle":
		fmt.Fprintf(&b, "idle: %d/%d sessions held, event delivered to %d/%d (%d lost)",
			r.SessionsHeld, r.Sessions, r.Delivered, r.Expected, r.Lost)
		if r.SessionsAtEnd != r.SessionsHeld {
			fmt.Fprintf(&b, ", %d open at the end", r.SessionsAtEnd)
		}
		if r.Router != nil && r.SessionsHeld > 0 {
			fmt.Fprintf(&b, ", router %+.1f KiB RSS/session", r.Router.RSSPerSessionByte/1024)
		}
	case "rpc":
		mode := fmt.Sprintf("%dx%d inflight", r.Callers, r.Inflight)
		if r.Rate > 0 {
			mode += fmt.Sprintf(" at %g calls/s offered", r.Rate)
		}
		fmt.Fprintf(&b, "rpc: %s, %.0f calls/s", mode, r.CallsPerSec)
		r.latency(&b)
		fmt.Fprintf(&b, ", %d errors", r.Errors)
		if r.Router != nil && r.Calls > 0 {
			fmt.Fprintf(&b, ", router %.1fus CPU/call", r.Router.CPUPerCallUs)
			r.Router.switches(&b, "call")
		}
	case "fanout":
		fmt.Fprintf(&b, "fanout: %d subscribers, %.0f events/s published, %d/%d delivered (%d lost)",
			r.Subscribers, r.PublishPerSec, r.Delivered, r.Expected, r.Lost)
		r.latency(&b)
		if r.Misordered > 0 {
			fmt.Fprintf(&b, ", %d out of order or twice", r.Misordered)
		}
		if r.Errors > 0 {
			fmt.Fprintf(&b, ", %d publish errors", r.Errors)
		}
		if r.Router != nil && r.Delivered > 0 {
			fmt.Fprintf(&b, ", router %.2fus CPU/event", r.Router.CPUPerEventUs)
			r.Router.switches(&b, "event")
		}
	}
	return b.String()
}

// switches adds the router's context switches per op to a summary.
func (r *routerReport) switches(b *strings.Builder, op string) {
	if s := r.SwitchesPerOp; s != nil {
		fmt.Fprintf(b, ", %.3f context switches/%s", s.Voluntary+s.Involuntary, op)
	}
}

func (r *benchReport) latency(b *strings.Builder) {
	if r.Latency == nil || r.Latency.Count == 0 {
		return
	}
	fmt.Fprintf(b, ", p50 %s p99 %s max %s", fmtMicros(r.Latency.P50), fmtMicros(r.Latency.P99), fmtMicros(r.Latency.Max))
}

// fmtMicros prints a latency in the unit that suits it.
func fmtMicros(us int64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%dus", us)
	case us < 1000_000:
		return strconv.FormatFloat(float64(us)/1000, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(float64(us)/1e6, 'f', 2, 64) + "s"
}

// Latencies are recorded in microseconds, up to a minute.
const maxLatencyUs = 60_000_000

// recorder is a set of histograms that goroutines record into without
// contending much: each records into the shard its index picks.
type recorder struct {
	shards []recShard
}

type recShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep shards' locks off one cache line
}

func newRecorder(shards int) *recorder {
	r := &recorder{shards: make([]recShard, shards)}
	for i := range r.shards {
		r.shards[i].h = hdrhistogram.New(1, maxLatencyUs, 3)
	}
	return r
}

func (r *recorder) record(i int, d time.Duration) {
	us := d.Microseconds()
	us = min(max(us, 1), maxLatencyUs)
	s := &r.shards[i%len(r.shards)]
	s.mu.Lock()
	s.h.RecordValue(us)
	s.mu.Unlock()
}

func (r *recorder) report() *latencyReport {
	all := hdrhistogram.New(1, maxLatencyUs, 3)
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		all.Merge(s.h)
		s.mu.Unlock()
	}
	return &latencyReport{
		Count: all.TotalCount(),
		Mean:  all.Mean(),
		P50:   all.ValueAtQuantile(50),
		P90:   all.ValueAtQuantile(90),
		P99:   all.ValueAtQuantile(99),
		P999:  all.ValueAtQuantile(99.9),
		Max:   all.Max(),
	}
}

// procSample is a reading of /proc/PID.
// measure samples the router again, records its CPU time and memory since
// before, and returns its CPU microseconds per one of n operations (0 when
// it could not be sampled or n is 0).
func (r *routerReport) measure(pids []int, before procSample, n int64) float64 {
	after, err := sampleProcs(pids)
	if err != nil {
		return 0
	}
	cpu := after.cpu - before.cpu
	r.CPUSeconds = cpu.Seconds()
	r.RSSBeforeKiB, r.RSSAfterKiB = before.rssKiB, after.rssKiB
	if n == 0 {
		return 0
	}
	if after.threads > 0 {
		r.SwitchesPerOp = &switchesReport{
			Voluntary:   float64(max(after.voluntary-before.voluntary, 0)) / float64(n),
			Involuntary: float64(max(after.involuntary-before.involuntary, 0)) / float64(n),
		}
	}
	return float64(cpu.Microseconds()) / float64(n)
}

// errorCount counts the failed operations of a run and keeps the first
// error's text; it is safe for concurrent use.
type errorCount struct {
	n     atomic.Int64
	first atomic.Pointer[string]
}

func (e *errorCount) add(err error) {
	e.n.Add(1)
	msg := err.Error()
	e.first.CompareAndSwap(nil, &msg)
}

// report writes the count and the first error into rep.
func (e *errorCount) report(rep *benchReport) {
	rep.Errors = e.n.Load()
	if p := e.first.Load(); p != nil {
		rep.FirstError = *p
	}
}

type procSample struct {
	rssKiB int64
	cpu    time.Duration // user + system
	// Context switches, summed over the process's threads (threads is
	// how many were read).
	voluntary, involuntary int64
	threads                int
}

// userHZ is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const userHZ = 100

// sampleProcs sums the samples of several processes: the nodes of a
// cluster, whose CPU per operation and memory per session are their sums.
func sampleProcs(pids []int) (procSample, error) {
	var sum procSample
	for _, pid := range pids {
		ps, err := sampleProc(pid)
		if err != nil {
			return sum, fmt.Errorf("process %d: %w", pid, err)
		}
		sum.rssKiB += ps.rssKiB
		sum.cpu += ps.cpu
		sum.voluntary += ps.voluntary
		sum.involuntary += ps.involuntary
		sum.threads += ps.threads
	}
	return sum, nil
}

// sampleProc reads VmRSS from /proc/PID/status, utime+stime from
// /proc/PID/stat and the context switches of each thread from
// /proc/PID/task/*/status (the process's own status counts its first
// thread's only).
func sampleProc(pid int) (procSample, error) {
	var ps procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	if v, ok := statusField(status, "VmRSS:"); ok {
		ps.rssKiB = v
	} else {
		return ps, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited meanwhile
		}
		v, _ := statusField(b, "voluntary_ctxt_switches:")
		iv, _ := statusField(b, "nonvoluntary_ctxt_switches:")
		ps.voluntary += v
		ps.involuntary += iv
		ps.threads++
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ps, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return ps, errors.New("/proc/PID/stat: too few fields")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return ps, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	ps.cpu = time.Duration(utime+stime) * time.Second / userHZ
	return ps, nil
}

// statusField is the number after name in a /proc status file.
func statusField(status []byte, name string) (int64, bool) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(name)); ok {
			f := strings.Fields(string(v))
			if len(f) == 0 {
				return 0, false
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
