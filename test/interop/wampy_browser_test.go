package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	goclient "github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/internal/browsertest"
	"github.com/junction-wamp/junction/wamp"
	"go.uber.org/goleak"
)

// TestInteropWampyBrowser runs wampy.js where its users do, in a browser:
// headless Chromium (Debian's chromium, driven by playwright-core) opens
// wampy/browser/index.html, which loads wampy's browser build from its npm
// package (dist/browser: no bundler, no Node) and joins the router over
// the browser's own WebSocket with each serializer. MessagePack and CBOR
// are msgpackr's and cbor-x's browser code there, without Buffer or the
// native cbor-extract, which is what this test is for. Per serializer the
// page (wampy/browser/page.mjs) checks, one subtest each, e.g.
// TestInteropWampyBrowser/cbor/binary-event:
//
//   - pubsub: an acknowledged publication with exclude_me false reaches
//     another session and the publisher itself, args and kwargs intact;
//   - rpc: a call's args and kwargs reach the callee and come back intact;
//   - rpc-error: a callee's application error reaches the caller with its
//     URI, args and kwargs, and the callee goes on;
//   - binary-call, binary-event (msgpack and cbor): Uint8Arrays (all byte
//     values, empty, nested) with the other kinds of value round-trip
//     through a call and an event;
//   - go-event, go-call: the page publishes and calls to a Go client
//     session of the same serializer (package client, imported as
//     goclient), which checks the values it decodes (bytes as []byte,
//     integers as integers) and the publication id, and the Go callee
//     answers with its own encoding of them, which the page checks in
//     turn;
//   - session: both sessions leave with the router's GOODBYE and wampy
//     reported no error.
//
// Chromium, Node.js and wampy/node_modules (playwright-core, wampy) are
// required, as .ci/deps installs them: without them the test fails, unless
// JUNCTION_SKIP_INTEROP=1 says to skip it, as for the other browser tests.
func TestInteropWampyBrowser(t *testing.T) {
	chromium := browsertest.Require(t, "wampy", "test/interop/wampy", "playwright-core", "wampy")
	// Registered first, so checked last: once the Go sessions, the page's
	// server and the router are gone, no goroutine of theirs is left.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	r := startRouter(t, routerBinary(t))
	page := httptest.NewServer(browserPageHandler())
	t.Cleanup(page.Close)

	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	peers := make(map[string]*goPeer)
	for _, s := range browserSerializers {
		peers[s.name] = startGoPeer(ctx, t, r, s.name, s.format)
	}

	q := url.Values{"router": {r.url("websocket")}, "prefix": {browserPrefix}}
	cmd := exec.CommandContext(ctx, "node", "check.mjs", page.URL+"/?"+q.Encode())
	cmd.Dir = filepath.Join("wampy", "browser")
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	cmd.WaitDelay = stopTimeout
	stderr := newOutput(false)
	cmd.Stderr = stderr
	logStart := r.log.len()
	stdout, err := cmd.Output()
	defer func() {
		if t.Failed() {
			t.Logf("node check.mjs (in %s): %v\n--- stderr (the page's console) ---\n%s\n--- router log while it ran ---\n%s",
				cmd.Dir, err, stderr.tail(routerLogLimit), r.log.since(logStart, routerLogLimit))
		}
	}()
	var out struct {
		Report *struct {
			Done        bool
			Errors      []string
			Serializers map[string]struct {
				Checks        map[string][]string
				GoPublication string
			}
		}
		PageErrors []string
		Driver     string
	}
	if jerr := json.Unmarshal(stdout, &out); jerr != nil || out.Report == nil {
		t.Fatalf("check.mjs (%v) printed %q, not a page report (%v)", err, stdout, jerr)
	}
	if out.Driver != "" || !out.Report.Done {
		t.Errorf("the page did not finish its checks: %s", out.Driver)
	}
	for _, e := range append(out.Report.Errors, out.PageErrors...) {
		t.Errorf("page: %s", e)
	}

	for _, s := range browserSerializers {
		t.Run(s.name, func(t *testing.T) {
			res := out.Report.Serializers[s.name]
			for name := range res.Checks {
				if !slices.Contains(s.checks, name) {
					t.Errorf("the page reports a check %q this test does not know", name)
				}
			}
			p := peers[s.name]
			for _, name := range s.checks {
				t.Run(name, func(t *testing.T) {
					failures, ok := res.Checks[name]
					if !ok {
						t.Fatalf("the page reports no check %s", name)
					}
					for _, f := range failures {
						t.Error(f)
					}
					// What the Go peer got: waited for if the page's side of
					// the check passed, else taken if it is there.
					wait := time.Duration(0)
					if len(failures) == 0 {
						wait = goPeerWait
					}
					switch name {
					case "go-event":
						p.checkEvent(t, res.GoPublication, wait)
					case "go-call":
						p.checkCall(t, wait)
					}
				})
			}
		})
	}
}

