package framing_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/connfsm/connfsm/tcpconn/framing"
)

// soh separates FIX fields.
const soh = '\x01'

// fix frames FIX messages (FIX 4.x tag=value): "8=BeginString", then
// "9=BodyLength", the body, and "10=CheckSum", each field ending in SOH.
// The payload is the body: the fields between BodyLength and CheckSum.
// BodyLength counts the body's bytes; CheckSum is the sum of every byte
// before it, modulo 256, in three digits.
type fix struct{ begin string }

func (fix) Name() string { return "fix" }

// ReadFrame reads one message, checks its BodyLength against limit before
// reading the body, and checks its CheckSum.
func (f fix) ReadFrame(r *bufio.Reader, limit int64) ([]byte, error) {
	begin, err := field(r, "8")
	if err != nil {
		if errors.Is(err, io.EOF) && begin == nil {
			return nil, io.EOF
		}
		return nil, eof(err)
	}
	length, err := field(r, "9")
	if err != nil {
		return nil, eof(err)
	}
	n, err := strconv.ParseInt(string(length[2:len(length)-1]), 10, 32)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("fix: BodyLength %q", length)
	}
	if limit > 0 && n > limit {
		return nil, fmt.Errorf("%w: fix body of %d bytes, over the limit of %d", framing.ErrTooBig, n, limit)
	}
	msg := make([]byte, len(begin)+len(length)+int(n)+7)
	copy(msg, begin)
	copy(msg[len(begin):], length)
	if _, err := io.ReadFull(r, msg[len(begin)+len(length):]); err != nil {
		return nil, eof(err)
	}
	body, trailer := msg[len(begin)+len(length):len(msg)-7], msg[len(msg)-7:]
	if !bytes.HasPrefix(trailer, []byte("10=")) || trailer[6] != soh {
		return nil, fmt.Errorf("fix: trailer %q, want 10=NNN after a body of %d bytes", trailer, n)
	}
	if want := checksum(msg[:len(msg)-7]); string(trailer[3:6]) != want {
		return nil, fmt.Errorf("fix: CheckSum %s, want %s", trailer[3:6], want)
	}
	return body, nil
}

// WriteFrame writes body as one message; body is whole fields, each
// ending in SOH.
func (f fix) WriteFrame(w io.Writer, body []byte) error {
	if len(body) == 0 || body[len(body)-1] != soh {
		return fmt.Errorf("%w: fix body must end in SOH", framing.ErrPayload)
	}
	msg := fmt.Appendf(nil, "8=%s\x019=%d\x01%s", f.begin, len(body), body)
	msg = fmt.Appendf(msg, "10=%s\x01", checksum(msg))
	_, err := w.Write(msg)
	return err
}

// field reads "tag=value<SOH>", at most one buffer long.
func field(r *bufio.Reader, tag string) ([]byte, error) {
	b, err := r.ReadSlice(soh)
	if err != nil {
		if len(b) == 0 {
			return nil, err
		}
		return b, eof(err)
	}
	if !bytes.HasPrefix(b, []byte(tag+"=")) {
		return b, fmt.Errorf("fix: field %q, want tag %s", b, tag)
	}
	return bytes.Clone(b), nil
}

func eof(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func checksum(b []byte) string {
	var sum byte
	for _, c := range b {
		sum += c
	}
	return fmt.Sprintf("%03d", sum)
}

// A FIX framer (BodyLength and CheckSum) is a Framer like the built-in
// ones: the same client and venue carry it.
func Example_fix() {
	var f framing.Framer = fix{begin: "FIX.4.4"}
	var wire bytes.Buffer
	_ = f.WriteFrame(&wire, []byte("35=0\x0149=CLIENT\x0156=VENUE\x01")) // a heartbeat
	fmt.Println(strings.ReplaceAll(wire.String(), "\x01", "|"))

	wire.Bytes()[wire.Len()-2]++ // spoil the CheckSum
	_, err := f.ReadFrame(bufio.NewReader(&wire), 4096)
	fmt.Println(err)
	// Output:
	// 8=FIX.4.4|9=24|35=0|49=CLIENT|56=VENUE|10=106|
	// fix: CheckSum 107, want 106
}

// Reading frames with a limit: a frame over it is ErrTooBig, and a stream
// that ends between frames is io.EOF.
func Example() {
	f, err := framing.Parse("length32")
	if err != nil {
		fmt.Println(err)
		return
	}
	var wire bytes.Buffer
	for _, m := range []string{"hello", "a message far too long"} {
		_ = f.WriteFrame(&wire, []byte(m))
	}
	r := bufio.NewReader(&wire)
	for {
		p, err := f.ReadFrame(r, 16)
		if err != nil {
			fmt.Println("too big:", errors.Is(err, framing.ErrTooBig))
			fmt.Println(err)
			return
		}
		fmt.Printf("%q\n", p)
	}
	// Output:
	// "hello"
	// too big: true
	// framing: frame too big: length32 frame of 22 bytes or more, over the limit of 16
}
