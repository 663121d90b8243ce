package main

// Needs progressive call results and call canceling in the router (other
// branches): this test fails until they are merged.

import (
	"testing"

	"github.com/junction-wamp/junction/examples/internal/demo/demotest"
)

func TestAdvancedProgressive(t *testing.T) {
	demotest.Equal(t, demotest.Run(t, run),
		"progress: 1/4\nprogress: 2/4\nprogress: 3/4\nprogress: 4/4\nresult: complete\n"+
			"second task: 1/100, enough\nsecond task canceled\n")
}