const (
	// browserTimeout bounds the whole run: the page reports within 20s
	// (page.mjs's DEADLINE), check.mjs gives up after 30s.
	browserTimeout = time.Minute
	// browserPrefix starts every URI of the page; each serializer adds its
	// name (the page's sessions and the Go peer's meet under it).
	browserPrefix = "interop.browser"
	// goPeerWait bounds the wait for what the page sent the Go peer, once
	// the page has finished: the router acknowledged it by then.
	goPeerWait = 10 * time.Second
)

// browserSerializers are the page's serializers, the Go client's format
// for each, and the checks the page reports for each, in its order.
var browserSerializers = []struct {
	name   string
	format wamp.Format
	checks []string
}{
	{"json", wamp.FormatJSON, []string{"pubsub", "rpc", "rpc-error", "go-event", "go-call", "session"}},
	{"msgpack", wamp.FormatMsgPack, []string{"pubsub", "rpc", "rpc-error", "binary-call", "binary-event", "go-event", "go-call", "session"}},
	{"cbor", wamp.FormatCBOR, []string{"pubsub", "rpc", "rpc-error", "binary-call", "binary-event", "go-event", "go-call", "session"}},
}

// browserPageHandler serves the page (wampy/browser: index.html and
// page.mjs with values.mjs, its ES modules) and, under /wampy/, wampy's
// browser build from its npm package. Nothing else: not check.mjs, nor
// the rest of node_modules.
func browserPageHandler() http.Handler {
	dir := filepath.Join("wampy", "browser")
	mux := http.NewServeMux()
	for path, file := range map[string]string{
		"/{$}":               filepath.Join(dir, "index.html"),
		"/page.mjs":          filepath.Join(dir, "page.mjs"),
		"/values.mjs":        filepath.Join(dir, "values.mjs"),
		"/jscheck/values.js": filepath.Join("jscheck", "values.js"),
	} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, file)
		})
	}
	build := filepath.Join("wampy", "node_modules", "wampy", "dist", "browser")
	mux.Handle("GET /wampy/", http.StripPrefix("/wampy/", http.FileServer(http.Dir(build))))
	return mux
}

// --- the Go peer -----------------------------------------------------------

// A goPeer is a Go client session (package client, imported as goclient) in the page's
// serializer, subscribed to PREFIX.S.go.events and registered as
// PREFIX.S.go.reply, which checks what the page sends it against
// browserPayload: what the Go side decodes from wampy's bytes in a browser.
type goPeer struct {
	serializer string
	events     chan goReceived
	calls      chan goReceived
}

// goReceived is one event or invocation: its publication id (events) and
// how its payload differs from browserPayload.
type goReceived struct {
	publication wamp.ID
	diffs       []string
}

