package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn"
)

// fuzzCommand is how FuzzFlags exercises one command without running it.
type fuzzCommand struct {
	parse   func(args []string) (any, error) // the pure parser
	flagSet func() *flag.FlagSet             // for the flag names
	// args writes a parsed command line back as arguments that must parse
	// to the same settings.
	args func(cfg any) []string
	// check checks what a successful parse promises.
	check func(t *testing.T, cfg any)
	// runnable: a valid command line does no network and no long work, so
	// run may be called with it.
	runnable bool
}

// fuzzCommands are the commands in the order of commands.
var fuzzCommands = map[string]fuzzCommand{
	"demo": {
		parse:   func(a []string) (any, error) { return parseDemoFlags(a) },
		flagSet: func() *flag.FlagSet { return demoFlagSet(new(demoConfig)) },
		args: func(cfg any) []string {
			c := cfg.(demoConfig)
			return []string{"-json=" + strconv.FormatBool(c.json), "-trace", c.trace}
		},
		check: func(*testing.T, any) {},
	},
	"diagram": {
		parse:   func(a []string) (any, error) { return parseDiagramFlags(a) },
		flagSet: func() *flag.FlagSet { return diagramFlagSet(new(diagramConfig)) },
		args:    func(cfg any) []string { return []string{"-format", cfg.(diagramConfig).format.name} },
		check: func(t *testing.T, cfg any) {
			f := cfg.(diagramConfig).format
			if f.write == nil || !strings.Contains(" mermaid dot matrix ", " "+f.name+" ") {
				t.Errorf("format %q (writer set: %v), want mermaid, dot or matrix", f.name, f.write != nil)
			}
		},
		runnable: true, // it only prints the diagram
	},
	"dial": {
		parse:   func(a []string) (any, error) { return parseDialFlags(a) },
		flagSet: func() *flag.FlagSet { return dialFlagSet(new(dialConfig)) },
		args: func(c any) []string {
			cfg := c.(dialConfig)
			r, ws := cfg.run, cfg.ws
			a := []string{
				"-ping", r.Ping.String(), "-pong-timeout", r.PongTimeout.String(),
				"-backoff-initial", r.Backoff.Initial.String(), "-backoff-max", r.Backoff.Max.String(),
				"-max-attempts", strconv.Itoa(r.Backoff.MaxAttempts), "-buffer", strconv.Itoa(r.Buffer),
				"-linger", r.Linger.String(), "-json=" + strconv.FormatBool(r.JSON),
				"-ping-text", r.PingText, "-pong-text", r.PongText, "-idle-timeout", r.IdleTimeout.String(),
				"-header-file", ws.HeaderFile, "-storm-attempts", strconv.Itoa(r.Storm.Attempts),
				"-storm-window", r.Storm.Window.String(), "-storm-gap", r.Storm.MinGap.String(),
				"-login", r.Login, "-login-ack", r.LoginAck, "-login-timeout", r.LoginTimeout.String(),
				"-answer-ping", cfg.answerPing, "-read-limit", cfg.readLimit.String(), "-write-limit", cfg.writeLimit.String(),
				"-decompress", cfg.decompress, "-ca-file", cfg.caFile, "-proxy", cfg.proxy,
				"-slow-consumer", cfg.slowConsumer, "-inbox", strconv.Itoa(r.Inbox),
				"-subscribe-ack", r.SubscribeAck, "-subscribe-nack", r.SubscribeNack, "-ack-timeout", r.AckTimeout.String(),
			}
			if len(ws.PermanentCloseCodes) > 0 {
				a = append(a, "-permanent-close-codes", (*closeCodesFlag)(&ws.PermanentCloseCodes).String())
			}
			for k, vs := range ws.Header {
				for _, v := range vs {
					a = append(a, "-header", k+": "+v)
				}
			}
			for _, p := range ws.Subprotocols {
				a = append(a, "-subprotocol", p)
			}
			for _, m := range r.Subscribe {
				a = append(a, "-subscribe", m)
			}
			if r := cfg.rate.String(); r != "" {
				a = append(a, "-rate", r)
			}
			return append(a, "--", ws.URL) // the URL may start with a dash
		},
		check: func(t *testing.T, c any) {
			// The values are wsconn.Dial's to check, before it starts
			// anything; what it cannot check is whether net/http will
			// send the handshake's headers, so every dial would fail.
			cfg := c.(dialConfig)
			h := cfg.ws.Header.Clone()
			if h == nil {
				h = http.Header{}
			}
			if len(cfg.ws.Subprotocols) > 0 {
				h.Set("Sec-WebSocket-Protocol", strings.Join(cfg.ws.Subprotocols, ", "))
			}
			if err := sendableHeader(h); err != nil {
				t.Errorf("the handshake's headers %q cannot be sent: %v", h, err)
			}
		},
	},
	"serve": {
		parse:   func(a []string) (any, error) { return parseServeFlags(a) },
		flagSet: func() *flag.FlagSet { return serveFlagSet(new(serveConfig)) },
		args: func(c any) []string {
			cfg := c.(serveConfig)
			return []string{"-addr", cfg.addr, "-control", cfg.control,
				"-allow-remote=" + strconv.FormatBool(cfg.allowRemote), "-until-stdin-eof=" + strconv.FormatBool(cfg.untilEOF)}
		},
		check: func(t *testing.T, c any) {
			cfg := c.(serveConfig)
			if cfg.allowRemote {
				return
			}
			for _, a := range []string{cfg.addr, cfg.control} {
				if a == cfg.control && a == "" {
					continue
				}
				host, _, err := net.SplitHostPort(a)
				if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
					t.Errorf("address %q accepted without -allow-remote, but it is not loopback", a)
				}
			}
		},
	},
	"load": {
		parse:   func(a []string) (any, error) { return parseLoadFlags(a) },
		flagSet: func() *flag.FlagSet { return loadFlagSet(new(loadFlags)) },
		args: func(c any) []string {
			f := c.(loadFlags)
			args := []string{"-url", f.URL, "-duration", f.Duration.String(),
				"-ping", f.Ping.String(), "-pong-timeout", f.Pong.String(), "-send-every", f.SendEvery.String(),
				"-sample", f.Sample.String(), "-restart-at", f.RestartAt.String(), "-down-for", f.DownFor.String(), "-chaos", f.Chaos.String(),
				"-dial-rate", strconv.Itoa(f.DialRate), "-gogc", strconv.Itoa(f.GOGC), "-json=" + strconv.FormatBool(f.json)}
			if !f.Raw {
				args = append(args, "-backoff", f.Backoff.String())
			}
			if !f.pool {
				return append(args, "-n", strconv.Itoa(f.N), "-raw="+strconv.FormatBool(f.Raw))
			}
			args = append(args, "-pool", "-subs", strconv.Itoa(f.subs), "-per-conn", strconv.Itoa(f.perConn), "-conns", strconv.Itoa(f.conns))
			for _, b := range []struct {
				name string
				r    rateFlag
			}{{"dial-budget", f.dialBudget}, {"venue-budget", f.venueBudget}} {
				if b.r.n > 0 {
					args = append(args, "-"+b.name, b.r.String())
				}
			}
			return args
		},
		check: func(t *testing.T, c any) {
			f := c.(loadFlags)
			switch p := f.Pool; {
			case f.pool && (p == nil || f.N != 0 || p.Subs <= 0 || p.PerConn <= 0 || p.Conns*p.PerConn < p.Subs || f.URL != "" || f.Chaos != 0):
				t.Errorf("-pool with %+v, -n %d, -url %q, -chaos %v: a pool that cannot run", p, f.N, f.URL, f.Chaos)
			case !f.pool && (p != nil || f.N <= 0):
				t.Errorf("-n %d, pool %+v: want -n positive and no pool", f.N, p)
			}
			if f.Raw && (f.pool || f.RestartAt > 0 || f.Chaos > 0 || f.metrics != "") {
				t.Errorf("-raw with -pool %v, -restart-at %v, -chaos %v, -metrics %q: raw clients cannot run those", f.pool, f.RestartAt, f.Chaos, f.metrics)
			}
			if f.Backoff != wsconn.FullJitter && f.Backoff != wsconn.OutageBounded {
				t.Errorf("-backoff %v: want full or outage", f.Backoff)
			}
			if f.DialRate <= 0 || f.GOGC <= 0 {
				t.Errorf("-dial-rate %d, -gogc %d: want all positive", f.DialRate, f.GOGC)
			}
			if f.Duration <= 0 || f.Ping <= 0 || f.Pong <= 0 || f.SendEvery <= 0 || f.Sample <= 0 || f.DownFor <= 0 || f.RestartAt < 0 {
				t.Errorf("durations %+v: want all positive, -restart-at not negative", f)
			}
			if f.RestartAt > 0 && (f.URL != "" || f.RestartAt+f.DownFor >= f.Duration) {
				t.Errorf("-restart-at %v, -down-for %v, -duration %v, -url %q: a restart that cannot happen", f.RestartAt, f.DownFor, f.Duration, f.URL)
			}
			if f.Chaos < 0 || (f.Chaos > 0 && (f.URL != "" || f.RestartAt > 0)) {
				t.Errorf("-chaos %v with -url %q and -restart-at %v: chaos that cannot happen", f.Chaos, f.URL, f.RestartAt)
			}
			if u, err := url.Parse(f.URL); f.URL != "" && (err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "") {
				t.Errorf("-url %q accepted", f.URL)
			}
		},
	},
}

