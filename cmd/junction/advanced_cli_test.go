package main

// Command-line features that need the router's Advanced Profile (other
// branches): pattern-based subscriptions and progressive results. These
// tests fail until those branches are merged.

import (
	"strings"
	"testing"
)

func TestAdvancedCLIMatchAndProgress(t *testing.T) {
	_, addr := cliRouter(t)
	env := []string{"JUNCTION_URL=rs://" + addr}
	lines := background(t, env, "sub", "--json", "--match", "prefix", "--count", "1", "test.cli.")
	if l := nextLine(t, lines); !strings.Contains(l, `"subscribed"`) {
		t.Fatalf("sub --match prefix said %q", l)
	}
	if _, errOut, code := junction(t, env, "pub", "test.cli.deep.topic", "1"); code != 0 {
		t.Fatalf("pub: %s", errOut)
	}
	if l := nextLine(t, lines); !strings.Contains(l, `"topic":"test.cli.deep.topic"`) {
		t.Errorf("prefix event %q", l)
	}

	// A callee that sends progressive results: Go's client in the test.
	s := dialCLITest(t, "rs://"+addr)
	registerProgress(t, s)
	out, errOut, code := junction(t, env, "call", "--json", "test.cli.progress", "3")
	want := `{"args":[0],"progress":true}` + "\n" + `{"args":[1],"progress":true}` + "\n" + `{"args":[2],"progress":true}` + "\n" + `{"args":[3]}` + "\n"
	if code != 0 || out != want {
		t.Errorf("progressive call: %d\n%s\nstderr %s", code, out, errOut)
	}
}
