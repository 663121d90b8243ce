// Command junction is the Junction WAMP router and its tools.
//
//	junction serve [--listen ADDR] [--config FILE]   run the router (also --log-level, --log-format)
//	junction bench idle|rpc|fanout [flags]           load-test a WAMP router
//	junction passwd --method ticket|wampcra|scram    print a password's stored form
//	junction keygen                                  make an Ed25519 key pair for cryptosign
//	junction sub|pub|call|register [flags] ...       a WAMP client
//	junction version                                 print the version
//	junction help [COMMAND]                          print the usage, or a command's help
//
// Every command takes its flags anywhere on its line (flagSet.parse).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=..."; a plain
// build reports the module version or the VCS revision.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return "devel-" + rev
		}
	}
	return "devel"
}

const usage = `usage: junction <command> [flags] [arguments]

commands:
  serve     run the router
  bench     load-test a WAMP router: junction bench idle|rpc|fanout [flags]
  passwd    print the stored form of a password: junction passwd --method ticket|wampcra|scram
  keygen    make an Ed25519 key pair for cryptosign
  sub       print the events of a topic: junction sub [flags] TOPIC
  pub       publish an event: junction pub [flags] TOPIC [ARG...]
  call      call a procedure: junction call [flags] PROCEDURE [ARG...]
  register  answer a procedure with a command: junction register [flags] PROCEDURE -- COMMAND [ARG...]
  version   print the version
  help      print this, or a command's help: junction help COMMAND

Flags may come anywhere on the line; junction COMMAND --help lists them.
`

// commands maps each command's name to what runs it.
var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"serve": runServe,
	"bench": runBench,
	"passwd": func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		return runPasswd(args, stdin, stdout)
	},
	"keygen":   func(_ context.Context, args []string, stdout, stderr io.Writer) error { return runKeygen(args, stdout) },
	"sub":      runSub,
	"pub":      runPub,
	"call":     runCall,
	"register": runRegister,
	"version": func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		return runVersion(args, stdout)
	},
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go onSignals(signals, cancel, os.Stderr, os.Exit)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// onSignals turns the first SIGINT or SIGTERM into a graceful stop (it
// cancels the command's context: serve says GOODBYE to every session and
// waits for the answers) and the second into an immediate one: exit status
// 1, without waiting for anything.
func onSignals(signals <-chan os.Signal, stop context.CancelFunc, stderr io.Writer, exit func(int)) {
	<-signals
	stop()
	sig := <-signals
	fmt.Fprintf(stderr, "junction: second signal (%v): exiting at once\n", sig)
	exit(1)
}

// stdin is what passwd reads; tests replace it.
var stdin io.Reader = os.Stdin

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name := args[0]
	switch name {
	case "--version", "-version":
		name = "version"
	case "help", "-h", "-help", "--help":
		if len(args) < 2 || name != "help" || args[1] == "help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		// junction help CMD is junction CMD --help.
		name, args = args[1], []string{args[1], "--help"}
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "junction: unknown command %q%s\n\n%s", name, suggest(name), usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errPrinted) {
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "junction %s: %v\n", name, err)
		return 1
	}
	return 0
}

// suggest names the command closest to the unknown name, when one is
// close: at most two edits away, or starting with it.
func suggest(name string) string {
	best, bestDist := "", 3
	for c := range commands {
		d := editDistance(strings.ToLower(name), c)
		if name != "" && strings.HasPrefix(c, strings.ToLower(name)) {
			d = 0
		}
		if d < bestDist || d == bestDist && c < best {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// runVersion prints the version.
func runVersion(args []string, stdout io.Writer) error {
	fs := newFlagSet("version", "usage: junction version\n\nPrints the version of junction.")
	rest, err := fs.parse(args, stdout)
	if err != nil {
		return err
	}
	if err := fs.noArgs(rest); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "junction %s\n", versionString())
	return nil
}
