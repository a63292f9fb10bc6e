package session

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrNotConnected is returned by Send while the client is not Alive
	// under the fail-fast policy, or when the connection broke during the
	// write (then the message may not have reached the peer).
	ErrNotConnected = errors.New("session: not connected")
	// ErrBufferFull is returned by Send when the send buffer is full.
	ErrBufferFull = errors.New("session: send buffer full")
	// ErrClosed is returned by Send after Close, and by Err after a Close
	// asked by the user.
	ErrClosed = errors.New("session: client closed")
	// ErrPongTimeout is the cause of a Lost connection whose pong did not
	// arrive in time.
	ErrPongTimeout = errors.New("session: pong timeout")
	// ErrIdleTimeout is the cause of a Lost connection on which no data
	// message came within the idle timeout (WithIdleTimeout): a feed that
	// answers pings and sends nothing.
	ErrIdleTimeout = errors.New("session: no data within the idle timeout")
	// ErrReadFailed is wrapped by the cause of a Lost connection whose
	// read failed: the peer closed it (then the cause is a *CloseError),
	// reset it, or sent what is not WebSocket.
	ErrReadFailed = errors.New("session: read")
	// ErrPingFailed is wrapped by the cause of a Lost connection whose
	// ping could not be written.
	ErrPingFailed = errors.New("session: ping")
	// ErrHandshakeTimeout is the cause of a dial that did not complete the
	// handshake within the handshake timeout.
	ErrHandshakeTimeout = errors.New("session: handshake timeout")
	// ErrRetriesExhausted is wrapped by Err when Backoff.MaxAttempts
	// consecutive attempts failed.
	ErrRetriesExhausted = errors.New("session: retries exhausted")
	// ErrTooManyRedirects is wrapped by the cause of a dial whose handshake
	// was redirected more than MaxRedirects times, or back to a URL it had
	// already requested. DefaultClassifier counts it as permanent.
	ErrTooManyRedirects = errors.New("session: too many redirects")
	// ErrAckTimeout is matched by the *SubscriptionError of a
	// subscription whose ack did not come within the ack timeout
	// (WithAckTimeout).
	ErrAckTimeout = errors.New("session: subscription ack timeout")
	// ErrSubscriptionRefused is matched by the *SubscriptionError of a
	// subscription the venue refused (Subscription.Nack).
	ErrSubscriptionRefused = errors.New("session: subscription refused")
	// ErrBadSubscription is matched by the error of a Subscribe (or a
	// WithSubscriptions problem) given a subscription without a key or a
	// message, or with an unknown message type.
	ErrBadSubscription = errors.New("session: bad subscription")
	// ErrMessageTooBig matches the cause of a connection Lost because a
	// message over the read limit (WithReadLimit) arrived, and the error
	// of a Send whose message is over the write limit (WithWriteLimit).
	ErrMessageTooBig = errors.New("session: message too big")
	// ErrUnsent is wrapped by Close's error when accepted messages could not
	// be written before the client closed.
	ErrUnsent = errors.New("session: accepted messages were not sent")
)

// HandshakeError is the cause of a dial the server answered without
// upgrading the connection.
type HandshakeError struct {
	Status int // the HTTP status code
	// RetryAfter is the delay the server asked for with Retry-After, or 0.
	RetryAfter time.Duration
	Err        error // coder/websocket's error for the refused dial
}

// Error names the status and the transport's error.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("session: handshake refused with HTTP %d: %v", e.Status, e.Err)
}

// Unwrap returns the transport's error.
func (e *HandshakeError) Unwrap() error { return e.Err }

// GaveUpError is what Err returns when the client stopped retrying: the
// failure was permanent or the retry budget was spent.
type GaveUpError struct {
	Attempts int   // consecutive failed attempts
	Cause    error // the last failure
}

// Error names the attempts and the last failure.
func (e *GaveUpError) Error() string {
	return fmt.Sprintf("session: gave up after %d attempt(s): %v", e.Attempts, e.Cause)
}

// Unwrap returns the last failure.
func (e *GaveUpError) Unwrap() error { return e.Cause }

// CloseError is the cause of a connection the peer ended with a close
// frame: its status code and reason. Its Err is the read error that
// reported it, which matches ErrReadFailed and websocket.CloseError.
type CloseError struct {
	Code   StatusCode
	Reason string
	Err    error
}

// Error names the code and the reason.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("session: closed by the peer with status %d", int(e.Code))
	}
	return fmt.Sprintf("session: closed by the peer with status %d: %q", int(e.Code), e.Reason)
}

// Unwrap returns the read error.
func (e *CloseError) Unwrap() error { return e.Err }

// errNilContext is the error of a method given a nil Context, which, as
// in net/http, is a mistake: pass context.Background() for no bound.
func errNilContext(method string) error {
	return fmt.Errorf("session: %s: nil Context", method)
}

// ConfigError reports invalid options; it names each bad field and value.
type ConfigError struct {
	Problems []error // one per bad field, each naming it and its value
}

// Error lists every problem, separated by semicolons.
func (e *ConfigError) Error() string {
	msg := "session: invalid configuration"
	for i, p := range e.Problems {
		if i == 0 {
			msg += ": "
		} else {
			msg += "; "
		}
		msg += p.Error()
	}
	return msg
}

// Unwrap returns the individual problems.
func (e *ConfigError) Unwrap() []error { return e.Problems }

// ErrInvalidConfig matches every *ConfigError.
var ErrInvalidConfig = errors.New("session: invalid configuration")

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }
