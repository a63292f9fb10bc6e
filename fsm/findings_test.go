package fsm_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// Regression tests for what the differential test (differential_test.go)
// found, each small enough to read at a glance.

// fState and fEvent are named S1, S2... and E1, E2...
type (
	fState int
	fEvent int
)

func (s fState) String() string { return fmt.Sprintf("S%d", int(s)) }
func (e fEvent) String() string { return fmt.Sprintf("E%d", int(e)) }

// TestActionEpochOfDeclaringState: an action sees the epoch of the entry of
// the state that declares its rule (Transition.Epoch), which, for a rule
// inherited from an ancestor, is not the leaf's.
func TestActionEpochOfDeclaringState(t *testing.T) {
	// S1 is a composite with children S2 (initial) and S3.
	const (
		s1, s2, s3 fState = 1, 2, 3
		e1, e2     fEvent = 1, 2
	)
	type seen struct {
		State fState
		Epoch uint64
	}
	tests := []struct {
		name string
		fire fEvent
		want seen
	}{
		// Start enters S1 (epoch 1), then S2 (epoch 2).
		{name: "declared at the parent", fire: e1, want: seen{State: s1, Epoch: 1}},
		{name: "declared at the leaf", fire: e2, want: seen{State: s2, Epoch: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []seen
			action := func(_ context.Context, tr fsm.Transition[fState, fEvent]) {
				got = append(got, seen{State: tr.State, Epoch: tr.Epoch})
			}
			type r = fsm.Rule[fState, fEvent]
			d, err := fsm.NewBuilder[fState, fEvent](s1).States(s1, s2, s3).Events(e1, e2).Children(s1, s2, s3).
				Rules(
					r{From: s1, On: e1, Then: fsm.To(s3)},
					r{From: s2, On: e2, Then: fsm.To(s3)},
					r{From: s3, On: e2, Then: fsm.To(s2)},
				).
				Action(s1, e1, action).Action(s2, e2, action).
				Build()
			if err != nil {
				t.Fatal(err)
			}
			m := d.Start(context.Background(), fsm.Config[fState, fEvent]{})
			defer func() { _ = m.Stop(context.Background()) }()
			if err := m.Fire(context.Background(), tt.fire); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]seen{tt.want}, got); diff != "" {
				t.Errorf("action's Transition (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildFinalLeadsNowhere: a final leaf stops the machine, so a rule
// it inherits never applies: a leaf only such a rule leads to is
// unreachable, and Build says so.
func TestBuildFinalLeadsNowhere(t *testing.T) {
	const (
		s1, s2, s3, s4 fState = 1, 2, 3, 4
		e1             fEvent = 1
	)
	// S4 is the top-level initial state; S1 has the final S2 (its initial
	// child) and S3, which only S1's rule, inherited by S2, leads to.
	type r = fsm.Rule[fState, fEvent]
	_, err := fsm.NewBuilder[fState, fEvent](s4).States(s1, s2, s3, s4).Events(e1).Children(s1, s2, s3).Final(s2).
		Rules(
			r{From: s4, On: e1, Then: fsm.To(s1)},
			r{From: s1, On: e1, Then: fsm.To(s3)},
		).
		Build()
	var be *fsm.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build: %v, want a *BuildError", err)
	}
	if diff := cmp.Diff([]string{"state S3 is unreachable from S4"}, be.Problems); diff != "" {
		t.Errorf("Build problems (-want +got):\n%s", diff)
	}
}
