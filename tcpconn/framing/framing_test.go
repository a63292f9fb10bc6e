package framing_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/tcpconn/framing"
)

// wikiFIX is the FIX 4.2 logon of Wikipedia's "Financial Information
// eXchange" article, a vector whose BodyLength (65) and CheckSum (062)
// were computed by others.
const wikiFIX = "8=FIX.4.2\x019=65\x0135=A\x0149=SERVER\x0156=CLIENT\x0134=177\x0152=20090107-18:15:16\x0198=0\x01108=30\x0110=062\x01"

// readers are the ways a stream arrives: at once, a byte per read (a
// frame split across any number of TCP segments), and a byte per read
// into the smallest bufio buffer (a frame longer than the buffer).
var readers = []struct {
	name string
	wrap func(string) *bufio.Reader
}{
	{"whole", func(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }},
	{"one byte", func(s string) *bufio.Reader { return bufio.NewReader(iotest.OneByteReader(strings.NewReader(s))) }},
	{"small buffer", func(s string) *bufio.Reader {
		return bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(s)), 16)
	}},
}

func TestReadFrame(t *testing.T) {
	long := strings.Repeat("x", 10000)
	tests := []struct {
		name   string
		f      framing.Framer
		in     string
		limit  int64
		frames []string
		err    error // what ends the stream
	}{
		{"line: lines", framing.Line{}, "a\nbc\r\n", 0, []string{"a", "bc"}, io.EOF},
		{"line: empty frames", framing.Line{}, "\n\r\n\n", 0, []string{"", "", ""}, io.EOF},
		{"line: empty stream", framing.Line{}, "", 0, nil, io.EOF},
		{"line: a lone \\r is kept", framing.Line{}, "a\rb\n\r\r\n", 0, []string{"a\rb", "\r"}, io.EOF},
		{"line: at the limit", framing.Line{}, "abc\nabc\r\n", 3, []string{"abc", "abc"}, io.EOF},
		{"line: over the limit", framing.Line{}, "abc\nabcd\nabc\n", 3, []string{"abc"}, framing.ErrTooBig},
		{"line: over the limit with \\r\\n", framing.Line{}, "abcd\r\n", 3, nil, framing.ErrTooBig},
		{"line: a long line, no limit", framing.Line{}, long + "\n", 0, []string{long}, io.EOF},
		{"line: a long line over the limit", framing.Line{}, long + "\n", 100, nil, framing.ErrTooBig},
		{"line: a long line without end", framing.Line{}, long, 100, nil, framing.ErrTooBig},
		{"line: EOF mid-frame", framing.Line{}, "a\nhalf", 0, []string{"a"}, io.ErrUnexpectedEOF},
		{"line: EOF after \\r", framing.Line{}, "a\r", 0, nil, io.ErrUnexpectedEOF},

		{"length32: frames", framing.Length32{}, "\x00\x00\x00\x03abc\x00\x00\x00\x01\n", 0, []string{"abc", "\n"}, io.EOF},
		{"length32: empty frame", framing.Length32{}, "\x00\x00\x00\x00", 0, []string{""}, io.EOF},
		{"length32: empty stream", framing.Length32{}, "", 0, nil, io.EOF},
		{"length32: at the limit", framing.Length32{}, "\x00\x00\x00\x03abc", 3, []string{"abc"}, io.EOF},
		{"length32: over the limit", framing.Length32{}, "\x00\x00\x00\x04abcd", 3, nil, framing.ErrTooBig},
		{"length32: 4 GiB announced", framing.Length32{}, "\xff\xff\xff\xffabc", 1 << 20, nil, framing.ErrTooBig},
		{"length32: a long frame", framing.Length32{}, "\x00\x01\x86\xa0" + strings.Repeat("y", 100000), 0, []string{strings.Repeat("y", 100000)}, io.EOF},
		{"length32: EOF in the prefix", framing.Length32{}, "\x00\x00\x00\x01a\x00\x00", 0, []string{"a"}, io.ErrUnexpectedEOF},
		{"length32: EOF in the payload", framing.Length32{}, "\x00\x00\x00\x05ab", 0, nil, io.ErrUnexpectedEOF},
		{"length32: EOF in a long payload", framing.Length32{}, "\x00\x10\x00\x00" + long, 0, nil, io.ErrUnexpectedEOF},

		{"fix: a logon", fix{}, wikiFIX + wikiFIX, 0, []string{wikiFIX[15 : len(wikiFIX)-7], wikiFIX[15 : len(wikiFIX)-7]}, io.EOF},
		{"fix: over the limit", fix{}, wikiFIX, 64, nil, framing.ErrTooBig},
		{"fix: EOF in the body", fix{}, wikiFIX[:40], 0, nil, io.ErrUnexpectedEOF},
		{"fix: EOF in BeginString", fix{}, "8=FIX", 0, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				r := rd.wrap(tt.in)
				var got []string
				var err error
				for {
					var p []byte
					if p, err = tt.f.ReadFrame(r, tt.limit); err != nil {
						break
					}
					if p == nil {
						t.Errorf("frame %d is nil, want a slice", len(got))
					}
					got = append(got, string(p))
				}
				if diff := cmp.Diff(tt.frames, got); diff != "" {
					t.Errorf("frames (-want +got):\n%s", diff)
				}
				if !errors.Is(err, tt.err) {
					t.Errorf("end = %v, want %v", err, tt.err)
				}
			})
			app, ok := tt.f.(framing.Appender)
			if !ok {
				continue
			}
			// The same frames appended to a buffer kept across them, after
			// a prefix that must stay as it is and not count in the limit.
			t.Run(tt.name+"/"+rd.name+"/append", func(t *testing.T) {
				r := rd.wrap(tt.in)
				const prefix = "kept:"
				buf := []byte(prefix)
				var got []string
				var err error
				for {
					var p []byte
					if p, err = app.AppendFrame(buf, r, tt.limit); err != nil {
						if string(p) != prefix {
							t.Errorf("on error AppendFrame returned %q, want dst as given", p)
						}
						break
					}
					if !strings.HasPrefix(string(p), prefix) {
						t.Fatalf("frame %d = %q, lost the prefix %q", len(got), p, prefix)
					}
					got = append(got, string(p[len(prefix):]))
					buf = p[:len(prefix)]
				}
				if diff := cmp.Diff(tt.frames, got); diff != "" {
					t.Errorf("frames (-want +got):\n%s", diff)
				}
				if !errors.Is(err, tt.err) {
					t.Errorf("end = %v, want %v", err, tt.err)
				}
			})
			sl, ok := tt.f.(framing.Slicer)
			if !ok {
				continue
			}
			// The same frames sliced: lent while they lie whole in the
			// reader's buffer, else appended after the prefix as above.
			t.Run(tt.name+"/"+rd.name+"/slice", func(t *testing.T) {
				r := rd.wrap(tt.in)
				const prefix = "kept:"
				var got []string
				var err error
				for {
					p, lent, e := sl.SliceFrame([]byte(prefix), r, tt.limit)
					if err = e; err != nil {
						if string(p) != prefix {
							t.Errorf("on error SliceFrame returned %q, want dst as given", p)
						}
						break
					}
					if !lent {
						if !strings.HasPrefix(string(p), prefix) {
							t.Fatalf("frame %d = %q, lost the prefix %q", len(got), p, prefix)
						}
						p = p[len(prefix):]
					} else if len(p) >= r.Size() {
						t.Fatalf("frame %d (%d bytes) lent, but the reader's buffer holds %d", len(got), len(p), r.Size())
					}
					got = append(got, string(p))
				}
				if diff := cmp.Diff(tt.frames, got); diff != "" {
					t.Errorf("frames (-want +got):\n%s", diff)
				}
				if !errors.Is(err, tt.err) {
					t.Errorf("end = %v, want %v", err, tt.err)
				}
			})
		}
	}
}

