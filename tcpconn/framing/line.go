package framing

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Line frames are lines of text: each payload is followed by "\n". A
// reader strips the "\n" and a "\r" before it, so "\r\n" endings (telnet,
// many text protocols) read the same. The zero value is ready to use.
type Line struct{}

// Name returns "line".
func (Line) Name() string { return "line" }

// ReadFrame reads up to the next "\n". The limit counts the payload, the
// line ending excluded; a longer line is refused as soon as it is seen to
// be too long, before the rest of it is read.
func (l Line) ReadFrame(r *bufio.Reader, limit int64) ([]byte, error) {
	p, err := l.AppendFrame(nil, r, limit)
	if err == nil && p == nil {
		p = []byte{}
	}
	return p, err
}

// AppendFrame reads a frame as ReadFrame does and appends its payload to
// dst.
func (Line) AppendFrame(dst []byte, r *bufio.Reader, limit int64) ([]byte, error) {
	chunk, err := r.ReadSlice('\n')
	return appendLine(dst, chunk, err, r, limit)
}

// SliceFrame reads a frame as ReadFrame does. A line that lies whole in
// r's buffer is returned there, lent (valid until r's next read), and dst
// is left as given; a longer one is appended to dst.
func (Line) SliceFrame(dst []byte, r *bufio.Reader, limit int64) (p []byte, lent bool, err error) {
	chunk, err := r.ReadSlice('\n')
	if err != nil {
		p, err = appendLine(dst, chunk, err, r, limit)
		return p, false, err
	}
	line := chunk[:len(chunk)-1]
	if k := len(line); k > 0 && line[k-1] == '\r' {
		line = line[:k-1]
	}
	if n := int64(len(line)); limit > 0 && n > limit {
		return dst, false, tooBig("line", n, limit)
	}
	return line, true, nil
}

// appendLine appends to dst the line whose first chunk ReadSlice returned
// with err, reading the rest of it from r. The "\n" is not appended: a
// buffer sized for the payload holds the line.
func appendLine(dst, chunk []byte, err error, r *bufio.Reader, limit int64) ([]byte, error) {
	start := len(dst)
	line := dst
	for {
		if err == nil {
			line = append(line, chunk[:len(chunk)-1]...)
			if k := len(line); k > start && line[k-1] == '\r' {
				line = line[:k-1]
			}
			if n := int64(len(line) - start); limit > 0 && n > limit {
				return dst, tooBig("line", n, limit)
			}
			return line, nil
		}
		line = append(line, chunk...)
		n := int64(len(line) - start)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			// Its last byte may be a "\r" that is stripped below.
			if limit > 0 && n-1 > limit {
				return dst, tooBig("line", n-1, limit)
			}
			chunk, err = r.ReadSlice('\n')
		case errors.Is(err, io.EOF) && n == 0:
			return dst, io.EOF
		default:
			return dst, unexpected(err)
		}
	}
}

// WriteFrame writes p and "\n". A payload holding a "\n", or ending in a
// "\r" (which a reader would strip), is an error naming its position.
func (l Line) WriteFrame(w io.Writer, p []byte) error {
	buf, err := l.AppendWire(make([]byte, 0, len(p)+1), p)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// AppendWire appends p and "\n" to dst, or returns WriteFrame's error.
func (Line) AppendWire(dst, p []byte) ([]byte, error) {
	if err := checkLine(p); err != nil {
		return dst, err
	}
	dst = append(dst, p...)
	return append(dst, '\n'), nil
}

// Wrap appends the frame's tail, "\n", to dst: a line has no head.
func (Line) Wrap(dst, p []byte) (head, tail []byte, err error) {
	if err := checkLine(p); err != nil {
		return nil, nil, err
	}
	n := len(dst)
	dst = append(dst, '\n')
	return dst[n:n], dst[n:], nil
}

// Check returns WriteFrame's error for p, or nil.
func (Line) Check(p []byte) error { return checkLine(p) }

// checkLine returns WriteFrame's error for a payload a line cannot carry.
func checkLine(p []byte) error {
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		return fmt.Errorf("%w: line payload has a newline at byte %d", ErrPayload, i)
	}
	if n := len(p); n > 0 && p[n-1] == '\r' {
		return fmt.Errorf("%w: line payload ends in a carriage return (byte %d), which a reader strips", ErrPayload, n-1)
	}
	return nil
}
