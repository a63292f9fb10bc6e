package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// patience bounds every wait on the real network: generous, so a loaded
// machine does not flake, and finite, so a hang fails the test.
const patience = 10 * time.Second

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// noStdin is the stdin of a command that must not read it: it reads as
// empty.
var noStdin io.Reader = strings.NewReader("")

// runAsync runs the command line in a goroutine, reading stdin, with an
// interrupt the test sends by calling interrupt (it cancels run's
// context). wait returns the exit code, failing the test if it takes
// longer than patience. At the end of the test run is interrupted and
// waited for, so it never outlives the test.
func runAsync(t *testing.T, args []string, stdin io.Reader, stdout, stderr io.Writer) (wait func() int, interrupt func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, stdin, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return func() int {
		t.Helper()
		select {
		case code := <-done:
			done <- code
			return code
		case <-time.After(patience):
			t.Fatalf("connfsm %s did not return", strings.Join(args, " "))
			return -1
		}
	}, cancel
}

// venue starts a loopback venue (wsconntest) playing b, Echo if none, and
// closes it when the test ends.
func venue(t *testing.T, opts ...wsconntest.Option) *wsconntest.Server {
	t.Helper()
	srv, err := wsconntest.NewTCPServer("", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// echoServer is a loopback echo venue's URL. gate, if not nil, holds every
// handshake until it is closed.
func echoServer(t *testing.T, gate <-chan struct{}) string {
	t.Helper()
	var plan []wsconntest.Behavior
	if gate != nil {
		plan = append(plan, wsconntest.Handshake(func(_ http.ResponseWriter, r *http.Request) bool {
			select {
			case <-gate:
				return false // then upgrade
			case <-r.Context().Done():
				return true
			}
		}))
	}
	return venue(t, wsconntest.Default(append(plan, wsconntest.Echo())...)).URL
}

func TestDialEchoesStdinLines(t *testing.T) {
	url := echoServer(t, nil)
	in, typed := io.Pipe()
	t.Cleanup(func() { _ = typed.Close() }) // ends the stdin reader if the test fails early
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, []string{"dial", "-ping", "1s", "-pong-timeout", "1s", url}, in, &stdout, &stderr)

	lines := []string{"one", "two", "three"}
	for i, l := range lines {
		if _, err := io.WriteString(typed, l+"\n"); err != nil {
			t.Fatal(err)
		}
		want := strings.Join(lines[:i+1], "\n") + "\n"
		waitFor(t, "echo of "+l, func() bool { return stdout.String() == want })
	}
	_ = typed.Close() // EOF: a graceful close

	if code := wait(); code != exitOK {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	if diff := cmp.Diff("one\ntwo\nthree\n", stdout.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	for _, s := range []string{
		"transition Connecting --Connected--> Alive/Syncing (epoch 3)",
		"transition Alive/Syncing --Synced--> Alive/Ready (epoch 4)",
		"transition Alive/Ready --Close--> Closing",
		"transition Closing --CloseDone--> Closed",
		"summary: connections 1, reconnects 0, messages in 3, out 3, unsent 0, tasks still running 0; ended: wsconn: client closed",
	} {
		if !strings.Contains(stderr.String(), s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
		}
	}
}

// TestDialBuffersWhileConnecting types every line and ends stdin before
// the server completes the handshake: the lines are kept and sent once
// Alive, and the interrupt then closes the client gracefully.
func TestDialBuffersWhileConnecting(t *testing.T) {
	gate := make(chan struct{})
	url := echoServer(t, gate)
	eof := make(chan struct{})
	var stdout, stderr syncBuffer
	wait, interrupt := runAsync(t, []string{"dial", "-linger", "1h", url}, &eofSignal{r: strings.NewReader("first\nsecond\nthird\n"), eof: eof}, &stdout, &stderr)

	select {
	case <-eof:
	case <-time.After(patience):
		t.Fatal("stdin was not read to its end")
	}
	close(gate)
	waitFor(t, "the echoes", func() bool { return stdout.String() == "first\nsecond\nthird\n" })
	interrupt()
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	if !strings.Contains(stderr.String(), "messages in 3, out 3, unsent 0, tasks still running 0") {
		t.Errorf("summary is not clean:\n%s", stderr.String())
	}
}

// eofSignal closes eof when r returns io.EOF.
type eofSignal struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (e *eofSignal) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

func TestDialJSON(t *testing.T) {
	url := echoServer(t, nil)
	in, typed := io.Pipe()
	t.Cleanup(func() { _ = typed.Close() }) // ends the stdin reader if the test fails early
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, []string{"dial", "-json", url}, in, &stdout, &stderr)
	if _, err := io.WriteString(typed, "hello\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the echo", func() bool { return strings.Contains(stdout.String(), "\n") })
	_ = typed.Close()
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}

	type jsonLine struct {
		T      string         `json:"t"`
		Kind   string         `json:"kind"`
		From   string         `json:"from"`
		Event  string         `json:"event"`
		To     string         `json:"to"`
		Epoch  uint64         `json:"epoch"`
		Dir    string         `json:"dir"`
		Text   string         `json:"text"`
		Fields map[string]any `json:"fields"`
	}
	parse := func(name, s string) []jsonLine {
		var out []jsonLine
		for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			var j jsonLine
			if err := json.Unmarshal([]byte(l), &j); err != nil {
				t.Fatalf("%s line %q is not JSON: %v", name, l, err)
			}
			if _, err := time.Parse(time.RFC3339Nano, j.T); err != nil {
				t.Errorf("%s line %q: t: %v", name, l, err)
			}
			j.T = ""
			out = append(out, j)
		}
		return out
	}
	if diff := cmp.Diff([]jsonLine{{Kind: "message", Epoch: 2, Dir: "received", Text: "hello"}}, parse("stdout", stdout.String())); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	want := []jsonLine{
		{Kind: "started", To: "Connecting", Epoch: 1}, // no event: Connected is only the zero value
		{Kind: "transition", From: "Connecting", Event: "Connected", To: "Alive/Syncing", Epoch: 3},
		{Kind: "transition", From: "Alive/Syncing", Event: "Synced", To: "Alive/Ready", Epoch: 4},
		{Kind: "transition", From: "Alive/Ready", Event: "Close", To: "Closing", Epoch: 5},
		{Kind: "transition", From: "Closing", Event: "CloseDone", To: "Closed", Epoch: 6},
		{Kind: "summary", Fields: map[string]any{
			"connections": 1.0, "reconnects": 0.0, "messages_in": 1.0, "messages_out": 1.0,
			"unsent": 0.0, "tasks_running": 0.0, "cause": "wsconn: client closed",
		}},
	}
	got := parse("stderr", stderr.String())
	// The lag is a measurement: there, a number of milliseconds.
	if n := len(got); n > 0 && got[n-1].Kind == "summary" {
		if lag, ok := got[n-1].Fields["max_lag_ms"].(float64); !ok || lag < 0 {
			t.Errorf("summary's max_lag_ms = %v, want a duration in ms", got[n-1].Fields["max_lag_ms"])
		}
		delete(got[n-1].Fields, "max_lag_ms")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}

func TestDialGivesUp(t *testing.T) {
	srv := venue(t, wsconntest.Default(wsconntest.Refuse(http.StatusForbidden, nil)))
	in, typed := io.Pipe()
	t.Cleanup(func() { _ = typed.Close() }) // ends the stdin reader after run
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, []string{"dial", srv.URL}, in, &stdout, &stderr)
	code := wait()
	if code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	for _, s := range []string{
		"transition Reconnecting --GaveUp--> Closed",
		"connfsm dial: wsconn: gave up after 1 attempt(s): wsconn: handshake refused with HTTP 403",
		"tasks still running 0",
	} {
		if !strings.Contains(stderr.String(), s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
		}
	}
	if stdout.String() != "" {
		t.Errorf("stdout is not empty: %q", stdout.String())
	}
}