// TestSliceFrameLends: a line that lies whole in the reader's buffer is
// lent, one that does not is appended; both read as the line.
func TestSliceFrameLends(t *testing.T) {
	long := strings.Repeat("z", 100)
	r := bufio.NewReaderSize(strings.NewReader("short\r\n"+long+"\nend\n"), 32)
	type got struct {
		P    string
		Lent bool
	}
	var all []got
	for {
		p, lent, err := framing.Line{}.SliceFrame(nil, r, 0)
		if err != nil {
			break
		}
		all = append(all, got{string(p), lent})
	}
	want := []got{{"short", true}, {long, false}, {"end", true}}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}

func TestFIXChecksum(t *testing.T) {
	bad := strings.Replace(wikiFIX, "10=062", "10=063", 1)
	_, err := fix{}.ReadFrame(bufio.NewReader(strings.NewReader(bad)), 0)
	if err == nil || !strings.Contains(err.Error(), "CheckSum 063, want 062") {
		t.Errorf("read with a bad CheckSum = %v, want it named", err)
	}
	var w bytes.Buffer
	if err := (fix{begin: "FIX.4.2"}).WriteFrame(&w, []byte(wikiFIX[15:len(wikiFIX)-7])); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wikiFIX, w.String()); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
}

// TestAnnouncedSizeIsNotAllocated: a prefix announcing 4 GiB costs what
// arrives, not what it announces, with a limit or without.
func TestAnnouncedSizeIsNotAllocated(t *testing.T) {
	for _, limit := range []int64{0, 1 << 20} {
		in := "\xff\xff\xff\xfe" + strings.Repeat("z", 1000)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := framing.Length32{}.ReadFrame(bufio.NewReader(strings.NewReader(in)), limit)
		runtime.ReadMemStats(&after)
		want := io.ErrUnexpectedEOF
		if limit > 0 {
			want = framing.ErrTooBig
		}
		if !errors.Is(err, want) {
			t.Errorf("limit %d: err = %v, want %v", limit, err, want)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
			t.Errorf("limit %d: allocated %d bytes for 1004 that arrived", limit, got)
		}
	}
}

