package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLoad200(t *testing.T) {
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, []string{"load", "-n", "200", "-duration", "3s", "-json"}, &stdout, &stderr)
	code := wait()
	if code != exitOK {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	var r loadReport
	if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"kind is summary", r.Kind == "summary"},
		{"n is 200", r.N == 200},
		{"all 200 alive at the end", r.Alive == 200},
		{"all 200 closed", r.Closed == 200},
		{"the embedded server", r.Server == "embedded" && strings.HasPrefix(r.URL, "ws://127.0.0.1:")},
		{"no reconnects", r.Reconnects == 0},
		{"echoes counted", r.Echoes > 0 && r.MessagesPerSec > 0},
		{"a steady run of 3s", r.SteadySeconds >= 3},
		{"goroutines per connection measured", r.GoroutinesPerConn > 0},
		{"heap per connection measured", r.HeapPerConn > 0},
		{"no goroutine left after closing", r.GoroutinesLeft == 0},
		{"not interrupted", !r.Interrupted},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: report %+v", c.what, r)
		}
	}
	if !strings.Contains(stderr.String(), "alive 200/200") {
		t.Errorf("progress lines never showed 200 alive:\n%s", stderr.String())
	}
}

// TestLoadNotAllAlive points load at a server that refuses every
// handshake: the clients give up, the report says so, and load fails.
func TestLoadNotAllAlive(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, []string{"load", "-n", "3", "-duration", "100ms", "-url", url}, &stdout, &stderr)
	if code := wait(); code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	for _, s := range []string{"alive at end       0/3", "external server " + url} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "0 of 3 clients were Alive at the end") {
		t.Errorf("stderr lacks the failure:\n%s", stderr.String())
	}
}

func TestLoadUsage(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		stderrHas []string
	}{
		{"no -n", nil, []string{"-n must be positive, got 0"}},
		{"bad duration", []string{"-n", "1", "-duration", "long"}, []string{`invalid value "long" for flag -duration`}},
		{"zero ping", []string{"-n", "1", "-ping", "0s"}, []string{"-ping must be positive, got 0s"}},
		{"bad URL", []string{"-n", "1", "-url", "http://x"}, []string{`-url "http://x"`}},
		{"zero dial rate", []string{"-n", "1", "-dial-rate", "0"}, []string{"-dial-rate must be positive, got 0"}},
		{"pong above ping", []string{"-n", "1", "-ping", "1s", "-pong-timeout", "2s"}, []string{"-pong-timeout (2s) must not exceed -ping (1s)", "usage: connfsm load"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"load"}, tt.args...), &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}
