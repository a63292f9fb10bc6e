package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Each command parses its command line in two steps: a pure parseXxxFlags
// function that turns the arguments into the command's settings or an
// error, writing nothing and starting nothing, and reportUsage, which
// prints that error the way every command does. The first is what the
// parsing tests and the fuzz target call.
//
// The parser reads the whole command line and reports every bad flag at
// once (errors.Join), where the flag package stops at the first: an
// unknown flag, a value its flag refuses, a missing value, an argument too
// many; then each command's checks of the values add theirs, leaving out
// the flags already reported.

// parseArgs parses args into fs's flags. Flags may come before, between
// and after the positional arguments; "--" ends the flags. It returns the
// positional arguments, at most max of them (each one more is an error),
// and flag.ErrHelp alone for -h or -help when fs does not define them.
// The names of the flags whose value was refused are in bad.
func parseArgs(fs *flag.FlagSet, args []string, max int) (positional []string, bad map[string]bool, err error) {
	bad = map[string]bool{}
	var errs []error
	fail := func(name string, e error) {
		bad[name] = true
		errs = append(errs, e)
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		name := strings.TrimPrefix(a[1:], "-")
		name, value, hasValue := strings.Cut(name, "=")
		if name == "" || name[0] == '-' || name[0] == '=' {
			errs = append(errs, fmt.Errorf("bad flag syntax: %s", a))
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			if name == "h" || name == "help" {
				return nil, nil, flag.ErrHelp
			}
			fail(name, fmt.Errorf("flag provided but not defined: -%s", name))
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 == len(args) {
				fail(name, fmt.Errorf("flag needs an argument: -%s", name))
				continue
			}
			i++
			value = args[i]
		}
		if err := fs.Set(name, value); err != nil {
			fail(name, fmt.Errorf("invalid value %q for flag -%s: %v", value, name, err))
		}
	}
	for _, p := range positional[min(max, len(positional)):] {
		errs = append(errs, fmt.Errorf("unexpected argument %q", p))
	}
	return positional[:min(max, len(positional))], bad, errors.Join(errs...)
}

// checks collects the problems a command finds in its flags' values,
// leaving out those of a flag whose value was already refused: its value
// is the default, not what the user typed.
type checks struct {
	bad  map[string]bool
	errs []error
}

// add records a problem with the flags named, unless one of them was
// refused already.
func (c *checks) add(err error, flags ...string) {
	for _, f := range flags {
		if c.bad[f] {
			return
		}
	}
	c.errs = append(c.errs, err)
}

// err joins the parse error and the problems found.
func (c *checks) err(parseErr error) error {
	return errors.Join(append([]error{parseErr}, c.errs...)...)
}

// reportUsage reports the error of a command's parseXxxFlags. It returns
// done with the exit code when the command must not go on: -h (usage on
// stdout, exitOK), any other error (each problem and the usage on stderr,
// exitUsage). fs is the command's flag set, for the usage text.
func reportUsage(fs *flag.FlagSet, c command, err error, stdout, stderr io.Writer) (code int, done bool) {
	switch {
	case err == nil:
		return exitOK, false
	case errors.Is(err, flag.ErrHelp):
		printUsage(fs, c, stdout)
		return exitOK, true
	default:
		fmt.Fprintf(stderr, "connfsm %s: %v\n", c.name, err)
		printUsage(fs, c, stderr)
		return exitUsage, true
	}
}

// printUsage prints c's synopsis, summary and flags to w.
func printUsage(fs *flag.FlagSet, c command, w io.Writer) {
	fmt.Fprintf(w, "usage: connfsm %s %s\n\n%s.\n", c.name, c.args, strings.ToUpper(c.summary[:1])+c.summary[1:])
	var defaults strings.Builder
	fs.SetOutput(&defaults)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	if defaults.Len() > 0 {
		fmt.Fprintf(w, "\nflags:\n%s", defaults.String())
	}
}
