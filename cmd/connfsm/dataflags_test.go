package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestDialDataFlagsBadInput: each bad value is a *wsconn.ConfigError
// naming its flag, exit 2, before any dial.
func TestDialDataFlagsBadInput(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"inbox 0 with a dropping policy", []string{"-slow-consumer", "drop-oldest"}, "-inbox: must be positive with -slow-consumer drop-oldest"},
		{"negative inbox", []string{"-inbox", "-3"}, "-inbox: must not be negative, got -3"},
		{"unknown policy", []string{"-slow-consumer", "lossy"}, `-slow-consumer: slow-consumer policy "lossy" is none of`},
		{"negative read limit", []string{"-read-limit", "-1MiB"}, "-read-limit: must be positive, got -1048576"},
		{"negative write limit", []string{"-write-limit=-5"}, "-write-limit: must be positive, got -5"},
		{"answer-ping without a colon", []string{"-answer-ping", "ping"}, `-answer-ping: want REQ:REPLY, e.g. ping:pong, got "ping"`},
		{"CA file not PEM", []string{"-ca-file", notPEM}, "-ca-file: " + notPEM + " holds no PEM certificate"},
		{"CA file missing", []string{"-ca-file", filepath.Join(dir, "none.pem")}, "-ca-file: open " + filepath.Join(dir, "none.pem")},
		{"proxy scheme", []string{"-proxy", "ftp://proxy:21"}, `-proxy: scheme must be http, https, socks5 or socks5h, got "ftp"`},
		{"decompress", []string{"-decompress", "zstd"}, `-decompress: want gzip or deflate, got "zstd"`},
		{"login-ack without login", []string{"-login-ack", "ok"}, "-login-ack: needs -login"},
		{"login timeout", []string{"-login", "x", "-login-timeout", "0s"}, "-login-timeout: must be positive, got 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "ws://127.0.0.1:1/")
			_, err := parseDialFlags(args)
			var ce *wsconn.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseDialFlags = %v, want a *wsconn.ConfigError with %q", err, tt.want)
			}
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), append([]string{"dial"}, args...), noStdin, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) || strings.Contains(stderr.String(), "transition") {
				t.Errorf("stderr lacks %q, or shows a dial:\n%s", tt.want, stderr.String())
			}
		})
	}
}

func TestSizeFlag(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{{"1048576", 1 << 20}, {"512KiB", 512 << 10}, {"4MiB", 4 << 20}, {"1GiB", 1 << 30}, {"2MB", 2e6}, {"10B", 10}}
	for _, tt := range tests {
		var s sizeFlag
		if err := s.Set(tt.in); err != nil || int64(s) != tt.want {
			t.Errorf("Set(%q) = %d, %v; want %d", tt.in, s, err, tt.want)
		}
	}
	var s sizeFlag
	if err := s.Set("4 parsecs"); err == nil {
		t.Errorf("Set(4 parsecs) = nil, want an error")
	}
}

// TestDialLogin: -login is sent first; with -login-ack the connection
// waits for it in Syncing. A venue that never acks gets its connection
// dropped and redialled, with a cause naming the login.
func TestDialLogin(t *testing.T) {
	for _, acks := range []bool{true, false} {
		t.Run(fmt.Sprintf("acks %v", acks), func(t *testing.T) {
			t.Parallel()
			srv := venue(t, wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
				if acks && string(m.Data) == `{"op":"login"}` {
					_ = c.SendText(context.Background(), `{"event":"login","ok":true}`)
				}
				return true
			})))
			args := []string{"-login", `{"op":"login"}`, "-login-ack", `"event":"login"`, "-login-timeout", "200ms",
				"-backoff-initial", "50ms", "-backoff-max", "50ms", "-subscribe", `{"op":"subscribe"}`}
			until := func(lines []map[string]any) bool {
				if acks {
					return len(transitions(lines, "Alive-Synced->Alive")) > 0 || hasPhase(lines, "Alive/Ready")
				}
				return len(transitions(lines, "Alive-Lost->Reconnecting")) >= 2
			}
			_, _, lines := dialVenue(t, srv, "Ready, or two losses", until, args...)
			lost := transitions(lines, "Alive-Lost->Reconnecting")
			if acks {
				if len(lost) != 0 {
					t.Errorf("losses %v, want none", lost)
				}
				c, _ := srv.Connection(1)
				if diff := cmp.Diff([]string{`{"op":"login"}`, `{"op":"subscribe"}`}, c.ReceivedText()[:min(2, len(c.ReceivedText()))]); diff != "" {
					t.Errorf("what the venue got first (-want +got):\n%s", diff)
				}
				return
			}
			if len(lost) < 2 || !strings.Contains(fmt.Sprint(lost[0]["cause"]), `login: no ack within 200ms (a message containing "event":"login")`) {
				t.Errorf("losses %v, want two naming the login", lost)
			}
			if hasPhase(lines, "Alive/Ready") {
				t.Errorf("reached Ready without the login's ack")
			}
		})
	}
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

// TestDialAnswersGzipPings: HTX sends {"ping":n} gzipped, as binary, and
// drops a client that does not answer {"pong":n}: -answer-ping ping:pong
// with -decompress gzip serves it; the pings are not printed.
func TestDialAnswersGzipPings(t *testing.T) {
	var mu sync.Mutex
	var answers []string
	srv := venue(t, wsconntest.Default(
		wsconntest.OnMessage(func(_ *wsconntest.Conn, m wsconntest.Message) bool {
			mu.Lock()
			answers = append(answers, string(m.Data))
			mu.Unlock()
			return true
		}),
		wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
			for n := 1; n <= 3; n++ {
				var b bytes.Buffer
				w := gzip.NewWriter(&b)
				fmt.Fprintf(w, `{"ping":%d}`, n)
				_ = w.Close()
				if c.Send(ctx, wsconntest.Binary(b.Bytes())) != nil {
					return
				}
			}
		})))
	_, stdout, _ := dialVenue(t, srv, "three answers", func([]map[string]any) bool {
		mu.Lock()
		defer mu.Unlock()
		return len(answers) >= 3
	}, "-answer-ping", "ping:pong", "-decompress", "gzip")
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{`{"pong":1}`, `{"pong":2}`, `{"pong":3}`}, answers); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing: answered pings are not printed", stdout)
	}
}
