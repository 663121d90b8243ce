package main

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestAgents(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out strings.Builder
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	want := `alice asks bob: the meeting time?
bob answers alice: 3pm
bob notes from alice: meeting at 3pm
bob asks alice: the meeting room?
alice answers bob: room 4
alice notes from bob: see you in room 4
bob asks alice: the agenda?
bob gets no answer: agents.error.unknown: alice does not know the agenda
`
	if out.String() != want {
		t.Errorf("transcript\n%s\nwant\n%s", out.String(), want)
	}
}
