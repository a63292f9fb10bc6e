package session_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
)

// nopTransport dials connections that discard what is written and read
// nothing until closed: what Send costs above the transport's own write.
type nopTransport struct{}

func (nopTransport) String() string { return "nop" }

func (nopTransport) Dial(_ context.Context, a *transport.Attempt) (transport.Conn, error) {
	a.Sent()
	a.Reached()
	return &nopConn{done: make(chan struct{})}, nil
}

type nopConn struct {
	done chan struct{}
	once sync.Once
}

func (c *nopConn) Reader() (transport.MessageType, io.Reader, error) {
	<-c.done
	return 0, nil, errors.New("nop: closed")
}

func (c *nopConn) Write(context.Context, transport.MessageType, []byte) error { return nil }
func (c *nopConn) Ping(context.Context) error                                 { return nil }
func (c *nopConn) Close(transport.StatusCode, string) error                   { return c.CloseNow() }
func (c *nopConn) CloseNow() error                                            { c.once.Do(func() { close(c.done) }); return nil }

// dialNop dials a client over nopTransport, closed by b's cleanup.
func dialNop(b *testing.B) *session.Client {
	c, err := session.Dial(context.Background(), nopTransport{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return c
}

// BenchmarkSendOverhead is what Send adds to the transport's write: the
// state check, the write limit, the transport's message check and the
// counters. "write" is the connection's write alone.
func BenchmarkSendOverhead(b *testing.B) {
	ctx := context.Background()
	data := make([]byte, 64)
	b.Run("write", func(b *testing.B) {
		var conn transport.Conn = &nopConn{done: make(chan struct{})}
		for b.Loop() {
			if err := conn.Write(ctx, transport.Text, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Send", func(b *testing.B) {
		c := dialNop(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Send(ctx, transport.Text, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSendOverheadCold is BenchmarkSendOverhead with the caches
// flushed before each op (8 MiB written over, outside the time taken):
// what the memory Send touches beside the write costs when none of it is
// cached, as after a system call or another goroutine's work. op-ns is
// the op's own time, a clock reading included on both sides.
func BenchmarkSendOverheadCold(b *testing.B) {
	ctx := context.Background()
	data := make([]byte, 64)
	flush := make([]byte, 8<<20)
	cold := func(b *testing.B, op func() error) {
		var spent time.Duration
		for b.Loop() {
			for i := 0; i < len(flush); i += 64 {
				flush[i]++
			}
			start := time.Now()
			if err := op(); err != nil {
				b.Fatal(err)
			}
			spent += time.Since(start)
		}
		b.ReportMetric(float64(spent)/float64(b.N), "op-ns")
	}
	b.Run("write", func(b *testing.B) {
		var conn transport.Conn = &nopConn{done: make(chan struct{})}
		cold(b, func() error { return conn.Write(ctx, transport.Text, data) })
	})
	b.Run("Send", func(b *testing.B) {
		c := dialNop(b)
		cold(b, func() error { return c.Send(ctx, transport.Text, data) })
	})
}
