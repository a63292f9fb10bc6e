package fsm_test

import (
	"context"
	"testing"

	"github.com/connfsm/connfsm/fsm"
	"github.com/google/go-cmp/cmp"
)

// TestReachableOnlyThroughShallowHistory: a shallow history re-enters the
// child last active by default below it, so a default leaf no transition
// targets is reachable through it. Out --in--> P/C2/L2 enters C2 at L2;
// leaving P and coming back through its shallow history enters C2's
// initial child, L1. Build must accept the definition, and the machine
// must get to L1.
func TestReachableOnlyThroughShallowHistory(t *testing.T) {
	const (
		Out = "Out"
		P   = "P"
		C1  = "C1"
		C2  = "C2"
		L1  = "L1"
		L2  = "L2"
		H   = "H"
	)
	type rule = fsm.Rule[string, string]
	d, err := fsm.NewBuilder[string, string](Out).
		States(Out, P, C1, C2, L1, L2).
		Events("in", "out", "back").
		Children(P, C1, C2).
		Children(C2, L1, L2).
		History(P, fsm.Shallow, H).
		Rules(
			rule{From: Out, On: "in", Then: fsm.To(L2)},
			rule{From: Out, On: "out", Then: fsm.Ignore[string](), Reason: "already out"},
			rule{From: Out, On: "back", Then: fsm.To(H)},
			rule{From: P, On: "in", Then: fsm.Ignore[string](), Reason: "already in"},
			rule{From: P, On: "out", Then: fsm.To(Out)},
			rule{From: P, On: "back", Then: fsm.Ignore[string](), Reason: "already in"},
		).Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	m := d.Start(context.Background(), fsm.Config[string, string]{})
	defer m.Stop(context.Background())
	for _, e := range []string{"in", "out", "back"} {
		if err := m.Fire(context.Background(), e); err != nil {
			t.Fatalf("Fire(%s): %v", e, err)
		}
	}
	if diff := cmp.Diff([]string{P, C2, L1}, m.Path()); diff != "" {
		t.Errorf("Path (-want +got):\n%s", diff)
	}
}
