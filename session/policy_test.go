package session

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// errRefused is a refused dial, as the network reports it.
var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// TestPanickingClassifier: a classifier that panics ends the client with
// one of Err's documented types, a *GaveUpError, which holds the panic.
func TestPanickingClassifier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		srv.Down()
		var rec recorder
		c := dialTest(t, srv, &rec, WithRetryPolicy(func(retry.Failure) retry.Decision { panic("classifier bug") }),
			WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}))
		<-c.Done()
		err := c.Err()
		if _, ok := err.(*GaveUpError); !ok {
			t.Fatalf("Err() = %T %v, want a *GaveUpError", err, err)
		}
		var pe *tasks.PanicError
		if !errors.As(err, &pe) || pe.Value != "classifier bug" {
			t.Errorf("Err() = %v, want it to wrap the panic", err)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Err() = %v, want it to keep the failure the classifier was given", err)
		}
	})
}

// TestDefaultPolicy: what the default policy decides for each kind of
// failure, with the jitter at the top of its range so delays are the caps.
func TestDefaultPolicy(t *testing.T) {
	cfg := defaultConfig()
	WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2, Mode: retry.FullJitter})(&cfg)
	WithPermanentCloseCodes(4001, 4003)(&cfg)
	cfg.Rand = fixedRnd(justBelowOne)
	spent := cfg
	spent.Backoff.MaxAttempts = 3

	closed := func(code transport.StatusCode, attempt int) retry.Failure {
		return retry.Failure{Kind: retry.KindClose, Err: &transport.CloseError{Code: code, Reason: "why"}, Code: code, Reason: "why", Attempt: attempt}
	}
	refused := func(status int, retryAfter time.Duration) retry.Failure {
		return retry.Failure{Kind: retry.KindHandshake, Err: &transport.HandshakeError{Status: status, RetryAfter: retryAfter}, Status: status, RetryAfter: retryAfter, Attempt: 1}
	}
	giveUp := retry.Decision{GiveUp: true}
	backoff := func(d time.Duration) retry.Decision { return retry.Decision{Delay: d, Reason: retry.WaitBackoff} }
	slow := func(d time.Duration) retry.Decision { return retry.Decision{Delay: d, Reason: retry.WaitSlowDown} }
	tests := []struct {
		name string
		cfg  *config
		f    retry.Failure
		want retry.Decision
	}{
		{"dial error, first attempt", &cfg, retry.Failure{Kind: retry.KindDial, Err: errRefused, Attempt: 1}, backoff(time.Second)},
		{"dial error, third attempt", &cfg, retry.Failure{Kind: retry.KindDial, Err: errRefused, Attempt: 3}, backoff(4 * time.Second)},
		{"dial error, capped", &cfg, retry.Failure{Kind: retry.KindDial, Err: errRefused, Attempt: 30}, backoff(time.Minute)},
		{"handshake 403", &cfg, refused(403, 0), giveUp},
		{"handshake 503", &cfg, refused(503, 0), backoff(time.Second)},
		{"handshake 503, Retry-After longer than the backoff", &cfg, refused(503, 7*time.Second), retry.Decision{Delay: 7 * time.Second, Reason: retry.WaitRetryAfter}},
		{"handshake 503, Retry-After shorter than the backoff", &cfg,
			retry.Failure{Kind: retry.KindHandshake, Err: &transport.HandshakeError{Status: 503}, Status: 503, RetryAfter: time.Second / 2, Attempt: 2}, backoff(2 * time.Second)},
		{"handshake 429 with Retry-After", &cfg, refused(429, 30*time.Second), retry.Decision{Delay: 30 * time.Second, Reason: retry.WaitRetryAfter}},
		{"handshake 429 without Retry-After slows down", &cfg, refused(429, 0), slow(8 * time.Second)},
		{"close 1000", &cfg, closed(1000, 0), backoff(time.Second)},
		{"close 1001", &cfg, closed(1001, 0), backoff(time.Second)},
		{"close 1002 protocol fault", &cfg, closed(1002, 0), giveUp},
		{"close 1003 protocol fault", &cfg, closed(1003, 0), giveUp},
		{"close 1007 protocol fault", &cfg, closed(1007, 0), giveUp},
		{"close 1008 slows down", &cfg, closed(1008, 0), slow(8 * time.Second)},
		{"close 1008 after a flapping attempt slows down more", &cfg, closed(1008, 2), slow(16 * time.Second)},
		{"close 1011", &cfg, closed(1011, 0), backoff(time.Second)},
		{"close 1013 slows down", &cfg, closed(1013, 0), slow(8 * time.Second)},
		{"close 3000", &cfg, closed(3000, 0), giveUp},
		{"close 4001 made permanent", &cfg, closed(4001, 0), giveUp},
		{"close 4003 made permanent", &cfg, closed(4003, 0), giveUp},
		{"close 4002, the venue's", &cfg, closed(4002, 0), backoff(time.Second)},
		{"pong timeout", &cfg, retry.Failure{Kind: retry.KindPongTimeout, Err: ErrPongTimeout}, backoff(time.Second)},
		{"idle", &cfg, retry.Failure{Kind: retry.KindIdle, Err: ErrIdleTimeout}, backoff(time.Second)},
		{"lost", &cfg, retry.Failure{Kind: retry.KindLost, Err: errRefused}, backoff(time.Second)},
		{"reconnect requested", &cfg, retry.Failure{Kind: retry.KindReconnect, Attempt: 5}, retry.Decision{Reason: retry.WaitReconnect}},
		{"reconnect requested, budget spent", &spent, retry.Failure{Kind: retry.KindReconnect, Attempt: 3}, retry.Decision{Reason: retry.WaitReconnect}},
		{"budget left", &spent, retry.Failure{Kind: retry.KindDial, Err: errRefused, Attempt: 2}, backoff(2 * time.Second)},
		{"without a client's configuration: the defaults", nil, retry.Failure{Kind: retry.KindClose, Err: &transport.CloseError{Code: 4001}, Code: 4001, Attempt: 1},
			retry.Decision{Delay: retry.DefaultBackoff.Delay(0, fixedRnd(0)), Reason: retry.WaitBackoff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.f.Default()
			if tt.cfg != nil {
				got = tt.cfg.Decide(tt.f, 0)
			}
			if tt.cfg == nil { // math/rand jitter: compare the reason only
				got.Delay = tt.want.Delay
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("Default() (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("budget spent", func(t *testing.T) {
		d := spent.Decide(retry.Failure{Kind: retry.KindDial, Err: errRefused, Attempt: 3}, 0)
		if !d.GiveUp || !errors.Is(d.Err, ErrRetriesExhausted) || !errors.Is(d.Err, syscall.ECONNREFUSED) {
			t.Errorf("Default() = %+v, want to give up with ErrRetriesExhausted wrapping the failure", d)
		}
	})
}

func TestFailureKindAndWaitReasonNames(t *testing.T) {
	kinds := map[retry.FailureKind]string{retry.KindDial: "dial", retry.KindHandshake: "handshake", retry.KindClose: "close",
		retry.KindPongTimeout: "pong_timeout", retry.KindIdle: "idle", retry.KindLost: "lost", retry.KindReconnect: "reconnect", 0: "FailureKind(0)", 99: "FailureKind(99)"}
	for k, want := range kinds {
		if got := k.String(); got != want {
			t.Errorf("FailureKind(%d).String() = %q, want %q", k, got, want)
		}
	}
	reasons := map[retry.WaitReason]string{retry.WaitPolicy: "policy", retry.WaitBackoff: "backoff", retry.WaitSlowDown: "slow_down",
		retry.WaitRetryAfter: "retry_after", retry.WaitStormGuard: "storm_guard", retry.WaitReconnect: "reconnect", 99: "WaitReason(99)"}
	for r, want := range reasons {
		if got := r.String(); got != want {
			t.Errorf("WaitReason(%d).String() = %q, want %q", r, got, want)
		}
	}
}

func TestWaitString(t *testing.T) {
	tests := []struct {
		w    Wait
		want string
	}{
		{Wait{Reason: retry.WaitBackoff, Delay: 1200 * time.Millisecond, Failure: retry.Failure{Attempt: 3}}, "1.2s of backoff after attempt 3"},
		{Wait{Reason: retry.WaitSlowDown, Delay: 8 * time.Second, Failure: retry.Failure{Kind: retry.KindClose, Code: 1013}}, "8s of backoff after attempt 0, slowed down after close 1013"},
		{Wait{Reason: retry.WaitSlowDown, Delay: 8 * time.Second, Failure: retry.Failure{Kind: retry.KindHandshake, Status: 429, Attempt: 1}}, "8s of backoff after attempt 1, slowed down after HTTP 429"},
		{Wait{Reason: retry.WaitSlowDown, Delay: 4 * time.Second, Failure: retry.Failure{Kind: retry.KindTooBig, Attempt: 1}}, "4s of backoff after attempt 1, slowed down after a message over the read limit"},
		{Wait{Reason: retry.WaitRetryAfter, Delay: 30 * time.Second}, "30s for Retry-After"},
		{Wait{Reason: retry.WaitStormGuard, Delay: 5 * time.Second, Dials: 10, Window: time.Minute}, "5s for the storm guard (10 dials within 1m0s)"},
		{Wait{Reason: retry.WaitReconnect}, "0s before the reconnect asked for"},
		{Wait{Reason: retry.WaitPolicy, Delay: 3 * time.Second}, "3s by the retry policy"},
	}
	for _, tt := range tests {
		if got := tt.w.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestWaitStringRounds(t *testing.T) {
	w := Wait{Reason: retry.WaitBackoff, Delay: 81788762 * time.Nanosecond, Failure: retry.Failure{Attempt: 1}}
	if got, want := w.String(), "82ms of backoff after attempt 1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	w.Delay = 700 * time.Microsecond
	if got, want := w.String(), "700µs of backoff after attempt 1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
