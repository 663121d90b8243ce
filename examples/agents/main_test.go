package main

import (
	"testing"

	"github.com/junction-wamp/junction/examples/internal/demo/demotest"
)

func TestAgents(t *testing.T) {
	demotest.Equal(t, demotest.Run(t, run), `alice asks bob: the meeting time?
bob answers alice: 3pm
bob notes from alice: meeting at 3pm
bob asks alice: the meeting room?
alice answers bob: room 4
alice notes from bob: see you in room 4
bob asks alice: the agenda?
bob gets no answer: agents.error.unknown: alice does not know the agenda
`)
}
