package bench

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// The slow-consumer flood: a venue sends floodRate messages a second, in
// batches every millisecond, for floodFor over loopback TCP to one client
// whose handler stalls for floodStall on the first message and is quick
// afterwards; then a message every 100 ms. The idle timeout is a third of
// the stall.
const (
	floodRate  = 50000
	floodFor   = 3 * time.Second
	floodStall = 2 * time.Second
)

// TestSlowConsumerFlood measures each slow-consumer policy under the
// flood (docs/benchmarks.md, "A slow consumer"): messages delivered,
// dropped, conflated, the lag's p99 and the client's heap at the end of
// the stall. It checks that no policy takes the stall for a dead feed
// (the only loss allowed is Disconnect's own), and that every message the
// venue sent is delivered, dropped or conflated, and counted, and that the
// flood overflowed the inbox: each policy other than Block acted.
//
// The five floods run at once, each against its own venue: each then gets
// less of the CPU and sends less (the checks hold at any rate), and the
// heap is the process's. The figures of docs/benchmarks.md are of a run
// with -parallel 1.
func TestSlowConsumerFlood(t *testing.T) {
	key := func(m wsconn.Message) string { n, _ := strconv.Atoi(string(m.Data)); return strconv.Itoa(n % 100) }
	policies := []wsconn.SlowConsumer{
		{Policy: wsconn.Block},
		{Policy: wsconn.DropOldest, Inbox: 1000},
		{Policy: wsconn.DropNewest, Inbox: 1000},
		{Policy: wsconn.Conflate, Inbox: 100, Key: key},
		{Policy: wsconn.Disconnect, Inbox: 1000},
	}
	for _, p := range policies {
		t.Run(p.Policy.String(), func(t *testing.T) {
			t.Parallel()
			floodOnce(t, p)
		})
	}
}

func floodOnce(t *testing.T, p wsconn.SlowConsumer) {
	var sent atomic.Int64
	var quiet atomic.Bool // the venue stops sending
	// flooded is closed when the flooding venue has sent its last message:
	// only then is sent final.
	flooded := make(chan struct{})
	srv, err := wsconntest.NewTCPServer("", wsconntest.WithoutRecording(), wsconntest.Default(wsconntest.Discard(),
		wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
			if c.N() > 1 {
				return // the flood goes to the first connection only
			}
			defer close(flooded)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			start, n := time.Now(), 0
			for time.Since(start) < floodFor {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				// Behind the rate (the client held the venue back), it
				// catches up by at most floodRate/100 a tick.
				for due := min(int(time.Since(start).Seconds()*floodRate), n+floodRate/100); n < due; n++ {
					if c.SendText(ctx, strconv.Itoa(n+1)) != nil {
						return
					}
					sent.Add(1)
				}
			}
			// Then a trickle, so that the feed is never silent: any loss
			// is a false one.
			for !quiet.Load() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				n++
				if c.SendText(ctx, strconv.Itoa(n)) != nil {
					return
				}
				sent.Add(1)
			}
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	var (
		mu        sync.Mutex
		lags      []time.Duration
		delivered atomic.Int64
		heap      uint64
		lost      []error
		quietAt   time.Time // losses after it are true ones: the feed went quiet
	)
	c, err := wsconn.Dial(t.Context(), srv.URL+"/",
		wsconn.WithSlowConsumer(p),
		wsconn.WithIdleTimeout(floodStall/3),
		wsconn.WithHeartbeat(time.Second, time.Second),
		wsconn.WithRetryPolicy(func(f wsconn.Failure) wsconn.Decision { return wsconn.Decision{Delay: time.Hour} }),
		wsconn.OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
			if r.Kind == fsm.RecordTransition && r.Event == connfsm.Lost {
				err, _ := r.Payload.(error)
				mu.Lock()
				if quietAt.IsZero() {
					lost = append(lost, err)
				}
				mu.Unlock()
			}
		}),
		wsconn.OnMessage(func(ctx context.Context, m wsconn.Message) {
			lag := time.Since(m.Received)
			n := delivered.Add(1)
			mu.Lock()
			lags = append(lags, lag)
			mu.Unlock()
			if n == 1 {
				select {
				case <-time.After(floodStall):
				case <-ctx.Done():
				}
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heap = ms.HeapAlloc
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(floodFor + time.Second) // the flood, then the trickle
	mu.Lock()
	quietAt = time.Now()
	mu.Unlock()
	quiet.Store(true)
	select { // a trickle message may have been on its way
	case <-flooded:
	case <-time.After(10 * time.Second):
		t.Fatal("the venue still sends 10 s after it was told to stop")
	}
	// What the venue sent may still be in the sockets: wait until it is
	// all delivered, dropped or conflated, or 10 s.
	accounted := func() int64 {
		st := c.Stats()
		return delivered.Load() + int64(st.SlowDropped+st.Conflated+st.Dropped)
	}
	for end := time.Now().Add(10 * time.Second); p.Policy != wsconn.Disconnect && accounted() < sent.Load() && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	_ = c.Close(context.Background())
	st := c.Stats()
	mu.Lock()
	defer mu.Unlock()
	for _, err := range lost {
		if !(p.Policy == wsconn.Disconnect && errors.Is(err, wsconn.ErrSlowConsumer)) {
			t.Errorf("a false loss: %v", err)
		}
	}
	acted := map[wsconn.SlowConsumerPolicy]bool{wsconn.Block: true, wsconn.DropOldest: st.SlowDropped > 0, wsconn.DropNewest: st.SlowDropped > 0,
		wsconn.Conflate: st.Conflated > 0, wsconn.Disconnect: len(lost) == 1}
	if !acted[p.Policy] {
		t.Errorf("%s never acted: sent %d, dropped %d, conflated %d, losses %v", p.Policy, sent.Load(), st.SlowDropped, st.Conflated, lost)
	}
	if n := accounted(); p.Policy != wsconn.Disconnect && n != sent.Load() {
		t.Errorf("sent %d, but delivered %d + dropped %d + conflated %d + dropped at the end %d = %d",
			sent.Load(), delivered.Load(), st.SlowDropped, st.Conflated, st.Dropped, n)
	}
	slices.Sort(lags)
	p99 := time.Duration(0)
	if len(lags) > 0 {
		p99 = lags[len(lags)*99/100]
	}
	t.Logf("| %s | %d | %d | %d | %d | %d | %v | %.1f MiB | %d |", p.Policy, sent.Load(), delivered.Load(), st.SlowDropped, st.Conflated, st.Dropped,
		p99.Round(time.Millisecond), float64(heap)/(1<<20), len(lost))
}
