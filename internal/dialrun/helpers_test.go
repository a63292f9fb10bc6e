package dialrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// patience bounds every wait on the real network: generous, so a loaded
// machine does not flake, and finite, so a hang fails the test.
const patience = 10 * time.Second

// syncBuffer is a bytes.Buffer safe to read while Run writes to it.
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

// setting changes a WebSocket run's Config or its transport's settings.
type setting func(c *Config, ws *WebSocket)

// config returns the Config `connfsm dial URL` runs with (its flags'
// defaults) dialling url over WebSocket, changed by settings.
func config(url string, settings ...setting) Config {
	c := Config{
		Ping: wsconn.DefaultPingInterval, PongTimeout: wsconn.DefaultPongTimeout,
		Backoff: wsconn.Backoff{Multiplier: wsconn.DefaultBackoff.Multiplier}, Buffer: 256,
		Storm: wsconn.DefaultStormGuard, AckTimeout: wsconn.DefaultAckTimeout, LoginTimeout: 10 * time.Second,
		ReadLimit: wsconn.DefaultReadLimit, WriteLimit: wsconn.DefaultWriteLimit, SlowConsumer: wsconn.Block,
	}
	ws := WebSocket{URL: url}
	for _, s := range settings {
		s(&c, &ws)
	}
	c.Dial = ws.Dial
	return c
}

// fast is quick heartbeats and redials.
func fast(c *Config, _ *WebSocket) {
	c.Ping, c.PongTimeout = 100*time.Millisecond, 200*time.Millisecond
	c.Backoff.Initial, c.Backoff.Max = 50*time.Millisecond, 50*time.Millisecond
}

// asJSON prints JSON lines.
func asJSON(c *Config, _ *WebSocket) { c.JSON = true }

// runAsync runs cfg in a goroutine, reading stdin, with an interrupt the
// test sends by calling interrupt (it cancels Run's context). wait
// returns the exit code, failing the test if it takes longer than
// patience. At the end of the test Run is interrupted and waited for, so
// it never outlives the test.
func runAsync(t *testing.T, cfg Config, stdin io.Reader, stdout, stderr io.Writer) (wait func() int, interrupt func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Run(ctx, cfg, stdin, stdout, stderr) }()
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
			t.Fatal("Run did not return")
			return -1
		}
	}, cancel
}

// venue starts a loopback venue (wsconntest) and closes it when the test
// ends.
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

// jsonLines parses a JSON stream, but for Run's own messages
// ("connfsm dial: gave up ..."), which are not timeline lines.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" || strings.HasPrefix(l, "connfsm ") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// transitions returns the transition lines named "From-Event->To".
func transitions(lines []map[string]any, name string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		// Alive's phases are named Alive here: the tests are about
		// connections, not phases.
		top := func(v any) string { s, _, _ := strings.Cut(fmt.Sprint(v), "/"); return s }
		if l["kind"] == "transition" && fmt.Sprintf("%v-%v->%v", top(l["from"]), l["event"], top(l["to"])) == name {
			out = append(out, l)
		}
	}
	return out
}

// hasPhase reports whether a transition entered phase.
func hasPhase(lines []map[string]any, phase string) bool {
	for _, l := range lines {
		if l["kind"] == "transition" && l["to"] == phase {
			return true
		}
	}
	return false
}

// dialVenue runs a JSON dial of srv with settings until until holds for
// the JSON lines on stderr so far (what names it if it never does), then
// ends stdin (a graceful close), and returns the exit code, stdout and
// stderr's JSON lines.
func dialVenue(t *testing.T, srv *wsconntest.Server, what string, until func(lines []map[string]any) bool, settings ...setting) (int, string, []map[string]any) {
	t.Helper()
	in, typed := io.Pipe()
	t.Cleanup(func() { _ = typed.Close() })
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, config(srv.URL+"/ws", append([]setting{asJSON}, settings...)...), in, &stdout, &stderr)
	waitFor(t, what, func() bool {
		s := stderr.String()
		return until(jsonLines(t, s[:strings.LastIndex(s, "\n")+1])) // whole lines only
	})
	_ = typed.Close()
	code := wait()
	t.Logf("dial:\n%s", stderr.String())
	return code, stdout.String(), jsonLines(t, stderr.String())
}
