package fsm_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// choiceRegionsDef: Link is parallel, with regions Up{Up1} and Down{Down1};
// its Choice on Route, inherited by both regions' leaves, picks Primary or
// Backup; Back returns to Link.
func choiceRegionsDef(t *testing.T, pick func(env, payload any) string) *fsm.Definition[string, string] {
	t.Helper()
	type r = fsm.Rule[string, string]
	def, err := fsm.NewBuilder[string, string]("Link").
		States("Link", "Up", "Up1", "Down", "Down1", "Primary", "Backup").
		Events("Route", "Back").
		Parallel("Link", "Up", "Down").Children("Up", "Up1").Children("Down", "Down1").
		Rules(
			r{From: "Link", On: "Route", Then: fsm.Choice(pick, "Primary", "Backup")},
			r{From: "Link", On: "Back", Then: fsm.Ignore[string](), Reason: "linked"},
			r{From: "Primary", On: "Back", Then: fsm.To("Link")},
			r{From: "Backup", On: "Back", Then: fsm.To("Link")},
			r{From: "Primary", On: "Route", Then: fsm.Ignore[string](), Reason: "routed"},
			r{From: "Backup", On: "Route", Then: fsm.Ignore[string](), Reason: "routed"},
		).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// TestRegionsInheritedChoiceRunsOnce: a choice declared on a parallel state
// is one rule, taken once however many region leaves inherit it, so its
// function runs once per event: a round-robin pick alternates.
func TestRegionsInheritedChoiceRunsOnce(t *testing.T) {
	calls := 0
	def := choiceRegionsDef(t, func(env, payload any) string {
		calls++
		if calls%2 == 1 {
			return "Primary"
		}
		return "Backup"
	})
	m := def.Start(context.Background(), fsm.Config[string, string]{})
	defer m.Stop(context.Background())
	var got []string
	for _, ev := range []string{"Route", "Back", "Route", "Back"} {
		if err := m.Fire(context.Background(), ev); err != nil {
			t.Fatalf("Fire(%s): %v", ev, err)
		}
		got = append(got, m.State())
	}
	want := []string{"Primary", "Up1", "Backup", "Up1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if calls != 2 {
		t.Errorf("the choice ran %d times for 2 events, want 2", calls)
	}
}

// TestNextInheritedChoice: Next gives one successor per branch of a choice
// that region leaves inherit, not one per leaf and branch.
func TestNextInheritedChoice(t *testing.T) {
	def := choiceRegionsDef(t, func(env, payload any) string { return "Primary" })
	var got [][]string
	for _, s := range def.Next(def.StartPosition(), "Route") {
		got = append(got, s.To.Configuration())
	}
	want := [][]string{{"Primary"}, {"Backup"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("successors' configurations (-want +got):\n%s", diff)
	}
}

// TestRegionsChoiceOfPostponedEvent: an event a region postpones is kept
// whole, so no region's choice runs for it, whichever comes first in
// document order: the outcome does not depend on the order of the
// regions, even when the choice would pick an undeclared target.
func TestRegionsChoiceOfPostponedEvent(t *testing.T) {
	type r = fsm.Rule[string, string]
	tests := []struct {
		name      string
		regions   []string // of Link, in declaration order
		undeclare bool     // the choice picks a target it does not declare
	}{
		{"choice first", []string{"Pick", "Wait"}, false},
		{"postpone first", []string{"Wait", "Pick"}, false},
		{"undeclared choice first", []string{"Pick", "Wait"}, true},
		{"undeclared postpone first", []string{"Wait", "Pick"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			pick := func(env, payload any) string {
				calls++
				if tt.undeclare {
					return "Link"
				}
				return "Picked"
			}
			def, err := fsm.NewBuilder[string, string]("Link").
				States("Link", "Pick", "Choosing", "Picked", "Wait", "Waiting", "Ready").
				Events("Route", "Go").
				Parallel("Link", tt.regions...).
				Children("Pick", "Choosing", "Picked").Children("Wait", "Waiting", "Ready").
				Rules(
					r{From: "Choosing", On: "Route", Then: fsm.Choice(pick, "Choosing", "Picked")},
					r{From: "Picked", On: "Route", Then: fsm.Ignore[string](), Reason: "picked"},
					r{From: "Pick", On: "Go", Then: fsm.Ignore[string](), Reason: "the wait's"},
					r{From: "Waiting", On: "Route", Then: fsm.Postpone[string]()},
					r{From: "Ready", On: "Route", Then: fsm.Ignore[string](), Reason: "the pick's"},
					r{From: "Waiting", On: "Go", Then: fsm.To("Ready")},
					r{From: "Ready", On: "Go", Then: fsm.Ignore[string](), Reason: "ready"},
				).
				Build()
			if err != nil {
				t.Fatal(err)
			}
			var kinds []fsm.RecordKind
			m := def.Start(context.Background(), fsm.Config[string, string]{Observer: func(_ context.Context, r fsm.Record[string, string]) {
				kinds = append(kinds, r.Kind)
			}})
			defer m.Stop(context.Background())
			if err := m.Fire(context.Background(), "Route"); err != nil {
				t.Errorf("Fire(Route) = %v, want nil (postponed)", err)
			}
			if calls != 0 {
				t.Errorf("the choice ran %d times for a postponed event, want 0", calls)
			}
			want := []fsm.RecordKind{fsm.RecordStarted, fsm.RecordPostponed}
			if diff := cmp.Diff(want, kinds); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNextPreemptedChoice: a choice that a region inherits but that another
// region's own rule preempts is not taken, whichever branch it would pick:
// Next gives the one successor, not one per branch.
func TestNextPreemptedChoice(t *testing.T) {
	type r = fsm.Rule[string, string]
	def, err := fsm.NewBuilder[string, string]("Link").
		States("Link", "Up", "Up1", "Up2", "Down", "Down1", "Primary", "Backup").
		Events("Route", "Back").
		Parallel("Link", "Up", "Down").Children("Up", "Up1", "Up2").Children("Down", "Down1").
		Rules(
			r{From: "Link", On: "Route", Then: fsm.Choice(func(env, payload any) string { return "Primary" }, "Primary", "Backup")},
			r{From: "Up", On: "Route", Then: fsm.Internal("Up2")}, // Up's own rule preempts Link's
			r{From: "Link", On: "Back", Then: fsm.Ignore[string](), Reason: "linked"},
			r{From: "Primary", On: "Back", Then: fsm.To("Link")},
			r{From: "Backup", On: "Back", Then: fsm.To("Link")},
			r{From: "Primary", On: "Route", Then: fsm.Ignore[string](), Reason: "routed"},
			r{From: "Backup", On: "Route", Then: fsm.Ignore[string](), Reason: "routed"},
		).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[string, string]{})
	defer m.Stop(context.Background())
	if err := m.Fire(context.Background(), "Route"); err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, s := range def.Next(def.StartPosition(), "Route") {
		got = append(got, s.To.Configuration())
	}
	want := [][]string{m.Configuration()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("successors' configurations (-want +got):\n%s", diff)
	}
}
