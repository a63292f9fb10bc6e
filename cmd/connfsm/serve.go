package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/connfsm/connfsm/internal/loadgen"
)

// runServe runs the echo server (internal/loadgen's venue and its control
// endpoint) as a standalone process: see loadgen.Serve.
func runServe(c command, e env, args []string) int {
	cfg, err := parseServeFlags(args)
	if code, done := reportUsage(serveFlagSet(new(serveConfig)), c, err, e.stdout, e.stderr); done {
		return code
	}

	var stdin io.Reader
	if cfg.untilEOF {
		stdin = e.stdin
	}
	if err := loadgen.Serve(e.ctx, cfg.addr, cfg.control, cfg.tcp, stdin, e.stdout, e.stderr); err != nil {
		fmt.Fprintf(e.stderr, "connfsm serve: %v\n", err)
		return exitFail
	}
	return exitOK
}

// serveConfig is serve's command line.
type serveConfig struct {
	addr, control, tcp    string
	allowRemote, untilEOF bool
}

// serveFlagSet returns serve's flags, which set cfg.
func serveFlagSet(cfg *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:0", "WebSocket listen `address` (port 0: any free port)")
	fs.StringVar(&cfg.tcp, "tcp", "", "also serve a line echo server for tcp:// clients on this `address` (it answers the line ping with pong)")
	fs.StringVar(&cfg.control, "control", "127.0.0.1:0", "control endpoint listen `address`; empty: no control endpoint")
	fs.BoolVar(&cfg.allowRemote, "allow-remote", false, "allow listening on addresses other than loopback (the control endpoint has no authentication)")
	fs.BoolVar(&cfg.untilEOF, "until-stdin-eof", false, "also stop when stdin ends")
	return fs
}

// parseServeFlags parses serve's arguments and checks that both addresses
// are loopback unless -allow-remote is given; it prints nothing.
func parseServeFlags(args []string) (serveConfig, error) {
	var cfg serveConfig
	_, bad, err := parseArgs(serveFlagSet(&cfg), args, 0)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, err
	}
	c := checks{bad: bad}
	for _, a := range []struct{ flag, addr string }{{"addr", cfg.addr}, {"control", cfg.control}, {"tcp", cfg.tcp}} {
		if a.addr == "" && a.flag != "addr" {
			continue
		}
		switch err := checkLoopback(a.addr); {
		case err != nil && !errors.Is(err, errNotLoopback): // malformed: -allow-remote does not help
			c.add(fmt.Errorf("-%s %q: %w", a.flag, a.addr, err), a.flag)
		case err != nil && !cfg.allowRemote:
			c.add(fmt.Errorf("-%s %q: %w (use -allow-remote to allow it)", a.flag, a.addr, err), a.flag, "allow-remote")
		}
	}
	return cfg, c.err(err)
}

// errNotLoopback is returned by checkLoopback for an address that would
// listen beyond this machine.
var errNotLoopback = errors.New("not a loopback address")

// checkLoopback accepts host:port addresses whose host is "localhost" or a
// loopback IP. An empty host (all interfaces) is not loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errNotLoopback
}
