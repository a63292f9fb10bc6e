package wsconntest

import (
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/internal/enum"
	"github.com/connfsm/connfsm/internal/venue"
)

// Message is a WebSocket data message the venue received or sent.
type Message struct {
	Type websocket.MessageType // websocket.MessageText or websocket.MessageBinary
	Data []byte
	// At is when the venue read it or started writing it; zero in a
	// Message built to be sent.
	At time.Time
}

// Text returns a text message holding s, for a script to send or
// expect. (The client's wsconn.Text is a message type, not a message.)
func Text(s string) Message { return Message{Type: websocket.MessageText, Data: []byte(s)} }

// Binary returns a binary message holding b.
func Binary(b []byte) Message { return Message{Type: websocket.MessageBinary, Data: b} }

// Direction says which way a frame went.
type Direction uint8

// The directions of a frame.
const (
	FromClient Direction = iota + 1 // the client wrote it, the venue read it
	ToClient                        // the venue wrote it
)

var directionNames = [...]string{FromClient: "from client", ToClient: "to client"}

// String returns "from client" or "to client".
func (d Direction) String() string { return enum.Name(directionNames[:], d, "Direction(%d)") }

// Opcode is a WebSocket frame's opcode (RFC 6455, section 5.2).
type Opcode uint8

// The opcodes RFC 6455 defines.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xa
)

var opcodeNames = [...]string{OpContinuation: "continuation", OpText: "text", OpBinary: "binary", OpClose: "close", OpPing: "ping", OpPong: "pong"}

// String returns the opcode's name: "text", "ping", ...
func (o Opcode) String() string { return enum.Name(opcodeNames[:], o, "Opcode(%#x)") }

// Frame is one WebSocket frame seen on the wire, in either direction. The
// venue parses the bytes its socket reads and writes after the upgrade, so
// every frame is seen, control frames included: the pongs coder/websocket
// answers by itself, the close frames of a handshake, each fragment of a
// message. Bytes that are not frames (BadAccept, Garbage) are not parsed,
// and frames written while the connection is a black hole never leave the
// venue, so they are not recorded; frames read then are.
type Frame struct {
	At  time.Time
	Dir Direction
	Op  Opcode
	Fin bool  // the final fragment of its message
	Len int64 // the payload's length
	// Payload is a control frame's payload (at most 125 bytes, unmasked);
	// nil for data frames, whose payload is counted, not kept.
	Payload []byte
	// Code and Reason are a close frame's status and reason;
	// websocket.StatusNoStatusRcvd (1005) for a close frame without a
	// status. Zero for other frames.
	Code   websocket.StatusCode
	Reason string
}

// Connection is what the venue recorded of one handshake request and, if
// it was upgraded, of the WebSocket connection that followed. It is a copy:
// it does not change as the connection goes on.
type Connection struct {
	N      int         // 1 for the venue's first handshake request, 2 for the next, ...
	Path   string      // the request's URL path
	Query  url.Values  // the request's query
	Header http.Header // the request's headers
	// Status is what the handshake was answered with: 101 when upgraded,
	// the status of a refusal or redirect, 0 while (or if never) answered.
	Status int
	// Upgraded is whether the venue accepted the WebSocket handshake (a
	// BadAccept or Garbage answer is a 101 that is not).
	Upgraded    bool
	Subprotocol string // the subprotocol selected, if upgraded
	Opened      time.Time
	// Closed is when the connection ended (the venue's handler returned);
	// zero while it is open.
	Closed time.Time
	// Err is why the venue stopped reading, once Closed: a
	// websocket.CloseError (match with websocket.CloseStatus) when the
	// client closed, a network error when the socket died.
	Err error

	Received []Message // data messages read, in order
	Sent     []Message // data messages written, in order
	Frames   []Frame   // every frame on the wire, both directions, in order
}

// Open reports whether the connection is upgraded and not yet closed.
func (c Connection) Open() bool { return c.Upgraded && c.Closed.IsZero() }

// FramesOf returns the frames with opcode op that went in direction dir.
func (c Connection) FramesOf(dir Direction, op Opcode) []Frame {
	var out []Frame
	for _, f := range c.Frames {
		if f.Dir == dir && f.Op == op {
			out = append(out, f)
		}
	}
	return out
}

// CloseFrom returns the close frame that went in direction dir, if one
// did: FromClient is the client's close, ToClient the venue's.
func (c Connection) CloseFrom(dir Direction) (Frame, bool) {
	for _, f := range c.Frames {
		if f.Dir == dir && f.Op == OpClose {
			return f, true
		}
	}
	return Frame{}, false
}

// ReceivedText returns the data of every message received, as strings.
func (c Connection) ReceivedText() []string { return venue.Texts(c.Received, Message.data) }

// SentText returns the data of every message sent, as strings.
func (c Connection) SentText() []string { return venue.Texts(c.Sent, Message.data) }

func (m Message) data() []byte { return m.Data }

// Stats are the venue's counters. They are kept even with
// WithoutRecording.
type Stats struct {
	// Accepted counts transport connections accepted: TCP connections, or
	// in-memory dials while up.
	Accepted int64
	// Refused counts in-memory dials refused while Down or closed. Over
	// TCP a refused dial never reaches the venue and is not counted.
	Refused int64
	// Handshakes counts handshake requests; Upgraded those answered 101.
	Handshakes int64
	Upgraded   int64
	// Open is the number of WebSocket connections open now.
	Open int64
	// Received and Sent count data messages.
	Received int64
	Sent     int64
}
