package tcpconntest

import (
	"time"

	"github.com/connfsm/connfsm/internal/venue"
)

// Message is one frame's payload, received or sent by the venue.
type Message struct {
	Data []byte
	// At is when the venue read it, or started writing it.
	At time.Time
}

// Connection is what the venue recorded of one connection. It is a copy:
// it does not change as the connection goes on.
type Connection struct {
	N      int    // 1 for the venue's first connection, 2 for the next, ...
	Remote string // the client's address; "pipe" in memory
	Opened time.Time
	// Closed is when the connection ended; zero while it is open.
	Closed time.Time
	// Err is why the venue stopped reading, once Closed: io.EOF when the
	// client closed between frames, io.ErrUnexpectedEOF when it closed
	// inside one, an error matching framing.ErrTooBig for a frame over
	// the venue's ReadLimit, a network error when the venue closed or
	// reset it, or when the socket died.
	Err error

	Received []Message // frames read, in order
	Sent     []Message // frames written, in order (a write that failed is forgotten)
}

// Open reports whether the connection is still open.
func (c Connection) Open() bool { return c.Closed.IsZero() }

// ReceivedText returns the payload of every frame received, as strings.
func (c Connection) ReceivedText() []string { return venue.Texts(c.Received, Message.data) }

// SentText returns the payload of every frame sent, as strings.
func (c Connection) SentText() []string { return venue.Texts(c.Sent, Message.data) }

func (m Message) data() []byte { return m.Data }

// Stats are the venue's counters. They are kept even WithoutRecording.
type Stats struct {
	// Accepted counts connections accepted.
	Accepted int64
	// Refused counts in-memory dials refused while Down or closed. Over
	// TCP a refused dial never reaches the venue and is not counted.
	Refused int64
	// Open is the number of connections open now.
	Open int64
	// Received and Sent count frames.
	Received int64
	Sent     int64
}
