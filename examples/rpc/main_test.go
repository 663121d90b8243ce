package main

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestRPC(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out strings.Builder
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	want := "add(2, 3) = 5\n" +
		"shout(text=hello) = HELLO!\n" +
		"shout(text=\"\") failed: com.example.error.empty [nothing to shout]\n" +
		"add(\"two\", 3) failed: wamp.error.invalid_argument\n"
	if out.String() != want {
		t.Errorf("output\n%s\nwant\n%s", out.String(), want)
	}
}
