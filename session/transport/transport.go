// Package transport is what a transport supplies to the session core
// (package session): connections that read and write whole messages, and
// the errors and close codes they report. Package wsconn implements it
// over WebSocket, package tcpconn over framed TCP and TLS.
//
// A Transport dials; each Conn it returns is one connection. The core
// calls Conn.Reader from one goroutine at a time, Write and Ping beside
// it, and Close or CloseNow once to end it.
package transport

import (
	"context"
	"io"
	"sync/atomic"
)

// A Transport makes a client's connections: wsconn's over WebSocket,
// tcpconn's over framed TCP or TLS. The client calls Dial from one
// goroutine at a time and owns what it returns.
//
// A Transport may have a method Check() error. session.Dial calls it after
// the options (session.TransportOption); its error is a configuration problem.
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
	// message itself, handed to the handler as it is, and the Conn must
	// never touch that slice again; nil means copy Bytes.
	Reader() (MessageType, io.Reader, error)
	// Write writes one whole message. If ctx ends during the write, the
	// connection may be closed.
	Write(ctx context.Context, typ MessageType, p []byte) error
	// Ping sends a protocol ping and waits for its pong, or for ctx. A
	// transport without one returns ErrNoPing: the client then needs an
	// application heartbeat (session.WithAppHeartbeat).
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

// WasSent reports whether Sent was called.
func (a *Attempt) WasSent() bool { return a.sent.Load() }

// WasReached reports whether Reached was called.
func (a *Attempt) WasReached() bool { return a.reached.Load() }
