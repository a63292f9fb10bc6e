package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"runtime/debug"
	"time"

	"github.com/connfsm/connfsm/internal/loadgen"
	"github.com/connfsm/connfsm/wsconn"
)

// runLoad runs N concurrent clients with heartbeats against an echo server
// (internal/loadgen) and reports what each connection costs. It exits 1 if
// not all N clients were Alive at the end, if the open-file limit stopped a
// dial, or if a restart was asked for and not all came back.
func runLoad(c command, e env, args []string) int {
	f, err := parseLoadFlags(args)
	if code, done := reportUsage(loadFlagSet(new(loadFlags)), c, err, e.stdout, e.stderr); done {
		return code
	}
	if err := loadgen.RaiseFileLimit(f.Config); err != nil {
		fmt.Fprintf(e.stderr, "connfsm load: %v\n", err)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(f.GOGC))
	if f.metrics != "" {
		ms, err := startMetrics(f.metrics, f.URL)
		if err != nil {
			fmt.Fprintf(e.stderr, "connfsm load: %v\n", err)
			return exitUsage
		}
		defer ms.close()
		f.Options = append(f.Options, ms.Clients.Option())
	}

	r, err := loadgen.Run(e.ctx, f.Config, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "connfsm load: %v\n", err)
		if errors.Is(err, loadgen.ErrConfig) {
			return exitUsage
		}
		return exitFail
	}
	if err := loadgen.Write(e.stdout, r, f.json); err != nil {
		fmt.Fprintf(e.stderr, "connfsm load: %v\n", err)
		return exitFail
	}
	failures := loadgen.Failures(r, f.Config)
	for _, p := range failures {
		fmt.Fprintf(e.stderr, "connfsm load: %s\n", p)
	}
	if len(failures) > 0 {
		return exitFail
	}
	return exitOK
}

// loadFlags are load's settings: the run's, and how to print the report.
// The pool mode's flags make Config.Pool.
type loadFlags struct {
	loadgen.Config
	json, pool                        bool
	metrics                           string
	subs, perConn, conns, batch, rate int
	dialBudget, venueBudget           rateFlag
}

