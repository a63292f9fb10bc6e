package bench

import (
	"bufio"
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tcpconn"
)

// lineStream is a net.Conn whose reads return the same line over and
// over, up to a budget of bytes, and then wait for Close; writes are
// discarded. It has no socket: what a client does per line, without the
// system calls and the wake-ups of a real connection.
type lineStream struct {
	line   []byte
	off    int
	budget int64 // bytes left to read
	closed chan struct{}
	once   sync.Once
}

func newLineStream(line []byte, budget int64) *lineStream {
	return &lineStream{line: line, budget: budget, closed: make(chan struct{})}
}

func (l *lineStream) Read(p []byte) (int, error) {
	if l.budget == 0 {
		<-l.closed
		return 0, net.ErrClosed
	}
	p = p[:min(int64(len(p)), l.budget)]
	for n := 0; n < len(p); {
		k := copy(p[n:], l.line[l.off:])
		n += k
		l.off = (l.off + k) % len(l.line)
	}
	l.budget -= int64(len(p))
	return len(p), nil
}

func (l *lineStream) Write(p []byte) (int, error)      { return len(p), nil }
func (l *lineStream) Close() error                     { l.once.Do(func() { close(l.closed) }); return nil }
func (l *lineStream) CloseWrite() error                { return l.Close() }
func (l *lineStream) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (l *lineStream) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (l *lineStream) SetDeadline(time.Time) error      { return nil }
func (l *lineStream) SetReadDeadline(time.Time) error  { return nil }
func (l *lineStream) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkLinePath reads b.N lines from a lineStream: raw, the bufio
// loop of dialLineRaw without its channel; tcpconn, the client's reader
// (framing.Line, the session's pump, an OnMessage that counts). What
// tcpconn costs over raw per line is the client's own work, which
// BenchmarkLineEcho's noise hides: the data path's steps, the clock
// readings for the lag and the watchdog, the UTF-8 check.
func BenchmarkLinePath(b *testing.B) {
	for _, sz := range sizes {
		line := append(payload(sz.n), '\n')
		b.Run("raw/"+sz.name, func(b *testing.B) {
			br := bufio.NewReader(newLineStream(line, math.MaxInt64))
			var long []byte
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				l, err := br.ReadSlice('\n')
				if errors.Is(err, bufio.ErrBufferFull) {
					long = append(long[:0], l...)
					for errors.Is(err, bufio.ErrBufferFull) {
						l, err = br.ReadSlice('\n')
						long = append(long, l...)
					}
					l = long
				}
				if m := append([]byte(nil), l[:len(l)-1]...); err != nil || len(m) != sz.n {
					b.Fatalf("line of %d bytes (%v), want %d", len(m), err, sz.n)
				}
			}
		})
		b.Run("tcpconn/"+sz.name, func(b *testing.B) {
			ls := newLineStream(line, int64(b.N)*int64(len(line)))
			var got atomic.Int64
			all := make(chan struct{})
			c, err := tcpconn.Dial(context.Background(), "tcp://lines:1",
				tcpconn.WithDialer(func(context.Context, string, string) (net.Conn, error) { return ls, nil }),
				session.OnMessage(func(_ context.Context, m transport.Message) {
					if len(m.Data) != sz.n {
						b.Errorf("line of %d bytes, want %d", len(m.Data), sz.n)
					}
					if got.Add(1) == int64(b.N) {
						close(all)
					}
				}))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			b.ResetTimer()
			<-all
			b.StopTimer()
			if err := c.Close(context.Background()); err != nil {
				b.Errorf("close: %v", err)
			}
		})
	}
}
