package framing_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/tcpconn/framing"
)

var fuzzFramers = []framing.Framer{framing.Line{}, framing.Length32{}, fix{begin: "FIX.4.4"}}

// FuzzRoundTrip writes two payloads with each framer and reads them back,
// a byte per read; a payload a framer refuses must be one its format
// cannot carry, and a Checker's Check refuses it alike.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), []byte(""))
	f.Add([]byte("a\r"), []byte("b\nc"))
	f.Add([]byte("35=0\x01"), []byte("\x00\x00\x00\x05"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, fr := range fuzzFramers {
			var wire bytes.Buffer
			var want [][]byte
			for _, p := range [][]byte{a, b} {
				err := fr.WriteFrame(&wire, p)
				if ck, ok := fr.(framing.Checker); ok && (ck.Check(p) == nil) != (err == nil) {
					t.Fatalf("%s: Check(%q) = %v, WriteFrame's error %v", fr.Name(), p, ck.Check(p), err)
				}
				if err != nil {
					if !errors.Is(err, framing.ErrPayload) || carries(fr, p) {
						t.Fatalf("%s: write %q: %v", fr.Name(), p, err)
					}
					continue
				}
				if !carries(fr, p) {
					t.Fatalf("%s: wrote %q, which it cannot carry", fr.Name(), p)
				}
				want = append(want, p)
			}
			r := bufio.NewReaderSize(iotest.OneByteReader(&wire), 16)
			var got [][]byte
			for {
				p, err := fr.ReadFrame(r, 1<<20)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: read: %v", fr.Name(), err)
				}
				got = append(got, p)
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(bytes.Equal)); diff != "" {
				t.Errorf("%s: frames (-want +got):\n%s", fr.Name(), diff)
			}
		}
	})
}

// carries reports whether fr's format can carry p.
func carries(fr framing.Framer, p []byte) bool {
	switch fr.(type) {
	case framing.Line:
		return bytes.IndexByte(p, '\n') < 0 && !bytes.HasSuffix(p, []byte("\r"))
	case fix:
		return bytes.HasSuffix(p, []byte{soh})
	}
	return true
}

// FuzzReadFrame reads any bytes with each framer under a limit: no panic,
// no frame over the limit, and an end that is io.EOF only between frames.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("a\nb\r\n"), int64(4))
	f.Add([]byte("\xff\xff\xff\xff"), int64(8))
	f.Add([]byte(wikiFIX), int64(100))
	f.Fuzz(func(t *testing.T, in []byte, limit int64) {
		if limit <= 0 || limit > 1<<16 {
			limit = 1 << 16
		}
		for _, fr := range fuzzFramers {
			r := bufio.NewReaderSize(bytes.NewReader(in), 16)
			for {
				p, err := fr.ReadFrame(r, limit)
				if err != nil {
					break
				}
				if int64(len(p)) > limit {
					t.Fatalf("%s: frame of %d bytes over the limit of %d", fr.Name(), len(p), limit)
				}
			}
		}
	})
}
