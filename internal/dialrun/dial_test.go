package dialrun

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

func TestDialEchoesStdinLines(t *testing.T) {
	url := echoServer(t, nil)
	in, typed := io.Pipe()
	t.Cleanup(func() { _ = typed.Close() }) // ends the stdin reader if the test fails early
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, config(url, func(c *Config, _ *WebSocket) { c.Ping, c.PongTimeout = time.Second, time.Second }), in, &stdout, &stderr)

	lines := []string{"one", "two", "three"}
	for i, l := range lines {
		if _, err := io.WriteString(typed, l+"\n"); err != nil {
			t.Fatal(err)
		}
		want := strings.Join(lines[:i+1], "\n") + "\n"
		waitFor(t, "echo of "+l, func() bool { return stdout.String() == want })
	}
	_ = typed.Close() // EOF: a graceful close

	if code := wait(); code != ExitOK {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitOK, stderr.String())
	}
	if diff := cmp.Diff("one\ntwo\nthree\n", stdout.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	for _, s := range []string{
		"transition Connecting --Connected--> Alive/Syncing (epoch 3)",
		"transition Alive/Syncing --Synced--> Alive/Ready (epoch 4)",
		"transition Alive/Ready --Close--> Closing",
		"transition Closing --CloseDone--> Closed",
		"summary: connections 1, reconnects 0, messages in 3, out 3, unsent 0, tasks still running 0; ended: session: client closed",
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
	wait, interrupt := runAsync(t, config(url, func(c *Config, _ *WebSocket) { c.Linger = time.Hour }), &eofSignal{r: strings.NewReader("first\nsecond\nthird\n"), eof: eof}, &stdout, &stderr)

	select {
	case <-eof:
	case <-time.After(patience):
		t.Fatal("stdin was not read to its end")
	}
	close(gate)
	waitFor(t, "the echoes", func() bool { return stdout.String() == "first\nsecond\nthird\n" })
	interrupt()
	if code := wait(); code != ExitOK {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitOK, stderr.String())
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
	wait, _ := runAsync(t, config(url, asJSON), in, &stdout, &stderr)
	if _, err := io.WriteString(typed, "hello\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the echo", func() bool { return strings.Contains(stdout.String(), "\n") })
	_ = typed.Close()
	if code := wait(); code != ExitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}

	type jsonLine struct {
		T      string         `json:"t"`
		Kind   string         `json:"kind"`
		From   string         `json:"from"`
		Event  string         `json:"event"`
		To     string         `json:"to"`
		Epoch  uint64         `json:"epoch"`
		Conn   uint64         `json:"conn"`
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
		// conn: the entry into Alive, the epoch the message came with.
		{Kind: "transition", From: "Connecting", Event: "Connected", To: "Alive/Syncing", Epoch: 3, Conn: 2},
		{Kind: "transition", From: "Alive/Syncing", Event: "Synced", To: "Alive/Ready", Epoch: 4},
		{Kind: "transition", From: "Alive/Ready", Event: "Close", To: "Closing", Epoch: 5},
		{Kind: "transition", From: "Closing", Event: "CloseDone", To: "Closed", Epoch: 6},
		{Kind: "summary", Fields: map[string]any{
			"connections": 1.0, "reconnects": 0.0, "messages_in": 1.0, "messages_out": 1.0,
			"unsent": 0.0, "tasks_running": 0.0, "cause": "session: client closed",
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
	wait, _ := runAsync(t, config(srv.URL), in, &stdout, &stderr)
	code := wait()
	if code != ExitFail {
		t.Errorf("exit %d, want %d", code, ExitFail)
	}
	for _, s := range []string{
		"transition Reconnecting --GaveUp--> Closed",
		"connfsm dial: session: gave up after 1 attempt(s): session: handshake refused with HTTP 403",
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
	wait, _ := runAsync(t, config(srv.URL, func(_ *Config, ws *WebSocket) {
		ws.Header = http.Header{"X-Token": {"s3cret"}}
		ws.Subprotocols = []string{"v1", "v2"}
	}), in, &stdout, &stderr)
	waitFor(t, "the greeting", func() bool { return strings.HasSuffix(stdout.String(), "\n") })
	_ = typed.Close()
	if code := wait(); code != ExitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if diff := cmp.Diff("s3cret v2\n", stdout.String()); diff != "" {
		t.Errorf("greeting (-want +got):\n%s", diff)
	}
	if strings.Contains(stderr.String(), "s3cret") {
		t.Errorf("the header's value appears on stderr:\n%s", stderr.String())
	}
}
