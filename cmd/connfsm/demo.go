package main

import (
	"flag"
	"fmt"

	"github.com/connfsm/connfsm/internal/demo"
	"github.com/connfsm/connfsm/internal/timeline"
)

// runDemo plays the failures long-lived clients meet against an embedded
// server on 127.0.0.1 (internal/demo), prints the lifecycle's timeline,
// and checks the invariants. It exits 1 if any check fails.
func runDemo(c command, e env, args []string) int {
	cfg, err := parseDemoFlags(args)
	if code, done := reportUsage(demoFlagSet(new(demoConfig)), c, err, e.stdout, e.stderr); done {
		return code
	}
	if cfg.trace != "" {
		stop, err := demo.StartTrace(cfg.trace)
		if err != nil {
			fmt.Fprintf(e.stderr, "connfsm demo: %v\n", err)
			return exitFail
		}
		defer stop()
	}
	ok, err := demo.Run(e.ctx, timeline.New(e.stdout, cfg.json, true))
	if err != nil {
		fmt.Fprintf(e.stderr, "connfsm demo: %v\n", err)
		return exitFail
	}
	if !ok {
		return exitFail
	}
	return exitOK
}

// demoConfig is demo's command line.
type demoConfig struct {
	json  bool
	trace string
}

// demoFlagSet returns demo's flags, which set cfg.
func demoFlagSet(cfg *demoConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object per line instead of the readable timeline")
	fs.StringVar(&cfg.trace, "trace", "", "write a Go execution trace to `file`: every state entry a task, every state's task a region (go tool trace file)")
	return fs
}

// parseDemoFlags parses demo's arguments; it prints nothing.
func parseDemoFlags(args []string) (demoConfig, error) {
	var cfg demoConfig
	_, _, err := parseArgs(demoFlagSet(&cfg), args, 0)
	return cfg, err
}
