package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/connfsm/connfsm/internal/dialrun"
	"github.com/connfsm/connfsm/wsconn"
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
		{"negative ping", []string{"-ping=-1s", "ws://127.0.0.1:1/"}, []string{"-ping: must be positive, got -1s"}},
		{"negative pong timeout", []string{"-ping", "1s", "-pong-timeout=-30s", "ws://127.0.0.1:1/"}, []string{"-pong-timeout: must be positive, got -30s"}},
		{"backoff inverted", []string{"-backoff-initial", "1m", "-backoff-max", "1s", "ws://127.0.0.1:1/"}, []string{"-backoff-initial: 1m0s must not exceed -backoff-max 1s"}},
		{"negative attempts", []string{"-max-attempts", "-1", "ws://127.0.0.1:1/"}, []string{"-max-attempts: must not be negative, got -1"}},
		{"negative backoff", []string{"-backoff-initial=-1s", "-backoff-max=-2s", "ws://127.0.0.1:1/"}, []string{"-backoff-initial: must not be negative, got -1s", "-backoff-max: must not be negative, got -2s"}},
		{"negative buffer", []string{"-buffer", "-1", "ws://127.0.0.1:1/"}, []string{"-buffer: must not be negative, got -1"}},
		{"negative linger", []string{"-linger=-1s", "ws://127.0.0.1:1/"}, []string{"-linger: must not be negative, got -1s"}},
		{"negative idle timeout", []string{"-idle-timeout=-1s", "ws://127.0.0.1:1/"}, []string{"-idle-timeout: must not be negative, got -1s"}},
		{"negative storm guard", []string{"-storm-attempts=-1", "-storm-window=-1s", "-storm-gap=-2s", "ws://127.0.0.1:1/"},
			[]string{"-storm-attempts: must not be negative, got -1", "-storm-window: must not be negative, got -1s", "-storm-gap: must not be negative, got -2s"}},
		{"zero ack timeout", []string{"-ack-timeout", "0s", "ws://127.0.0.1:1/"}, []string{"-ack-timeout: must be positive, got 0s"}},
		{"nack without ack", []string{"-subscribe", "s", "-subscribe-nack", "error", "ws://127.0.0.1:1/"}, []string{"-subscribe-nack: needs -subscribe-ack"}},
		{"ack without subscribe", []string{"-subscribe-ack", "ok", "-subscribe-nack", "error", "ws://127.0.0.1:1/"}, []string{"-subscribe-ack: needs -subscribe"}},
		{"every problem at once, no URL", []string{"-ping=-1s", "-rate", "5", "-ping-text", "p", "-metrics", "nowhere"},
			[]string{`invalid value "5" for flag -rate`, "-ping: must be positive, got -1s", "-ping-text needs -pong-text", `-metrics "nowhere": want host:port`, "no URL given"}},
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
		{"-framing with a WebSocket URL", []string{"-framing", "length32", "ws://127.0.0.1:1"},
			[]string{"-framing applies to tcp:// and tls:// URLs only, not ws://127.0.0.1:1"}},
		{"a login the framing cannot carry", []string{"-login", "a\nb", "tcp://127.0.0.1:1"},
			[]string{"-login: framing: payload cannot be framed: line payload has a newline at byte 1"}},
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