// loadFlagSet returns load's flags, which set f.
func loadFlagSet(f *loadFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.IntVar(&f.N, "n", 0, "number of concurrent clients (required, unless -pool)")
	fs.StringVar(&f.URL, "url", "", fmt.Sprintf("server `URL` (default: an embedded echo server; a child `connfsm serve` above %d clients)", loadgen.EmbeddedMax))
	fs.DurationVar(&f.Duration, "duration", 10*time.Second, "how long to run once every client is started")
	fs.DurationVar(&f.Ping, "ping", time.Second, "ping `interval` of each client")
	fs.DurationVar(&f.Pong, "pong-timeout", time.Second, "pong timeout of each client (may exceed -ping: the next ping waits for the reply)")
	fs.DurationVar(&f.SendEvery, "send-every", 10*time.Second, "each client sends a small message this often and counts the echoes")
	fs.DurationVar(&f.Sample, "sample", 10*time.Second, "print a sample (goroutines, heap, CPU, alive) this often during the run")
	fs.DurationVar(&f.RestartAt, "restart-at", 0, "take the server down this long into the run (0: never); needs the embedded or child server")
	fs.DurationVar(&f.DownFor, "down-for", 3*time.Second, "with -restart-at, how long the server stays down")
	fs.DurationVar(&f.Chaos, "chaos", 0, "apply a random fault (reset, blackhole, restart) about this often, until 30s before the end (0: never); needs the embedded or child server")
	fs.IntVar(&f.DialRate, "dial-rate", 1000, "clients started per second, so a large ramp does not flood the server")
	fs.IntVar(&f.GOGC, "gogc", loadgen.DefaultGOGC, "garbage collector target percentage (GOGC) of load and of its child server; 100 is Go's default")
	fs.BoolVar(&f.json, "json", false, "print the report as one JSON object")
	f.Profiles.Flags(fs)
	fs.StringVar(&f.metrics, "metrics", "", metricsFlagUsage)
	fs.TextVar(&f.Backoff, "backoff", wsconn.DefaultBackoff.Mode, "the clients' backoff `mode`: full (full jitter, caps growing with the attempts) or outage (a schedule set by the time since the connection was lost, gaps at most 1.5 times it)")
	fs.BoolVar(&f.Raw, "raw", false, "run -n bare coder/websocket clients (a read loop, a ping every -ping, no reconnection) in place of wsconn clients, to compare the figures side by side")
	fs.BoolVar(&f.pool, "pool", false, "run one wsconn.Pool of -subs subscriptions instead of -n clients, against an embedded venue that acknowledges them and enforces -venue-budget")
	fs.IntVar(&f.subs, "subs", 0, "with -pool: subscriptions in all (required)")
	fs.IntVar(&f.perConn, "per-conn", 100, "with -pool: the most subscriptions per connection")
	fs.IntVar(&f.conns, "conns", 0, "with -pool: the most connections (default: as many as -subs needs)")
	fs.Var(&f.dialBudget, "dial-budget", "with -pool: `N/period`, the pool's budget of dials, shared by all its connections, e.g. 300/5m (default: none)")
	fs.IntVar(&f.batch, "batch", 0, "with -pool: subscribe up to `N` keys per message when a connection replays its subscriptions (0: one message each)")
	fs.IntVar(&f.rate, "conn-rate", 0, "with -pool: each connection sends at most `N` messages a second, as venues limit (0: no limit)")
	fs.Var(&f.venueBudget, "venue-budget", "with -pool: `N/period`, the venue refuses handshakes beyond it with 429 and Retry-After (default: -dial-budget)")
	return fs
}

// parseLoadFlags parses load's arguments and checks the values, reporting
// every problem at once; it prints nothing.
func parseLoadFlags(args []string) (loadFlags, error) {
	var f loadFlags
	fs := loadFlagSet(&f)
	_, bad, err := parseArgs(fs, args, 0)
	if errors.Is(err, flag.ErrHelp) {
		return f, err
	}
	c := checks{bad: bad}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if f.Raw {
		// Raw clients do not reconnect and are no wsconn clients: what
		// relies on either would measure nothing. Values that turn a
		// feature off (-restart-at 0) are no conflict.
		for _, o := range []struct {
			name string
			on   bool
		}{{"pool", f.pool}, {"restart-at", f.RestartAt > 0}, {"chaos", f.Chaos > 0}, {"metrics", f.metrics != ""}, {"backoff", set["backoff"]}} {
			if o.on {
				c.add(fmt.Errorf("-%s does not apply to -raw: raw clients neither reconnect nor take wsconn options", o.name), o.name, "raw")
			}
		}
	}
	if f.pool {
		checkPoolFlags(&f, set, &c)
	} else {
		if f.N <= 0 {
			c.add(fmt.Errorf("-n must be positive, got %d", f.N), "n")
		}
		for _, name := range []string{"subs", "per-conn", "conns", "batch", "conn-rate", "dial-budget", "venue-budget"} {
			if set[name] {
				c.add(fmt.Errorf("-%s needs -pool", name), name)
			}
		}
	}
	if err := checkMetricsAddr(f.metrics); err != nil {
		c.add(err, "metrics")
	}
	if f.DialRate <= 0 {
		c.add(fmt.Errorf("-dial-rate must be positive, got %d", f.DialRate), "dial-rate")
	}
	if f.GOGC <= 0 {
		c.add(fmt.Errorf("-gogc must be positive, got %d", f.GOGC), "gogc")
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"duration", f.Duration}, {"ping", f.Ping}, {"pong-timeout", f.Pong}, {"send-every", f.SendEvery}, {"sample", f.Sample}, {"down-for", f.DownFor}} {
		if d.d <= 0 {
			c.add(fmt.Errorf("-%s must be positive, got %v", d.name, d.d), d.name)
		}
	}
	if f.RestartAt < 0 {
		c.add(fmt.Errorf("-restart-at must not be negative, got %v", f.RestartAt), "restart-at")
	}
	if f.Chaos < 0 {
		c.add(fmt.Errorf("-chaos must not be negative, got %v", f.Chaos), "chaos")
	}
	switch {
	case f.RestartAt > 0 && f.URL != "":
		c.add(errors.New("-restart-at needs the embedded or child server: an external server (-url) cannot be restarted"), "restart-at", "url")
	case f.Chaos > 0 && f.URL != "":
		c.add(fmt.Errorf("-chaos needs the embedded or child server, not -url %q", f.URL), "chaos", "url")
	case f.Chaos > 0 && f.RestartAt > 0:
		c.add(errors.New("-chaos and -restart-at cannot be combined"), "chaos", "restart-at")
	case f.Chaos > 0 && f.Duration <= loadgen.ChaosRecovery:
		c.add(fmt.Errorf("-chaos needs -duration above %v (the recovery time at the end), got %v", loadgen.ChaosRecovery, f.Duration), "chaos", "duration")
	case f.RestartAt > 0 && f.RestartAt+f.DownFor >= f.Duration:
		c.add(fmt.Errorf("-restart-at (%v) plus -down-for (%v) must end before -duration (%v)", f.RestartAt, f.DownFor, f.Duration), "restart-at", "down-for", "duration")
	}
	if f.URL != "" {
		if u, err := url.Parse(f.URL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			c.add(fmt.Errorf("-url %q: want a ws:// or wss:// URL with a host", f.URL), "url")
		}
	}
	return f, c.err(err)
}

