// Package framing cuts a byte stream into messages: the frames of a TCP or
// TLS connection. A Framer reads one frame at a time from a buffered
// reader and writes one frame per call.
//
// Two framers are built in: Line (newline-delimited text) and Length32
// (a 4-byte big-endian length before each payload). Parse picks one by
// name. Any other wire format (FIX, say, whose frames carry their length
// and a checksum) is a Framer of its own: see the package's examples.
//
// Reading is bounded. A frame over the reader's limit is an error
// matchable with errors.Is(err, ErrTooBig), found before the frame's
// bytes are kept. A stream that ends inside a frame is io.ErrUnexpectedEOF,
// so half a frame is never returned as a message. After any error but a
// clean io.EOF the stream is out of step: drop the connection.
package framing

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Framer reads and writes the frames of one wire format. Its methods
// must be safe to call from several goroutines at once on different
// streams; on one stream, one reader and one writer at a time.
type Framer interface {
	// ReadFrame reads the next frame from r and returns its payload, in a
	// slice of its own. It returns io.EOF if r ends before a frame
	// starts, io.ErrUnexpectedEOF if r ends inside one, and an error
	// matching ErrTooBig if the payload is over limit bytes (limit <= 0:
	// no limit). It refuses such a frame before keeping more of it than
	// limit and one buffer of r, whatever the frame announces.
	ReadFrame(r *bufio.Reader, limit int64) ([]byte, error)
	// WriteFrame writes p as one frame, in one call to w.Write. A payload
	// the format cannot carry is an error matching ErrPayload, and
	// nothing is written.
	WriteFrame(w io.Writer, p []byte) error
	// Name returns the framer's name, as Parse knows it: "line".
	Name() string
}

// An Appender is a Framer that also reads and writes frames in buffers
// its caller keeps, so that a connection's frames cost no allocation of
// their own. Line and Length32 are Appenders; tcpconn uses these methods
// when its Framer has them.
type Appender interface {
	Framer
	// AppendFrame reads the next frame as ReadFrame does, with the same
	// errors and limit (which counts the payload alone), and appends its
	// payload to dst. On an error it returns dst as given.
	AppendFrame(dst []byte, r *bufio.Reader, limit int64) ([]byte, error)
	// AppendWire appends to dst the bytes WriteFrame writes for p, or
	// returns dst as given and WriteFrame's error.
	AppendWire(dst, p []byte) ([]byte, error)
}

// A Slicer is an Appender that can also lend a frame where it lies in the
// reader's buffer: a reader that copies each frame anyway (to hand it
// over) copies it once, not first into a buffer of its own. Line is a
// Slicer; tcpconn uses SliceFrame when its Framer has it.
type Slicer interface {
	Appender
	// SliceFrame reads the next frame as AppendFrame does, with the same
	// errors and limit. If the frame lies whole in r's buffer, its payload
	// is returned there with lent true: valid until r's next read, and
	// not to be written to; dst is left as given. Otherwise the payload is
	// appended to dst, as AppendFrame appends it.
	SliceFrame(dst []byte, r *bufio.Reader, limit int64) (p []byte, lent bool, err error)
}

// A Wrapper is an Appender whose frame is the payload as given, between
// a head and a tail (Line: none and "\n"; Length32: the length and none):
// a writer can send the payload from where it is, in one vectored write,
// instead of copying it after the head. tcpconn does so for large
// payloads on plain TCP.
type Wrapper interface {
	Appender
	// Wrap appends to dst the bytes WriteFrame writes before p, then those
	// after it, and returns the two (slices of the result); or returns
	// WriteFrame's error, with nothing appended.
	Wrap(dst, p []byte) (head, tail []byte, err error)
}

// A Checker is a Framer that tells, without writing, whether it can
// carry a payload. Line and Length32 are Checkers; tcpconn refuses at
// Send a payload its Framer's Check refuses, rather than fail the
// connection it would be written on.
type Checker interface {
	Framer
	// Check returns the error WriteFrame returns for p, or nil.
	Check(p []byte) error
}

// ErrTooBig is matched (errors.Is) by the error a Framer returns for a
// frame over the read limit.
var ErrTooBig = errors.New("framing: frame too big")

// ErrPayload is matched by the error a Framer returns for a payload its
// format cannot carry: a newline inside a Line frame, for one.
var ErrPayload = errors.New("framing: payload cannot be framed")

// ErrUnknown is matched by Parse's error for a name it does not know.
var ErrUnknown = errors.New("framing: unknown framing")

// Names returns the names Parse knows, in the order a usage line shows
// them.
func Names() []string { return []string{Line{}.Name(), Length32{}.Name()} }

// Parse returns the built-in framer called name: "line" or "length32".
// Another name is an error matching ErrUnknown that names it.
func Parse(name string) (Framer, error) {
	switch name {
	case Line{}.Name():
		return Line{}, nil
	case Length32{}.Name():
		return Length32{}, nil
	}
	return nil, fmt.Errorf("%w %q (want line or length32)", ErrUnknown, name)
}

// tooBig returns the error for a frame of at least size bytes over limit.
func tooBig(name string, size, limit int64) error {
	return fmt.Errorf("%w: %s frame of %d bytes or more, over the limit of %d", ErrTooBig, name, size, limit)
}

// unexpected turns an io.EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
