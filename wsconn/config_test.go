package wsconn

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

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

// nilLimiter stands for *rate.Limiter: a nil one would panic on Wait.
type nilLimiter struct{ calls int }

func (l *nilLimiter) Wait(context.Context) error { l.calls++; return nil }

func TestDialRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name  string
		url   string // validURL when empty, unless noURL
		noURL bool
		opts  []Option
		want  []string // every problem, in the order Dial checks them: the URL last
	}{
		{name: "URL does not parse", url: "ws://feed test/",
			want: []string{`URL "ws://feed test/": invalid character " " in host name`}},
		{name: "URL bad port", url: "ws://feed.test:port/",
			want: []string{`URL "ws://feed.test:port/": invalid port ":port" after host`}},
		{name: "URL bad escape", url: "ws://feed.test/%zz",
			want: []string{`URL "ws://feed.test/%zz": invalid URL escape "%zz"`}},
		{name: "scheme http", url: "http://feed.test/stream",
			want: []string{`URL "http://feed.test/stream": scheme must be ws or wss, got "http"`}},
		{name: "scheme ftp", url: "ftp://feed.test/",
			want: []string{`URL "ftp://feed.test/": scheme must be ws or wss, got "ftp"`}},
		{name: "no scheme", url: "feed.test/stream",
			want: []string{`URL "feed.test/stream": scheme must be ws or wss, got ""`}},
		{name: "empty URL", noURL: true,
			want: []string{`URL "": scheme must be ws or wss, got ""`}},
		{name: "no host", url: "ws:///stream",
			want: []string{`URL "ws:///stream": no host`}},
		{name: "opaque, no host", url: "wss:feed.test",
			want: []string{`URL "wss:": no host`}},
		{name: "zero PingInterval", opts: []Option{WithHeartbeat(0, time.Second)},
			want: []string{"PingInterval must be positive, got 0s"}},
		{name: "negative PingInterval", opts: []Option{WithHeartbeat(-time.Second, time.Second)},
			want: []string{"PingInterval must be positive, got -1s"}},
		{name: "zero PongTimeout", opts: []Option{WithHeartbeat(time.Second, 0)},
			want: []string{"PongTimeout must be positive, got 0s"}},
		{name: "negative PongTimeout", opts: []Option{WithHeartbeat(time.Second, -time.Millisecond)},
			want: []string{"PongTimeout must be positive, got -1ms"}},
		{name: "negative SendPolicy.BufferBytes", opts: []Option{WithSendPolicy(SendPolicy{Buffer: 1, BufferBytes: -1})},
			want: []string{"SendPolicy.BufferBytes must not be negative, got -1"}},
		{name: "nil credentials func", opts: []Option{WithCredentials(nil)},
			want: []string{"credentials: nil func"}},
		{name: "negative IdleTimeout", opts: []Option{WithIdleTimeout(-time.Second)},
			want: []string{"IdleTimeout must not be negative, got -1s"}},
		{name: "AppHeartbeat without IsPong", opts: []Option{WithAppHeartbeat(AppHeartbeat{Ping: []byte("ping")})},
			want: []string{"AppHeartbeat.IsPong: nil func"}},
		{name: "AppHeartbeat bad type", opts: []Option{WithAppHeartbeat(AppHeartbeat{Type: 9, IsPong: func(Message) bool { return false }})},
			want: []string{"AppHeartbeat.Type: message type 9 is neither Text nor Binary"}},
		{name: "nil PingResponder", opts: []Option{WithPingResponder(nil)},
			want: []string{"PingResponder: nil func"}},
		{name: "nil RetryPolicy", opts: []Option{WithRetryPolicy(nil)},
			want: []string{"RetryPolicy: nil func"}},
		{name: "nil Classifier", opts: []Option{WithClassifier(nil)},
			want: []string{"classifier: nil func"}},
		{name: "PermanentCloseCodes out of range", opts: []Option{WithPermanentCloseCodes(4001, 999, 5000)},
			want: []string{"PermanentCloseCodes: 999 is not a close code (1000 to 4999)", "PermanentCloseCodes: 5000 is not a close code (1000 to 4999)"}},
		{name: "PermanentCloseCodes never sent", opts: []Option{WithPermanentCloseCodes(1005, 1006, 1015)},
			want: []string{"PermanentCloseCodes: 1005 is never sent in a close frame", "PermanentCloseCodes: 1006 is never sent in a close frame",
				"PermanentCloseCodes: 1015 is never sent in a close frame"}},
		{name: "zero HandshakeTimeout", opts: []Option{WithHandshakeTimeout(0)},
			want: []string{"HandshakeTimeout must be positive, got 0s"}},
		{name: "negative HandshakeTimeout", opts: []Option{WithHandshakeTimeout(-time.Minute)},
			want: []string{"HandshakeTimeout must be positive, got -1m0s"}},
		{name: "zero CloseTimeout", opts: []Option{WithCloseTimeout(0)},
			want: []string{"CloseTimeout must be positive, got 0s"}},
		{name: "negative CloseTimeout", opts: []Option{WithCloseTimeout(-1)},
			want: []string{"CloseTimeout must be positive, got -1ns"}},
		{name: "negative StablePeriod", opts: []Option{WithStablePeriod(-time.Second)},
			want: []string{"StablePeriod must not be negative, got -1s"}},
		{name: "Backoff Initial above Max",
			opts: []Option{WithBackoff(Backoff{Initial: 2 * time.Second, Max: time.Second, Multiplier: 2})},
			want: []string{"Backoff.Initial (2s) must not exceed Backoff.Max (1s)"}},
		{name: "Backoff negative durations", opts: []Option{WithBackoff(Backoff{Initial: -time.Second, Max: -time.Second, Multiplier: 2})},
			want: []string{"Backoff.Initial must be positive, got -1s", "Backoff.Max must be positive, got -1s"}},
		{name: "Backoff Multiplier below 1",
			opts: []Option{WithBackoff(Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 0.5})},
			want: []string{"Backoff.Multiplier must be a finite number >= 1, got 0.5"}},
		{name: "Backoff Multiplier negative", opts: []Option{WithBackoff(Backoff{Initial: time.Second, Max: time.Minute, Multiplier: -2})},
			want: []string{"Backoff.Multiplier must be a finite number >= 1, got -2"}},
		{name: "Backoff Multiplier NaN",
			opts: []Option{WithBackoff(Backoff{Initial: time.Second, Max: time.Minute, Multiplier: math.NaN()})},
			want: []string{"Backoff.Multiplier must be a finite number >= 1, got NaN"}},
		{name: "Backoff Mode unknown", opts: []Option{WithBackoff(Backoff{Mode: OutageBounded + 1})},
			want: []string{"Backoff.Mode must be FullJitter or OutageBounded, got BackoffMode(3)"}},
		{name: "Backoff Multiplier +Inf",
			opts: []Option{WithBackoff(Backoff{Initial: time.Second, Max: time.Minute, Multiplier: math.Inf(1)})},
			want: []string{"Backoff.Multiplier must be a finite number >= 1, got +Inf"}},
		{name: "Backoff Multiplier -Inf",
			opts: []Option{WithBackoff(Backoff{Initial: time.Second, Max: time.Minute, Multiplier: math.Inf(-1)})},
			want: []string{"Backoff.Multiplier must be a finite number >= 1, got -Inf"}},
		{name: "Backoff negative MaxAttempts",
			opts: []Option{WithBackoff(Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2, MaxAttempts: -1})},
			want: []string{"Backoff.MaxAttempts must not be negative, got -1"}},
		{name: "StormGuard Attempts only", opts: []Option{WithStormGuard(StormGuard{Attempts: 3})},
			want: []string{"StormGuard fields must all be positive (or all zero to disable), got {Attempts:3 Window:0s MinGap:0s}"}},
		{name: "StormGuard negative MinGap",
			opts: []Option{WithStormGuard(StormGuard{Attempts: 3, Window: time.Minute, MinGap: -time.Second})},
			want: []string{"StormGuard fields must all be positive (or all zero to disable), got {Attempts:3 Window:1m0s MinGap:-1s}"}},
		{name: "negative SendPolicy.Buffer", opts: []Option{WithSendPolicy(SendPolicy{Buffer: -1})},
			want: []string{"SendPolicy.Buffer must not be negative, got -1"}},
		{name: "zero ReadLimit", opts: []Option{WithReadLimit(0)},
			want: []string{"ReadLimit must be positive or -1, got 0"}},
		{name: "ReadLimit below -1", opts: []Option{WithReadLimit(-2)},
			want: []string{"ReadLimit must be positive or -1, got -2"}},
		{name: "unknown compression mode", opts: []Option{WithCompression(websocket.CompressionMode(99))},
			want: []string{"WithCompression: mode 99 is not known"}},
		{name: "subprotocols not tokens", opts: []Option{WithSubprotocols("", "a b", "x,y", "v1", "é")},
			want: []string{`WithSubprotocols: "" is not a token`, `WithSubprotocols: "a b" is not a token`,
				`WithSubprotocols: "x,y" is not a token`, `WithSubprotocols: "é" is not a token`}},
		{name: "subprotocol offered twice", opts: []Option{WithSubprotocols("v1", "v2", "v1")},
			want: []string{`WithSubprotocols: "v1" is offered twice`}},
		{name: "header names not tokens", opts: []Option{WithHeader(http.Header{"bad name": {"v"}, "": {"v"}})},
			want: []string{`WithHeader: name "" is not an HTTP token`, `WithHeader: name "bad name" is not an HTTP token`}},
		{name: "header value with a control character", opts: []Option{WithHeader(http.Header{"X-Token": {"ok", "tok-secret\nX-Injected: 1"}})},
			want: []string{`WithHeader: a value of "X-Token" holds a control character`}},
		{name: "port but no host", url: "ws://:80/",
			want: []string{`URL "ws://:80/": no host`}},
		{name: "nil rate limiter", opts: []Option{WithRateLimit(nil)},
			want: []string{"RateLimit: nil limiter (<nil>)"}},
		{name: "typed nil rate limiter", opts: []Option{WithRateLimit((*nilLimiter)(nil))},
			want: []string{"RateLimit: nil limiter (*wsconn.nilLimiter)"}},
		{name: "nil observers", opts: []Option{OnRecord(nil), OnTransition(nil)},
			want: []string{"OnRecord: nil func", "OnTransition: nil func"}},
		{name: "nil option next to a bad one", opts: []Option{nil, WithReadLimit(0), nil},
			want: []string{"ReadLimit must be positive or -1, got 0", "Option 2: nil", "Option 4: nil"}},
		{name: "several problems at once", url: "http://feed.test/",
			opts: []Option{
				WithHeartbeat(0, -time.Second),
				WithCloseTimeout(0),
				WithBackoff(Backoff{Initial: time.Minute, Max: time.Second, Multiplier: math.NaN(), MaxAttempts: -3}),
				WithSendPolicy(SendPolicy{Buffer: -8}),
				WithReadLimit(-5),
			},
			want: []string{
				"PingInterval must be positive, got 0s",
				"PongTimeout must be positive, got -1s",
				"CloseTimeout must be positive, got 0s",
				"Backoff.Initial (1m0s) must not exceed Backoff.Max (1s)",
				"Backoff.Multiplier must be a finite number >= 1, got NaN",
				"Backoff.MaxAttempts must not be negative, got -3",
				"SendPolicy.Buffer must not be negative, got -8",
				"ReadLimit must be positive or -1, got -5",
				`URL "http://feed.test/": scheme must be ws or wss, got "http"`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			url := tt.url
			if url == "" && !tt.noURL {
				url = validURL
			}
			// WithHTTPClient keeps a wrongly accepted configuration off the
			// network; NoWait keeps the test from waiting for it.
			opts := append([]Option{WithHTTPClient(offlineClient()), NoWait()}, tt.opts...)
			c, err := Dial(context.Background(), url, opts...)
			if c != nil {
				_ = c.Close(context.Background())
				t.Fatalf("Dial returned a client for an invalid configuration (err %v)", err)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Dial error %v does not match ErrInvalidConfig", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Dial error %T is not a *ConfigError", err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if want := "session: invalid configuration: " + strings.Join(tt.want, "; "); err.Error() != want {
				t.Errorf("message:\n got %q\nwant %q", err.Error(), want)
			}
			// Nothing was started.
			goleak.VerifyNone(t, before)
		})
	}
}

