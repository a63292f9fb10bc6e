package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tcpconn"
	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
)

// tcpServerEnv set to 1 makes TestTCPServerProcess be the line echo
// server of BenchmarkLineEcho, in a child process as the WebSocket one.
const tcpServerEnv = "CONNFSM_BENCH_TCP_SERVER"

// TestTCPServerProcess checks the child-process line echo server the TCP
// benchmarks dial, with every client and message size they use: each
// echo comes back whole and in order. Run with tcpServerEnv=1, it is that
// server: tcpconntest's venue over loopback TCP, echoing each line.
func TestTCPServerProcess(t *testing.T) {
	if os.Getenv(tcpServerEnv) == "1" {
		srv, err := tcpconntest.NewTCPServer("127.0.0.1:0", tcpconntest.Default(tcpconntest.Echo()),
			tcpconntest.WithoutRecording())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(srv.URL)
		_, _ = io.Copy(io.Discard, os.Stdin)
		srv.Close()
		return
	}
	p := startChild(t, "TestTCPServerProcess", tcpServerEnv, "tcp://")
	ctx := context.Background()
	for _, d := range lineDialers {
		for _, sz := range sizes {
			t.Run(d.name+"/"+sz.name, func(t *testing.T) {
				c := d.dial(t, p.url)
				var want, got []string
				for i := range 3 {
					msg := fmt.Sprintf("%d:%s", i, payload(sz.n))
					want = append(want, msg)
					if err := c.send(ctx, []byte(msg)); err != nil {
						t.Fatalf("send %d: %v", i, err)
					}
					got = append(got, string(receive(t, c.recv)))
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("echoed lines (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// lineDialers are the sides of BenchmarkLineEcho: raw, a net.Conn with
// bufio whose reader goroutine hands each line to the caller over a
// channel (the shape of the WebSocket baseline, dialRaw); tcpconn, the
// client under test, whose OnMessage does the same.
var lineDialers = []dialer{{name: "raw", dial: dialLineRaw}, {name: "tcpconn", dial: dialTcpconn}}

// dialLineRaw dials addr ("tcp://HOST:PORT"): a bufio.Writer writes each
// line and flushes it, a bufio.Reader reads the echoes; each line handed
// over is a slice of its own, as a client's message is.
func dialLineRaw(tb testing.TB, addr string) client {
	tb.Helper()
	u, err := url.Parse(addr)
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		tb.Fatalf("raw dial: %v", err)
	}
	recv := make(chan []byte, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(nc)
		var long []byte
		for {
			line, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				long = append(long[:0], line...)
				for errors.Is(err, bufio.ErrBufferFull) {
					line, err = br.ReadSlice('\n')
					long = append(long, line...)
				}
				line = long
			}
			if err != nil {
				return
			}
			recv <- append([]byte(nil), line[:len(line)-1]...)
		}
	}()
	tb.Cleanup(func() {
		_ = nc.Close()
		<-done
	})
	bw := bufio.NewWriter(nc)
	return client{
		send: func(_ context.Context, data []byte) error {
			_, _ = bw.Write(data)
			_ = bw.WriteByte('\n')
			return bw.Flush()
		},
		recv: recv,
	}
}

// dialTcpconn is the client under test: tcpconn with framing.Line (the
// default), no heartbeat, each message handed over by OnMessage.
func dialTcpconn(tb testing.TB, addr string) client {
	tb.Helper()
	recv := make(chan []byte, 1)
	c, err := tcpconn.Dial(context.Background(), addr,
		session.OnMessage(func(ctx context.Context, m transport.Message) {
			select {
			case recv <- m.Data:
			case <-ctx.Done():
			}
		}))
	if err != nil {
		tb.Fatalf("tcpconn dial: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			tb.Errorf("tcpconn close: %v", err)
		}
	})
	return client{
		send: func(ctx context.Context, data []byte) error { return c.Send(ctx, transport.Text, data) },
		recv: recv,
	}
}

// BenchmarkLineEcho round-trips one line per op over loopback TCP to
// tcpconntest's echo venue in a child process: the write, the echo, and
// the hand-over of the line read to the benchmark loop over a channel.
// B/op, allocs/op and cpu-ns/op are the client's alone.
func BenchmarkLineEcho(b *testing.B) {
	p := startChild(b, "TestTCPServerProcess", tcpServerEnv, "tcp://")
	for _, d := range lineDialers {
		for _, sz := range sizes {
			b.Run(d.name+"/"+sz.name, func(b *testing.B) {
				echoLoop(b, d.dial(b, p.url), payload(sz.n))
			})
		}
	}
}
