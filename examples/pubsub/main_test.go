package main

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestPubSub(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out strings.Builder
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"event 1: headline 1", "event 2: headline 2", "event 3: headline 3", "acknowledged", "done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "from session 0") {
		t.Errorf("the publisher was not disclosed:\n%s", out.String())
	}
}
