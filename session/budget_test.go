package session

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/google/go-cmp/cmp"
)

// maxInWindow returns the most of times (in any order) within any window
// [t, t+w).
func maxInWindow(times []time.Time, w time.Duration) int {
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	most := 0
	for i := range ts {
		n := 0
		for j := i; j < len(ts) && ts[j].Sub(ts[i]) < w; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

func TestNewDialBudgetRefusesNonsense(t *testing.T) {
	tests := []struct {
		n      int
		window time.Duration
		want   int // problems
	}{
		{0, time.Minute, 1},
		{3, 0, 1},
		{-1, -time.Second, 2},
	}
	for _, tt := range tests {
		b, err := retry.NewDialBudget(tt.n, tt.window)
		var ce *transport.ConfigError
		if b != nil || !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &ce) || len(ce.Problems) != tt.want {
			t.Errorf("NewDialBudget(%d, %v) = %v, %v; want %d problem(s)", tt.n, tt.window, b, err, tt.want)
		}
	}
	b, err := retry.NewDialBudget(300, 5*time.Minute)
	if err != nil || b.String() != "300/5m0s" || b.Dials() != 300 || b.Window() != 5*time.Minute {
		t.Errorf("NewDialBudget(300, 5m) = %v, %v", b, err)
	}
}

// TestZeroDialBudget: a DialBudget not made by NewDialBudget admits
// nothing; it says so at once, as a configuration error, instead of
// holding every dial for ever, alone or as a pool's budget.
func TestZeroDialBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		done, err := new(retry.DialBudget).Admit(t.Context())
		if done != nil || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Admit of a zero DialBudget: done %t, err %v; want no done and an error matching ErrInvalidConfig", done != nil, err)
		}
		p, err := NewPool(t.Context(), func() transport.Transport { return newWSTransport("ws://venue.test/") },
			PoolConfig{MaxPerConn: 1, MaxConns: 1, DialBudget: new(retry.DialBudget)})
		if p != nil || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewPool with a zero DialBudget = %v, %v; want an error matching ErrInvalidConfig", p, err)
		}
	})
}

// TestDialBudgetCountsUntilAWindowAfterTheEnd: a dial counts while under
// way and for a window after it ended, and the waiters go in the order
// they came.
func TestDialBudgetCountsUntilAWindowAfterTheEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := retry.NewDialBudget(2, time.Minute)
		start := time.Now()
		ctx := context.Background()
		doneA, _ := b.Admit(ctx)
		doneB, _ := b.Admit(ctx)
		var (
			mu       sync.Mutex
			admitted []string
		)
		var wg sync.WaitGroup
		for _, name := range []string{"C", "D"} {
			wg.Go(func() {
				done, err := b.Admit(ctx)
				if err != nil {
					t.Errorf("Admit %s: %v", name, err)
					return
				}
				mu.Lock()
				admitted = append(admitted, name+" at "+time.Since(start).String())
				mu.Unlock()
				time.Sleep(5 * time.Second) // its handshake
				done(true)
			})
			synctest.Wait() // C asks before D
		}
		time.Sleep(10 * time.Second)
		doneA(true)
		doneA(true) // a second call does nothing
		time.Sleep(10 * time.Second)
		doneB(true)
		synctest.Wait()
		if st := b.Stats(); st != (retry.DialBudgetStats{Admitted: 2, Counted: 2, Waiting: 2}) {
			t.Errorf("Stats at 20s = %+v", st)
		}
		wg.Wait()
		// A ended at 10s and B at 20s: C goes a minute after A's end, D a
		// minute after B's.
		want := []string{"C at 1m10s", "D at 1m20s"}
		if diff := cmp.Diff(want, admitted); diff != "" {
			t.Errorf("admissions (-want +got):\n%s", diff)
		}
		time.Sleep(2 * time.Minute)
		if st := b.Stats(); st != (retry.DialBudgetStats{Admitted: 4}) {
			t.Errorf("Stats once all is over = %+v", st)
		}
	})
}

// TestDialBudgetUnreached: a dial that did not reach the venue stops
// counting when it ends.
func TestDialBudgetUnreached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := retry.NewDialBudget(2, time.Minute)
		start := time.Now()
		var at []time.Duration
		for i := range 6 {
			done, err := b.Admit(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			at = append(at, time.Since(start))
			time.Sleep(time.Second)
			done(i%3 == 2) // the third and the sixth reach the venue
		}
		want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second}
		if diff := cmp.Diff(want, at); diff != "" {
			t.Errorf("admissions (-want +got):\n%s", diff)
		}
		if st := b.Stats(); st.Counted != 2 {
			t.Errorf("Counted = %d, want the 2 that reached the venue", st.Counted)
		}
		done, _ := b.Admit(context.Background())
		if got := time.Since(start); got != time.Minute+3*time.Second {
			t.Errorf("the next went at %v, want a minute after the first that reached the venue ended", got)
		}
		done(false)
	})
}

// TestDialBudgetCancel: a waiter whose ctx ends returns its cause and
// counts nothing; the one behind it goes on.
func TestDialBudgetCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := retry.NewDialBudget(1, time.Minute)
		done, _ := b.Admit(context.Background())
		done(true)
		ctx, cancel := context.WithCancelCause(context.Background())
		stop := errors.New("stop")
		errc := make(chan error, 1)
		go func() {
			_, err := b.Admit(ctx)
			errc <- err
		}()
		synctest.Wait()
		behind := make(chan time.Duration, 1)
		start := time.Now()
		go func() {
			d, err := b.Admit(context.Background())
			if err == nil {
				d(true)
			}
			behind <- time.Since(start)
		}()
		time.Sleep(time.Second)
		cancel(stop)
		if err := <-errc; !errors.Is(err, stop) {
			t.Errorf("Admit after cancel = %v, want the cause", err)
		}
		if got := <-behind; got != time.Minute {
			t.Errorf("the next waiter went after %v, want 1m", got)
		}
		if _, err := b.Admit(ctx); !errors.Is(err, stop) {
			t.Errorf("Admit with a done ctx = %v, want the cause", err)
		}
		if st := b.Stats(); st.Admitted != 2 {
			t.Errorf("Admitted = %d, want 2", st.Admitted)
		}
	})
}

// TestDialBudgetAtTheVenue: clients whose handshakes take any time reach
// the venue at any moment between admission and end; no window of the
// venue's, wherever it starts, holds more than the budget.
func TestDialBudgetAtTheVenue(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		synctest.Test(t, func(t *testing.T) {
			const n, window = 5, 10 * time.Second
			b, _ := retry.NewDialBudget(n, window)
			rnd := rand.New(rand.NewPCG(seed, seed))
			var (
				mu   sync.Mutex
				seen []time.Time
			)
			var wg sync.WaitGroup
			for range 8 {
				pause, hs, at := make([]time.Duration, 6), make([]time.Duration, 6), make([]float64, 6)
				for i := range pause {
					pause[i] = time.Duration(rnd.IntN(3000)) * time.Millisecond
					hs[i] = time.Duration(rnd.IntN(4000)) * time.Millisecond
					at[i] = rnd.Float64()
				}
				wg.Go(func() {
					for i := range pause {
						time.Sleep(pause[i])
						done, _ := b.Admit(context.Background())
						// The venue sees it somewhere within the handshake.
						time.Sleep(time.Duration(at[i] * float64(hs[i])))
						mu.Lock()
						seen = append(seen, time.Now())
						mu.Unlock()
						time.Sleep(hs[i] - time.Duration(at[i]*float64(hs[i])))
						done(true)
					}
				})
			}
			wg.Wait()
			if got := maxInWindow(seen, window); got > n || len(seen) != 48 {
				t.Errorf("seed %d: %d dials, at most %d within %v; want at most %d", seed, len(seen), got, window, n)
			}
		})
	}
}
