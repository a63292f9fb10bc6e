package wsconn

import (
	"context"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dialConfigInput is one fuzzed configuration.
type dialConfigInput struct {
	url                                  string
	ping, pong, handshake, close, stable int64
	initial, max                         int64
	mult                                 float64
	attempts, buffer                     int
	readLimit                            int64
}

func (in dialConfigInput) options() []Option {
	return []Option{
		// Never the network: a valid configuration starts a client whose
		// every handshake fails at once.
		WithHTTPClient(offlineClient()),
		NoWait(),
		WithHeartbeat(time.Duration(in.ping), time.Duration(in.pong)),
		WithHandshakeTimeout(time.Duration(in.handshake)),
		WithCloseTimeout(time.Duration(in.close)),
		WithStablePeriod(time.Duration(in.stable)),
		WithBackoff(Backoff{Initial: time.Duration(in.initial), Max: time.Duration(in.max),
			Multiplier: in.mult, MaxAttempts: in.attempts}),
		WithSendPolicy(SendPolicy{Buffer: in.buffer}),
		WithReadLimit(in.readLimit),
	}
}

// dialOnce runs Dial on in and closes a client it returns. It checks the
// result's shape and returns the error's message, "" for a client.
func dialOnce(t *testing.T, in dialConfigInput) string {
	t.Helper()
	c, err := Dial(context.Background(), in.url, in.options()...)
	if (c == nil) == (err == nil) {
		t.Fatalf("Dial(%q) = %v, %v: want exactly one of a client and an error", in.url, c, err)
	}
	if c != nil {
		if err := c.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		// With a small MaxAttempts the client may give up before Close.
		var gaveUp *GaveUpError
		if err := c.Err(); !errors.Is(err, ErrClosed) && !errors.As(err, &gaveUp) {
			t.Fatalf("Err after Close = %v, want ErrClosed or a *GaveUpError", err)
		}
		return ""
	}
	// With NoWait, a configuration problem is the only way Dial fails.
	var ce *ConfigError
	if !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &ce) || len(ce.Problems) == 0 {
		t.Fatalf("Dial(%q) error %v: want a *ConfigError matching ErrInvalidConfig, with problems", in.url, err)
	}
	return err.Error()
}

// urlProblem returns the URL shown in a "URL %q: ..." problem, if any.
func urlProblem(t *testing.T, msg string) (string, bool) {
	i := strings.Index(msg, "URL \"")
	if i < 0 {
		return "", false
	}
	q, err := strconv.QuotedPrefix(msg[i+len("URL "):])
	if err != nil {
		t.Fatalf("URL in %q is not quoted: %v", msg, err)
	}
	u, _ := strconv.Unquote(q)
	return u, true
}

// replaceOnce replaces old in s with as many 'x' as it has bytes, if old is
// not empty and occurs exactly once, overlapping occurrences included (in
// "a:::", "::" occurs twice).
func replaceOnce(s, old string) (string, bool) {
	i := strings.Index(s, old)
	if old == "" || i < 0 || i != strings.LastIndex(s, old) {
		return "", false
	}
	return s[:i] + strings.Repeat("x", len(old)) + s[i+len(old):], true
}

// FuzzDialConfig checks that Dial never panics whatever the URL and the
// option values, fails only with a *ConfigError, starts nothing it does not
// hand back, and never shows a URL's userinfo, query or fragment, which may
// hold credentials, in its error.
func FuzzDialConfig(f *testing.F) {
	ok := dialConfigInput{url: validURL, ping: int64(DefaultPingInterval), pong: int64(DefaultPongTimeout),
		handshake: int64(DefaultHandshakeTimeout), close: int64(DefaultCloseTimeout), stable: int64(DefaultStablePeriod),
		initial: int64(DefaultBackoff.Initial), max: int64(DefaultBackoff.Max), mult: 2, readLimit: DefaultReadLimit}
	seed := func(in dialConfigInput) {
		f.Add(in.url, in.ping, in.pong, in.handshake, in.close, in.stable, in.initial, in.max, in.mult,
			in.attempts, in.buffer, in.readLimit)
	}
	seed(ok)
	for _, u := range []string{"", "ws://", "http://alice:hunter2@feed.test/?token=s3cret",
		"ws://alice:hunter2@feed.test:port/", "ws://alice:hun%zzter2@feed.test/", "ws://alice:pw@[::1/",
		"1ws:alice:hunter2@feed.test", "wss:alice:hunter2@feed.test#frag", "ws://alice:hunter2@/x?y#z",
		"ws://u:p@127.0.0.1:9/x?y=z", "ws://feed.test/@handle", "\x00ws://a"} {
		in := ok
		in.url = u
		seed(in)
	}
	bad := ok
	bad.ping, bad.pong, bad.mult, bad.attempts, bad.buffer, bad.readLimit = 0, -1, math.NaN(), -1, -1, -2
	seed(bad)
	edge := ok
	edge.ping, edge.pong, edge.initial, edge.max, edge.mult, edge.readLimit = 1, 1, 1, math.MaxInt64, 1, -1
	edge.attempts = 1 // may give up before Close
	seed(edge)
	huge := ok
	huge.initial, huge.max, huge.mult, huge.buffer = math.MaxInt64, math.MaxInt64, math.Inf(1), math.MaxInt
	seed(huge)

	f.Fuzz(func(t *testing.T, rawURL string, ping, pong, handshake, closeT, stable, initial, maxD int64,
		mult float64, attempts, buffer int, readLimit int64) {
		in := dialConfigInput{url: rawURL, ping: ping, pong: pong, handshake: handshake, close: closeT, stable: stable,
			initial: initial, max: maxD, mult: mult, attempts: attempts, buffer: buffer, readLimit: readLimit}
		msg := dialOnce(t, in)
		if msg == "" {
			return
		}
		shown, hasURL := urlProblem(t, msg)
		u, err := url.Parse(rawURL)
		if err != nil {
			// The URL does not parse: it is shown cut before its query or
			// fragment, with any userinfo masked.
			if !hasURL {
				t.Fatalf("URL %q does not parse but %q has no URL problem", rawURL, msg)
			}
			if strings.ContainsAny(shown, "?#") {
				t.Errorf("error %q shows the URL's query or fragment", msg)
			}
			if at := strings.LastIndex(shown, "@"); at >= 0 {
				start := 0
				if i := strings.Index(shown, "//"); i >= 0 && i < at {
					start = i + 2
				}
				if shown[start:at] != "xxxxx" {
					t.Errorf("error %q shows the userinfo %q", msg, shown[start:at])
				}
			}
			return
		}
		// The URL parses: replacing its userinfo, query or fragment with
		// something else of the same length changes nothing in the message.
		// The replacement keeps the URL's structure, so a difference means
		// the message shows what was replaced.
		var secrets []string
		if u.User != nil {
			secrets = append(secrets, u.User.String())
		}
		secrets = append(secrets, u.RawQuery, u.EscapedFragment(), u.Opaque)
		for _, s := range secrets {
			other, ok := replaceOnce(rawURL, s)
			if !ok {
				continue
			}
			in.url = other
			if got := dialOnce(t, in); got != msg {
				t.Errorf("the error shows part of the URL that may hold credentials (%q):\n %q\nvs %q", s, msg, got)
			}
		}
	})
}
