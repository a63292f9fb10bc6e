package fsm

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHistoryResume: a paused order resumes where it was (a history of
// Working), or from Working's initial child (no history); a history whose
// composite was never left enters its initial configuration.
func TestHistoryResume(t *testing.T) {
	for _, tt := range []struct {
		name    string
		history HistoryKind
		events  []orderEvent
		want    []orderState
	}{
		{"shallow", Shallow, []orderEvent{oAccept, oPartFill, oPause, oResume}, []orderState{oWorking, oPartFilled}},
		{"deep", Deep, []orderEvent{oAccept, oCancel, oPause, oResume}, []orderState{oWorking, oPendingCancel}},
		{"none", 0, []orderEvent{oAccept, oPartFill, oPause, oResume}, []orderState{oWorking, oAcked}},
		{"never left", Shallow, []orderEvent{oPause, oResume}, []orderState{oWorking, oAcked}},
		{"twice", Shallow, []orderEvent{oAccept, oPartFill, oPause, oResume, oCancel, oPause, oResume}, []orderState{oWorking, oPendingCancel}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := orderDef(t, orderOpts{pause: true, history: tt.history}, nil, nil)
			var mu sync.Mutex
			var last Record[orderState, orderEvent]
			m := d.Start(context.Background(), Config[orderState, orderEvent]{Observer: func(_ context.Context, r Record[orderState, orderEvent]) {
				mu.Lock()
				if r.Kind == RecordTransition {
					last = r
				}
				mu.Unlock()
			}})
			defer m.Stop(context.Background())
			for _, e := range tt.events {
				if err := m.Fire(context.Background(), e); err != nil {
					t.Fatalf("Fire(%v): %v", e, err)
				}
			}
			if diff := cmp.Diff(tt.want, m.Path()); diff != "" {
				t.Errorf("Path (-want +got):\n%s", diff)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.want, last.Entered); diff != "" {
				t.Errorf("Entered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]Move[orderState]{{From: oPaused, To: tt.want[1]}}, last.Moves); diff != "" {
				t.Errorf("Moves (-want +got):\n%s", diff)
			}
			if last.To != tt.want[1] || m.State() != tt.want[1] {
				t.Errorf("record To %v, State %v; want %v", last.To, m.State(), tt.want[1])
			}
		})
	}
}

// A three-level definition: A{B{B1, B2}, C} and Out, for what tells deep
// history from shallow.
type hState int

func (s hState) String() string {
	if s < 0 || s > 6 {
		return "hState?"
	}
	return [...]string{"A", "B", "B1", "B2", "C", "Out", "H"}[s]
}

const (
	hA hState = iota
	hB
	hB1
	hB2
	hC
	hOut
	hH // A's history
)

// TestHistoryDeepShallow: shallow history re-enters the child last active
// (B) by default below it (B1); deep re-enters the leaf (B2). Enter hooks
// see the step that entered their state.
func TestHistoryDeepShallow(t *testing.T) {
	const (
		next orderEvent = iota
		out
		back
	)
	for _, tt := range []struct {
		kind HistoryKind
		want []hState
	}{
		{Shallow, []hState{hA, hB, hB1}},
		{Deep, []hState{hA, hB, hB2}},
	} {
		t.Run(tt.kind.String(), func(t *testing.T) {
			type r = Rule[hState, orderEvent]
			var entered []Transition[hState, orderEvent]
			d, err := NewBuilder[hState, orderEvent](hA).
				States(hA, hB, hB1, hB2, hC, hOut).
				Events(next, out, back).
				Children(hA, hB, hC).
				Children(hB, hB1, hB2).
				History(hA, tt.kind, hH).
				Rules(
					r{hB1, next, To(hB2), ""},
					r{hB2, next, To(hC), ""},
					r{hC, next, Ignore[hState](), "last"},
					r{hA, out, To(hOut), ""},
					r{hA, back, Ignore[hState](), "in A"},
					r{hOut, next, Ignore[hState](), "out"},
					r{hOut, out, Ignore[hState](), "out"},
					r{hOut, back, To(hH), ""},
				).
				OnEnter(hB2, func(_ context.Context, in Transition[hState, orderEvent]) { entered = append(entered, in) }).
				Build()
			if err != nil {
				t.Fatal(err)
			}
			m := d.Start(context.Background(), Config[hState, orderEvent]{})
			defer m.Stop(context.Background())
			for _, e := range []orderEvent{next, out, back} {
				if err := m.Fire(context.Background(), e); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, m.Path()); diff != "" {
				t.Errorf("Path (-want +got):\n%s", diff)
			}
			if tt.kind == Deep {
				last := entered[len(entered)-1]
				want := Transition[hState, orderEvent]{From: hOut, Event: back, To: hB2, State: hB2, Epoch: m.Epoch()}
				if diff := cmp.Diff(want, last); diff != "" {
					t.Errorf("B2's entry (-want +got):\n%s", diff)
				}
			}
			if c, k, ok := d.History(hH); !ok || c != hA || k != tt.kind {
				t.Errorf("History(H) = %v, %v, %v", c, k, ok)
			}
			if diff := cmp.Diff([]hState{hH}, d.Histories()); diff != "" {
				t.Errorf("Histories (-want +got):\n%s", diff)
			}
			if c, ok := d.Cell(hOut, back); !ok || c.To != hH || c.Leaf != hB1 {
				t.Errorf("Cell(Out, back) = %+v, %v; want To H, Leaf B1 (the initial leaf)", c, ok)
			}
		})
	}
}

// TestHistoryBuildErrors: every bad history is a *BuildError naming it,
// all listed at once.
func TestHistoryBuildErrors(t *testing.T) {
	type r = Rule[hState, orderEvent]
	_, err := NewBuilder[hState, orderEvent](hA).
		States(hA, hB, hB1, hOut).
		Events(0).
		Children(hA, hB).
		Children(hB, hB1).
		History(hOut, Shallow, hH).           // a leaf
		History(hA, Deep, hOut).              // a state
		History(hA, Shallow, hC).             // fine
		History(hB, Deep, hC).                // twice
		History(hB, HistoryKind(7), hB2).     // no such kind
		History(hB, Shallow, hH).             // H is taken
		History(hState(42), Deep, hState(8)). // unknown composite
		Rules(
			r{hA, 0, To(hOut), ""},
			r{hOut, 0, Internal(hC), ""}, // Out is not A
			r{hB, 0, Internal(hC), ""},   // A's history is not below B
		).Build()
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build = %v, want a *BuildError", err)
	}
	want := []string{
		"history H of Out: Out has no children: a history belongs to a composite state",
		"history Out of A is listed in States: a history is a pseudo-state, not a state",
		"history C declared twice",
		"history B2 of B: kind HistoryKind(7) is neither Shallow nor Deep",
		"history hState?: unknown composite state hState?",
		"rule Out × Accept: internal transition to C: C is not a proper descendant of Out",
		"rule B × Accept: internal transition to C: C is not a proper descendant of B",
		"state Out is unreachable from A", // B's rule, the only one for B1, is invalid
	}
	if diff := cmp.Diff(want, be.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
