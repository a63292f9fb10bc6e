package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/google/go-cmp/cmp"
)

// sizes are the message sizes of BenchmarkSend.
var sizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// TestMessagePath checks what BenchmarkEcho and BenchmarkSend measure, on
// both sides: each echoed message comes back whole and in order, and the
// discarding server reads every byte sent.
func TestMessagePath(t *testing.T) {
	ctx := context.Background()
	for _, d := range dialers {
		t.Run(d.name+"/echo", func(t *testing.T) {
			c := d.dial(t, startWSServer(t).URL+"/echo")
			var want, got []string
			for i := range 3 {
				msg := fmt.Sprintf("%d:%s", i, payload(1<<10))
				want = append(want, msg)
				if err := c.send(ctx, []byte(msg)); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				got = append(got, string(receive(t, c.recv)))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("echoed messages (-want +got):\n%s", diff)
			}
		})
		for _, sz := range sizes {
			t.Run(d.name+"/send/"+sz.name, func(t *testing.T) {
				srv := startWSServer(t)
				c := d.dial(t, srv.URL+"/discard")
				var want []int
				for i := range 4 {
					if err := c.send(ctx, payload(sz.n)); err != nil {
						t.Fatalf("send %d: %v", i, err)
					}
					want = append(want, sz.n)
				}
				var got []int
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				err := srv.Await(wctx, func() bool {
					rec, _ := srv.Connection(1)
					got = got[:0]
					for _, m := range rec.Received {
						got = append(got, len(m.Data))
					}
					return len(got) == len(want)
				})
				if err != nil {
					t.Fatalf("the server read %d of %d messages within 5s", len(got), len(want))
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("sizes of the messages the server read (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func receive(tb testing.TB, recv <-chan []byte) []byte {
	tb.Helper()
	select {
	case m := <-recv:
		return m
	case <-time.After(5 * time.Second):
		tb.Fatal("no message within 5s")
		return nil
	}
}

// BenchmarkEcho round-trips one 1 KiB text message per op over loopback TCP
// to an echo server in a child process: the send, the server's echo, and the
// hand-over of the received message to the benchmark loop over a channel.
// B/op, allocs/op and cpu-ns/op are the client's alone.
func BenchmarkEcho(b *testing.B) {
	msg := payload(1 << 10)
	p := startServerProcess(b)
	for _, d := range dialers {
		b.Run(d.name, func(b *testing.B) {
			echoLoop(b, d.dial(b, p.url+"echo"), msg)
		})
	}
}

// echoLoop round-trips msg over c once per op, reporting the bytes,
// allocations and the client's CPU per op.
func echoLoop(b *testing.B, c client, msg []byte) {
	ctx := context.Background()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := c.send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if got := <-c.recv; len(got) != len(msg) {
			b.Fatalf("echo of %d bytes, want %d", len(got), len(msg))
		}
		cpu.ops++
	}
	cpu.report(b)
}

// BenchmarkSend writes one text message per op to a server in a child
// process that reads and discards it: one-way throughput.
func BenchmarkSend(b *testing.B) {
	p := startServerProcess(b)
	for _, d := range dialers {
		for _, sz := range sizes {
			b.Run(d.name+"/"+sz.name, func(b *testing.B) {
				c := d.dial(b, p.url+"discard")
				msg := payload(sz.n)
				ctx := context.Background()
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				cpu := startCPU()
				for b.Loop() {
					if err := c.send(ctx, msg); err != nil {
						b.Fatal(err)
					}
					cpu.ops++
				}
				cpu.report(b)
			})
		}
	}
}

// cpuCount measures the CPU time the client process spends per op: on a
// shared machine, wall time per op mostly measures waiting for a core,
// while CPU time is what the client itself costs. The server runs in
// another process and is not counted.
type cpuCount struct {
	start time.Duration
	ops   int
}

func startCPU() *cpuCount { return &cpuCount{start: cpuTime()} }

// report adds the cpu-ns/op metric.
func (c *cpuCount) report(b *testing.B) {
	if c.ops > 0 {
		b.ReportMetric(float64(cpuTime()-c.start)/float64(c.ops), "cpu-ns/op")
	}
}

// pingEvery is BenchmarkEchoUnderPings' ping interval: about one ping per
// 15 echoes on loopback, so a good share of handler calls start while a
// ping is out.
const pingEvery = time.Millisecond

// BenchmarkEchoUnderPings is BenchmarkEcho for wsconn with a protocol ping
// every pingEvery even while messages arrive (WithAlwaysPing), against the
// same client never pinging: the cost of heartbeats on a busy connection,
// including the read-ahead lent to a handler call that starts while a
// ping is out, so that the pong is read behind it. pings/op counts the
// pings answered.
func BenchmarkEchoUnderPings(b *testing.B) {
	msg := payload(1 << 10)
	p := startServerProcess(b)
	for _, tc := range []struct {
		name string
		opts []wsconn.Option
	}{
		{"quiet", nil},
		{"pinged", []wsconn.Option{wsconn.WithAlwaysPing(), wsconn.WithHeartbeat(pingEvery, 5*time.Second)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var pings atomic.Int64
			opts := append(tc.opts, wsconn.WithProbe(pingCounter{&pings}))
			echoLoop(b, dialWsconnWith(b, p.url+"echo", opts...), msg)
			b.ReportMetric(float64(pings.Load())/float64(b.N), "pings/op")
		})
	}
}

// TestEchoUnderPings checks what BenchmarkEchoUnderPings measures: the
// pinged client echoes whole messages while its pings are answered and
// counted, and the quiet one sends none.
func TestEchoUnderPings(t *testing.T) {
	srv := startWSServer(t)
	for _, tc := range []struct {
		name      string
		opts      []wsconn.Option
		wantPings bool
	}{
		{"quiet", nil, false},
		{"pinged", []wsconn.Option{wsconn.WithAlwaysPing(), wsconn.WithHeartbeat(pingEvery, 5*time.Second)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pings atomic.Int64
			c := dialWsconnWith(t, srv.URL+"/echo", append(tc.opts, wsconn.WithProbe(pingCounter{&pings}))...)
			msg := payload(1 << 10)
			deadline := time.Now().Add(5 * time.Second)
			for i := 0; i < 200 || (tc.wantPings && pings.Load() == 0 && time.Now().Before(deadline)); i++ {
				if err := c.send(context.Background(), msg); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				if got := receive(t, c.recv); string(got) != string(msg) {
					t.Fatalf("echo %d: %d bytes, want the %d sent", i, len(got), len(msg))
				}
			}
			if got := pings.Load() > 0; got != tc.wantPings {
				t.Errorf("pings answered: %d, want some: %v", pings.Load(), tc.wantPings)
			}
		})
	}
}

// pingCounter is a probe that counts the answered pings of its clients.
type pingCounter struct{ n *atomic.Int64 }

func (p pingCounter) Attach(*wsconn.Client) (session.ClientProbe, error)               { return p, nil }
func (p pingCounter) Record(context.Context, fsm.Record[connfsm.State, connfsm.Event]) {}
func (p pingCounter) PingRTT(time.Duration)                                            { p.n.Add(1) }
func (p pingCounter) Handled(time.Duration, time.Duration)                             {}