func startGoPeer(ctx context.Context, t *testing.T, r *router, serializer string, format wamp.Format) *goPeer {
	t.Helper()
	p := &goPeer{serializer: serializer, events: make(chan goReceived, 4), calls: make(chan goReceived, 4)}
	s, err := goclient.Dial(ctx, r.url("websocket"), "realm1", &goclient.Options{Serializer: format})
	if err != nil {
		t.Fatalf("Go client, %s: %v", serializer, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Go client, %s: leaving: %v", serializer, err)
		}
	})
	uri := browserPrefix + "." + serializer + ".go."
	// The sends never block: a second event or call, which the page never
	// makes, is counted by checkEvent and checkCall while they fit.
	if _, err := s.Subscribe(ctx, uri+"events", func(ev *goclient.Event) {
		select {
		case p.events <- goReceived{ev.Publication, payloadDiff(ev.Args, ev.Kwargs, serializer)}:
		default:
		}
	}, nil); err != nil {
		t.Fatalf("Go client, %s: %v", serializer, err)
	}
	if _, err := s.Register(ctx, uri+"reply", func(_ context.Context, inv *goclient.Invocation) (*goclient.Result, error) {
		select {
		case p.calls <- goReceived{diffs: payloadDiff(inv.Args, inv.Kwargs, serializer)}:
		default:
		}
		args, kwargs := browserPayload(serializer)
		return &goclient.Result{Args: args, Kwargs: kwargs}, nil
	}, nil); err != nil {
		t.Fatalf("Go client, %s: %v", serializer, err)
	}
	return p
}

// checkEvent checks the event the page published to the Go peer: one, with
// the publication id the page's PUBLISHED gave (publication, as the page
// reports it) and the payload intact.
func (p *goPeer) checkEvent(t *testing.T, publication string, wait time.Duration) {
	t.Helper()
	got, ok := receive(t, p.events, "the page's event on "+browserPrefix+"."+p.serializer+".go.events", wait)
	if !ok {
		return
	}
	if want := strconv.FormatUint(uint64(got.publication), 10); publication != want {
		t.Errorf("the Go subscriber got publication %s, the page's publish was acknowledged with %q", want, publication)
	}
	for _, d := range got.diffs {
		t.Errorf("the Go subscriber got %s", d)
	}
	if n := len(p.events); n > 0 {
		t.Errorf("the Go subscriber got %d more events", n)
	}
}

// checkCall checks the invocation the page's call made of the Go peer.
func (p *goPeer) checkCall(t *testing.T, wait time.Duration) {
	t.Helper()
	got, ok := receive(t, p.calls, "the page's call of "+browserPrefix+"."+p.serializer+".go.reply", wait)
	if !ok {
		return
	}
	for _, d := range got.diffs {
		t.Errorf("the Go callee got %s", d)
	}
	if n := len(p.calls); n > 0 {
		t.Errorf("the Go callee got %d more calls", n)
	}
}

// receive takes what ch has, waiting at most wait for it.
func receive(t *testing.T, ch <-chan goReceived, what string, wait time.Duration) (goReceived, bool) {
	t.Helper()
	select {
	case got := <-ch:
		return got, true
	default:
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case got := <-ch:
		return got, true
	case <-timer.C:
		t.Errorf("the Go peer did not get %s (waited %v)", what, wait)
		return goReceived{}, false
	}
}

// --- the payloads ----------------------------------------------------------

// browserText is jscheck/values.js's TEXT: non-ASCII, an emoji included.
const browserText = "h\u00e9llo \u2713 \U0001F600"

