package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/wsconn"
)

// startServe runs `connfsm serve args...` and returns its WebSocket URL,
// its control URL, its stderr, and how to stop it (an interrupt) and get
// its exit code.
func startServe(t *testing.T, args ...string) (wsURL, controlURL string, stderr *syncBuffer, stop func() int) {
	t.Helper()
	out, stdout := io.Pipe()
	stderr = &syncBuffer{}
	wait, interrupt := runAsync(t, append([]string{"serve"}, args...), noStdin, stdout, stderr)
	lines := make(chan string, 2)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for range 2 {
			if !sc.Scan() {
				return
			}
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() { _ = stdout.Close() })
	for i := range 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve printed %d line(s), want 2; stderr:\n%s", i, stderr.String())
			}
			if i == 0 {
				wsURL = l
			} else {
				controlURL = l
			}
		case <-time.After(patience):
			t.Fatal("serve printed no URL")
		}
	}
	if !strings.HasPrefix(wsURL, "ws://127.0.0.1:") || !strings.HasSuffix(wsURL, "/") {
		t.Fatalf("first line %q is not a loopback ws:// URL", wsURL)
	}
	controlURL, ok := strings.CutPrefix(controlURL, "control: ")
	if !ok || !strings.HasPrefix(controlURL, "http://127.0.0.1:") {
		t.Fatalf("second line %q is not \"control: http://127.0.0.1:PORT/\"", controlURL)
	}
	return wsURL, controlURL, stderr, func() int {
		interrupt()
		return wait()
	}
}

func post(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s = %s: %s", url, resp.Status, b)
	}
}