// FuzzFlags fuzzes every command's command line. The input is split into
// arguments (on NUL if it has one, so arguments may hold spaces, else on
// white space); which picks the command, or none, so the first argument
// names it: a known command, help, or anything else. Valid command lines
// are only parsed, never run, except diagram's: no network, no long work.
//
// Properties: no panic; parsing and run agree (-h: exit 0 and the usage on
// stdout; an error: exit 2, the same message and the usage on stderr,
// nothing on stdout); an error (each error it joins) names something the
// user typed or the flag at fault; a valid command line written back as
// arguments parses to the same settings, and those settings keep the
// command's promises (positive durations where required, loopback
// addresses, headers net/http can send).
func FuzzFlags(f *testing.F) {
	seeds := []struct {
		which uint8
		line  string
	}{
		{0, ""}, {0, "-json"}, {0, "-json=maybe"}, {0, "-h"}, {0, "now"},
		{1, "-format dot"}, {1, "-format=matrix"}, {1, "-format bogus"}, {1, "-colour"}, {1, "-format"},
		{2, "-ping 1s -pong-timeout 500ms ws://127.0.0.1:1/"},
		{2, "ws://127.0.0.1:1/ -ping later"},
		{2, "-header\x00Authorization: Bearer x\x00-subprotocol\x00chat\x00ws://127.0.0.1:1/\x00-json"},
		{2, "-header nocolon ws://h/"}, {2, "-max-attempts -1 -buffer 0 ws://h/"}, {2, ""}, {2, "ws://a/ ws://b/"},
		{2, "-ping-text\x00{\"op\":\"ping\"}\x00-pong-text\x00pong\x00-idle-timeout\x0030s\x00ws://h/"},
		{2, "-permanent-close-codes 4001,4003 -storm-gap 0 -header-file /dev/null ws://h/"},
		{2, "-permanent-close-codes 4001,,x ws://h/"}, {2, "-ping-text ping ws://h/"}, {2, "-storm-attempts -3 ws://h/"},
		{2, "--\x00-not-a-flag"}, {2, "-linger 1h2m3.5s -backoff-initial 0 -backoff-max -1s wss://h/x?y#z"},
		{3, "-addr 127.0.0.1:0 -control \x00"}, {3, "-addr\x00:0"}, {3, "-addr 0.0.0.0:0 -allow-remote"},
		{3, "-control [::1]:9 -until-stdin-eof"}, {3, "-addr localhost"},
		{4, "-n 10 -duration 2s"}, {4, "-n 1 -ping 1s -pong-timeout 2s"}, {4, "-n 1 -url http://x"},
		{4, "-n 1 -restart-at 1s -down-for 1s -duration 5s"}, {4, "-n 5 -chaos 2s -duration 1m"}, {4, "-n 1 -chaos 1s -restart-at 1s"}, {4, "-n 0x10 -gogc 0"}, {4, ""}, {4, "-n 1 -sample -1ns"},
		{4, "-pool -subs 100 -per-conn 10 -dial-budget 15/3s -restart-at 1s -duration 4s"}, {4, "-pool -subs 5 -conns 1 -per-conn 2"},
		{4, "-pool -n 3 -subs 1 -venue-budget 1/s"}, {4, "-raw -n 3 -restart-at 0s -down-for 1s"}, {4, "-raw -n 2 -chaos 1s -duration 1m"}, {4, "-n 3 -subs 1 -dial-budget 0/s"}, {4, "-n 9 -backoff outage -restart-at 2s -duration 9s"}, {4, "-raw -n 1 -backoff full"},
		{5, "frobnicate -x"}, {5, "-h"}, {5, "help"}, {5, ""}, {5, "load -n 1 -h"}, {5, "dial"}, {5, "diagram -format mermaid"},
	}
	for _, s := range seeds {
		f.Add(s.which, s.line)
	}
	f.Fuzz(func(t *testing.T, which uint8, line string) {
		var args []string
		if strings.ContainsRune(line, 0) {
			args = strings.Split(line, "\x00")
		} else {
			args = strings.Fields(line)
		}
		if i := int(which) % (len(commands) + 1); i < len(commands) {
			args = append([]string{commands[i].name}, args...)
		}
		checkCommandLine(t, args)
	})
}

