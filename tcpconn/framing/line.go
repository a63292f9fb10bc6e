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
func (Line) ReadFrame(r *bufio.Reader, limit int64) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			// Its last byte may be a "\r" that is stripped below.
			if limit > 0 && int64(len(line))-1 > limit {
				return nil, tooBig("line", int64(len(line))-1, limit)
			}
			continue
		case errors.Is(err, io.EOF) && len(line) == 0:
			return nil, io.EOF
		default:
			return nil, unexpected(err)
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if limit > 0 && int64(len(line)) > limit {
			return nil, tooBig("line", int64(len(line)), limit)
		}
		if line == nil {
			line = []byte{}
		}
		return line, nil
	}
}

// WriteFrame writes p and "\n". A payload holding a "\n", or ending in a
// "\r" (which a reader would strip), is an error naming its position.
func (Line) WriteFrame(w io.Writer, p []byte) error {
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		return fmt.Errorf("%w: line payload has a newline at byte %d", ErrPayload, i)
	}
	if n := len(p); n > 0 && p[n-1] == '\r' {
		return fmt.Errorf("%w: line payload ends in a carriage return (byte %d), which a reader strips", ErrPayload, n-1)
	}
	buf := make([]byte, len(p)+1)
	copy(buf, p)
	buf[len(p)] = '\n'
	_, err := w.Write(buf)
	return err
}
