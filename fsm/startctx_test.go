package fsm_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

type startKey struct{}

// seen is what a task saw of its context: the Start context's value, when
// (since the test began) its context ended and why.
type seen struct {
	Value any
	Ended time.Duration
	Cause string
}

// causeKind names a cancellation cause: the Start context's own, or a
// state's exit.
func causeKind(err, startCause error) string {
	switch {
	case errors.Is(err, startCause):
		return "start ctx"
	case errors.Is(err, fsm.ErrStateExited):
		return "state exited"
	default:
		return err.Error()
	}
}

// TestStartContext: the Start context's values reach every task, at every
// level, and its end cancels every task at once, with its cause, even
// while the machine is busy in a hook; a Start context that never ends
// leaves the tasks to be cancelled by the stop, with the exit as cause.
func TestStartContext(t *testing.T) {
	errCause := errors.New("owner gave up")
	tests := []struct {
		name string
		// ctx returns the Start context and how the test ends it at 500ms:
		// cancel it, or call Stop.
		ctx  func() (context.Context, func(m *fsm.Machine[ns, nev]))
		want map[string]seen
	}{
		{
			name: "never ends",
			ctx: func() (context.Context, func(m *fsm.Machine[ns, nev])) {
				return context.WithValue(context.Background(), startKey{}, "v"),
					func(m *fsm.Machine[ns, nev]) { go m.Stop(context.Background()) }
			},
			// The stop is processed after the step whose enter hook
			// sleeps until 1s.
			want: map[string]seen{
				"a":   {Value: "v", Ended: time.Second, Cause: "state exited"},
				"a1":  {Value: "v", Ended: time.Second, Cause: "state exited"},
				"a1b": {Value: "v", Ended: time.Second, Cause: "state exited"},
			},
		},
		{
			name: "cancelled",
			ctx: func() (context.Context, func(m *fsm.Machine[ns, nev])) {
				ctx, cancel := context.WithCancelCause(context.WithValue(context.Background(), startKey{}, "v"))
				return ctx, func(*fsm.Machine[ns, nev]) { cancel(errCause) }
			},
			want: map[string]seen{
				"a":   {Value: "v", Ended: 500 * time.Millisecond, Cause: "start ctx"},
				"a1":  {Value: "v", Ended: 500 * time.Millisecond, Cause: "start ctx"},
				"a1b": {Value: "v", Ended: time.Second, Cause: "start ctx"}, // starts after the end, already cancelled
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				t0 := time.Now()
				var mu sync.Mutex
				got := map[string]seen{}
				task := func(name string) fsm.Task[ns, nev] {
					return func(ctx context.Context, _ fsm.Transition[ns, nev], _ fsm.Emit[nev]) error {
						v := ctx.Value(startKey{})
						<-ctx.Done()
						mu.Lock()
						got[name] = seen{Value: v, Ended: time.Since(t0), Cause: causeKind(context.Cause(ctx), errCause)}
						mu.Unlock()
						return nil
					}
				}
				b := nestedBuilder().Task(nA, "a", task("a")).Task(nA1, "a1", task("a1")).Task(nA1b, "a1b", task("a1b"))
				// A1b's enter hook holds the machine until 1s while A's and
				// A1's tasks run; A1b's task starts after it.
				b.OnEnter(nA1b, func(context.Context, fsm.Transition[ns, nev]) { time.Sleep(time.Second) })
				d, err := b.Build()
				if err != nil {
					t.Fatal(err)
				}
				ctx, end := tt.ctx()
				m := d.Start(ctx, fsm.Config[ns, nev]{})
				go m.Fire(context.Background(), Sib) // A1a → A1b: its hook sleeps until 1s
				synctest.Wait()
				time.Sleep(500*time.Millisecond - time.Since(t0))
				end(m)
				<-m.Done()
				mu.Lock()
				defer mu.Unlock()
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("what the tasks saw (-want +got):\n%s", diff)
				}
			})
		})
	}
}