// browserPayload is what the page sends the Go peer (values.mjs's fromGo
// in page.mjs) as the Go client decodes it, and what the Go callee answers
// with: with JSON, plain() (wampy's JSON has no binary convention); with
// MessagePack and CBOR the cross-client binary payload, binary(): [BLOB]
// and bytesKwargs, as jscheck/values.js and python/interop_lib.py have it.
// Integers are int64: the page sends those beyond 32 bits as BigInts,
// which msgpackr and cbor-x write as 64-bit integers.
func browserPayload(serializer string) (wamp.List, wamp.Dict) {
	typed := wamp.Dict{
		"int": int64(42), "neg": int64(-7), "big": int64(1<<53 - 1), "float": 0.5, "pi": math.Pi,
		"negbig": -int64(1<<53 - 1), "zero": int64(0), "true": true, "false": false, "null": nil,
		"str": browserText, "list": wamp.List{int64(1), "two", 3.5}, "map": wamp.Dict{"a": int64(1)},
	}
	if serializer == "json" {
		args := wamp.List{"plain", browserText, int64(42), int64(-7), int64(0), int64(1<<53 - 1), -int64(1<<53 - 1),
			0.5, math.Pi, true, false, nil, wamp.List{int64(1), "two", 3.5}, wamp.Dict{}}
		return args, wamp.Dict{"typed": typed, "empty_list": wamp.List{}, "empty_map": wamp.Dict{},
			"nested": wamp.Dict{"list": wamp.List{int64(1), nil, 1.5, int64(-1)}}}
	}
	blob := make([]byte, 0, 256+13)
	for i := range 256 {
		blob = append(blob, byte(i))
	}
	blob = append(append(append(blob, 0, 0), "junction"...), 0xff, 0xfe, 0x80)
	return wamp.List{blob}, wamp.Dict{
		"blob":   blob,
		"empty":  []byte{},
		"nested": wamp.Dict{"list": wamp.List{[]byte{1, 2, 3}}, "text": "not binary"},
		"typed":  typed,
	}
}

// payloadDiff compares args and kwargs as decoded with browserPayload.
func payloadDiff(args wamp.List, kwargs wamp.Dict, serializer string) []string {
	wantArgs, wantKwargs := browserPayload(serializer)
	return append(valueDiff("args", args, wantArgs), valueDiff("kwargs", kwargs, wantKwargs)...)
}

// valueDiff compares a decoded value (the codec's model: nil, bool, int64,
// uint64, float64, string, []byte, lists, dicts) with want strictly: the
// same Go type and value, so that an integer that came as a float, or
// bytes that came as a string or a list, differ. A nil list or dict is an
// empty one (an absent args or kwargs).
func valueDiff(path string, got, want any) []string {
	mismatch := []string{fmt.Sprintf("%s: %s, want %s", path, describeValue(got), describeValue(want))}
	switch w := want.(type) {
	case []byte:
		g, ok := got.([]byte)
		if !ok {
			return mismatch
		}
		if !bytes.Equal(g, w) {
			i := 0
			for i < len(g) && i < len(w) && g[i] == w[i] {
				i++
			}
			at := "the lengths differ"
			if i < len(g) && i < len(w) {
				at = fmt.Sprintf("first difference at byte %d: %#02x, want %#02x", i, g[i], w[i])
			}
			return []string{fmt.Sprintf("%s: %s, want %s (%s)", path, describeValue(g), describeValue(w), at)}
		}
		return nil
	case wamp.List:
		g, ok := got.(wamp.List)
		if !ok && got != nil {
			return mismatch
		}
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s: %d items %s, want %d items %s", path, len(g), describeValue(g), len(w), describeValue(w))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, valueDiff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i])...)
		}
		return diffs
	case wamp.Dict:
		g, ok := got.(wamp.Dict)
		if !ok && got != nil {
			return mismatch
		}
		keys := make(map[string]bool)
		for k := range g {
			keys[k] = true
		}
		for k := range w {
			keys[k] = true
		}
		var diffs []string
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			gv, inGot := g[k]
			wv, inWant := w[k]
			switch {
			case !inGot:
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing", path, k))
			case !inWant:
				diffs = append(diffs, fmt.Sprintf("%s.%s: unexpected %s", path, k, describeValue(gv)))
			default:
				diffs = append(diffs, valueDiff(path+"."+k, gv, wv)...)
			}
		}
		return diffs
	default:
		// Scalars: comparable, and equal only with the same dynamic type.
		if got != want {
			return mismatch
		}
		return nil
	}
}

// describeValue shows a value with its Go type, bytes as their length and
// first 16 bytes in hex, at most 200 characters.
func describeValue(v any) string {
	var s string
	if b, ok := v.([]byte); ok {
		s = fmt.Sprintf("[]byte %d bytes %x", len(b), b[:min(len(b), 16)])
	} else {
		s = fmt.Sprintf("%T %v", v, v)
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
