package session

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// dialTimes returns when each Connecting after a Reconnecting began.
func dialTimes(rec *recorder) []time.Time {
	var out []time.Time
	for _, r := range rec.Records() {
		if r.Kind == fsm.RecordTransition && fsmtest.TransitionName(r) == "Reconnecting-RetryDue->Connecting" {
			out = append(out, r.When)
		}
	}
	return out
}

// scriptedRnd draws low for the first n draws and then the top of the
// range: a client that redialled quickly during the outage, then drew the
// longest wait just before the venue came back.
func scriptedRnd(n int) func() float64 {
	draws := 0
	return func() float64 {
		if draws++; draws <= n {
			return 0.1
		}
		return justBelowOne
	}
}

// TestBackSoonAfterShortOutage: a stable connection is lost to a 3 s
// outage. With full jitter, five quick failed dials grow the cap to 8 s,
// and a long draw then keeps the client asleep well after the venue is
// back; bounded by the outage, no gap exceeds 1.5 times the time since
// the loss, so the client is back within 4.5 s of up.
func TestBackSoonAfterShortOutage(t *testing.T) {
	tests := []struct {
		mode retry.BackoffMode
		// The client's first dial after up, from up.
		want time.Duration
	}{
		// 0.05+0.05+0.1+0.2+0.4 s of failed dials, then the 8 s cap.
		{retry.FullJitter, 8*time.Second + 800*time.Millisecond - 3*time.Second},
		// φ = 0.1 (the second draw: one at Dial, one at the loss): dials
		// at 0.5 s·2.5^(k-0.9) after the loss, 0.22, 0.55, 1.37, 3.43 s.
		{retry.OutageBounded, 3425*time.Millisecond - 3*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
				var rec recorder
				c := dialTest(t, srv, &rec, WithBackoff(retry.Backoff{Mode: tt.mode}), withRand(scriptedRnd(5)))
				waitState(t, c, connfsm.Alive)
				time.Sleep(DefaultStablePeriod + time.Second) // a stable connection
				srv.Down()
				time.Sleep(3 * time.Second)
				up(t, srv)
				upAt := time.Now()
				waitState(t, c, connfsm.Alive)
				dialed := dialTimes(&rec)
				if len(dialed) == 0 {
					t.Fatal("no redial")
				}
				got := dialed[len(dialed)-1].Sub(upAt).Round(time.Millisecond)
				if diff := cmp.Diff(tt.want.Round(time.Millisecond), got); diff != "" {
					t.Errorf("first dial after up, from up (-want +got):\n%s", diff)
				}
				if tt.mode == retry.OutageBounded && got > 5*time.Second {
					t.Errorf("back %v after up, want within 5s", got)
				}
			})
		})
	}
}

// TestOutageBoundedLongOutage: over a 10-minute outage, the client bounded
// by the outage dials no more often than the default storm guard allows,
// and once the outage is longer than Max it waits at least Max/2 between
// dials, as the caps of full jitter would have it.
func TestOutageBoundedLongOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
		var rec recorder
		rnd := rand.New(rand.NewPCG(24, 8)).Float64
		c := dialTest(t, srv, &rec, WithBackoff(retry.Backoff{Mode: retry.OutageBounded}), withRand(rnd))
		waitState(t, c, connfsm.Alive)
		time.Sleep(DefaultStablePeriod + time.Second)
		srv.Down()
		down := time.Now()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		dialed := dialTimes(&rec)
		g, b := retry.DefaultStormGuard, retry.DefaultBackoff
		for i := g.Attempts; i < len(dialed); i++ {
			if dialed[i].Sub(dialed[i-g.Attempts]) <= g.Window && dialed[i].Sub(dialed[i-1]) < g.MinGap {
				t.Errorf("dial %d came %v after the one before, with %d dials within %v: the storm guard allows %v",
					i, dialed[i].Sub(dialed[i-1]), g.Attempts, g.Window, g.MinGap)
			}
		}
		for i := 1; i < len(dialed); i++ {
			if dialed[i-1].Sub(down) > b.Max && dialed[i].Sub(dialed[i-1]) < b.Max/2 {
				t.Errorf("dial %d came %v after the one before, %v into the outage: want at least %v",
					i, dialed[i].Sub(dialed[i-1]), dialed[i-1].Sub(down), b.Max/2)
			}
		}
		t.Logf("%d dials; first at %v", len(dialed), dialed[0].Sub(down))
		// Dials within 10 minutes: about 7 in the first 30 s, then one every
		// 15 to 30 s.
		if n := len(dialed); n < 20 || n > 7+570/15+1 {
			t.Errorf("%d dials over a 10-minute outage, want 20 to %d", n, 7+570/15+1)
		}
		up(t, srv)
		time.Sleep(b.Max) // the longest wait
		waitState(t, c, connfsm.Alive)
	})
}

