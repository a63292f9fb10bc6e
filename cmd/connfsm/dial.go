package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/connfsm/connfsm/internal/dialrun"
	"github.com/connfsm/connfsm/tcpconn/framing"
	"github.com/connfsm/connfsm/wsconn"
)

// runDial is an interactive resilient client (internal/dialrun): stdin
// lines become text messages, received messages go to stdout, the
// lifecycle timeline to stderr.
func runDial(c command, e env, args []string) int {
	cfg, err := parseDialFlags(args)
	if code, done := reportUsage(dialFlagSet(new(dialConfig)), c, err, e.stdout, e.stderr); done {
		return code
	}
	run := cfg.run
	run.Dial = cfg.transport()
	if l := cfg.rate.limiter(); l != nil {
		run.Rate = l
	}
	if cfg.metrics != "" {
		ms, err := startMetrics(cfg.metrics, cfg.ws.URL)
		if err != nil {
			fmt.Fprintf(e.stderr, "connfsm dial: %v\n", err)
			return exitUsage
		}
		defer ms.close()
		run.Options = append(run.Options, ms.Clients.Option())
	}
	code := dialrun.Run(e.ctx, run, e.stdin, e.stdout, e.stderr)
	if code == dialrun.ExitUsage {
		printUsage(dialFlagSet(new(dialConfig)), c, e.stderr)
	}
	return code
}

// streamTransports are the transports of the schemes other than ws and
// wss, which share every flag but wsOnlyFlags; nil: not built yet.
var streamTransports = map[string]func(cfg *dialConfig) dialrun.DialFunc{"tcp": streamDial, "tls": streamDial}

// streamDial is the dial of a tcp:// or tls:// URL: tcpconn's.
func streamDial(cfg *dialConfig) dialrun.DialFunc {
	return dialrun.Stream{URL: cfg.ws.URL, Framing: cfg.framer, Roots: cfg.ws.Roots}.Dial
}

// wsOnlyFlags are the flags only a WebSocket has: given with a URL of
// streamTransports, each is a usage error.
var wsOnlyFlags = []string{"header", "header-file", "subprotocol", "permanent-close-codes", "decompress", "proxy"}

// transport returns the dial of cfg's URL: WebSocket's unless the scheme
// is a stream's (a bad scheme is wsconn.Dial's to report).
func (cfg *dialConfig) transport() dialrun.DialFunc {
	if t := streamTransports[scheme(cfg.ws.URL)]; t != nil {
		return t(cfg)
	}
	return cfg.ws.Dial
}

// scheme returns rawURL's scheme in lower case, "" without one.
func scheme(rawURL string) string {
	s, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return ""
	}
	return strings.ToLower(s)
}

// checkTransport refuses the WebSocket-only flags given with a stream's
// URL, -framing given with a WebSocket's, and a stream whose transport
// is not built.
func checkTransport(rawURL string, set map[string]bool) error {
	s := scheme(rawURL)
	t, stream := streamTransports[s]
	if !stream {
		if set["framing"] {
			return fmt.Errorf("-framing applies to tcp:// and tls:// URLs only, not %s", rawURL)
		}
		return nil
	}
	var errs []error
	for _, f := range wsOnlyFlags {
		if set[f] {
			errs = append(errs, fmt.Errorf("-%s applies to ws:// and wss:// URLs only, not %s://", f, s))
		}
	}
	if len(errs) == 0 && t == nil {
		return fmt.Errorf("URL %q: %s:// is not supported yet", rawURL, s)
	}
	return errors.Join(errs...)
}

// dialConfig is dial's command line: the settings dialrun takes, set by
// the flags directly where a flag's type is the setting's, and the flags
// parseDialFlags converts.
type dialConfig struct {
	run dialrun.Config
	ws  dialrun.WebSocket

	rate                  rateFlag
	metrics               string
	readLimit, writeLimit sizeFlag
	answerPing            string
	decompress            string
	caFile                string
	framing               string
	framer                framing.Framer
	proxy                 string
	slowConsumer          string
}

