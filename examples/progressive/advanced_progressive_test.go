package main

// Needs progressive call results and call canceling in the router (other
// branches): this test fails until they are merged.

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestAdvancedProgressive(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out strings.Builder
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	want := "progress: 1/4\nprogress: 2/4\nprogress: 3/4\nprogress: 4/4\nresult: complete\n" +
		"second task: 1/100, enough\nsecond task canceled\n"
	if out.String() != want {
		t.Errorf("output\n%s\nwant\n%s", out.String(), want)
	}
}
