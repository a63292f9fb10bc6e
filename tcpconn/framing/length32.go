package framing

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Length32 frames carry a 4-byte big-endian payload length, then the
// payload: up to 4 GiB - 1 bytes, any bytes. The zero value is ready to
// use.
type Length32 struct{}

// Name returns "length32".
func (Length32) Name() string { return "length32" }

// chunk is the most ReadFrame allocates before the bytes arrive: a peer
// that announces a large frame and sends less costs no more than this
// beyond what it sent.
const chunk = 64 << 10

// ReadFrame reads a length and that many bytes. A length over limit is
// refused before anything else is read or allocated; within the limit the
// payload's buffer grows as its bytes arrive.
func (Length32) ReadFrame(r *bufio.Reader, limit int64) ([]byte, error) {
	var hdr [4]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if n == 0 {
			return nil, err // io.EOF between frames
		}
		return nil, unexpected(err)
	}
	size := int64(binary.BigEndian.Uint32(hdr[:]))
	if limit > 0 && size > limit {
		return nil, tooBig("length32", size, limit)
	}
	p := make([]byte, 0, min(size, chunk))
	for int64(len(p)) < size {
		if len(p) == cap(p) {
			p = append(p, 0)[:len(p)] // grow by append's policy
		}
		end := min(int64(cap(p)), size)
		n, err := io.ReadFull(r, p[len(p):end])
		p = p[:len(p)+n]
		if err != nil {
			return nil, unexpected(err)
		}
	}
	return p, nil
}

// WriteFrame writes len(p) and p. A payload of 4 GiB or more is an error.
func (Length32) WriteFrame(w io.Writer, p []byte) error {
	if int64(len(p)) > math.MaxUint32 {
		return fmt.Errorf("%w: length32 payload of %d bytes, over the format's %d", ErrPayload, len(p), uint64(math.MaxUint32))
	}
	buf := make([]byte, 4+len(p))
	binary.BigEndian.PutUint32(buf, uint32(len(p)))
	copy(buf[4:], p)
	_, err := w.Write(buf)
	return err
}