// TestDialFlagsToConfig: each of dial's flags sets what internal/dialrun
// runs with (whose tests show what each setting does).
func TestDialFlagsToConfig(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte(testCA), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseDialFlags([]string{"-json", "-ping", "1s", "-pong-timeout", "2s", "-backoff-initial", "3ms", "-backoff-max", "4s",
		"-backoff", "full", "-max-attempts", "5", "-buffer", "6", "-linger", "7s", "-ping-text", "pi", "-pong-text", "po", "-idle-timeout", "8s",
		"-storm-attempts", "9", "-storm-window", "10s", "-storm-gap", "11s", "-subscribe", "s1", "-subscribe", "s2",
		"-subscribe-ack", "ok", "-subscribe-nack", "no", "-ack-timeout", "12s", "-login", "in", "-login-ack", "welcome",
		"-login-timeout", "13s", "-answer-ping", "ping:pong", "-read-limit", "1KiB", "-write-limit", "2KiB",
		"-slow-consumer", "conflate", "-inbox", "14",
		"-header", "X-A: 1", "-subprotocol", "v1", "-header-file", "/run/h", "-permanent-close-codes", "4001",
		"-decompress", "deflate", "-proxy", "socks5://127.0.0.1:1080", "-ca-file", ca, "-rate", "5/s", "wss://venue.test/ws"})
	if err != nil {
		t.Fatal(err)
	}
	wantRun := dialrun.Config{JSON: true, Linger: 7 * time.Second, Ping: time.Second, PongTimeout: 2 * time.Second,
		Backoff: wsconn.Backoff{Initial: 3 * time.Millisecond, Max: 4 * time.Second, Multiplier: wsconn.DefaultBackoff.Multiplier, Mode: wsconn.FullJitter, MaxAttempts: 5},
		Buffer:  6, PingText: "pi", PongText: "po", IdleTimeout: 8 * time.Second,
		Storm:     wsconn.StormGuard{Attempts: 9, Window: 10 * time.Second, MinGap: 11 * time.Second},
		Subscribe: []string{"s1", "s2"}, SubscribeAck: "ok", SubscribeNack: "no", AckTimeout: 12 * time.Second,
		Login: "in", LoginAck: "welcome", LoginTimeout: 13 * time.Second, PingRequest: "ping", PingReply: "pong",
		ReadLimit: 1 << 10, WriteLimit: 2 << 10, SlowConsumer: wsconn.Conflate, Inbox: 14}
	if diff := cmp.Diff(wantRun, cfg.run, cmpopts.IgnoreFields(dialrun.Config{}, "Dial", "Rate", "Options")); diff != "" {
		t.Errorf("dialrun.Config (-want +got):\n%s", diff)
	}
	wantWS := dialrun.WebSocket{URL: "wss://venue.test/ws", Header: http.Header{"X-A": {"1"}}, Subprotocols: []string{"v1"},
		HeaderFile: "/run/h", PermanentCloseCodes: []wsconn.StatusCode{4001}, Decompression: wsconn.Deflate,
		Proxy: &url.URL{Scheme: "socks5", Host: "127.0.0.1:1080"}}
	if diff := cmp.Diff(wantWS, cfg.ws, cmpopts.IgnoreFields(dialrun.WebSocket{}, "Roots")); diff != "" {
		t.Errorf("dialrun.WebSocket (-want +got):\n%s", diff)
	}
	if cfg.ws.Roots == nil {
		t.Error("-ca-file loaded no roots")
	}
	if cfg.rate.limiter() == nil {
		t.Error("-rate made no limiter")
	}
}

// testCA is a self-signed certificate, for -ca-file.
const testCA = `-----BEGIN CERTIFICATE-----
MIIBgTCCASegAwIBAgIUWJo7JrJP6UvwysoI/V8Vl8b8HxQwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKdmVudWUudGVzdDAgFw0yNjEyMDcxNTAwMDVaGA8yMTI2MTEx
MzE1MDAwNVowFTETMBEGA1UEAwwKdmVudWUudGVzdDBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABMpueFLCdIUaI6ZtjXRPlmXEC3roljDEx5PJ89qlMVosNhD2stYd
O4iHyu7zMCkoaRkGUL2FbQW/wKU10YFWIfGjUzBRMB0GA1UdDgQWBBTve+YzZ7Ie
QPr9KZsuDPZYp7pEPTAfBgNVHSMEGDAWgBTve+YzZ7IeQPr9KZsuDPZYp7pEPTAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIG1k2A3/68UfQcWPoN2k
deYXv67DjII2zLUf9n7vhdxsAiEA1itCcbFmVIU4EuMLD7NLjunx5eW8WFXxsshd
1a5hmas=
-----END CERTIFICATE-----
`
