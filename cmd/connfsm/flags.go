package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Each command parses its command line in two steps: a pure parseXxxFlags
// function that turns the arguments into the command's settings or an
// error, writing nothing and starting nothing, and reportUsage, which
// prints that error the way every command does. The first is what the
// parsing tests and the fuzz target call.

// parseArgs parses args with fs, which must accept no argument besides its
// flags. It returns flag.ErrHelp for -h and -help.
func parseArgs(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard) // the errors are returned, not printed
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// reportUsage reports the error of a command's parseXxxFlags. It returns
// done with the exit code when the command must not go on: -h (usage on
// stdout, exitOK), any other error (message and usage on stderr,
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
