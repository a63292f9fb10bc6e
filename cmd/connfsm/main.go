// Command connfsm shows and exercises the connection lifecycle.
//
// Usage:
//
//	connfsm <command> [flags]
//
// Run `connfsm -h` for the list of commands and `connfsm <command> -h` for
// a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed
	exitUsage = 2 // the command line is wrong
)

// A command is a subcommand. Each lives in its own file and is listed in
// commands; run gets the command itself and the arguments after its name.
type command struct {
	name    string
	args    string // the synopsis after the name, for the usage text
	summary string
	run     func(c command, args []string, stdout, stderr io.Writer) int
}

// commands is the subcommand table, in the order usage lists them.
var commands = []command{
	{name: "demo", args: "[-json]", summary: "play connection failures against an embedded server and check the invariants", run: runDemo},
	{name: "diagram", args: "[-format mermaid|dot|matrix]", summary: "print the connection lifecycle as a diagram or a transition matrix", run: runDiagram},
	{name: "dial", args: "[flags] URL", summary: "an interactive resilient client: stdin lines out, received messages to stdout, the lifecycle to stderr", run: runDial},
	{name: "serve", args: "[-addr 127.0.0.1:0] [-control 127.0.0.1:0]", summary: "run the loopback echo server with its fault-control endpoint", run: runServe},
	{name: "load", args: "-n N [-url URL] [-duration D] [-ping D]", summary: "run N concurrent clients with heartbeats and report what each connection costs", run: runLoad},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program: it runs the subcommand named by args[0] and
// returns the exit code. Usage errors print the usage to stderr and return
// exitUsage; -h prints it to stdout and returns exitOK.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "connfsm: no command given")
		usage(stderr)
		return exitUsage
	}
	switch name := args[0]; name {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	default:
		for _, c := range commands {
			if c.name == name {
				return c.run(c, args[1:], stdout, stderr)
			}
		}
		fmt.Fprintf(stderr, "connfsm: unknown command %q\n", name)
		usage(stderr)
		return exitUsage
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: connfsm <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'connfsm <command> -h' for a command's flags.")
}

// parseFlags parses a subcommand's flags. It returns done with the exit
// code when the command must not go on: -h (usage on stdout, exitOK), a
// bad flag or an unexpected argument (message and usage on stderr,
// exitUsage).
func parseFlags(fs *flag.FlagSet, c command, args []string, stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(io.Discard) // usage is printed here, to the right stream
	printUsage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: connfsm %s %s\n\n%s.\n", c.name, c.args, strings.ToUpper(c.summary[:1])+c.summary[1:])
		var defaults strings.Builder
		fs.SetOutput(&defaults)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if defaults.Len() > 0 {
			fmt.Fprintf(w, "\nflags:\n%s", defaults.String())
		}
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout)
		return exitOK, true
	case err != nil:
		fmt.Fprintf(stderr, "connfsm %s: %v\n", c.name, err)
		printUsage(stderr)
		return exitUsage, true
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "connfsm %s: unexpected argument %q\n", c.name, fs.Arg(0))
		printUsage(stderr)
		return exitUsage, true
	}
	return exitOK, false
}
