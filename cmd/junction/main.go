// Command junction is the Junction WAMP router and its tools.
//
//	junction serve [--listen ADDR] [--config FILE]   run the router (also --log-level, --log-format)
//	junction bench idle|rpc|fanout [flags]           load-test a WAMP router
//	junction passwd --method ticket|wampcra|scram    print a password's stored form
//	junction keygen                                  make an Ed25519 key pair for cryptosign
//	junction sub|pub|call|register [flags] ...       a WAMP client
//	junction version                                 print the version
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

const usage = `usage: junction <command> [flags]

commands:
  serve     run the router (junction serve --help for flags)
  bench     load-test a WAMP router: junction bench idle|rpc|fanout [flags]
  passwd    print the stored form of a password: junction passwd --method ticket|wampcra|scram
  keygen    make an Ed25519 key pair for cryptosign
  sub       print the events of a topic: junction sub [flags] TOPIC
  pub       publish an event: junction pub [flags] TOPIC [ARG...]
  call      call a procedure: junction call [flags] PROCEDURE [ARG...]
  register  answer a procedure with a command: junction register [flags] PROCEDURE -- COMMAND [ARG...]
  version   print the version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// stdin is what passwd reads; tests replace it.
var stdin io.Reader = os.Stdin

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "passwd":
		err = runPasswd(args[1:], stdin, stdout, stderr)
	case "keygen":
		err = runKeygen(args[1:], stdout, stderr)
	case "sub":
		err = runSub(ctx, args[1:], stdout, stderr)
	case "pub":
		err = runPub(ctx, args[1:], stdout, stderr)
	case "call":
		err = runCall(ctx, args[1:], stdout, stderr)
	case "register":
		err = runRegister(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "junction %s\n", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "junction: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errPrinted) {
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "junction %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