func checkCommandLine(t *testing.T, args []string) {
	var stdout, stderr bytes.Buffer
	runIt := func() int {
		stdout.Reset()
		stderr.Reset()
		return run(t.Context(), args, noStdin, &stdout, &stderr)
	}
	if len(args) == 0 {
		if code := runIt(); code != exitUsage || !strings.Contains(stderr.String(), "no command given") {
			t.Errorf("run() = %d, stderr %q; want %d and no command given", code, stderr.String(), exitUsage)
		}
		return
	}
	name := args[0]
	fc, known := fuzzCommands[name]
	switch {
	case name == "-h" || name == "-help" || name == "--help" || name == "help":
		if code := runIt(); code != exitOK || !strings.Contains(stdout.String(), "usage: connfsm <command>") {
			t.Errorf("run(%q) = %d, stdout %q; want %d and the usage", args, code, stdout.String(), exitOK)
		}
		return
	case !known:
		want := "unknown command " + strconv.Quote(name)
		if code := runIt(); code != exitUsage || !strings.Contains(stderr.String(), want) {
			t.Errorf("run(%q) = %d, stderr %q; want %d and %s", args, code, stderr.String(), exitUsage, want)
		}
		return
	}

	cfg, err := fc.parse(args[1:])
	usage := "usage: connfsm " + name + " "
	switch {
	case errors.Is(err, flag.ErrHelp):
		if code := runIt(); code != exitOK || !strings.HasPrefix(stdout.String(), usage) || stderr.Len() > 0 {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, the usage on stdout only", args, code, stdout.String(), stderr.String(), exitOK)
		}
	case err != nil:
		checkNamesInput(t, err, args[1:], fc.flagSet())
		// The error stops run before any work starts.
		want := "connfsm " + name + ": " + err.Error() + "\n" + usage
		if code := runIt(); code != exitUsage || !strings.HasPrefix(stderr.String(), want) || stdout.Len() > 0 {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, stderr starting with %q", args, code, stdout.String(), stderr.String(), exitUsage, want)
		}
	default:
		fc.check(t, cfg)
		again := fc.args(cfg)
		cfg2, err := fc.parse(again)
		if err != nil {
			t.Fatalf("%q parsed, but written back as %q it fails: %v", args[1:], again, err)
		}
		opts := cmp.Options{
			cmp.AllowUnexported(demoConfig{}, dialConfig{}, serveConfig{}, loadFlags{}, rateFlag{}),
			cmp.Comparer(func(a, b *url.URL) bool { return (a == nil) == (b == nil) && (a == nil || a.String() == b.String()) }),
			cmp.Comparer(func(a, b *x509.CertPool) bool { return a.Equal(b) }),
			cmp.Comparer(func(a, b diagramConfig) bool { return a.format.name == b.format.name }),
		}
		if diff := cmp.Diff(cfg, cfg2, opts); diff != "" {
			t.Errorf("%q written back as %q parses differently (-first +second):\n%s", args[1:], again, diff)
		}
		if fc.runnable {
			if code := runIt(); code != exitOK || stdout.Len() == 0 {
				t.Errorf("run(%q) = %d with %d bytes of output; want %d and output", args, code, stdout.Len(), exitOK)
			}
		}
	}
}