func TestDialUsage(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		stderrHas []string
	}{
		{"no URL", []string{"-ping", "1s"}, []string{"no URL given"}},
		{"bad duration", []string{"-ping", "soon", "ws://127.0.0.1:1/"}, []string{`invalid value "soon" for flag -ping`}},
		{"bad URL", []string{"http://example.com/feed"}, []string{`URL "http://example.com/feed": scheme must be ws or wss, got "http"`}},
		{"unparsable URL", []string{"ws://%zz"}, []string{`URL "ws://%zz"`}},
		{"negative ping", []string{"-ping=-1s", "ws://127.0.0.1:1/"}, []string{"PingInterval must be positive, got -1s"}},
		{"negative pong timeout", []string{"-ping", "1s", "-pong-timeout=-30s", "ws://127.0.0.1:1/"}, []string{"PongTimeout must be positive, got -30s"}},
		{"backoff inverted", []string{"-backoff-initial", "1m", "-backoff-max", "1s", "ws://127.0.0.1:1/"}, []string{"Backoff.Initial (1m0s) must not exceed Backoff.Max (1s)"}},
		{"negative attempts", []string{"-max-attempts", "-1", "ws://127.0.0.1:1/"}, []string{"Backoff.MaxAttempts must not be negative, got -1"}},
		{"bad header", []string{"-header", "nocolon", "ws://127.0.0.1:1/"}, []string{`invalid value "nocolon" for flag -header`}},
		{"flag after URL", []string{"ws://127.0.0.1:1/", "-ping", "later"}, []string{`invalid value "later" for flag -ping`}},
		{"two URLs", []string{"ws://127.0.0.1:1/", "ws://127.0.0.1:2/"}, []string{`unexpected argument "ws://127.0.0.1:2/"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), append([]string{"dial"}, tt.args...), noStdin, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			for _, s := range append(tt.stderrHas, "usage: connfsm dial [flags] URL", "-pong-timeout") {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout is not empty: %q", stdout.String())
			}
		})
	}
}

func TestHeaderFlag(t *testing.T) {
	h := headerFlag{}
	for _, v := range []string{"Authorization: Bearer x", "X-Multi: a", "X-Multi:b"} {
		if err := h.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	want := http.Header{"Authorization": {"Bearer x"}, "X-Multi": {"a", "b"}}
	if diff := cmp.Diff(want, http.Header(h)); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "novalue", ": empty name", "Two Words: x"} {
		if err := h.Set(bad); err == nil {
			t.Errorf("Set(%q) succeeded", bad)
		}
	}
}

// TestDialHeaderAndSubprotocol: the server greets with what it got, the
// header's value and the negotiated subprotocol, and closes normally; the
// client's EOF on stdin then ends it cleanly.
func TestDialHeaderAndSubprotocol(t *testing.T) {
	srv := venue(t, wsconntest.AcceptOptions(websocket.AcceptOptions{Subprotocols: []string{"v2"}}),
		wsconntest.Default(wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
			_ = c.SendText(ctx, c.Request().Header.Get("X-Token")+" "+c.WebSocket().Subprotocol())
		}), wsconntest.Discard())) // until the client closes
	in, typed := io.Pipe()
	t.Cleanup(func() { _ = typed.Close() })
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, []string{"dial", "-header", "X-Token: s3cret", "-subprotocol", "v1", "-subprotocol", "v2",
		srv.URL}, in, &stdout, &stderr)
	waitFor(t, "the greeting", func() bool { return strings.HasSuffix(stdout.String(), "\n") })
	_ = typed.Close()
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if diff := cmp.Diff("s3cret v2\n", stdout.String()); diff != "" {
		t.Errorf("greeting (-want +got):\n%s", diff)
	}
	if strings.Contains(stderr.String(), "s3cret") {
		t.Errorf("the header's value appears on stderr:\n%s", stderr.String())
	}
}

// TestDialStreamURLs: a tcp:// or tls:// URL takes every flag but the
// WebSocket-only ones, each of which is a usage error naming it; the
// stream transports are not built yet, which is a usage error too.
func TestDialStreamURLs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // the problems, in order
	}{
		{"header file", []string{"-header-file", "/dev/null", "tcp://127.0.0.1:1"},
			[]string{"-header-file applies to ws:// and wss:// URLs only, not tcp://"}},
		{"every WebSocket-only flag", []string{"-header", "X: y", "-subprotocol", "v1", "-permanent-close-codes", "4001",
			"-decompress", "gzip", "-proxy", "socks5://127.0.0.1:1", "-json", "-ping-text", "p", "-pong-text", "q", "TLS://127.0.0.1:1"},
			[]string{"-header applies to ws:// and wss:// URLs only, not tls://", "-subprotocol applies to ws:// and wss:// URLs only, not tls://",
				"-permanent-close-codes applies to ws:// and wss:// URLs only, not tls://", "-decompress applies to ws:// and wss:// URLs only, not tls://",
				"-proxy applies to ws:// and wss:// URLs only, not tls://"}},
		{"shared flags only", []string{"-json", "-ping-text", "p", "-pong-text", "q", "-idle-timeout", "1s", "-read-limit", "4MiB", "tcp://127.0.0.1:1"},
			[]string{`URL "tcp://127.0.0.1:1": tcp:// is not supported yet`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), append([]string{"dial"}, tt.args...), noStdin, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			msg, _, ok := strings.Cut(stderr.String(), "\nusage: connfsm dial")
			if !ok {
				t.Fatalf("no usage after the problems:\n%s", stderr.String())
			}
			got := strings.Split(strings.TrimPrefix(msg, "connfsm dial: "), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
	// The list names dial's flags, and no flag a stream shares.
	fs := dialFlagSet(new(dialConfig))
	for _, name := range wsOnlyFlags {
		if fs.Lookup(name) == nil {
			t.Errorf("wsOnlyFlags names -%s, which dial does not have", name)
		}
	}
	for _, shared := range []string{"json", "ping-text", "pong-text", "idle-timeout", "login", "login-ack", "login-timeout",
		"subscribe", "answer-ping", "ca-file", "read-limit", "write-limit", "slow-consumer", "metrics"} {
		if slices.Contains(wsOnlyFlags, shared) {
			t.Errorf("wsOnlyFlags names -%s, which a tcp:// or tls:// dial takes", shared)
		}
	}
}
