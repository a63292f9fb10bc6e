package fsm_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// TestRegionsRecordEpochs: with parallel regions, a record that names a
// leaf in From (started, postponed, ignored, stopped) carries that leaf's
// entry as its Epoch, as Machine.Epoch does for State, not the last entry
// the machine handed out.
func TestRegionsRecordEpochs(t *testing.T) {
	type r = fsm.Rule[string, string]
	def, err := fsm.NewBuilder[string, string]("P").
		States("P", "A", "a1", "a2", "B", "b1", "b2").
		Events("Flip", "Later", "Next").
		Parallel("P", "A", "B").Children("A", "a1", "a2").Children("B", "b1", "b2").
		Rules(
			r{From: "a1", On: "Flip", Then: fsm.To("a2")},
			r{From: "a2", On: "Flip", Then: fsm.To("a1")},
			r{From: "B", On: "Flip", Then: fsm.Ignore[string](), Reason: "A's"},
			r{From: "A", On: "Later", Then: fsm.Ignore[string](), Reason: "B's"},
			r{From: "b1", On: "Later", Then: fsm.Postpone[string]()},
			r{From: "b2", On: "Later", Then: fsm.Ignore[string](), Reason: "done"},
			r{From: "A", On: "Next", Then: fsm.Ignore[string](), Reason: "B's"},
			r{From: "b1", On: "Next", Then: fsm.To("b2")},
			r{From: "b2", On: "Next", Then: fsm.Ignore[string](), Reason: "last"},
		).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Kind  fsm.RecordKind
		From  string
		Epoch uint64
	}
	var got []rec
	m := def.Start(context.Background(), fsm.Config[string, string]{Observer: func(_ context.Context, r fsm.Record[string, string]) {
		got = append(got, rec{r.Kind, r.From, r.Epoch})
	}})
	if m.Epoch() != 3 {
		t.Errorf("Epoch after the start = %d, want 3 (a1's entry)", m.Epoch())
	}
	// Entries: P 1, A 2, a1 3, B 4, b1 5; then a2 6, a1 7, b2 8.
	for _, ev := range []string{"Flip", "Flip", "Later", "Next"} {
		if err := m.Fire(context.Background(), ev); err != nil {
			t.Fatalf("Fire(%s): %v", ev, err)
		}
	}
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []rec{
		{fsm.RecordStarted, "a1", 3},
		{fsm.RecordTransition, "a1", 6},
		{fsm.RecordTransition, "a2", 7},
		{fsm.RecordPostponed, "b1", 5},
		{fsm.RecordTransition, "a1", 7},
		{fsm.RecordIgnored, "a1", 7}, // Later, offered again, in A's rule
		{fsm.RecordStopped, "a1", 7},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}