// fleetRun is what a fleet of clients did around a 3 s outage, in virtual
// time: when the last came back, and the most dials in any 100 ms after up.
type fleetRun struct {
	last      time.Duration
	peakUp    int
	dialsDown int
}

// runFleet runs n clients of mode against one venue in a bubble, takes the
// venue down for 3 s once every connection is stable, and measures the
// recovery. Each client draws its jitter from its own seeded source.
func runFleet(t *testing.T, n int, mode retry.BackoffMode) fleetRun {
	var out fleetRun
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
		var (
			mu      sync.Mutex
			up      time.Time
			buckets = map[int]int{}
			alive   int
			backAt  time.Time
		)
		clients := make([]*Client, n)
		for i := range n {
			c, err := dialWS(t.Context(), "ws://feed.test/", WithHTTPClient(srv.Client()), NoWait(),
				WithBackoff(retry.Backoff{Mode: mode}), withRand(rand.New(rand.NewPCG(uint64(i), 1)).Float64),
				OnRecord(func(_ context.Context, r record) {
					if r.Kind != fsm.RecordTransition {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					switch {
					case r.To == connfsm.Connecting && !up.IsZero():
						buckets[int(r.When.Sub(up)/(100*time.Millisecond))]++
					case r.To == connfsm.Connecting && r.From == connfsm.Reconnecting:
						out.dialsDown++
					case r.Event == connfsm.Connected:
						if alive++; alive == n && !up.IsZero() {
							backAt = r.When
						}
					case r.From.Within(connfsm.Alive) && !r.To.Within(connfsm.Alive):
						alive--
					}
				}))
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			clients[i] = c
		}
		time.Sleep(DefaultStablePeriod + time.Second)
		srv.Down()
		time.Sleep(3 * time.Second)
		mu.Lock()
		up = time.Now()
		mu.Unlock()
		if err := srv.Up(); err != nil {
			t.Fatalf("Up: %v", err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		mu.Lock()
		if backAt.IsZero() {
			t.Errorf("%d of %d Alive a minute after up", alive, n)
		}
		out.last = backAt.Sub(up)
		for b, k := range buckets {
			if b >= 0 {
				out.peakUp = max(out.peakUp, k)
			}
		}
		mu.Unlock()
		for _, c := range clients {
			_ = c.Close(context.Background())
		}
	})
	return out
}

// TestFleetBackSoonAfterOutage: 300 clients lose their venue for 3 s.
// Bounded by the outage, the last is back within 5 s of up (with full
// jitter, many seconds later), and the peak dial rate after up is no
// higher than full jitter's.
func TestFleetBackSoonAfterOutage(t *testing.T) {
	const n = 300
	full := runFleet(t, n, retry.FullJitter)
	outage := runFleet(t, n, retry.OutageBounded)
	t.Logf("%d clients, 3 s outage: full jitter: last back %v after up, peak %d dials/100ms after up, %d dials while down; outage-bounded: %v, %d, %d",
		n, full.last, full.peakUp, full.dialsDown, outage.last, outage.peakUp, outage.dialsDown)
	if outage.last > 5*time.Second {
		t.Errorf("outage-bounded: last client back %v after up, want within 5s", outage.last)
	}
	if full.last <= 5*time.Second {
		t.Errorf("full jitter: last client back %v after up; the scenario no longer shows the long tail", full.last)
	}
	if outage.peakUp > full.peakUp {
		t.Errorf("outage-bounded: peak %d dials per 100 ms after up, full jitter's %d", outage.peakUp, full.peakUp)
	}
}
