package tcpconn

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tcpconn/framing"
	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
)

// echoer is one side of BenchmarkEchoLayers: a line written, its echo
// handed over on recv by a reader goroutine.
type echoer struct {
	send func(p []byte) error
	recv chan []byte
}

// rawEchoer is a net.Conn with bufio, its lines copied out as a client's
// messages are.
func rawEchoer(tb testing.TB, host string) echoer {
	nc, err := net.Dial("tcp", host)
	if err != nil {
		tb.Fatal(err)
	}
	e := echoer{recv: make(chan []byte, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(nc)
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			e.recv <- append([]byte(nil), line[:len(line)-1]...)
		}
	}()
	tb.Cleanup(func() { _ = nc.Close(); <-done })
	bw := bufio.NewWriter(nc)
	e.send = func(p []byte) error {
		_, _ = bw.Write(p)
		_ = bw.WriteByte('\n')
		return bw.Flush()
	}
	return e
}

// connEchoer is the transport's conn alone, without the session: its
// frame reads and writes.
func connEchoer(tb testing.TB, host string) echoer {
	nc, err := net.Dial("tcp", host)
	if err != nil {
		tb.Fatal(err)
	}
	c := newConn(nc, nc, framing.Line{}, session.DefaultReadLimit)
	e := echoer{recv: make(chan []byte, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, r, err := c.Reader()
			if err != nil {
				return
			}
			b, _ := r.(interface{ Bytes() []byte })
			e.recv <- append([]byte(nil), b.Bytes()...)
		}
	}()
	tb.Cleanup(func() { _ = c.CloseNow(); <-done })
	e.send = func(p []byte) error { return c.Write(context.Background(), transport.Text, p) }
	return e
}

// clientEchoer is the whole client: the session over the conn.
func clientEchoer(tb testing.TB, host string) echoer {
	e := echoer{recv: make(chan []byte, 1)}
	c, err := Dial(context.Background(), "tcp://"+host, session.OnMessage(func(ctx context.Context, m transport.Message) {
		select {
		case e.recv <- m.Data:
		case <-ctx.Done():
		}
	}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	e.send = func(p []byte) error { return c.Send(context.Background(), transport.Text, p) }
	return e
}

// BenchmarkEchoLayers splits what the client adds to a 64 B line echo
// between its layers: raw against raw (the method's own spread), against
// the conn alone, and against the whole client, each pair taking turns
// every 128 echoes over loopback TCP to an in-process venue, so that
// drift falls on both sides alike. base/client is raw's time over the
// other side's: 1 when the layer costs nothing.
func BenchmarkEchoLayers(b *testing.B) {
	srv, err := tcpconntest.NewTCPServer("127.0.0.1:0", tcpconntest.Default(tcpconntest.Echo()),
		tcpconntest.WithoutRecording())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "tcp://")
	msg := []byte(strings.Repeat("0123456789abcdef", 4))
	for _, tc := range []struct {
		name string
		dial func(testing.TB, string) echoer
	}{{"raw", rawEchoer}, {"conn", connEchoer}, {"client", clientEchoer}} {
		b.Run(tc.name, func(b *testing.B) {
			sides := [2]echoer{rawEchoer(b, host), tc.dial(b, host)}
			var spent [2]time.Duration
			var ops [2]int
			side, inTurn := 0, 0
			start := time.Now()
			for b.Loop() {
				if err := sides[side].send(msg); err != nil {
					b.Fatal(err)
				}
				if got := <-sides[side].recv; len(got) != len(msg) {
					b.Fatalf("echo of %d bytes, want %d", len(got), len(msg))
				}
				ops[side]++
				if inTurn++; inTurn == 128 {
					now := time.Now()
					spent[side] += now.Sub(start)
					start, side, inTurn = now, 1-side, 0
				}
			}
			spent[side] += time.Since(start)
			if ops[0] > 0 && ops[1] > 0 {
				base := float64(spent[0]) / float64(ops[0])
				other := float64(spent[1]) / float64(ops[1])
				b.ReportMetric(base, "base-ns/op")
				b.ReportMetric(other, "client-ns/op")
				b.ReportMetric(base/other, "base/client")
			}
		})
	}
}
