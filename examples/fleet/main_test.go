package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestFleet(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out strings.Builder
	if err := run(context.Background(), []string{"-agents", "300", "-calls", "5"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, re := range []string{
		`(?m)^300 agents connected in `,
		`(?m)^configuration v2 reached all 300 agents in .+ \(median .+, p99 .+\)$`,
		`(?m)^agent\.(\d+)\.status: id (\d+), config v2 `,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output does not match %s:\n%s", re, out.String())
		}
	}
	if n := strings.Count(out.String(), ".status: id"); n != 5 {
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
