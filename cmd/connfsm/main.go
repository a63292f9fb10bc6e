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
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed
	exitUsage = 2 // the command line is wrong
)

// env is what a command runs with: the program's context (cancelled on
// SIGINT or SIGTERM; long-running commands end with it) and its streams.
type env struct {
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
}

// A command is a subcommand. Each lives in its own file and is listed in
// commands; run gets the command itself and the arguments after its name.
type command struct {
	name    string
	args    string // the synopsis after the name, for the usage text
	summary string
	run     func(c command, e env, args []string) int
}

// commands is the subcommand table, in the order usage lists them.
var commands = []command{
	{name: "demo", args: "[-json] [-trace FILE]", summary: "play connection failures against an embedded server and check the invariants", run: runDemo},
	{name: "diagram", args: "[-format mermaid|dot|matrix]", summary: "print the connection lifecycle as a diagram or a transition matrix", run: runDiagram},
	{name: "dial", args: "[flags] URL", summary: "an interactive resilient client: stdin lines out, received messages to stdout, the lifecycle to stderr", run: runDial},
	{name: "serve", args: "[-addr 127.0.0.1:0] [-control 127.0.0.1:0] [-tcp ADDR] [-allow-remote] [-until-stdin-eof]", summary: "run the loopback echo server with its fault-control endpoint", run: runServe},
	{name: "load", args: "[-raw] -n N [-url URL] [-duration D] [-ping D] [-metrics ADDR] [flags] | -pool -subs N [-per-conn N] [-dial-budget N/period] [flags]", summary: "run N concurrent clients with heartbeats (or one Pool) and report what each connection costs", run: runLoad},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal kills as usual
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it runs the subcommand named by args[0] until
// it is done or ctx ends, and returns the exit code. Usage errors print
// the usage to stderr and return exitUsage; -h prints it to stdout and
// returns exitOK.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
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
				return c.run(c, e, args[1:])
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