// checkNamesInput checks that a parse error, or each of the errors it
// joins, names what is at fault: one of the arguments (as typed or
// quoted), the name of a flag argument, or one of the command's flags.
func checkNamesInput(t *testing.T, err error, args []string, fs *flag.FlagSet) {
	t.Helper()
	var anchors []string
	for _, a := range args {
		anchors = append(anchors, strconv.Quote(a))
		if a == "" {
			continue
		}
		anchors = append(anchors, a)
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); name != "" {
			anchors = append(anchors, "-"+name)
		}
	}
	fs.VisitAll(func(f *flag.Flag) { anchors = append(anchors, "-"+f.Name) })
	anchors = append(anchors, "no URL given")
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		named := false
		for _, a := range anchors {
			if strings.Contains(e.Error(), a) {
				named = true
				break
			}
		}
		if !named {
			t.Errorf("error %q names neither an argument of %q nor a flag", e, args)
		}
	}
}

// errNoDial ends headerCheck's round trips where the network would start.
var errNoDial = errors.New("no dial in this test")

// headerCheck is an HTTP transport that never dials: a round trip through
// it fails with errNoDial once net/http has accepted the request's header.
var headerCheck = &http.Transport{
	DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, errNoDial },
}

// sendableHeader reports whether net/http accepts h on a request, as the
// handshake's header, asking net/http itself.
func sendableHeader(h http.Header) error {
	req, err := http.NewRequest(http.MethodGet, "http://fuzz.invalid/", nil)
	if err != nil {
		return err
	}
	req.Header = h
	resp, err := headerCheck.RoundTrip(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	if errors.Is(err, errNoDial) {
		return nil
	}
	return err
}

// TestDialFlagsRefuseUnsendableHeaders: a header or subprotocol net/http
// would refuse to send is a usage error that names it, not a handshake
// that fails on every attempt.
func TestDialFlagsRefuseUnsendableHeaders(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" for a valid command line
	}{
		{"token name", []string{"-header", "X-Token: a\tb c", "-subprotocol", "v1.chat"}, ""},
		{"quote in the name", []string{"-header", `":`}, `invalid value "\":" for flag -header: header name "\"" is not an HTTP token`},
		{"parenthesis in the name", []string{"-header", "X(1): v"}, `header name "X(1)" is not an HTTP token`},
		{"newline in the value", []string{"-header", "X: a\nb"}, `header value holds the control character '\n'`},
		{"DEL in the value", []string{"-header", "X: a\x7f"}, `header value holds the control character '\x7f'`},
		{"comma in a subprotocol", []string{"-subprotocol", "a,b"}, `invalid value "a,b" for flag -subprotocol: not an HTTP token`},
		{"empty subprotocol", []string{"-subprotocol", ""}, `invalid value "" for flag -subprotocol: not an HTTP token`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseDialFlags(append(tt.args, "ws://127.0.0.1:1/"))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("parseDialFlags: %v", err)
				}
				if err := sendableHeader(cfg.ws.Header); err != nil {
					t.Errorf("accepted headers %q cannot be sent: %v", cfg.ws.Header, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseDialFlags error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
