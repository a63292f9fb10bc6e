package session

import (
	"errors"
	"fmt"

	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
)

// WithRetryPolicy sets the retry policy: the one place that decides
// whether and when to dial again. Without it, Failure.Default decides. A
// policy keeps the default decisions by returning f.Default() for the
// failures it leaves alone. Default is tuned by two options:
// WithPermanentCloseCodes names close codes to give up on, and
// Backoff.MaxAttempts bounds the attempts in a row. A client has one
// policy: a second WithRetryPolicy is a configuration error.
func WithRetryPolicy(p retry.Policy) Option {
	return func(c *config) {
		switch {
		case p == nil:
			c.problems = append(c.problems, errors.New("RetryPolicy: nil func"))
		case c.Policy != nil:
			c.problems = append(c.problems, errors.New("RetryPolicy: given twice; a client has one policy"))
		default:
			c.Policy = p
		}
	}
}

// WithPermanentCloseCodes makes the default policy give up when the peer
// closes the connection with one of codes: a venue's "invalid api key"
// (often 4001) will not get better by redialling. Codes 4000 to 4999 are
// the venue's own and retried by default.
func WithPermanentCloseCodes(codes ...transport.StatusCode) Option {
	return func(c *config) {
		for _, code := range codes {
			switch {
			case code < 1000 || code > 4999:
				c.problems = append(c.problems, fmt.Errorf("PermanentCloseCodes: %d is not a close code (1000 to 4999)", int(code)))
				continue
			case code == transport.StatusNoStatusRcvd || code == transport.StatusAbnormalClosure || code == transport.StatusTLSHandshake:
				c.problems = append(c.problems, fmt.Errorf("PermanentCloseCodes: %d is never sent in a close frame", int(code)))
				continue
			}
			if c.PermanentCodes == nil {
				c.PermanentCodes = make(map[transport.StatusCode]bool)
			}
			c.PermanentCodes[code] = true
		}
	}
}

var (
	// ErrInvalidConfig matches every *ConfigError.
	ErrInvalidConfig = transport.ErrInvalidConfig
	// ErrSlowConsumer matches the cause of a connection Lost under the
	// Disconnect policy: the inbox was full.
	ErrSlowConsumer = errors.New("session: slow consumer")
	// ErrPoolFull is matched by the error of a Pool.Subscribe that finds
	// every connection carrying PoolConfig.MaxPerConn subscriptions and
	// PoolConfig.MaxConns connections open: the subscription is not made,
	// and nothing else changes.
	ErrPoolFull = errors.New("session: pool full")
	// ErrNoPing is returned by the Ping of a transport without protocol
	// pings.
	ErrNoPing = transport.ErrNoPing
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
	ErrRetriesExhausted = retry.ErrRetriesExhausted
	// ErrTooManyRedirects is wrapped by the cause of a dial whose handshake
	// was redirected more than MaxRedirects times, or back to a URL it had
	// already requested. DefaultClassifier counts it as permanent.
	ErrTooManyRedirects = transport.ErrTooManyRedirects
	// ErrAckTimeout is matched by the *subscription.Error of a
	// subscription whose ack did not come within the ack timeout
	// (WithAckTimeout).
	ErrAckTimeout = errors.New("session: subscription ack timeout")
	// ErrSubscriptionRefused is matched by the *subscription.Error of a
	// subscription the venue refused (Subscription.Nack).
	ErrSubscriptionRefused = errors.New("session: subscription refused")
	// ErrBadSubscription is matched by the error of a Subscribe (or a
	// WithSubscriptions problem) given a subscription without a key or a
	// message, or with an unknown message type.
	ErrBadSubscription = errors.New("session: bad subscription")
	// ErrMessageTooBig matches the cause of a connection Lost because a
	// message over the read limit (WithReadLimit) arrived, and the error
	// of a Send whose message is over the write limit (WithWriteLimit).
	ErrMessageTooBig = transport.ErrMessageTooBig
	// ErrUnsent is wrapped by Close's error when accepted messages could not
	// be written before the client closed.
	ErrUnsent = errors.New("session: accepted messages were not sent")
)

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

// errNilContext is the error of a method given a nil Context, which, as
// in net/http, is a mistake: pass context.Background() for no bound.
func errNilContext(method string) error {
	return fmt.Errorf("session: %s: nil Context", method)
}
