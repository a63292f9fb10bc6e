package tcpconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tcpconn/framing"
)

// loopConn is a net.Conn whose reads replay one stream over and over and
// whose writes are recorded: a conn's own cost, without a socket's.
type loopConn struct {
	net.Conn // nil: only Read and Write are called
	stream   []byte
	off      int
	wrote    bytes.Buffer
}

func (l *loopConn) Read(p []byte) (int, error) {
	n := copy(p, l.stream[l.off:])
	l.off = (l.off + n) % len(l.stream)
	return n, nil
}

func (l *loopConn) Write(p []byte) (int, error) { return l.wrote.Write(p) }

// handOver does with a frame's reader what the session does: takes its
// buffer if the reader gives it up (Take), else copies its bytes (Bytes).
func handOver(t *testing.T, r io.Reader) (msg []byte, taken bool) {
	t.Helper()
	w, ok := r.(interface {
		Bytes() []byte
		Take() []byte
	})
	if !ok {
		t.Fatalf("the frame's reader %T has no Bytes and Take", r)
	}
	if p := w.Take(); p != nil {
		return p, true
	}
	return append([]byte{}, w.Bytes()...), false
}

// TestFramesDoNotAllocate: with a built-in framer, reading a frame,
// handing it over as the session does, and writing one cost one
// allocation, the message's own (none for an empty one): the conn's
// buffers cost none once grown. Every frame read and written is whole, at
// sizes below and above bufio's buffer. A line within bufio's buffer is
// lent and copied once; a longer frame is read into a buffer of its own,
// which is taken, not copied.
func TestFramesDoNotAllocate(t *testing.T) {
	for _, f := range []framing.Framer{framing.Line{}, framing.Length32{}} {
		for _, size := range []int{0, 64, 1 << 10, 64 << 10} {
			t.Run(fmt.Sprintf("%s/%dB", f.Name(), size), func(t *testing.T) {
				p := bytes.Repeat([]byte("y"), size)
				var wire bytes.Buffer
				if err := f.WriteFrame(&wire, p); err != nil {
					t.Fatal(err)
				}
				lc := &loopConn{stream: wire.Bytes()}
				c := newConn(lc, lc, f, session.DefaultReadLimit)
				wantTaken := size > 0 && (size >= 4096 || f.Name() != "line")
				var frames []string
				once := func() {
					typ, r, err := c.Reader()
					if err != nil {
						t.Fatal(err)
					}
					if typ != transport.Text {
						t.Fatalf("type %v, want text", typ)
					}
					msg, taken := handOver(t, r)
					if taken != wantTaken {
						t.Fatalf("frame taken: %v, want %v", taken, wantTaken)
					}
					if len(frames) < 3 {
						frames = append(frames, string(msg))
					}
					if err := c.Write(context.Background(), transport.Text, p); err != nil {
						t.Fatal(err)
					}
				}
				once()
				want := 1.0
				if size == 0 {
					want = 0
				}
				if n := testing.AllocsPerRun(50, once); n != want {
					t.Errorf("allocations per frame read, handed over and written: %v, want %v", n, want)
				}
				if diff := cmp.Diff([]string{string(p), string(p), string(p)}, frames); diff != "" {
					t.Errorf("frames read (-want +got):\n%s", diff)
				}
				if want := bytes.Repeat(wire.Bytes(), 52); !bytes.Equal(want, lc.wrote.Bytes()) {
					t.Errorf("wrote %d bytes, want the %d of 52 frames", lc.wrote.Len(), len(want))
				}
			})
		}
	}
}