func TestServeWithControl(t *testing.T) {
	wsURL, controlURL, stderr, stop := startServe(t)
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	echoes := make(chan string, 10)
	c, err := wsconn.Dial(ctx, wsURL,
		wsconn.WithHeartbeat(time.Second, time.Second),
		wsconn.WithBackoff(wsconn.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2}),
		wsconn.OnMessage(func(_ context.Context, m wsconn.Message) { echoes <- string(m.Data) }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	roundTrip := func(text string) {
		t.Helper()
		if err := c.SendText(ctx, text); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-echoes:
			if got != text {
				t.Errorf("echo = %q, want %q", got, text)
			}
		case <-ctx.Done():
			t.Fatalf("no echo of %q", text)
		}
	}
	roundTrip("before")

	post(t, controlURL+"reset")
	waitFor(t, "the client to reconnect after the reset", func() bool {
		return c.Stats().Reconnects == 1 && c.State() == connfsm.Alive
	})
	// Alive, but sends are released only after the writer's flush: retry
	// the first send until it is accepted.
	waitFor(t, "sends to be released", func() bool { return c.SendText(ctx, "after") == nil })
	select {
	case got := <-echoes:
		if got != "after" {
			t.Errorf("echo = %q, want %q", got, "after")
		}
	case <-ctx.Done():
		t.Fatal("no echo after the reconnect")
	}

	// The server counts an echo once written, maybe after the client read
	// it: poll until both are counted.
	var st map[string]int
	waitFor(t, "the stats to count both echoes", func() bool {
		resp, err := http.Get(controlURL + "stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		st = nil
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st["echoed"] >= 2
	})
	if diff := cmp.Diff(map[string]int{"accepted": 2, "echoed": 2, "open": 1}, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if code := stop(); code != exitOK {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	if !strings.Contains(stderr.String(), "connfsm serve: stopping: accepted 2, echoed 2") {
		t.Errorf("stderr lacks the final counters:\n%s", stderr.String())
	}
}

func TestServeUntilStdinEOF(t *testing.T) {
	in, typed := io.Pipe()
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, []string{"serve", "-control", "", "-until-stdin-eof"}, in, &stdout, &stderr)
	waitFor(t, "the URL line", func() bool { return strings.HasSuffix(stdout.String(), "/\n") })
	if strings.Contains(stdout.String(), "control:") {
		t.Errorf("-control \"\" still printed a control URL:\n%s", stdout.String())
	}
	_ = typed.Close()
	if code := wait(); code != exitOK {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
}

func TestServeUsage(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		stderrHas []string
	}{
		{"all interfaces", []string{"-addr", ":0"}, exitUsage, []string{`-addr ":0": not a loopback address`, "-allow-remote", "usage: connfsm serve"}},
		{"public address", []string{"-addr", "0.0.0.0:0"}, exitUsage, []string{`-addr "0.0.0.0:0": not a loopback address`}},
		{"remote control", []string{"-control", "192.0.2.1:80"}, exitUsage, []string{`-control "192.0.2.1:80": not a loopback address`}},
		{"no port", []string{"-addr", "127.0.0.1"}, exitUsage, []string{`-addr "127.0.0.1": want host:port`}},
		{"no port, remote allowed", []string{"-allow-remote", "-addr", "127.0.0.1", "-tcp", "bogus"}, exitUsage,
			[]string{`-addr "127.0.0.1": want host:port: address 127.0.0.1: missing port in address` + "\n", `-tcp "bogus": want host:port`, "usage: connfsm serve"}},
		{"extra argument", []string{"now"}, exitUsage, []string{`unexpected argument "now"`}},
		{"address in use", []string{"-addr", busy.Addr().String()}, exitFail, []string{busy.Addr().String(), "address already in use"}},
		{"control address in use", []string{"-control", busy.Addr().String()}, exitFail, []string{"control:", "address already in use"}},
		{"remote tcp", []string{"-tcp", "0.0.0.0:0"}, exitUsage, []string{`-tcp "0.0.0.0:0": not a loopback address`}},
		{"tcp address in use", []string{"-control", "", "-tcp", busy.Addr().String()}, exitFail, []string{"tcp:", "address already in use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), append([]string{"serve"}, tt.args...), noStdin, &stdout, &stderr); code != tt.wantCode {
				t.Errorf("exit %d, want %d", code, tt.wantCode)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true}, {"127.9.9.9:80", true}, {"[::1]:0", true}, {"localhost:8080", true},
		{":0", false}, {"0.0.0.0:0", false}, {"[::]:0", false}, {"10.0.0.1:80", false}, {"example.com:80", false}, {"127.0.0.1", false},
	} {
		if err := checkLoopback(tt.addr); (err == nil) != tt.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok %v", tt.addr, err, tt.ok)
		}
	}
}

// TestServeTCP: serve -tcp runs a line echo server, which dial reaches with
// its tcp:// URL.
func TestServeTCP(t *testing.T) {
	t.Parallel() // after the load runs, which count the process's goroutines
	var stdout, stderr syncBuffer
	wait, interrupt := runAsync(t, []string{"serve", "-control", "", "-tcp", "127.0.0.1:0"}, noStdin, &stdout, &stderr)
	var tcpURL string
	waitFor(t, "the tcp:// line", func() bool {
		for _, l := range strings.Split(stdout.String(), "\n") {
			if strings.HasPrefix(l, "tcp://") {
				tcpURL = l
				return true
			}
		}
		return false
	})
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"dial", "-linger", "2s", tcpURL}, strings.NewReader("hello\n"), &out, &errOut)
	if code != exitOK {
		t.Fatalf("dial %s: exit %d; stderr:\n%s", tcpURL, code, errOut.String())
	}
	if diff := cmp.Diff("hello\n", out.String()); diff != "" {
		t.Errorf("dial's stdout (-want +got):\n%s", diff)
	}
	interrupt()
	if code := wait(); code != exitOK {
		t.Errorf("serve: exit %d; stderr:\n%s", code, stderr.String())
	}
	// What the tcp:// server served is in the report too.
	if want := "; tcp: accepted 1, frames received 1, sent 1, open "; !strings.Contains(stderr.String(), want) {
		t.Errorf("serve's stderr lacks %q:\n%s", want, stderr.String())
	}
}