func TestWriteFrame(t *testing.T) {
	tests := []struct {
		name  string
		f     framing.Framer
		p     string
		wire  string
		error string // "" if none; else a part of the error, which matches ErrPayload
	}{
		{"line", framing.Line{}, "hi", "hi\n", ""},
		{"line: empty", framing.Line{}, "", "\n", ""},
		{"line: a newline", framing.Line{}, "abc\ndef", "", "newline at byte 3"},
		{"line: a final \\r", framing.Line{}, "abc\r", "", "carriage return (byte 3)"},
		{"length32", framing.Length32{}, "hi", "\x00\x00\x00\x02hi", ""},
		{"length32: empty", framing.Length32{}, "", "\x00\x00\x00\x00", ""},
		{"fix: not whole fields", fix{begin: "FIX.4.4"}, "35=0", "", "end in SOH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &countingWriter{}
			err := tt.f.WriteFrame(w, []byte(tt.p))
			if tt.error != "" {
				if !errors.Is(err, framing.ErrPayload) || !strings.Contains(err.Error(), tt.error) {
					t.Errorf("err = %v, want ErrPayload naming %q", err, tt.error)
				}
				if w.calls != 0 {
					t.Errorf("%d writes after an error, want none", w.calls)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wire, w.buf.String()); diff != "" {
				t.Errorf("wire (-want +got):\n%s", diff)
			}
			if w.calls != 1 {
				t.Errorf("%d writes, want the frame in one", w.calls)
			}
		})
		if w, ok := tt.f.(framing.Wrapper); ok {
			t.Run(tt.name+"/wrap", func(t *testing.T) {
				dst := []byte("kept:")
				head, tail, err := w.Wrap(dst, []byte(tt.p))
				if tt.error != "" {
					if !errors.Is(err, framing.ErrPayload) || !strings.Contains(err.Error(), tt.error) {
						t.Errorf("err = %v, want ErrPayload naming %q", err, tt.error)
					}
					if head != nil || tail != nil || string(dst) != "kept:" {
						t.Errorf("on error Wrap returned %q, %q, want nothing", head, tail)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wire, string(head)+tt.p+string(tail)); diff != "" {
					t.Errorf("head, payload, tail (-want +got):\n%s", diff)
				}
			})
		}
		app, ok := tt.f.(framing.Appender)
		if !ok {
			continue
		}
		t.Run(tt.name+"/append", func(t *testing.T) {
			got, err := app.AppendWire([]byte("kept:"), []byte(tt.p))
			if tt.error != "" {
				if !errors.Is(err, framing.ErrPayload) || !strings.Contains(err.Error(), tt.error) {
					t.Errorf("err = %v, want ErrPayload naming %q", err, tt.error)
				}
				if string(got) != "kept:" {
					t.Errorf("on error AppendWire returned %q, want dst as given", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("kept:"+tt.wire, string(got)); diff != "" {
				t.Errorf("appended (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuiltinsAppend: both built-in framers read and write in buffers
// their caller keeps, and wrap a payload in place (Wrapper, an Appender).
func TestBuiltinsAppend(t *testing.T) {
	for _, name := range framing.Names() {
		f, err := framing.Parse(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(framing.Wrapper); !ok {
			t.Errorf("%s is no framing.Wrapper", name)
		}
	}
}

func TestWriteFrameError(t *testing.T) {
	boom := errors.New("boom")
	for _, f := range []framing.Framer{framing.Line{}, framing.Length32{}} {
		if err := f.WriteFrame(failingWriter{boom}, []byte("x")); !errors.Is(err, boom) {
			t.Errorf("%s: err = %v, want the writer's", f.Name(), err)
		}
	}
}

func TestParse(t *testing.T) {
	for _, name := range framing.Names() {
		f, err := framing.Parse(name)
		if err != nil || f.Name() != name {
			t.Errorf("Parse(%q) = %v, %v", name, f, err)
		}
	}
	for _, bad := range []string{"", "LINE", "xml", "length16"} {
		f, err := framing.Parse(bad)
		if f != nil || !errors.Is(err, framing.ErrUnknown) || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("Parse(%q) = %v, %v; want ErrUnknown naming it", bad, f, err)
		}
	}
	if diff := cmp.Diff([]string{"line", "length32"}, framing.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
}

type countingWriter struct {
	buf   bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.buf.Write(p)
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }
