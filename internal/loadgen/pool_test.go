package loadgen

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRunPool runs the pool mode on loopback in real time, 10 connections
// of 10 subscriptions, through a restart 1s into the run, against a venue
// that allows 10 handshakes per 3s: the first 10 fill its window. With the
// same budget, the pool never makes the venue refuse one: the connections
// wait for the budget, and every subscription is back, once. Without it,
// the venue refuses the redials it sees within the window with 429. The
// resubscribe sends every key once: in 100 messages, or in 20 lists of 5
// with a batch of 5.
func TestRunPool(t *testing.T) {
	t.Parallel() // its runs are in children (inChild), beside the other tests
	venue := Budget{Dials: 10, Window: 3 * time.Second}
	tests := []struct {
		name     string
		budget   Budget
		batch    int
		rate     int      // messages a second per connection
		messages int      // subscribe messages the venue gets after the restart
		problems []string // what Problems reports, by a part of each
	}{
		{"pool within the venue's budget", venue, 0, 0, 100, nil},
		{"no budget in the pool", Budget{}, 0, 0, 100, []string{"the venue refused"}},
		{"batches of 5, 10 messages a second", venue, 5, 10, 20, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if inChild(t) {
				return
			}
			cfg := Config{Duration: 4 * time.Second, Ping: time.Second, Pong: time.Second, SendEvery: 500 * time.Millisecond,
				Sample: time.Second, RestartAt: time.Second, DownFor: 500 * time.Millisecond, GOGC: DefaultGOGC,
				Pool: &PoolMode{Subs: 100, PerConn: 10, Conns: 10, Budget: tt.budget, VenueBudget: venue, Batch: tt.batch, Rate: tt.rate}}
			var progress bytes.Buffer
			r, err := Run(t.Context(), cfg, &progress)
			if err != nil {
				t.Fatal(err)
			}
			p := r.Pool
			if p == nil || p.Restart == nil {
				t.Fatalf("report %+v lacks the pool's or its restart", r)
			}
			problems := p.Problems(tt.budget)
			if len(problems) != len(tt.problems) {
				t.Errorf("problems %q, want %d", problems, len(tt.problems))
			}
			for i, want := range tt.problems {
				if i < len(problems) && !strings.Contains(problems[i], want) {
					t.Errorf("problem %q, want one about %q", problems[i], want)
				}
			}
			rs := p.Restart
			got := [4]int{rs.Missing, rs.Duplicated, rs.SubscribeKeys, rs.SubscribeMessages}
			if diff := cmp.Diff([4]int{0, 0, 100, tt.messages}, got); diff != "" {
				t.Errorf("after the restart, [missing duplicated keys messages] at the venue (-want +got):\n%s", diff)
			}
			if rs.CPUSeconds <= 0 || p.HeapPerSub <= 0 {
				t.Errorf("%.3fs of CPU from up until back, %.0f B of heap per subscription; want both positive", rs.CPUSeconds, p.HeapPerSub)
			}
			if !p.Restart.Recovered || p.VenueSubscriptions != 100 || p.VenueDuplicates != 0 || p.Conns != 10 || r.Closed != 10 {
				t.Errorf("pool report %+v, restart %+v; want all 100 subscriptions back once on 10 connections", *p, *p.Restart)
			}
			if r.GoroutinesLeft != 0 {
				t.Errorf("%d goroutines left", r.GoroutinesLeft)
			}
			// The heartbeat's counters are the connections', as without a
			// pool: every ping of the steady run is among the run's.
			if r.Pings+r.PingsSkipped == 0 || r.Pings < r.SteadyPings {
				t.Errorf("%d pings, %d skipped over the run, %d pings in the steady run; want the connections' heartbeats counted", r.Pings, r.PingsSkipped, r.SteadyPings)
			}
			if held := p.GateWaits > 0; held != (tt.budget.Dials > 0) {
				t.Errorf("%d redials held by the budget; want some exactly when the pool has a budget", p.GateWaits)
			}
			if tt.budget.Dials > 0 {
				// The first 10 dials count until 3s after they ended: the
				// redials wait for them, past the up at about 1.5s.
				if p.MaxHandshakesPerWindow > tt.budget.Dials || p.BudgetAdmitted < 20 || p.Restart.RecoverSeconds < 0.5 {
					t.Errorf("%d handshakes within %s, %d admitted by the budget, recovered %.2fs after up; want at most %d, at least 20, not before the budget allowed",
						p.MaxHandshakesPerWindow, p.Window, p.BudgetAdmitted, p.Restart.RecoverSeconds, tt.budget.Dials)
				}
			}
			var out bytes.Buffer
			Print(&out, r)
			for _, s := range []string{"load report: 10 connections of one pool", "100/100 subscriptions active", "every subscription back"} {
				if !strings.Contains(out.String(), s) {
					t.Errorf("report text lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
}

func TestMaxInWindow(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	tests := []struct {
		times []time.Time
		want  int
	}{
		{nil, 0},
		{at(0, 999, 1000), 2},
		{at(1000, 0, 500, 1499, 2000), 3},
	}
	for _, tt := range tests {
		if got := maxInWindow(tt.times, time.Second); got != tt.want {
			t.Errorf("maxInWindow(%v) = %d, want %d", tt.times, got, tt.want)
		}
	}
}

// TestVenueCounts: the venue's counts of keys active and duplicated follow
// every change of the connections subscribed to a key.
func TestVenueCounts(t *testing.T) {
	type step struct {
		key string
		d   int
	}
	tests := []struct {
		name  string
		steps []step
		want  [2]int // active, duplicated
	}{
		{"none", nil, [2]int{0, 0}},
		{"two keys", []step{{"a", 1}, {"b", 1}}, [2]int{2, 0}},
		{"one key on three connections", []step{{"a", 1}, {"a", 1}, {"a", 1}}, [2]int{1, 1}},
		{"back to one", []step{{"a", 1}, {"a", 1}, {"a", 1}, {"a", -1}, {"a", -1}}, [2]int{1, 0}},
		{"gone", []step{{"a", 1}, {"b", 1}, {"a", -1}}, [2]int{1, 0}},
		{"gone and back twice", []step{{"a", 1}, {"a", -1}, {"a", 1}, {"a", 1}}, [2]int{1, 1}},
	}
	for _, tt := range tests {
		v := &poolVenue{count: map[string]int{}}
		for _, s := range tt.steps {
			v.add(s.key, s.d)
		}
		active, dups := v.subscriptions()
		if diff := cmp.Diff(tt.want, [2]int{active, dups}); diff != "" {
			t.Errorf("%s: [active duplicated] (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestInterval: the limiter lets the first message through at once and
// each next one an interval after the last, and gives up when ctx ends.
func TestInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &interval{every: 200 * time.Millisecond}
		start := time.Now()
		var at []time.Duration
		for range 4 {
			if err := l.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			at = append(at, time.Since(start))
		}
		want := []time.Duration{0, 200 * time.Millisecond, 400 * time.Millisecond, 600 * time.Millisecond}
		if diff := cmp.Diff(want, at); diff != "" {
			t.Errorf("slots (-want +got):\n%s", diff)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait past ctx's end = %v, want the deadline", err)
		}
	})
}

func TestSubscribeWait(t *testing.T) {
	tests := []struct {
		mode PoolMode
		want time.Duration
	}{
		{PoolMode{Subs: 1_000_000, PerConn: 1000}, 100 * time.Second},
		{PoolMode{Subs: 100_000, PerConn: 1000, Rate: 5}, 10*time.Second + 200*time.Second},
		{PoolMode{Subs: 100_000, PerConn: 1000, Rate: 5, Batch: 100}, 10*time.Second + 2*time.Second},
		{PoolMode{Subs: 100_000, PerConn: 1000, Rate: 10, Batch: 300}, 10*time.Second + 400*time.Millisecond},
	}
	for _, tt := range tests {
		if got := subscribeWait(tt.mode); got != tt.want {
			t.Errorf("subscribeWait(%+v) = %v, want %v", tt.mode, got, tt.want)
		}
	}
}