// dialFlagSet returns dial's flags, which set cfg.
func dialFlagSet(cfg *dialConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("dial", flag.ContinueOnError)
	r, ws := &cfg.run, &cfg.ws
	fs.DurationVar(&r.Ping, "ping", wsconn.DefaultPingInterval, "ping `interval`")
	fs.DurationVar(&r.PongTimeout, "pong-timeout", wsconn.DefaultPongTimeout, "how long to wait for a pong before the connection counts as lost (may exceed -ping: the next ping waits for it)")
	r.Backoff.Multiplier = wsconn.DefaultBackoff.Multiplier
	fs.DurationVar(&r.Backoff.Initial, "backoff-initial", 0, "first reconnect delay cap (0: 500ms, or -backoff-max if lower)")
	fs.DurationVar(&r.Backoff.Max, "backoff-max", 0, "largest reconnect delay cap (0: 30s, or -backoff-initial if higher)")
	fs.TextVar(&r.Backoff.Mode, "backoff", wsconn.DefaultBackoff.Mode, "reconnect backoff `mode`: outage (each gap at most 1.5 times the time since the loss) or full (full jitter, caps doubling per attempt)")
	fs.IntVar(&r.Backoff.MaxAttempts, "max-attempts", 0, "give up after this many consecutive failed attempts (0: retry forever)")
	fs.IntVar(&r.Buffer, "buffer", 256, "lines kept while not connected, sent in order on the next connection")
	fs.DurationVar(&r.Linger, "linger", 0, "after stdin ends and every line is sent, keep printing received messages this long before closing")
	fs.BoolVar(&r.JSON, "json", false, "print the timeline and received messages as JSON lines")
	ws.Header = map[string][]string{}
	fs.Var(headerFlag(ws.Header), "header", "HTTP `header` 'Name: value' for the handshake (repeatable)")
	fs.Var((*stringsFlag)(&ws.Subprotocols), "subprotocol", "`subprotocol` to offer (repeatable)")
	fs.StringVar(&r.PingText, "ping-text", "", "application heartbeat: send this `text` every -ping instead of protocol pings (needs -pong-text)")
	fs.StringVar(&r.PongText, "pong-text", "", "the application heartbeat's reply, matched whole; not printed")
	fs.DurationVar(&r.IdleTimeout, "idle-timeout", 0, "lose a connection on which no data message came for this long, pongs or not (0: off)")
	fs.StringVar(&ws.HeaderFile, "header-file", "", "read handshake headers from this `file` before every dial, one 'Name: value' per line")
	fs.Var((*closeCodesFlag)(&ws.PermanentCloseCodes), "permanent-close-codes", "close `codes` that end the client, comma-separated, e.g. 4001,4003")
	fs.IntVar(&r.Storm.Attempts, "storm-attempts", wsconn.DefaultStormGuard.Attempts, "storm guard: dials within -storm-window that turn it on (0: off)")
	fs.DurationVar(&r.Storm.Window, "storm-window", wsconn.DefaultStormGuard.Window, "storm guard: how far back dials are counted (0: off)")
	fs.DurationVar(&r.Storm.MinGap, "storm-gap", wsconn.DefaultStormGuard.MinGap, "storm guard: the least time between two dials while it is on (0: off)")
	fs.Var((*stringList)(&r.Subscribe), "subscribe", "a `message` that subscribes, sent on every connection before stdin's lines (repeatable, in order)")
	fs.StringVar(&cfg.metrics, "metrics", "", metricsFlagUsage)
	fs.Var(&cfg.rate, "rate", "pace every write (stdin's lines, subscriptions, the buffer's flush) to at most `N/period`, e.g. 5/s or 100/1m")
	cfg.registerData(fs)
	return fs
}

// parseDialFlags parses dial's arguments: flags, one URL, and flags after
// the URL. It prints nothing.
func parseDialFlags(args []string) (dialConfig, error) {
	var cfg dialConfig
	fs := dialFlagSet(&cfg)
	pos, bad, err := parseArgs(fs, args, 1)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, err
	}
	dataErr := errors.Join(cfg.run.Check(bad), cfg.checkData(bad), checkMetricsAddr(cfg.metrics))
	if len(pos) == 0 {
		return cfg, errors.Join(err, dataErr, errors.New("no URL given"))
	}
	cfg.ws.URL = pos[0]
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return cfg, errors.Join(err, dataErr, checkTransport(cfg.ws.URL, set),
		dialrun.CheckLogin(cfg.ws.URL, cfg.framer, cfg.run.Login))
}

// defaultLoginTimeout is -login-timeout's default.
const defaultLoginTimeout = 10 * time.Second
