package retry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/connfsm/connfsm/internal/enum"
	"github.com/connfsm/connfsm/session/transport"
)

// FailureKind says what failed.
type FailureKind uint8

const (
	// KindDial: the dial failed before the server answered the handshake:
	// a network error, the handshake timeout, TLS, too many redirects, the
	// credentials function (wsconn.WithCredentials).
	KindDial FailureKind = iota + 1
	// KindHandshake: the server answered the handshake without upgrading
	// the connection (Failure.Status, Failure.RetryAfter).
	KindHandshake
	// KindClose: the peer closed the connection with a close frame
	// (Failure.Code, Failure.Reason).
	KindClose
	// KindPongTimeout: the heartbeat's reply did not come in time.
	KindPongTimeout
	// KindIdle: no data message came within the idle timeout
	// (session.WithIdleTimeout).
	KindIdle
	// KindLost: the connection failed otherwise: a reset, a read or write
	// error, an error from OnConnect.
	KindLost
	// KindReconnect: the user asked to drop the connection and dial again.
	// It is not a failure: by default it spends no retry budget and dials
	// at once (the storm guard still applies).
	KindReconnect
	// KindTooBig: a message over the read limit arrived
	// (session.ErrMessageTooBig). The same snapshot would arrive again: by
	// default the client slows down as after close 1008; a policy may give up
	// instead.
	KindTooBig
)

var failureKindNames = [...]string{
	KindDial: "dial", KindHandshake: "handshake", KindClose: "close", KindPongTimeout: "pong_timeout",
	KindIdle: "idle", KindLost: "lost", KindReconnect: "reconnect", KindTooBig: "too_big",
}

// String returns the kind's name as used in logs and JSON, e.g. "close".
func (k FailureKind) String() string { return enum.Name(failureKindNames[:], k, "FailureKind(%d)") }

// Failure is what the retry policy decides about.
type Failure struct {
	Kind FailureKind
	// Err is the cause, as the records and Err carry it: a
	// *transport.HandshakeError for KindHandshake, a *transport.CloseError for
	// KindClose, wrapping session.ErrPongTimeout or session.ErrIdleTimeout for
	// those kinds.
	Err error
	// Attempt counts the dial attempts since the last stable connection
	// (session.WithStablePeriod), the one that failed included; it is 0 when a
	// stable connection was lost.
	Attempt int
	// Outage is how long the client has been without a stable
	// connection: since the last stable one was lost, or since Dial
	// before the first (Backoff's OutageBounded mode sets its schedule
	// by it).
	Outage time.Duration
	// Status and RetryAfter are a refused handshake's HTTP status and the
	// delay its Retry-After header asked for (0 without one).
	Status     int
	RetryAfter time.Duration
	// Code and Reason are those of the peer's close frame.
	Code   transport.StatusCode
	Reason string

	cfg   *Config // the client's, for Default and Retry; nil means the defaults
	phase float32 // the client's in OutageBounded's schedule, with cfg
}

// Decision is the retry policy's answer: give up, or dial again after
// Delay.
type Decision struct {
	// GiveUp ends the client: GaveUp, then Closed, and Err returns a
	// *GaveUpError wrapping Err, or the failure's Err if Err is nil.
	GiveUp bool
	Err    error
	// Delay is the least wait before the next dial; the storm guard may
	// make it longer. A negative Delay counts as 0.
	Delay time.Duration
	// Reason says why the wait is Delay long, for the wait's record;
	// WaitPolicy if left zero.
	Reason WaitReason
}

// Policy decides, after each failure, whether and when to dial again.
// It is called from the Reconnecting state, one failure at a time; a
// policy that panics gives up, with a *GaveUpError wrapping the panic.
type Policy func(f Failure) Decision

// Verdict classifies a connection failure.
type Verdict int

const (
	// Transient failures are retried with backoff.
	Transient Verdict = iota
	// Permanent failures end the client: GaveUp, then Closed.
	Permanent
)

// String returns "transient" or "permanent".
func (v Verdict) String() string {
	if v == Permanent {
		return "permanent"
	}
	return "transient"
}

// Default returns the client's default decision for f:
//
//   - KindReconnect: dial at once, spending no retry budget.
//   - A permanent failure gives up: DefaultClassifier's rules, and a close
//     code given to session.WithPermanentCloseCodes.
//   - Anything else is retried as Retry says.
func (f Failure) Default() Decision {
	if f.Kind == KindReconnect {
		return Decision{Reason: WaitReconnect}
	}
	if DefaultClassifier(f.Err) == Permanent || (f.Kind == KindClose && f.cfg != nil && f.cfg.PermanentCodes[f.Code]) {
		return Decision{GiveUp: true}
	}
	return f.Retry()
}

// slowDownSteps is how many backoff steps further a failure that asks the
// client to slow down waits.
const slowDownSteps = 3

