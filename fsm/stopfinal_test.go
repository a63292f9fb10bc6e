package fsm_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/connfsm/connfsm/fsm"
)

// TestStopIsFinal: once Stop has returned to a caller outside the machine,
// everything the machine shows is final: Done and the channel Changed
// handed out before the stop are closed, Changed returns a closed channel,
// and Fire fails with ErrStopped. The stop runs on another goroutine than
// the caller's, so the check repeats to catch an order that lets the
// caller in early.
func TestStopIsFinal(t *testing.T) {
	def, err := nestedBuilder().Build()
	if err != nil {
		t.Fatal(err)
	}
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	for i := range 2000 {
		m := def.Start(context.Background(), fsm.Config[ns, nev]{})
		ch := m.Changed()
		if err := m.Stop(context.Background()); err != nil {
			t.Fatalf("run %d: Stop: %v", i, err)
		}
		switch {
		case !closed(m.Done()):
			t.Fatalf("run %d: Done open after Stop", i)
		case !closed(ch):
			t.Fatalf("run %d: the channel Changed handed out before the stop is open after Stop", i)
		case !closed(m.Changed()):
			t.Fatalf("run %d: Changed returns an open channel after Stop", i)
		}
		if err := m.Fire(context.Background(), ToC); !errors.Is(err, fsm.ErrStopped) {
			t.Fatalf("run %d: Fire after Stop = %v, want ErrStopped", i, err)
		}
	}
}

// countedPayload counts its disposals.
type countedPayload struct{ n *atomic.Int32 }

func (p countedPayload) Dispose() { p.n.Add(1) }

// TestQueuedBehindStopDoneLast: an event still queued when the machine
// stops (fired from a hook behind a Stop, or queued when a final state is
// entered) is disposed and reported as dropped before Done is closed, so
// that once Stop has returned its payload is disposed and the observer
// gets nothing more.
func TestQueuedBehindStopDoneLast(t *testing.T) {
	type r = fsm.Rule[string, string]
	tests := []struct {
		name string
		hook func(ctx context.Context, m *fsm.Machine[string, string], p countedPayload)
	}{
		{"fired from a hook behind its Stop", func(ctx context.Context, m *fsm.Machine[string, string], p countedPayload) {
			_ = m.Stop(ctx)
			_ = m.FireWith(ctx, "Go", p)
		}},
		{"posted from a hook behind its Stop", func(ctx context.Context, m *fsm.Machine[string, string], p countedPayload) {
			_ = m.Stop(ctx)
			_ = m.Post("Go", p)
		}},
		{"fired from a hook before the final state's stop", func(ctx context.Context, m *fsm.Machine[string, string], p countedPayload) {
			_ = m.FireWith(ctx, "End", p)
			_ = m.FireWith(ctx, "Go", p)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				m        *fsm.Machine[string, string]
				disposed atomic.Int32
				late     []string
				mu       sync.Mutex
			)
			def, err := fsm.NewBuilder[string, string]("A").
				States("A", "B", "Z").Events("Go", "End").Final("Z").
				Rules(
					r{From: "A", On: "Go", Then: fsm.To("B")},
					r{From: "A", On: "End", Then: fsm.To("Z")},
					r{From: "B", On: "Go", Then: fsm.To("A")},
					r{From: "B", On: "End", Then: fsm.To("Z")},
				).
				OnEnter("B", func(ctx context.Context, _ fsm.Transition[string, string]) {
					tt.hook(ctx, m, countedPayload{&disposed})
				}).
				Build()
			if err != nil {
				t.Fatal(err)
			}
			m = def.New(fsm.Config[string, string]{Observer: func(_ context.Context, r fsm.Record[string, string]) {
				select {
				case <-m.Done():
					mu.Lock()
					late = append(late, r.String())
					mu.Unlock()
				default:
				}
			}})
			m.Start(context.Background())
			if err := m.Fire(context.Background(), "Go"); err != nil {
				t.Fatalf("Fire: %v", err)
			}
			if err := m.Stop(context.Background()); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if n := disposed.Load(); n != 1 {
				t.Errorf("payload disposed %d times once Stop returned, want 1", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(late) > 0 {
				t.Errorf("records after Done: %q", late)
			}
			if err := m.Err(); err != nil {
				t.Errorf("Err = %v, want nil", err)
			}
		})
	}
}
