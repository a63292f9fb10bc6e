package session

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/connfsm/connfsm/internal/enum"
)

// A Transport makes a client's connections: wsconn's over WebSocket,
// tcpconn's over framed TCP or TLS. The client calls Dial from one
// goroutine at a time and owns what it returns.
//
// A Transport may have a method Check() error. Dial calls it after the
// options (TransportOption); its error is a configuration problem.
//
// A Transport may also have a method CheckMessage(typ MessageType, p
// []byte) error, for a wire format that cannot carry every payload (a
// newline in a line). Send, Request and Subscribe return its error before
// anything is written or buffered, and Dial refuses a subscription or an
// application heartbeat it refuses: written, such a message would fail
// every connection it is sent on. A Batch message it refuses fails its
// subscriptions (Failed), and the connection stays.
type Transport interface {
	// Dial makes one connection attempt. ctx ends at the handshake
	// timeout or when the client closes. Dial calls a.Sent once the
	// attempt leaves the process, and a.Reached once it reaches the
	// server; a refused attempt returns a *HandshakeError.
	Dial(ctx context.Context, a *Attempt) (Conn, error)
	// String names the server for logs and errors, without secrets.
	String() string
}

// messageChecker is a Transport that refuses, before any write, the
// payloads its wire format cannot carry.
type messageChecker interface {
	CheckMessage(typ MessageType, p []byte) error
}

// checkMessage returns tr's error for a message it cannot carry, if tr
// tells.
func checkMessage(tr Transport, typ MessageType, p []byte) error {
	if ck, ok := tr.(messageChecker); ok {
		return ck.CheckMessage(typ, p)
	}
	return nil
}

// A Conn is one connection of a Transport. Reader is called by one
// goroutine at a time; Write and Ping may run beside it.
type Conn interface {
	// Reader returns the next message. It blocks until one arrives, the
	// connection fails, or CloseNow is called. The reader must be drained
	// before the next call. A message over the Attempt's read limit fails
	// with an error matching ErrMessageTooBig; a peer's close with a
	// *CloseError. A reader that holds the message whole, with a method
	// Bytes() []byte that returns the bytes unread (tcpconn's frames, a
	// *bytes.Buffer), is copied from in one step, not read. One that also
	// has a method Take() []byte is asked first: a non-nil result is the
	// message itself, handed to OnMessage as it is, and the Conn must
	// never touch that slice again; nil means copy Bytes.
	Reader() (MessageType, io.Reader, error)
	// Write writes one whole message. If ctx ends during the write, the
	// connection may be closed.
	Write(ctx context.Context, typ MessageType, p []byte) error
	// Ping sends a protocol ping and waits for its pong, or for ctx. A
	// transport without one returns ErrNoPing: the client then needs an
	// application heartbeat (WithAppHeartbeat).
	Ping(ctx context.Context) error
	// Close closes the connection gracefully, with code and reason where
	// the protocol carries them. It waits for the peer's answer; CloseNow
	// or a failed read ends the wait.
	Close(code StatusCode, reason string) error
	// CloseNow drops the connection at once.
	CloseNow() error
}

// Attempt is one dial, as its Transport reports it.
type Attempt struct {
	// ReadLimit is the largest message the connection is to accept.
	ReadLimit int64

	sent    atomic.Bool
	reached atomic.Bool
}

// Sent records that the attempt left the process, past any credentials:
// the storm guard counts it, as a venue would.
func (a *Attempt) Sent() { a.sent.Store(true) }

// Reached records that the attempt reached the server: the dial gate
// (WithDialGate) hears of it.
func (a *Attempt) Reached() { a.reached.Store(true) }

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

// orText returns t, or Text for 0, which options read as Text; false when
// t is neither Text nor Binary.
func (t MessageType) orText() (MessageType, bool) {
	switch t {
	case 0:
		return Text, true
	case Text, Binary:
		return t, true
	}
	return t, false
}

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

// readWhole takes a message whose reader gives up its buffer (Take), or
// copies one whose reader holds it whole (Conn.Reader) in one step: one
// allocation, the message's size, and none of the zeroing or growth of
// reading it, which matter for large messages. ok is false for a reader
// that does not hold it so.
func readWhole(r io.Reader) (b []byte, ok bool) {
	w, ok := r.(interface{ Bytes() []byte })
	if !ok {
		return nil, false
	}
	if t, ok := r.(interface{ Take() []byte }); ok {
		if b = t.Take(); b != nil {
			return b, true // the Conn gave it up: no copy
		}
	}
	if b = append([]byte(nil), w.Bytes()...); b == nil {
		b = []byte{} // an empty message is not nil
	}
	return b, true
}
