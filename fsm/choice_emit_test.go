package fsm_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/connfsm/connfsm/fsm"
)

// TestEmittedChoiceRejectedKeepsTasks: an event a task emits whose rule is
// a choice does not surely leave the task's state, since the choice may
// pick an undeclared target or panic, and the step is then rejected: the
// state stays, and its tasks keep running with live contexts.
func TestEmittedChoiceRejectedKeepsTasks(t *testing.T) {
	tests := []struct {
		name string
		pick func(env, payload any) string
	}{
		{"undeclared target", func(env, payload any) string { return "A" }},
		{"panic", func(env, payload any) string { panic("no route") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				type r = fsm.Rule[string, string]
				heartbeat := make(chan error, 1)
				def, err := fsm.NewBuilder[string, string]("A").
					States("A", "B", "C").Events("Route", "Go").
					Rules(
						r{From: "A", On: "Route", Then: fsm.Choice(tt.pick, "B", "C")},
						r{From: "A", On: "Go", Then: fsm.To("B")},
						r{From: "B", On: "Route", Then: fsm.Ignore[string](), Reason: "routed"},
						r{From: "B", On: "Go", Then: fsm.To("C")},
						r{From: "C", On: "Route", Then: fsm.Ignore[string](), Reason: "routed"},
						r{From: "C", On: "Go", Then: fsm.To("A")},
					).
					Task("A", "router", func(ctx context.Context, in fsm.Transition[string, string], emit fsm.Emit[string]) error {
						if in.Started {
							emit("Route", nil)
						}
						<-ctx.Done()
						return nil
					}).
					Task("A", "heartbeat", func(ctx context.Context, _ fsm.Transition[string, string], _ fsm.Emit[string]) error {
						<-ctx.Done()
						heartbeat <- context.Cause(ctx)
						return nil
					}).
					Build()
				if err != nil {
					t.Fatal(err)
				}
				var rejected error
				m := def.Start(context.Background(), fsm.Config[string, string]{Observer: func(_ context.Context, r fsm.Record[string, string]) {
					if r.Kind == fsm.RecordRejected {
						rejected = r.Err
					}
				}})
				synctest.Wait()
				if !errors.Is(rejected, fsm.ErrUndeclaredTarget) {
					t.Fatalf("the emitted Route was not rejected as a failed choice: %v", rejected)
				}
				select {
				case cause := <-heartbeat:
					t.Errorf("in %s after the rejected choice, the heartbeat ended: %v", m.State(), cause)
					_ = m.Stop(context.Background())
					return
				default:
				}
				if err := m.Stop(context.Background()); err != nil {
					t.Fatal(err)
				}
				if cause := <-heartbeat; !errors.Is(cause, fsm.ErrStateExited) {
					t.Errorf("heartbeat's cause at the stop = %v, want ErrStateExited", cause)
				}
			})
		})
	}
}
