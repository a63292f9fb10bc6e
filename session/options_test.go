package session

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/google/go-cmp/cmp"
)

// errOffline is what offlineClient answers every request with.
var errOffline = errors.New("offline transport: no network in this test")

type offlineTransport struct{}

func (offlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return nil, errOffline
}

// offlineClient is an HTTP client whose every handshake fails at once
// without touching the network: a valid configuration may start a client
// in a test without any traffic.
func offlineClient() *http.Client { return &http.Client{Transport: offlineTransport{}} }

const validURL = "wss://feed.test/stream"

// Boundary values are accepted.
func TestDialAcceptsValidConfig(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts []Option
	}{
		{name: "defaults", url: validURL},
		{name: "ws with port, userinfo and query", url: "ws://u:p@127.0.0.1:9/x?y=z"},
		{name: "PongTimeout equal to PingInterval", url: validURL, opts: []Option{WithHeartbeat(time.Second, time.Second)}},
		{name: "PongTimeout above PingInterval", url: validURL, opts: []Option{WithHeartbeat(300*time.Millisecond, 900*time.Millisecond)}},
		{name: "application heartbeat, responder, idle timeout", url: validURL, opts: []Option{WithAppHeartbeat(TextHeartbeat("ping", "pong")),
			WithPingResponder(func(transport.Message) ([]byte, bool) { return nil, false }), WithIdleTimeout(time.Minute)}},
		{name: "retry policy and permanent close codes", url: validURL, opts: []Option{WithPermanentCloseCodes(4001, 4003, 1008),
			WithRetryPolicy(func(f retry.Failure) retry.Decision { return f.Default() })}},
		{name: "zero StablePeriod", url: validURL, opts: []Option{WithStablePeriod(0)}},
		{name: "Multiplier 1 and Initial equal to Max", url: validURL,
			opts: []Option{WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1})}},
		{name: "zero StormGuard disables it", url: validURL, opts: []Option{WithStormGuard(retry.StormGuard{})}},
		{name: "unlimited ReadLimit", url: validURL, opts: []Option{WithReadLimit(-1)}},
		{name: "every compression mode", url: validURL, opts: []Option{
			WithCompression(websocket.CompressionContextTakeover), WithCompression(websocket.CompressionNoContextTakeover)}},
		{name: "send buffer", url: validURL, opts: []Option{WithSendPolicy(SendPolicy{Buffer: 1})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]Option{WithHTTPClient(offlineClient()), NoWait()}, tt.opts...)
			c, err := dialWS(context.Background(), tt.url, opts...)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if err := c.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
			if !errors.Is(c.Err(), ErrClosed) {
				t.Errorf("Err() = %v, want ErrClosed", c.Err())
			}
		})
	}
}

// TestDialRefusesNilContext: Dial with a nil context returns an error and
// no client, as net/http does for a request built with one; it neither
// panics nor returns a client still connecting.
func TestDialRefusesNilContext(t *testing.T) {
	var nilCtx context.Context
	for _, opts := range [][]Option{nil, {NoWait()}} {
		c, err := dialWS(nilCtx, validURL, append([]Option{WithHTTPClient(offlineClient())}, opts...)...)
		if c != nil {
			_ = c.Close(context.Background())
			t.Fatalf("Dial(nil, ..., %d options) returned a client in state %v, want none", len(opts), c.State())
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "nil Context") {
			t.Errorf("Dial(nil) = %v, want a configuration error naming the nil Context", err)
		}
	}
}

// TestBackoffZeroFieldsTakeDefaults: the fields of Backoff left zero take
// their documented defaults, so Backoff{MaxAttempts: 3} is valid.
func TestBackoffZeroFieldsTakeDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   retry.Backoff
		want retry.Backoff
	}{
		{"only MaxAttempts", retry.Backoff{MaxAttempts: 3},
			retry.Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, MaxAttempts: 3, Mode: retry.DefaultBackoff.Mode}},
		{"only Max, below the default Initial", retry.Backoff{Max: 100 * time.Millisecond},
			retry.Backoff{Initial: 100 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, Mode: retry.DefaultBackoff.Mode}},
		{"only Initial, above the default Max", retry.Backoff{Initial: time.Minute},
			retry.Backoff{Initial: time.Minute, Max: time.Minute, Multiplier: 2, Mode: retry.DefaultBackoff.Mode}},
		{"only Multiplier", retry.Backoff{Multiplier: 1.5},
			retry.Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 1.5, Mode: retry.DefaultBackoff.Mode}},
		{"only Mode", retry.Backoff{Mode: retry.OutageBounded},
			retry.Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Mode: retry.OutageBounded}},
		{"zero", retry.Backoff{}, retry.DefaultBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dialWS(context.Background(), validURL, WithHTTPClient(offlineClient()), NoWait(), WithBackoff(tt.in))
			if err != nil {
				t.Fatalf("Dial with %+v: %v", tt.in, err)
			}
			defer c.Close(context.Background())
			if diff := cmp.Diff(tt.want, c.cfg.retry.Backoff); diff != "" {
				t.Errorf("backoff in effect (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSharedSettings checks that the retry settings and the handshake's
// options are one value shared by the clients that set none of them, and
// a value of its own for a client that sets any.
func TestSharedSettings(t *testing.T) {
	tests := []struct {
		name        string
		opts        []Option
		sharedRetry bool
		sharedDial  bool
	}{
		{"defaults", nil, true, true},
		{"the default backoff given", []Option{WithBackoff(retry.DefaultBackoff)}, true, true},
		{"backoff", []Option{WithBackoff(retry.Backoff{Initial: time.Second})}, false, true},
		{"storm guard off", []Option{WithStormGuard(retry.StormGuard{})}, false, true},
		{"stable period", []Option{WithStablePeriod(time.Second)}, false, true},
		{"permanent code", []Option{WithPermanentCloseCodes(4001)}, false, true},
		{"header", []Option{WithHeader(http.Header{"X-Key": {"k"}})}, true, false},
		{"subprotocols", []Option{WithSubprotocols("v1")}, true, false},
		{"HTTP client", []Option{WithHTTPClient(offlineClient())}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newConfig(newWSTransport(validURL), tt.opts)
			if err := cfg.check(); err != nil {
				t.Fatal(err)
			}
			retry := cfg.retrySettings.shared()
			got := struct{ SharedRetry bool }{retry == defaultRetry()}
			want := struct{ SharedRetry bool }{tt.sharedRetry}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("shared (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(cfg.Backoff, retry.Backoff); diff != "" {
				t.Errorf("backoff in effect (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(cfg.stablePeriod, retry.stablePeriod); diff != "" {
				t.Errorf("stable period in effect (-want +got):\n%s", diff)
			}
		})
	}
}