// checkPoolFlags checks the pool mode's flags and makes f.Pool; the
// defaults it fills in (-conns, -venue-budget) are written back to the
// flags, so the settings print as they run.
func checkPoolFlags(f *loadFlags, set map[string]bool, c *checks) {
	if set["n"] {
		c.add(errors.New("-n does not apply to -pool: the connections follow from -subs and -per-conn"), "n", "pool")
	}
	if f.subs <= 0 {
		c.add(fmt.Errorf("-subs must be positive with -pool, got %d", f.subs), "subs")
	}
	if f.perConn <= 0 {
		c.add(fmt.Errorf("-per-conn must be positive, got %d", f.perConn), "per-conn")
	}
	for i, v := range []int{f.conns, f.batch, f.rate} {
		if name := []string{"conns", "batch", "conn-rate"}[i]; v < 0 {
			c.add(fmt.Errorf("-%s must not be negative, got %d", name, v), name)
		}
	}
	if f.URL != "" {
		c.add(errors.New("-pool runs its own venue, which counts the subscriptions and enforces the budget: -url does not apply"), "pool", "url")
	}
	if f.Chaos > 0 {
		c.add(errors.New("-chaos and -pool cannot be combined"), "chaos", "pool")
	}
	if f.subs <= 0 || f.perConn <= 0 || f.conns < 0 {
		return
	}
	need := (f.subs + f.perConn - 1) / f.perConn
	switch {
	case f.conns == 0:
		f.conns = need
	case f.conns < need:
		c.add(fmt.Errorf("-subs %d do not fit -conns %d of -per-conn %d", f.subs, f.conns, f.perConn), "subs", "conns", "per-conn")
	}
	if !set["venue-budget"] {
		f.venueBudget = f.dialBudget
	}
	f.Pool = &loadgen.PoolMode{Subs: f.subs, PerConn: f.perConn, Conns: f.conns, Batch: f.batch, Rate: f.rate,
		Budget:      loadgen.Budget{Dials: f.dialBudget.n, Window: f.dialBudget.period},
		VenueBudget: loadgen.Budget{Dials: f.venueBudget.n, Window: f.venueBudget.period}}
}
