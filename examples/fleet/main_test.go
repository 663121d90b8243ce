package main

import (
	"strings"
	"testing"

	"github.com/junction-wamp/junction/examples/internal/demo/demotest"
)

func TestFleet(t *testing.T) {
	out := demotest.Run(t, run, "-agents", "300", "-calls", "5")
	demotest.Matches(t, out,
		`(?m)^300 agents connected in `,
		`(?m)^configuration v2 reached all 300 agents in .+ \(median .+, p99 .+\)$`,
		`(?m)^agent\.(\d+)\.status: id (\d+), config v2 `,
	)
	if n := strings.Count(out, ".status: id"); n != 5 {
		t.Errorf("%d calls reported, want 5", n)
	}
}

func TestLoopback(t *testing.T) {
	for u, want := range map[string]bool{"rs://127.0.0.1:8080": true, "ws://127.9.0.1:80/ws": true,
		"ws://localhost:8080/ws": false, "rss://example.com:443": false, "ws://[::1]:80/ws": false} {
		if loopback(u) != want {
			t.Errorf("loopback(%q) = %v", u, !want)
		}
	}
}
