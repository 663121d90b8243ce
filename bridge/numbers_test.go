package bridge_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/junction-wamp/junction/bridge"
	"github.com/junction-wamp/junction/client"
	"github.com/junction-wamp/junction/wamp"
)

// TestNumbersOutOfRange: a number that is valid JSON text but no 64-bit
// value (1e400 is no float64, 100000000000000000000 no integer of 64 bits)
// is refused (400), as the router's JSON serialization refuses it. Before,
// 1e400 was published as +Inf, which no JSON subscriber could be sent
// (acknowledged 200, delivered to none of them), and the integer was
// published rounded to a float.
func TestNumbersOutOfRange(t *testing.T) {
	s := start(t, nil)
	for _, n := range []string{"1e400", "-1e400", "100000000000000000000", "-9223372036854775809"} {
		for _, where := range []string{`"args": [` + n + `]`, `"kwargs": {"n": [` + n + `]}`} {
			status, body, raw := s.do(t, "POST", "/publish", "application/json", `{"topic": "com.example.n", `+where+`}`)
			if status != 400 || body["error"] != string(wamp.ErrInvalidArgument) || !strings.Contains(raw, n) {
				t.Errorf("publish %s: %d %s, want 400 invalid_argument naming the number", where, status, raw)
			}
		}
	}
	if n := s.b.Stats().Publications; n != 0 {
		t.Errorf("%d publications, want 0", n)
	}
	// What fits passes: the largest unsigned integer, a small float.
	if status, _, raw := s.do(t, "POST", "/publish", "application/json", `{"topic": "com.example.n", "args": [18446744073709551615, -9223372036854775808, 1e-400, 1.5e300]}`); status != 200 {
		t.Errorf("numbers that fit: %d %s", status, raw)
	}
}

// TestCallResultNotJSON: a callee (here over MessagePack) whose result
// JSON cannot carry (NaN) gets its caller a clear 502, counted as failed,
// not a call counted answered.
func TestCallResultNotJSON(t *testing.T) {
	s := start(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
	defer cancel()
	callee, err := client.Dial(ctx, "ws://"+s.addr+"/ws", "realm1", &client.Options{Serializer: wamp.FormatMsgPack})
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close(context.Background())
	if _, err := callee.Register(ctx, "com.example.nan", func(context.Context, *client.Invocation) (*client.Result, error) {
		return &client.Result{Args: wamp.List{math.NaN()}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := callee.Register(ctx, "com.example.nan_at_last", func(ctx context.Context, inv *client.Invocation) (*client.Result, error) {
		if err := inv.SendProgress(ctx, wamp.List{1}, nil); err != nil {
			return nil, err
		}
		return &client.Result{Args: wamp.List{math.Inf(1)}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	status, body, raw := s.do(t, "POST", "/call", "application/json", `{"procedure": "com.example.nan"}`)
	if status != 502 || body["error"] != string(bridge.ErrResultNotJSON) {
		t.Errorf("a NaN result: %d %s, want 502 %s", status, raw, bridge.ErrResultNotJSON)
	}
	// Streamed: the progressive result goes out, then an error event.
	status, _, raw = s.do(t, "POST", "/call", "application/json",
		`{"procedure": "com.example.nan_at_last", "options": {"receive_progress": true}}`, "Accept", "application/x-ndjson")
	lines := strings.Split(strings.TrimSpace(raw), "\n")
	if status != 200 || len(lines) != 2 || !strings.Contains(lines[0], `"progress":true`) || !strings.Contains(lines[1], string(bridge.ErrResultNotJSON)) {
		t.Errorf("a streamed call whose final result is +Inf: %d %s", status, raw)
	}
	if st := s.b.Stats(); st.Calls != 0 || st.Failed != 2 {
		t.Errorf("Calls %d Failed %d, want 0 and 2", st.Calls, st.Failed)
	}
}
