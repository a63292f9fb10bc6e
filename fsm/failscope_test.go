package fsm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// TestFailureEventMustLeaveScope: a failure cancels its whole scope, so a
// failure event whose transition stays inside the scope would start what
// it enters with a cancelled context. Build refuses it, naming the event,
// the scope and the leaf; a rule that leaves the scope, or ignores the
// event, builds.
func TestFailureEventMustLeaveScope(t *testing.T) {
	task := func(ctx context.Context, _ fsm.Transition[ns, nev], _ fsm.Emit[nev]) error {
		<-ctx.Done()
		return nil
	}
	build := func(inB fsm.Outcome[ns]) error {
		_, err := fsm.NewBuilder[ns, nev](nA).
			States(nA, nA1, nC).
			Events(Sib, Up).
			Children(nA, nA1).
			Rules(
				nrule{nA1, Sib, inB, "the failure"},
				nrule{nA, Up, fsm.To(nC), ""},
				nrule{nC, Sib, fsm.Ignore[ns](), "done"},
				nrule{nC, Up, fsm.To(nA), ""},
			).
			FailureEvent(nA, Sib).
			Task(nA1, "worker", task).
			Build()
		return err
	}
	for _, tt := range []struct {
		name string
		then fsm.Outcome[ns]
		want []string
	}{
		{"re-enters a state inside the scope", fsm.To(nA1), []string{
			"failure event Sib of A: in A1, its transition to A1 stays in A, whose tasks the failure has cancelled: what it enters would start cancelled (leave A, or ignore the event)",
		}},
		{"leaves the scope", fsm.To(nC), nil},
		{"ignores the failure", fsm.Ignore[ns](), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := build(tt.then)
			var got []string
			var be *fsm.BuildError
			if errors.As(err, &be) {
				got = be.Problems
			} else if err != nil {
				t.Fatalf("Build = %v, want nil or a *BuildError", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFailureEventToHistoryInsideScope: a failure event that goes to the
// history of a state inside its scope is refused as any other, and Build
// names the history (it panicked naming it as a state).
func TestFailureEventToHistoryInsideScope(t *testing.T) {
	task := func(ctx context.Context, _ fsm.Transition[ns, nev], _ fsm.Emit[nev]) error {
		<-ctx.Done()
		return nil
	}
	_, err := fsm.NewBuilder[ns, nev](nA).
		States(nA, nA1, nA1a, nC).
		Events(Sib, Up).
		Children(nA, nA1).
		Children(nA1, nA1a).
		History(nA1, fsm.Shallow, nA1b).
		Rules(
			nrule{nA1a, Sib, fsm.To(nA1b), "the failure, to the history"},
			nrule{nA, Up, fsm.To(nC), ""},
			nrule{nC, Sib, fsm.Ignore[ns](), "done"},
			nrule{nC, Up, fsm.To(nA), ""},
		).
		FailureEvent(nA, Sib).
		Task(nA1a, "worker", task).
		Build()
	var be *fsm.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build = %v, want a *BuildError", err)
	}
	want := []string{"failure event Sib of A: in A1a, its transition to A1 (history) stays in A, whose tasks the failure has cancelled: what it enters would start cancelled (leave A, or ignore the event)"}
	if diff := cmp.Diff(want, be.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
