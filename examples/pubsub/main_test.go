package main

import (
	"strings"
	"testing"

	"github.com/junction-wamp/junction/examples/internal/demo/demotest"
)

func TestPubSub(t *testing.T) {
	out := demotest.Run(t, run)
	demotest.Contains(t, out, "event 1: headline 1", "event 2: headline 2", "event 3: headline 3", "acknowledged", "done")
	if strings.Contains(out, "from session 0") {
		t.Errorf("the publisher was not disclosed:\n%s", out)
	}
}