// TestFramesHandedOverStayIntact: a message handed over, taken or copied,
// is the handler's to keep: the frames read after it, long or short, lent
// or taken, each framer's, with "\r\n" endings and bytes that are not
// UTF-8, never change it, and each has its type (text for UTF-8 only).
func TestFramesHandedOverStayIntact(t *testing.T) {
	long := func(b byte, n int) string { return string(bytes.Repeat([]byte{b}, n)) }
	payloads := []string{
		long('a', 10_000), long('b', 10_000), "short", long('c', 5_000), long('d', 9_000), "",
		long('e', 20_000), "\xff\xfe not UTF-8", long('f', 100), "h\u00e9llo \u4e16\u754c", long('g', 300_000), long('h', 10_000),
		long('i', 4095), long('j', 4094), "caf\xc3", long('k', 7000) + "\xc3\xa9" + long('k', 7000) + "\xc3",
	}
	for _, f := range []framing.Framer{framing.Line{}, framing.Length32{}} {
		for _, crlf := range []bool{false, true} {
			if crlf && f.Name() != "line" {
				continue
			}
			t.Run(fmt.Sprintf("%s/crlf=%v", f.Name(), crlf), func(t *testing.T) {
				var wire bytes.Buffer
				for _, p := range payloads {
					if crlf {
						wire.WriteString(p + "\r\n")
						continue
					}
					if err := f.WriteFrame(&wire, []byte(p)); err != nil {
						t.Fatal(err)
					}
				}
				lc := &loopConn{stream: wire.Bytes()}
				c := newConn(lc, lc, f, session.DefaultReadLimit)
				var kept [][]byte
				var types, wantTypes []transport.MessageType
				for range 3 { // the stream replays: buffers are reused, if any are
					for _, p := range payloads {
						typ, r, err := c.Reader()
						if err != nil {
							t.Fatal(err)
						}
						msg, _ := handOver(t, r)
						kept = append(kept, msg)
						types = append(types, typ)
						want := transport.Binary
						if utf8.ValidString(p) {
							want = transport.Text
						}
						wantTypes = append(wantTypes, want)
					}
				}
				var got, want []string
				for _, m := range kept {
					got = append(got, string(m))
				}
				for range 3 {
					want = append(want, payloads...)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("messages kept (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(wantTypes, types); diff != "" {
					t.Errorf("types (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestWriteWithContext: a write with a context that can end costs only
// context.AfterFunc's own allocations (two in Go 1.26): the function it
// registers, which closes the connection, is made once per conn.
func TestWriteWithContext(t *testing.T) {
	lc := &loopConn{stream: []byte("x\n")}
	c := newConn(lc, lc, framing.Line{}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := []byte("hello")
	write := func() {
		if err := c.Write(ctx, transport.Text, p); err != nil {
			t.Fatal(err)
		}
	}
	write()
	if n := testing.AllocsPerRun(50, write); n > 2 {
		t.Errorf("allocations per write with a cancellable context: %v, want at most 2", n)
	}
	closed := make(chan struct{})
	cc := newConn(&closeConn{closed: closed}, nil, framing.Line{}, 0)
	wctx, wcancel := context.WithCancel(context.Background())
	wcancel()
	cc.abort() // what the context's end runs
	select {
	case <-closed:
	default:
		t.Error("abort did not close the connection")
	}
	if err := cc.Write(wctx, transport.Text, p); !errors.Is(err, context.Canceled) {
		t.Errorf("write with an ended context = %v, want context.Canceled", err)
	}
}

// closeConn records its Close.
type closeConn struct {
	net.Conn
	closed chan struct{}
}

func (c *closeConn) Close() error { close(c.closed); return nil }

// TestLargeFramesWrittenInPlace: on plain TCP a payload of writevMin
// bytes or more is written from where it is, between its frame's head
// and tail (one writev), not copied into the conn's write buffer, which
// stays small; the peer reads each frame whole, and a write costs no
// allocation. Smaller frames still go through the buffer.
func TestLargeFramesWrittenInPlace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, f := range []framing.Framer{framing.Line{}, framing.Length32{}} {
		for _, size := range []int{64, writevMin - 1, writevMin, 64 << 10} {
			t.Run(fmt.Sprintf("%s/%dB", f.Name(), size), func(t *testing.T) {
				nc, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				peer, err := ln.Accept()
				if err != nil {
					t.Fatal(err)
				}
				defer peer.Close()
				c := newConn(nc, nc, f, 0)
				defer c.CloseNow()
				p := bytes.Repeat([]byte("z"), size)
				var wire bytes.Buffer
				if err := f.WriteFrame(&wire, p); err != nil {
					t.Fatal(err)
				}
				const writes = 21 // one, then AllocsPerRun's 20
				got := make(chan []byte, 1)
				go func() {
					b := make([]byte, writes*wire.Len())
					n, _ := io.ReadFull(peer, b)
					got <- b[:n]
				}()
				write := func() {
					if err := c.Write(context.Background(), transport.Text, p); err != nil {
						t.Fatal(err)
					}
				}
				write()
				if n := testing.AllocsPerRun(19, write); n != 0 {
					t.Errorf("allocations per write: %v, want 0", n)
				}
				if want := bytes.Repeat(wire.Bytes(), writes); !bytes.Equal(want, <-got) {
					t.Errorf("the peer did not read %d whole frames", writes)
				}
				copied := cap(c.wbuf) >= size
				if want := size < writevMin; copied != want {
					t.Errorf("payload of %d bytes copied into the write buffer: %v, want %v", size, copied, want)
				}
			})
		}
	}
}

// halfCloser is one end of a net.Pipe that can half-close, as a TCP or
// TLS connection can: its CloseWrite records the call and sends nothing.
type halfCloser struct {
	net.Conn
	closedWrite chan struct{}
}

func (h *halfCloser) CloseWrite() error { close(h.closedWrite); return nil }

// TestCloseNowEndsClose: Close, waiting for the peer to answer its
// half-close, returns once CloseNow is called, as transport.Conn says,
// even though no read is under way to fail (the reader is held elsewhere:
// by a handler that has not returned).
func TestCloseNowEndsClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, peer := net.Pipe()
		defer peer.Close()
		hc := &halfCloser{Conn: client, closedWrite: make(chan struct{})}
		c := newConn(hc, hc, framing.Line{}, 0)
		done := make(chan error, 1)
		go func() { done <- c.Close(transport.StatusNormalClosure, "") }()
		synctest.Wait()
		select {
		case <-hc.closedWrite:
		default:
			t.Fatal("Close did not half-close the connection")
		}
		select {
		case err := <-done:
			t.Fatalf("Close returned %v before the peer answered", err)
		default:
		}
		if err := c.CloseNow(); err != nil {
			t.Errorf("CloseNow: %v", err)
		}
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Close = %v, want nil", err)
			}
		default:
			t.Error("Close still waits after CloseNow")
			_ = peer.Close()
			_, _, _ = c.Reader() // let Close return, for the bubble to end
			<-done
		}
	})
}
