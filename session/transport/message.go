package transport

import (
	"errors"
	"fmt"
	"time"

	"github.com/connfsm/connfsm/internal/enum"
)

// Message is a received data message.
type Message struct {
	Type MessageType // Text or Binary
	Data []byte      // owned by the handler
	// Epoch is the lifecycle epoch of the connection it arrived on.
	Epoch uint64
	// Received is when the client read it from the connection. The lag of
	// a handler call is its start minus Received (session's
	// Stats.LastLag, Stats.MaxLag).
	Received time.Time
}

// MessageType is the type of a data message.
type MessageType int

// The message types. Their numbers are WebSocket's opcodes.
const (
	Text   MessageType = 1
	Binary MessageType = 2
)

var messageTypeNames = [...]string{Text: "text", Binary: "binary"}

// String returns "text" or "binary".
func (t MessageType) String() string { return enum.Name(messageTypeNames[:], t, "MessageType(%d)") }

// StatusCode is a close code (RFC 6455, section 7.4, and the IANA
// registry): 1000 to 2999 are the protocol's, 3000 to 3999 registered by
// libraries and frameworks, 4000 to 4999 the application's (the venue's).
// A transport without close codes reports none.
type StatusCode int

// The close codes the retry policy knows.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	StatusNoStatusRcvd            StatusCode = 1005
	StatusAbnormalClosure         StatusCode = 1006
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
	StatusTLSHandshake            StatusCode = 1015
)

var (
	// ErrNoPing is returned by the Ping of a transport without protocol
	// pings.
	ErrNoPing = errors.New("session: the transport has no protocol ping")
	// ErrMessageTooBig matches the cause of a connection Lost because a message
	// over the read limit (session.WithReadLimit) arrived, and the error of a
	// Send whose message is over the write limit (session.WithWriteLimit).
	ErrMessageTooBig = errors.New("session: message too big")
	// ErrInvalidConfig matches every *ConfigError.
	ErrInvalidConfig = errors.New("session: invalid configuration")
	// ErrTooManyRedirects is wrapped by the cause of a dial whose handshake
	// was redirected more than MaxRedirects times, or back to a URL it had
	// already requested. DefaultClassifier counts it as permanent.
	ErrTooManyRedirects = errors.New("session: too many redirects")
)

// HandshakeError is the cause of a dial the server answered without
// upgrading the connection.
type HandshakeError struct {
	Status int // the HTTP status code
	// RetryAfter is the delay the server asked for with Retry-After, or 0.
	RetryAfter time.Duration
	Err        error // the transport's error for the refused dial
}

// Error names the status and the transport's error.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("session: handshake refused with HTTP %d: %v", e.Status, e.Err)
}

// Unwrap returns the transport's error.
func (e *HandshakeError) Unwrap() error { return e.Err }

// CloseError is the cause of a connection the peer ended with a close frame:
// its status code and reason. Its Err is the read error that reported it, which
// matches session.ErrReadFailed and the transport's own close error
// (websocket.CloseError over wsconn).
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

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }
