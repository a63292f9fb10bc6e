package bench

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/wsconn"
)

// A fleet is n connections to one URL, each with a heartbeat at one
// interval.
type fleet struct {
	pings func() uint64 // pings sent so far, by every connection
	close func()
}

type fleetOpener struct {
	name string
	open func(url string, n int, interval time.Duration) (*fleet, error)
}

// fleets are the sides of BenchmarkHeartbeat: raw coder/websocket with a
// ticker that pings every interval, as a hand-written client does, and
// wsconn with its default heartbeat, which pings only a connection that
// read nothing for an interval.
var fleets = []fleetOpener{{"raw", rawFleet}, {"wsconn", wsconnFleet}}

// heartbeatTimeout is the pong timeout of both fleets: long, so that a
// busy machine's lateness fails no ping in a benchmark.
const heartbeatTimeout = 5 * time.Second

// rawFleet opens n coder/websocket connections, each with the reader
// goroutine it needs for pongs and a pinger that pings every interval.
func rawFleet(url string, n int, interval time.Duration) (*fleet, error) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg    sync.WaitGroup
		pings atomic.Uint64
		conns []*websocket.Conn
		fails atomic.Uint64
	)
	closeAll := func() {
		cancel()
		for _, c := range conns {
			_ = c.CloseNow()
		}
		wg.Wait()
	}
	for range n {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: sharedHTTP})
		if err != nil {
			closeAll()
			return nil, err
		}
		conns = append(conns, c)
		wg.Go(func() {
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				pctx, stop := context.WithTimeout(ctx, heartbeatTimeout)
				err := c.Ping(pctx)
				stop()
				if err != nil {
					if ctx.Err() == nil {
						fails.Add(1)
					}
					return
				}
				pings.Add(1)
			}
		})
	}
	return &fleet{
		pings: func() uint64 { return pings.Load() + fails.Load() },
		close: closeAll,
	}, nil
}

// wsconnFleet opens n wsconn clients with the heartbeat at interval; their
// messages go to a handler that drops them.
func wsconnFleet(url string, n int, interval time.Duration) (*fleet, error) {
	var clients []*wsconn.Client
	closeAll := func() {
		for _, c := range clients {
			_ = c.Close(context.Background())
		}
	}
	for range n {
		c, err := wsconn.Dial(context.Background(), url, wsconn.WithHTTPClient(sharedHTTP),
			wsconn.WithHeartbeat(interval, heartbeatTimeout),
			wsconn.OnMessage(func(context.Context, wsconn.Message) {}))
		if err != nil {
			closeAll()
			return nil, err
		}
		clients = append(clients, c)
	}
	return &fleet{
		pings: func() uint64 {
			var n uint64
			for _, c := range clients {
				n += c.Stats().Pings
			}
			return n
		},
		close: closeAll,
	}, nil
}

// TestHeartbeatFleets checks what BenchmarkHeartbeat counts: idle, both
// fleets ping every connection, and the pings are counted.
func TestHeartbeatFleets(t *testing.T) {
	const n, interval = 4, 20 * time.Millisecond
	p := startServerProcess(t)
	for _, f := range fleets {
		t.Run(f.name, func(t *testing.T) {
			fl, err := f.open(p.url+"echo", n, interval)
			if err != nil {
				t.Fatal(err)
			}
			defer fl.close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := poll(ctx, func() bool { return fl.pings() >= 3*n }); err != nil {
				t.Errorf("%d pings from %d idle connections with a %v heartbeat, want %d: %v", fl.pings(), n, interval, 3*n, err)
			}
		})
	}
}

// poll reports once cond holds, checking every millisecond, or fails when
// ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return errors.New("condition not met in time")
		case <-t.C:
		}
	}
	return nil
}

// BenchmarkHeartbeat runs 200 connections with a 20 ms heartbeat against
// a server in a child process, idle (/echo, which sends nothing unasked)
// or busy (/push: a message every 10 ms on each). One op is one heartbeat
// interval of the whole fleet. pings/conn-interval is the share of
// connections that pinged per interval (1 for a heartbeat that always
// pings), allocs/ping and B/ping the client process's allocations per
// ping (idle only: busy, the messages' allocations dominate), cpu-ns/op
// the client process's CPU time per interval.
func BenchmarkHeartbeat(b *testing.B) {
	const clients, interval = 200, 20 * time.Millisecond
	p := startServerProcess(b)
	for _, load := range []struct{ name, path string }{{"idle", "echo"}, {"busy", "push"}} {
		for _, f := range fleets {
			b.Run(load.name+"/"+f.name, func(b *testing.B) {
				fl, err := f.open(p.url+load.path, clients, interval)
				if err != nil {
					b.Fatal(err)
				}
				defer fl.close()
				time.Sleep(3 * interval) // every heartbeat armed, in its own phase
				b.ReportAllocs()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				p0, start, cpu := fl.pings(), time.Now(), startCPU()
				for b.Loop() {
					time.Sleep(interval)
					cpu.ops++
				}
				pings, elapsed := fl.pings()-p0, time.Since(start)
				runtime.ReadMemStats(&m1)
				cpu.report(b)
				b.ReportMetric(float64(pings)/(clients*float64(elapsed)/float64(interval)), "pings/conn-interval")
				if load.name == "idle" && pings > 0 {
					b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(pings), "allocs/ping")
					b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(pings), "B/ping")
				}
			})
		}
	}
}
