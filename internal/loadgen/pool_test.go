package loadgen

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestRunPool runs the pool mode on loopback in real time, 10 connections
// of 10 subscriptions, through a restart 1s into the run, against a venue
// that allows 10 handshakes per 3s: the first 10 fill its window. With the
// same budget, the pool never makes the venue refuse one: the connections
// wait for the budget, and every subscription is back, once. Without it,
// the venue refuses the redials it sees within the window with 429.
func TestRunPool(t *testing.T) {
	venue := Budget{Dials: 10, Window: 3 * time.Second}
	tests := []struct {
		name     string
		budget   Budget
		problems []string // what Problems reports, by a part of each
	}{
		{"pool within the venue's budget", venue, nil},
		{"no budget in the pool", Budget{}, []string{"the venue refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Duration: 4 * time.Second, Ping: time.Second, Pong: time.Second, SendEvery: 500 * time.Millisecond,
				Sample: time.Second, RestartAt: time.Second, DownFor: 500 * time.Millisecond, GOGC: DefaultGOGC,
				Pool: &PoolMode{Subs: 100, PerConn: 10, Conns: 10, Budget: tt.budget, VenueBudget: venue}}
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
			if p.Restart.Missing != 0 || p.Restart.Duplicated != 0 {
				t.Errorf("after the restart: %d missing, %d duplicated at the venue; want 0 and 0", p.Restart.Missing, p.Restart.Duplicated)
			}
			if !p.Restart.Recovered || p.VenueSubscriptions != 100 || p.VenueDuplicates != 0 || p.Conns != 10 || r.Closed != 10 {
				t.Errorf("pool report %+v, restart %+v; want all 100 subscriptions back once on 10 connections", *p, *p.Restart)
			}
			if r.GoroutinesLeft != 0 {
				t.Errorf("%d goroutines left", r.GoroutinesLeft)
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
