package session

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

func TestBackoffDelayFor(t *testing.T) {
	ms := time.Millisecond
	outage := Backoff{Initial: 500 * ms, Max: 30 * time.Second, Multiplier: 2, Mode: OutageBounded}
	full := outage
	full.Mode = FullJitter
	zero := outage
	zero.Mode = BackoffModeDefault
	tests := []struct {
		name   string
		b      Backoff
		n      int
		outage time.Duration
		rnd    float64
		want   time.Duration
	}{
		// Dials stand at 500ms·2.5^(k+φ-1) after the loss (200ms, 500ms,
		// 1.25s, 3.125s, 7.8125s, 19.53s at φ = 0); the delay is the wait
		// for the next one, n aside.
		{"first dial after the loss, φ = 0", outage, 0, 0, 0, 200 * ms},
		{"first dial after the loss, φ = 0.5", outage, 0, 0, 0.5, 316227766},
		{"3s into the outage, φ = 0", outage, 5, 3 * time.Second, 0, 125 * ms},
		{"3s into the outage, φ = 0.5", outage, 5, 3 * time.Second, 0.5, 1941058844},
		{"n is ignored", outage, 40, 3 * time.Second, 0.5, 1941058844},
		{"a dial at its own point: the next", outage, 5, 3125 * ms, 0, 4687500 * time.Microsecond},
		{"19s in: the gap is still below Max", outage, 5, 19 * time.Second, 0, 531250 * time.Microsecond},
		{"20s in, 1.5 times the outage is Max: Max/2", outage, 5, 20 * time.Second, 0, 15 * time.Second},
		{"long outage: Max, top", outage, 40, 10 * time.Minute, justBelowOne, 30 * time.Second},
		{"zero Initial: no wait, as FullJitter's", Backoff{Max: time.Second, Mode: OutageBounded}, 3, time.Second, 0.5, 0},
		{"zero Backoff: no wait", Backoff{Mode: OutageBounded}, 3, time.Second, 0.5, 0},
		{"FullJitter ignores the outage", full, 5, 3 * time.Second, 0.5, 8 * time.Second},
		{"FullJitter can draw 0", full, 5, 3 * time.Second, 0, 0},
		{"zero Mode is DefaultBackoff's", zero, 5, 3 * time.Second, 0.5, DefaultBackoff.Mode.pick(8*time.Second, 1941058844)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.b.DelayFor(tt.n, tt.outage, fixedRnd(tt.rnd)).Round(time.Nanosecond * 10)
			tt.want = tt.want.Round(time.Nanosecond * 10)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DelayFor(%d, %v) with rnd %v (-want +got):\n%s", tt.n, tt.outage, tt.rnd, diff)
			}
		})
	}
}

// pick returns full for FullJitter, outage for OutageBounded.
func (m BackoffMode) pick(full, outage time.Duration) time.Duration {
	if m == OutageBounded {
		return outage
	}
	return full
}

func TestBackoffModeText(t *testing.T) {
	for _, m := range []BackoffMode{FullJitter, OutageBounded} {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%v): %v", m, err)
		}
		var got BackoffMode
		if err := got.UnmarshalText(b); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", b, err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", b, diff)
		}
	}
	var m BackoffMode
	err := m.UnmarshalText([]byte("decorrelated"))
	if diff := cmp.Diff(`session: backoff mode "decorrelated": want full or outage`, errString(err)); diff != "" {
		t.Errorf("UnmarshalText of an unknown name (-want +got):\n%s", diff)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

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
		mode BackoffMode
		// The client's first dial after up, from up.
		want time.Duration
	}{
		// 0.05+0.05+0.1+0.2+0.4 s of failed dials, then the 8 s cap.
		{FullJitter, 8*time.Second + 800*time.Millisecond - 3*time.Second},
		// φ = 0.1 (the second draw: one at Dial, one at the loss): dials
		// at 0.5 s·2.5^(k-0.9) after the loss, 0.22, 0.55, 1.37, 3.43 s.
		{OutageBounded, 3425*time.Millisecond - 3*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
				var rec recorder
				c := dialTest(t, srv, &rec, WithBackoff(Backoff{Mode: tt.mode}), withRand(scriptedRnd(5)))
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
				if tt.mode == OutageBounded && got > 5*time.Second {
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
		c := dialTest(t, srv, &rec, WithBackoff(Backoff{Mode: OutageBounded}), withRand(rnd))
		waitState(t, c, connfsm.Alive)
		time.Sleep(DefaultStablePeriod + time.Second)
		srv.Down()
		down := time.Now()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		dialed := dialTimes(&rec)
		g, b := DefaultStormGuard, DefaultBackoff
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
func runFleet(t *testing.T, n int, mode BackoffMode) fleetRun {
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
				WithBackoff(Backoff{Mode: mode}), withRand(rand.New(rand.NewPCG(uint64(i), 1)).Float64),
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
	full := runFleet(t, n, FullJitter)
	outage := runFleet(t, n, OutageBounded)
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

// TestOutageBoundedSchedule: for any Initial ≤ Max, phase and dial
// durations, a client following DelayFor through an outage waits at most
// Max, at most 1.5 times the outage at the dial before once past the first
// dial (so it is back within 1.5 times an outage), and with one phase its
// dials stand on the points Initial·2.5^(k+φ-1) until the gaps reach Max.
func TestOutageBoundedSchedule(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		initial := time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(2*time.Second)).Draw(rt, "initial"))
		maxWait := initial + time.Duration(rapid.Int64Range(0, int64(time.Minute)).Draw(rt, "extra"))
		phase := rapid.Float64Range(0, justBelowOne).Draw(rt, "phase")
		b := Backoff{Initial: initial, Max: maxWait, Multiplier: 2, Mode: OutageBounded}
		rnd := func() float64 { return phase }
		var e time.Duration // the outage so far
		for i := range 40 {
			d := b.DelayFor(i, e, rnd)
			if d < 0 || d > maxWait {
				rt.Fatalf("dial %d, %v into the outage: wait %v, want within [0, %v]", i, e, d, maxWait)
			}
			at := e + d
			if i > 0 && float64(e)*outageStretch < float64(maxWait) && float64(at) > float64(e)*(1+outageStretch)+2 {
				rt.Fatalf("dial %d at %v after one at %v: the gap is over 1.5 times the outage", i, at, e)
			}
			if float64(at-d)*outageStretch < float64(maxWait) {
				// On the schedule: log(at/Initial)/log(2.5) + 1 - φ is a whole number.
				k := math.Log(float64(at)/float64(initial))/math.Log(1+outageStretch) + 1 - phase
				// Within what rounding to whole nanoseconds moves it.
				if tol := 2 / float64(at) / math.Log(1+outageStretch); math.Abs(k-math.Round(k)) > tol {
					rt.Fatalf("dial %d at %v is off the schedule (k = %v)", i, at, k)
				}
			}
			// The dial itself takes a while: from nothing to a long refusal.
			e = at + time.Duration(rapid.Int64Range(0, int64(time.Second)).Draw(rt, "dial"))
		}
	})
}
