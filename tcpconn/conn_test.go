package tcpconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/session"
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

// TestFramesDoNotAllocate: with a built-in framer, reading a frame and
// writing one cost the conn no allocation once its buffers have grown,
// and every frame read and written is whole, at sizes below and above
// bufio's buffer. The frame's reader holds it whole (Bytes), which the
// session copies in one step.
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
				buf := make([]byte, size)
				var frames []string
				once := func() {
					typ, r, err := c.Reader()
					if err != nil {
						t.Fatal(err)
					}
					if typ != session.Text {
						t.Fatalf("type %v, want text", typ)
					}
					if w, ok := r.(interface{ Bytes() []byte }); !ok || len(w.Bytes()) != size {
						t.Fatalf("the frame's reader holds no bytes, or not %d", size)
					}
					n, err := io.ReadFull(r, buf)
					if err != nil {
						t.Fatal(err)
					}
					if len(frames) < 3 {
						frames = append(frames, string(buf[:n]))
					}
					if err := c.Write(context.Background(), session.Text, p); err != nil {
						t.Fatal(err)
					}
				}
				once()
				if n := testing.AllocsPerRun(50, once); n != 0 {
					t.Errorf("allocations per frame read and written: %v, want 0", n)
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
		if err := c.Write(ctx, session.Text, p); err != nil {
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
	if err := cc.Write(wctx, session.Text, p); !errors.Is(err, context.Canceled) {
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
					if err := c.Write(context.Background(), session.Text, p); err != nil {
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
