package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
)

// TestParseFlagsAnywhere pins how flagSet.parse tells flags from
// arguments.
func TestParseFlagsAnywhere(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		positional []string
		realm      string
		json       bool
		kw         map[string]any
		err        string
	}{
		{args: []string{"topic", "1", "2", "--realm", "r2"}, positional: []string{"topic", "1", "2"}, realm: "r2"},
		{args: []string{"--realm=r2", "topic", "--json", "1"}, positional: []string{"topic", "1"}, realm: "r2", json: true},
		{args: []string{"-realm", "r2", "topic", "-k", "a=1", "x", "-json"}, positional: []string{"topic", "x"}, realm: "r2", json: true, kw: map[string]any{"a": int64(1)}},
		// A flag's value is the next token, whatever it looks like.
		{args: []string{"topic", "--realm", "--json"}, positional: []string{"topic"}, realm: "--json"},
		// Numbers and "-" are arguments; after "--", everything is.
		{args: []string{"topic", "-5", "-1.5e3", "-", "0"}, positional: []string{"topic", "-5", "-1.5e3", "-", "0"}},
		{args: []string{"topic", "--json", "--", "-x", "--realm", "r2", "--"}, positional: []string{"topic", "-x", "--realm", "r2", "--"}, json: true},
		{args: []string{"--", "-k"}, positional: []string{"-k"}},
		{args: nil},
		{args: []string{"topic", "-x"}, err: "flag provided but not defined: -x"},
		{args: []string{"topic", "-5x"}, err: "flag provided but not defined: -5x"},
		{args: []string{"topic", "--realm"}, err: "flag needs an argument: -realm"},
		{args: []string{"topic", "-k", "novalue"}, err: `invalid value "novalue" for flag -k: "novalue" is not key=value`},
		{args: []string{"---json"}, err: "bad flag syntax: ---json"},
	} {
		fs := newFlagSet("pub", "usage: junction pub [flags] TOPIC [ARG...]")
		realm := fs.String("realm", "realm1", "")
		asJSON := fs.Bool("json", false, "")
		kw := kwFlag{}
		fs.Var(kw, "k", "")
		var out bytes.Buffer
		got, err := fs.parse(tt.args, &out)
		if tt.err != "" {
			want := tt.err + "\nusage: junction pub [flags] TOPIC [ARG...] (junction pub --help for more)"
			if err == nil || err.Error() != want {
				t.Errorf("parse %q: err %v, want %q", tt.args, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("parse %q: %v", tt.args, err)
			continue
		}
		wantKW := kwFlag{}
		for k, v := range tt.kw {
			wantKW[k] = v
		}
		if tt.realm == "" {
			tt.realm = "realm1"
		}
		if !reflect.DeepEqual(got, tt.positional) || *realm != tt.realm || *asJSON != tt.json || !reflect.DeepEqual(kw, wantKW) {
			t.Errorf("parse %q = %q realm %q json %v kw %v; want %q %q %v %v", tt.args, got, *realm, *asJSON, kw, tt.positional, tt.realm, tt.json, wantKW)
		}
		if out.Len() > 0 {
			t.Errorf("parse %q printed %q", tt.args, out.String())
		}
	}
}

// TestHelp checks that every command's --help, and junction help COMMAND,
// print the same help on stdout and exit 0, and that a bad command line
// says on stderr how to get it.
func TestHelp(t *testing.T) {
	if len(commands) != 9 {
		t.Errorf("%d commands: update this test", len(commands))
	}
	for name := range commands {
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}, {name, "x", "--no-such-flag", "-help"}} {
			var out, errOut bytes.Buffer
			code := run(context.Background(), args, &out, &errOut)
			if code != 0 || errOut.Len() > 0 || !strings.HasPrefix(out.String(), "usage: junction "+name) {
				t.Errorf("junction %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out.String(), errOut.String())
			}
		}
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{name, "--no-such-flag"}, &out, &errOut)
		want := "junction " + name + ": flag provided but not defined: -no-such-flag\nusage: junction " + name
		if code != 1 || out.Len() > 0 || !strings.HasPrefix(errOut.String(), want) || !strings.HasSuffix(errOut.String(), "(junction "+name+" --help for more)\n") {
			t.Errorf("junction %s --no-such-flag: exit %d, stdout %q, stderr %q", name, code, out.String(), errOut.String())
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"help", "help"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 0 || errOut.Len() > 0 || !strings.HasPrefix(out.String(), "usage: junction <command>") {
			t.Errorf("junction %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out.String(), errOut.String())
		}
	}
	// The client commands' help says how arguments and flags mix, and
	// register's says what the command gets and gives.
	var out bytes.Buffer
	run(context.Background(), []string{"register", "--help"}, &out, &out)
	for _, want := range []string{"JUNCTION_KWARGS", "JUNCTION_PROCEDURE", "standard input", "standard output", "junction.error.command_failed", "-5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("register --help does not mention %s:\n%s", want, out.String())
		}
	}
}

// TestUnknownCommand checks the suggestion of the nearest command.
func TestUnknownCommand(t *testing.T) {
	for in, want := range map[string]string{
		"pubb": `did you mean "pub"?`, "serv": `did you mean "serve"?`, "regster": `did you mean "register"?`,
		"Call": `did you mean "call"?`, "key": `did you mean "keygen"?`, "xyzzy": "",
	} {
		for _, args := range [][]string{{in}, {"help", in}} {
			var out, errOut bytes.Buffer
			code := run(context.Background(), args, &out, &errOut)
			line, _, _ := strings.Cut(errOut.String(), "\n")
			if code != 2 || !strings.HasPrefix(line, `junction: unknown command "`+in+`"`) || !strings.HasSuffix(line, want) || want == "" && strings.Contains(line, "did you mean") {
				t.Errorf("junction %s: exit %d, first line %q, want a suggestion %q", strings.Join(args, " "), code, line, want)
			}
		}
	}
}

func TestVersionFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"version", "extra"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "unexpected arguments: extra") {
		t.Errorf("version extra: %d %q", code, errOut.String())
	}
	if err := runVersion([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("version -h: %v", err)
	}
}