// Configuration errors end up in logs: they never show the URL's userinfo,
// query or fragment, which may hold credentials.
func TestConfigErrorRedactsURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"scheme error", "https://alice:hunter2@feed.test/v1?token=s3cret#frag",
			`URL "https://feed.test/v1": scheme must be ws or wss, got "https"`},
		{"no host", "ws://alice:hunter2@/v1?token=s3cret",
			`URL "ws:///v1": no host`},
		{"opaque", "ws:alice:hunter2@feed.test?token=s3cret",
			`URL "ws:": no host`},
		{"parse error", "ws://alice:hunter2@feed.test:port/v1?token=s3cret",
			`URL "ws://xxxxx@feed.test:port/v1": invalid port ":port" after host`},
		{"parse error, @ in the password", "ws://alice:hun@ter2@feed test/?token=s3cret",
			`URL "ws://xxxxx@feed test/": invalid character " " in host name`},
		{"parse error, no //", "1ws:alice:hunter2@feed.test/v1?token=s3cret",
			`URL "xxxxx@feed.test/v1": first path segment in URL cannot contain colon`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(context.Background(), tt.url, WithHTTPClient(offlineClient()), NoWait())
			if c != nil {
				_ = c.Close(context.Background())
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Fatalf("Dial error = %v, want one URL problem", err)
			}
			if diff := cmp.Diff(tt.want, ce.Problems[0].Error()); diff != "" {
				t.Errorf("problem (-want +got):\n%s", diff)
			}
			for _, secret := range []string{"hunter2", "ter2", "s3cret", "alice", "frag"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("message %q shows %q", err, secret)
				}
			}
		})
	}
}