// Retry returns the default decision for a failure to be retried:
//
//   - Once Backoff.MaxAttempts attempts failed in a row, give up with
//     ErrRetriesExhausted.
//   - Otherwise wait the backoff's delay for the attempt (Backoff.DelayFor
//     of Attempt-1 and Outage; WaitBackoff).
//   - A peer that asked the client to slow down (close 1008 policy
//     violation, as venues close rate-limit breakers; 1013 try again
//     later; HTTP 429 without Retry-After), and a message over the read
//     limit (KindTooBig), waits the delay of the attempt
//     three steps further (8 times the cap at the default multiplier,
//     still at most Backoff.Max), and at least half of that cap
//     (WaitSlowDown).
//   - A Retry-After longer than that is waited instead (WaitRetryAfter).
func (f Failure) Retry() Decision {
	b, rnd := DefaultBackoff, (func() float64)(nil)
	if f.cfg != nil {
		b, rnd = f.cfg.Backoff, f.cfg.Rand
	}
	if b.MaxAttempts > 0 && f.Attempt >= b.MaxAttempts && f.Kind != KindReconnect {
		return Decision{GiveUp: true, Err: fmt.Errorf("%w: %w", ErrRetriesExhausted, f.Err)}
	}
	step := max(f.Attempt-1, 0)
	phase := rnd
	if f.cfg != nil && b.mode() == OutageBounded {
		phase = func() float64 { return float64(f.phase) }
	}
	d := Decision{Delay: b.DelayFor(step, f.Outage, phase), Reason: WaitBackoff}
	if f.slowDown() {
		d = Decision{Delay: b.slowDelay(step+slowDownSteps, rnd), Reason: WaitSlowDown}
	}
	if f.RetryAfter > d.Delay {
		d = Decision{Delay: f.RetryAfter, Reason: WaitRetryAfter}
	}
	return d
}

func (f Failure) slowDown() bool {
	switch f.Kind {
	case KindTooBig:
		return true
	case KindClose:
		return f.Code == transport.StatusPolicyViolation || f.Code == transport.StatusTryAgainLater
	case KindHandshake:
		return f.Status == http.StatusTooManyRequests && f.RetryAfter == 0
	}
	return false
}

// IANA-registered close codes for authentication and authorization.
const (
	closeUnauthorized transport.StatusCode = 3000
	closeForbidden    transport.StatusCode = 3003
)

// DefaultClassifier is the default failure classification. Permanent:
//
//   - a refused handshake with status 400, 401, 403, 404, 405, 410 (and any
//     other 4xx but 408 and 429), or a 2xx or 3xx answer that is not an
//     upgrade (not a WebSocket endpoint);
//   - a redirect loop (transport.ErrTooManyRedirects), a TLS certificate that fails
//     verification, an invalid URL from the credentials function (a
//     *transport.ConfigError);
//   - a close frame with a protocol fault, which a new connection would
//     only repeat: 1002 protocol error, 1003 unsupported data, 1007
//     invalid payload data; or with 3000 unauthorized or 3003 forbidden
//     (IANA registry).
//
// Everything else is transient: network errors, timeouts, 408, 429, 5xx,
// lost connections, the other close codes (1000 normal closure and 1001
// going away, servers restarting, 1011 internal error, 1012 service
// restart, 1013 try again later, 1014 bad gateway, 1008 policy violation,
// and the venue's own 4000 to 4999: see session.WithPermanentCloseCodes).
func DefaultClassifier(err error) Verdict {
	var he *transport.HandshakeError
	if errors.As(err, &he) {
		switch s := he.Status; {
		case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
			return Transient
		default:
			return Permanent
		}
	}
	var ce *transport.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case transport.StatusProtocolError, transport.StatusUnsupportedData, transport.StatusInvalidFramePayloadData,
			closeUnauthorized, closeForbidden:
			return Permanent
		}
		return Transient
	}
	if errors.Is(err, transport.ErrTooManyRedirects) || errors.Is(err, transport.ErrInvalidConfig) {
		return Permanent
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verification) {
		return Permanent
	}
	return Transient
}

// ErrRetriesExhausted is wrapped by the error of a client that gave up
// because Backoff.MaxAttempts consecutive attempts failed.
var ErrRetriesExhausted = errors.New("session: retries exhausted")

// Config is one client's retry settings, as package session's options set
// them: what Failure.Default and Failure.Retry follow.
type Config struct {
	Backoff Backoff // session.WithBackoff's, its zero fields filled (Backoff.WithDefaults)
	// PermanentCodes are the close codes the default policy gives up on
	// (session.WithPermanentCloseCodes).
	PermanentCodes map[transport.StatusCode]bool
	Policy         Policy         // nil: Failure.Default decides
	Rand           func() float64 // the jitter source; nil means math/rand/v2
}

// Decide asks c's policy about f, whose Default and Retry then follow c.
// phase is the client's place in OutageBounded's schedule, in [0, 1),
// drawn once an outage so that a fleet's dials stay spread.
func (c *Config) Decide(f Failure, phase float32) Decision {
	f.cfg, f.phase = c, phase
	if c.Policy == nil {
		return f.Default()
	}
	return c.Policy(f)
}
