package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/timeline"
	"github.com/connfsm/connfsm/otelconnfsm"
	"github.com/connfsm/connfsm/wsconn"
)

// dialCloseBound bounds the final Close: the close handshake is already
// bounded by the client's close timeout; this is a backstop.
const dialCloseBound = wsconn.DefaultCloseTimeout + 5*time.Second

// runDial is an interactive resilient client: stdin lines become text
// messages, received messages go to stdout, the lifecycle timeline to
// stderr. It ends on stdin EOF or when e.ctx ends (a graceful close, exit
// 0) or when the client gives up (exit 1, with the cause).
func runDial(c command, e env, args []string) int {
	cfg, err := parseDialFlags(args)
	if code, done := reportUsage(dialFlagSet(new(dialConfig)), c, err, e.stdout, e.stderr); done {
		return code
	}

	ctx := e.ctx
	out := timeline.New(e.stdout, cfg.json, false)
	tl := timeline.New(e.stderr, cfg.json, false)
	var stragglers atomic.Int64
	var (
		live     atomic.Pointer[wsconn.Client]
		measured []wsconn.Option
	)
	if cfg.metrics != "" {
		ms, err := startMetrics(cfg.metrics, func(*otelconnfsm.Clients) bool {
			c := live.Load()
			return c != nil && c.Phase() == connfsm.Ready
		})
		if err != nil {
			fmt.Fprintf(e.stderr, "connfsm dial: %v\n", err)
			return exitUsage
		}
		defer ms.close()
		measured = append(measured, ms.Clients.Option())
	}
	opts := append(append(append(cfg.venueOptions(), cfg.data.options()...), measured...),
		wsconn.NoWait(),
		wsconn.WithHeartbeat(cfg.ping, cfg.pong),
		wsconn.WithBackoff(wsconn.Backoff{Initial: cfg.initial, Max: cfg.maxDelay, Multiplier: wsconn.DefaultBackoff.Multiplier, MaxAttempts: cfg.attempts}),
		wsconn.WithHeader(http.Header(cfg.header)),
		wsconn.WithSubprotocols(cfg.subprotocols...),
		wsconn.WithSendPolicy(wsconn.SendPolicy{Buffer: cfg.buffer}),
		wsconn.OnRecord(func(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
			if r.Kind == fsm.RecordStraggler {
				stragglers.Add(1)
			}
			tl.Observe(ctx, r)
		}),
		wsconn.OnMessage(func(_ context.Context, m wsconn.Message) {
			text := string(m.Data)
			if m.Type == wsconn.Binary {
				text = "binary:" + base64.StdEncoding.EncodeToString(m.Data)
			}
			out.Data(text, m.Epoch)
		}),
	)
	client, err := wsconn.Dial(ctx, cfg.url, opts...)
	if err != nil {
		fmt.Fprintf(e.stderr, "connfsm dial: %v\n", err)
		if errors.Is(err, wsconn.ErrInvalidConfig) {
			printUsage(dialFlagSet(new(dialConfig)), c, e.stderr)
			return exitUsage
		}
		return exitFail
	}
	live.Store(client)

	quit := make(chan struct{})
	defer close(quit)
	in := readLines(e.stdin, quit)
	var accepted uint64
	eof := false
loop:
	for {
		select {
		case line, ok := <-in.lines:
			if !ok {
				eof = true
				break loop
			}
			switch err := client.SendText(ctx, line); {
			case err == nil:
				accepted++
			case errors.Is(err, wsconn.ErrClosed):
				break loop
			default:
				fmt.Fprintf(e.stderr, "connfsm dial: line not sent: %v\n", err)
			}
		case <-client.Done():
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	if eof {
		if in.err != nil {
			fmt.Fprintf(e.stderr, "connfsm dial: reading stdin: %v\n", in.err)
		}
		waitFlushed(ctx, client, accepted)
		if cfg.linger > 0 {
			t := time.NewTimer(cfg.linger)
			select {
			case <-t.C:
			case <-client.Done():
			case <-ctx.Done():
			}
			t.Stop()
		}
	}

	cctx, cancel := context.WithTimeout(context.Background(), dialCloseBound)
	defer cancel()
	closeErr := client.Close(cctx)
	return dialSummary(client, closeErr, int(stragglers.Load()), tl, e.stderr)
}

// dialSummary prints the summary line and returns the exit code: 0 after a
// user close with every accepted line sent, 1 otherwise.
func dialSummary(client *wsconn.Client, closeErr error, stragglers int, tl *timeline.Timeline, stderr io.Writer) int {
	// Close has returned, so by its contract every task has returned. Count
	// what contradicts that rather than assume it: a client not Closed or
	// not Done, and any task reported as a straggler (it outlived its
	// join and nothing proves it has returned since).
	running := stragglers
	select {
	case <-client.Done():
	default:
		running++
	}
	if client.State() != connfsm.Closed {
		running++
	}
	st := client.Stats()
	cause := client.Err()
	fields := map[string]any{
		"connections": st.Connects, "reconnects": st.Reconnects, "messages_in": st.MessagesIn,
		"messages_out": st.MessagesOut, "unsent": st.Unsent, "tasks_running": running, "cause": errString(cause),
	}
	if code, reason := timeline.CloseOf(cause); code != 0 {
		fields["close_code"], fields["close_reason"] = code, reason
	}
	// What a slow stdout cost: the lag always, the counts when not zero.
	for k, v := range map[string]uint64{"dropped": st.Dropped + st.SlowDropped, "conflated": st.Conflated, "too_big": st.TooBig} {
		if v > 0 {
			fields[k] = v
		}
	}
	fields["max_lag_ms"] = float64(st.MaxLag) / float64(time.Millisecond)
	tl.Summary(fmt.Sprintf("summary: connections %d, reconnects %d, messages in %d, out %d, unsent %d, tasks still running %d; ended: %v",
		st.Connects, st.Reconnects, st.MessagesIn, st.MessagesOut, st.Unsent, running, cause), fields)
	var gaveUp *wsconn.GaveUpError
	switch {
	case errors.As(cause, &gaveUp):
		fmt.Fprintf(stderr, "connfsm dial: %v\n", cause)
		return exitFail
	case !errors.Is(cause, wsconn.ErrClosed):
		fmt.Fprintf(stderr, "connfsm dial: ended: %v\n", cause)
		return exitFail
	case closeErr != nil:
		fmt.Fprintf(stderr, "connfsm dial: close: %v\n", closeErr)
		return exitFail
	case running > 0:
		fmt.Fprintf(stderr, "connfsm dial: %d task(s) may still be running\n", running)
		return exitFail
	}
	return exitOK
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// waitFlushed waits until every accepted line has been written or counted
// as unsent, the client has ended, or ctx ends: lines typed while
// reconnecting are sent before stdin's EOF closes the client.
func waitFlushed(ctx context.Context, client *wsconn.Client, accepted uint64) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if st := client.Stats(); st.MessagesOut+st.Unsent >= accepted {
			return
		}
		select {
		case <-t.C:
		case <-client.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

// stdinLines is stdin read line by line: lines is closed at EOF, and err
// is valid once it is.
type stdinLines struct {
	lines <-chan string
	err   error
}

// readLines reads r in a goroutine. The goroutine ends at EOF, or at the
// next line after quit is closed: a Read blocked on a terminal cannot be
// interrupted, and the process exits meanwhile.
func readLines(r io.Reader, quit <-chan struct{}) *stdinLines {
	ch := make(chan string)
	s := &stdinLines{lines: ch}
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), wsconn.DefaultReadLimit)
		for sc.Scan() {
			select {
			case ch <- sc.Text():
			case <-quit:
				return
			}
		}
		s.err = sc.Err()
	}()
	return s
}

// dialConfig is dial's command line. Its values are checked by
// wsconn.Dial, which names the option at fault before anything starts.
type dialConfig struct {
	url               string
	ping, pong        time.Duration
	initial, maxDelay time.Duration
	attempts          int
	buffer            int
	linger            time.Duration
	json              bool
	header            headerFlag
	subprotocols      stringsFlag

	pingText, pongText string
	idle               time.Duration
	headerFile         string
	permanent          closeCodesFlag
	stormAttempts      int
	stormWindow        time.Duration
	stormGap           time.Duration
	subscribe          stringList
	rate               rateFlag
	metrics            string

	data dataFlags
	sub  subFlags
}

// dialFlagSet returns dial's flags, which set cfg.
func dialFlagSet(cfg *dialConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("dial", flag.ContinueOnError)
	fs.DurationVar(&cfg.ping, "ping", wsconn.DefaultPingInterval, "ping `interval`")
	fs.DurationVar(&cfg.pong, "pong-timeout", wsconn.DefaultPongTimeout, "how long to wait for a pong before the connection counts as lost (may exceed -ping: the next ping waits for it)")
	fs.DurationVar(&cfg.initial, "backoff-initial", 0, "first reconnect delay cap (0: 500ms, or -backoff-max if lower)")
	fs.DurationVar(&cfg.maxDelay, "backoff-max", 0, "largest reconnect delay cap (0: 30s, or -backoff-initial if higher)")
	fs.IntVar(&cfg.attempts, "max-attempts", 0, "give up after this many consecutive failed attempts (0: retry forever)")
	fs.IntVar(&cfg.buffer, "buffer", 256, "lines kept while not connected, sent in order on the next connection")
	fs.DurationVar(&cfg.linger, "linger", 0, "after stdin ends and every line is sent, keep printing received messages this long before closing")
	fs.BoolVar(&cfg.json, "json", false, "print the timeline and received messages as JSON lines")
	cfg.header = headerFlag{}
	fs.Var(cfg.header, "header", "HTTP `header` 'Name: value' for the handshake (repeatable)")
	fs.Var(&cfg.subprotocols, "subprotocol", "`subprotocol` to offer (repeatable)")
	fs.StringVar(&cfg.pingText, "ping-text", "", "application heartbeat: send this `text` every -ping instead of protocol pings (needs -pong-text)")
	fs.StringVar(&cfg.pongText, "pong-text", "", "the application heartbeat's reply, matched whole; not printed")
	fs.DurationVar(&cfg.idle, "idle-timeout", 0, "lose a connection on which no data message came for this long, pongs or not (0: off)")
	fs.StringVar(&cfg.headerFile, "header-file", "", "read handshake headers from this `file` before every dial, one 'Name: value' per line")
	fs.Var(&cfg.permanent, "permanent-close-codes", "close `codes` that end the client, comma-separated, e.g. 4001,4003")
	fs.IntVar(&cfg.stormAttempts, "storm-attempts", wsconn.DefaultStormGuard.Attempts, "storm guard: dials within -storm-window that turn it on (0: off)")
	fs.DurationVar(&cfg.stormWindow, "storm-window", wsconn.DefaultStormGuard.Window, "storm guard: how far back dials are counted (0: off)")
	fs.DurationVar(&cfg.stormGap, "storm-gap", wsconn.DefaultStormGuard.MinGap, "storm guard: the least time between two dials while it is on (0: off)")
	fs.Var(&cfg.subscribe, "subscribe", "a `message` that subscribes, sent on every connection before stdin's lines (repeatable, in order)")
	fs.StringVar(&cfg.metrics, "metrics", "", metricsFlagUsage)
	fs.Var(&cfg.rate, "rate", "pace every write (stdin's lines, subscriptions, the buffer's flush) to at most `N/period`, e.g. 5/s or 100/1m")
	cfg.data.register(fs)
	cfg.sub.register(fs)
	return fs
}

// parseDialFlags parses dial's arguments: flags, one URL, and flags after
// the URL. It prints nothing.
func parseDialFlags(args []string) (dialConfig, error) {
	var cfg dialConfig
	pos, bad, err := parseArgs(dialFlagSet(&cfg), args, 1)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, err
	}
	dataErr := cfg.data.check(bad)
	if len(pos) == 0 {
		return cfg, errors.Join(err, errors.New("no URL given"), dataErr)
	}
	cfg.url = pos[0]
	return cfg, errors.Join(err, cfg.checkVenueFlags(), dataErr, checkMetricsAddr(cfg.metrics))
}

// headerFlag is a repeatable -header 'Name: value'. Set refuses what
// net/http would refuse to send, so a bad header is a usage error rather
// than a handshake failing on every attempt.
type headerFlag http.Header

func (h headerFlag) String() string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s; ", k, v)
		}
	}
	return strings.TrimSuffix(b.String(), "; ")
}

func (h headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, ":")
	k = strings.TrimSpace(k)
	if !ok || k == "" || strings.ContainsAny(k, " \t") {
		return errors.New("want 'Name: value'")
	}
	if !isToken(k) {
		return fmt.Errorf("header name %q is not an HTTP token", k)
	}
	v = strings.TrimSpace(v)
	if i := strings.IndexFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }); i >= 0 {
		return fmt.Errorf("header value holds the control character %q", v[i])
	}
	http.Header(h).Add(k, v)
	return nil
}

// stringsFlag is the repeatable -subprotocol. Each must be an HTTP token,
// as RFC 6455 §4.1 requires: net/http refuses to send others.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	if !isToken(v) {
		return errors.New("not an HTTP token")
	}
	*s = append(*s, v)
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2): visible
// ASCII without delimiters.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
