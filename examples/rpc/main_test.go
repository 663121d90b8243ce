package main

import (
	"testing"

	"github.com/junction-wamp/junction/examples/internal/demo/demotest"
)

func TestRPC(t *testing.T) {
	demotest.Equal(t, demotest.Run(t, run), "add(2, 3) = 5\n"+
		"shout(text=hello) = HELLO!\n"+
		"shout(text=\"\") failed: com.example.error.empty [nothing to shout]\n"+
		"add(\"two\", 3) failed: wamp.error.invalid_argument\n")
}
