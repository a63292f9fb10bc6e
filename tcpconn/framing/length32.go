package framing

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
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
func (l Length32) ReadFrame(r *bufio.Reader, limit int64) ([]byte, error) {
	p, err := l.AppendFrame(nil, r, limit)
	if err == nil && p == nil {
		p = []byte{}
	}
	return p, err
}

// AppendFrame reads a frame as ReadFrame does and appends its payload to
// dst, which grows as the bytes arrive: by at most 64 KiB before they do.
func (Length32) AppendFrame(dst []byte, r *bufio.Reader, limit int64) ([]byte, error) {
	// Peeked, not read into an array of ours, which would escape to the
	// heap through io.Reader: one allocation per frame.
	hdr, err := r.Peek(4)
	if err != nil {
		if len(hdr) == 0 {
			return dst, err // io.EOF between frames
		}
		return dst, unexpected(err)
	}
	size := int64(binary.BigEndian.Uint32(hdr))
	_, _ = r.Discard(4)
	if limit > 0 && size > limit {
		return dst, tooBig("length32", size, limit)
	}
	start := int64(len(dst))
	p := slices.Grow(dst, int(min(size, chunk)))
	for int64(len(p))-start < size {
		if len(p) == cap(p) {
			p = append(p, 0)[:len(p)] // grow by append's policy
		}
		end := min(int64(cap(p)), start+size)
		n, err := io.ReadFull(r, p[len(p):end])
		p = p[:len(p)+n]
		if err != nil {
			return dst, unexpected(err)
		}
	}
	return p, nil
}

// WriteFrame writes len(p) and p. A payload of 4 GiB or more is an error.
func (l Length32) WriteFrame(w io.Writer, p []byte) error {
	buf, err := l.AppendWire(make([]byte, 0, 4+len(p)), p)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// AppendWire appends len(p) and p to dst, or returns WriteFrame's error.
func (Length32) AppendWire(dst, p []byte) ([]byte, error) {
	if err := checkLength32(p); err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	return append(dst, p...), nil
}

// Wrap appends the frame's head, len(p), to dst: it has no tail.
func (Length32) Wrap(dst, p []byte) (head, tail []byte, err error) {
	if err := checkLength32(p); err != nil {
		return nil, nil, err
	}
	n := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	return dst[n:], dst[len(dst):], nil
}

// Check returns WriteFrame's error for p, or nil.
func (Length32) Check(p []byte) error { return checkLength32(p) }

// checkLength32 returns WriteFrame's error for a payload too long for
// the length.
func checkLength32(p []byte) error {
	if int64(len(p)) > math.MaxUint32 {
		return fmt.Errorf("%w: length32 payload of %d bytes, over the format's %d", ErrPayload, len(p), uint64(math.MaxUint32))
	}
	return nil
}
