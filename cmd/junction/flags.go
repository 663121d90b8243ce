package main

// Command lines of the subcommands: flags anywhere among the arguments,
// help on standard output, usage errors that say how to get the help.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagsAnywhere is the paragraph every subcommand's help ends its flag list
// with.
const flagsAnywhere = `Flags may come before, between or after the arguments. After --, everything
is an argument: write -- before an argument that starts with - (a negative
number such as -5 or -1.5 needs none).`

// flagSet is a subcommand's flags with its help text.
type flagSet struct {
	*flag.FlagSet
	// help is the text --help prints before the flags: the usage line
	// first, then what the command does.
	help string
}

// newFlagSet returns the flag set of the subcommand name. The flag package
// prints nothing itself: parse reports errors, and --help goes to standard
// output.
func newFlagSet(name, help string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, help: strings.TrimRight(help, "\n") + "\n"}
}

// printHelp writes the help text and the flags to w.
func (f *flagSet) printHelp(w io.Writer) {
	fmt.Fprint(w, f.help)
	hasFlags := false
	f.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(w, "\nflags:\n")
		f.SetOutput(w)
		f.PrintDefaults()
		f.SetOutput(io.Discard)
		fmt.Fprintf(w, "\n%s\n", flagsAnywhere)
	}
}

// parse parses args, in which flags may come anywhere (Go's flag package
// stops at the first argument that is not a flag), and returns the
// arguments that are not flags, in order. "--" ends the flags: every token
// after it is an argument. A token starting with '-' is a flag, except "-"
// alone and a JSON number (-5, -1.5e3), which are arguments. A flag that
// takes a value takes the next token when it has no "=value", as in the
// flag package. With -h or --help anywhere, parse prints the help on
// stdout and returns flag.ErrHelp.
func (f *flagSet) parse(args []string, stdout io.Writer) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case len(a) < 2 || a[0] != '-' || json.Valid([]byte(a)):
			positional = append(positional, a)
		default:
			flags = append(flags, a)
			name := strings.TrimPrefix(a[1:], "-")
			if (name == "h" || name == "help") && f.Lookup(name) == nil {
				// Help wins over any mistake elsewhere on the line.
				f.printHelp(stdout)
				return nil, flag.ErrHelp
			}
			if strings.Contains(name, "=") {
				continue
			}
			if fl := f.Lookup(name); fl != nil && !isBoolFlag(fl) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	err := f.Parse(flags)
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.printHelp(stdout)
		return nil, err
	case err != nil:
		return nil, f.usageError(err.Error())
	case f.NArg() > 0: // cannot happen: every token in flags is a flag or its value
		return nil, f.usageError(fmt.Sprintf("not a flag: %s", f.Arg(0)))
	}
	return positional, nil
}

// isBoolFlag reports whether fl takes no value (-json, not -json true), as
// the flag package decides it.
func isBoolFlag(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// usageError is a command line the command cannot run: run prints it with
// the usage line and where the help is.
type usageError struct {
	cmd, msg, usage string
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%s\n%s (junction %s --help for more)", e.msg, e.usage, e.cmd)
}

// usageError returns the error msg for a bad command line of f's command.
func (f *flagSet) usageError(msg string) error {
	usage, _, _ := strings.Cut(f.help, "\n")
	return &usageError{cmd: f.Name(), msg: msg, usage: usage}
}

// noArgs is the check of a command that takes no arguments.
func (f *flagSet) noArgs(args []string) error {
	if len(args) > 0 {
		return f.usageError("unexpected arguments: " + strings.Join(args, " "))
	}
	return nil
}
