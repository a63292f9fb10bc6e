package fsmtest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
)

// recorderT captures what Check reports, so the tests can see it fail.
type recorderT struct {
	testing.TB
	errs []string
}

func (*recorderT) Helper() {}

func (r *recorderT) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// doorRows is the door's whole table, restated.
var doorRows = []fsmtest.Row[Door, Action]{
	{From: Open, Event: Push, Want: fsm.Ignore[Door]()},
	{From: Open, Event: Shut, Want: fsm.To(Closed)},
	{From: Open, Event: Lock, Want: fsm.Reject[Door]()},
	{From: Open, Event: Unlock, Want: fsm.Ignore[Door]()},
	{From: Closed, Event: Push, Want: fsm.To(Open)},
	{From: Closed, Event: Shut, Want: fsm.Ignore[Door]()},
	{From: Closed, Event: Lock, Want: fsm.To(Locked)},
	{From: Closed, Event: Unlock, Want: fsm.Ignore[Door]()},
	{From: Locked, Event: Push, Want: fsm.Reject[Door]()},
	{From: Locked, Event: Shut, Want: fsm.Ignore[Door]()},
	{From: Locked, Event: Lock, Want: fsm.Ignore[Door]()},
	{From: Locked, Event: Unlock, Want: fsm.To(Closed)},
}

func TestCheckDoor(t *testing.T) {
	fsmtest.Check(t, doorDefinition(), doorRows)
}

func TestCheckReportsEveryWrongRow(t *testing.T) {
	rows := append([]fsmtest.Row[Door, Action](nil), doorRows...)
	rows[2].Want = fsm.To(Locked)      // Open × Lock is a rejection
	rows[4].Want = fsm.To(Locked)      // Closed × Push goes to Open
	rows[10].Want = fsm.Reject[Door]() // Locked × Lock is ignored
	rec := &recorderT{}
	fsmtest.Check(rec, doorDefinition(), rows)

	var heads []string
	for _, e := range rec.errs {
		head, diff, _ := strings.Cut(e, "\n")
		heads = append(heads, head)
		if !strings.Contains(diff, "-") || !strings.Contains(diff, "+") {
			t.Errorf("report %q has no -want +got diff", e)
		}
	}
	want := []string{
		"Open × Lock (-want +got):",
		"Closed × Push (-want +got):",
		"Locked × Lock (-want +got):",
	}
	if diff := cmp.Diff(want, heads); diff != "" {
		t.Errorf("reported rows (-want +got):\n%s", diff)
	}
	// The diff shows both outcomes by name.
	if len(rec.errs) > 0 && !(strings.Contains(rec.errs[0], "transition") && strings.Contains(rec.errs[0], "reject")) {
		t.Errorf("report does not name both outcomes:\n%s", rec.errs[0])
	}
}

type light int

const (
	off light = iota
	on
)

type lightEvent int

const (
	toggle lightEvent = iota
	tick
)

func lightDefinition(t *testing.T) *fsm.Definition[light, lightEvent] {
	t.Helper()
	def, err := fsm.NewBuilder[light, lightEvent](off).States(off, on).Events(toggle, tick).Rules(
		fsm.Rule[light, lightEvent]{From: off, On: toggle, Then: fsm.To(on)},
		fsm.Rule[light, lightEvent]{From: off, On: tick, Then: fsm.Ignore[light](), Reason: "dark"},
		fsm.Rule[light, lightEvent]{From: on, On: toggle, Then: fsm.To(off)},
		fsm.Rule[light, lightEvent]{From: on, On: tick, Then: fsm.Ignore[light](), Reason: "lit"},
	).Build()
	if err != nil {
		t.Fatal(err)
	}
	return def
}

func TestCheckReportsBadRows(t *testing.T) {
	tests := []struct {
		name string
		row  fsmtest.Row[light, lightEvent]
		want string
	}{
		{"unknown state", fsmtest.Row[light, lightEvent]{From: 7, Event: tick, Want: fsm.Ignore[light]()},
			"7 × 1: state 7 is not a state of the definition"},
		{"unknown event", fsmtest.Row[light, lightEvent]{From: on, Event: 9, Want: fsm.Ignore[light]()},
			"1 × 9: firing 9: fsm: unknown event: 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorderT{}
			fsmtest.Check(rec, lightDefinition(t), []fsmtest.Row[light, lightEvent]{tt.row})
			if diff := cmp.Diff([]string{tt.want}, rec.errs); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckRunsHooksAndStopsMachines(t *testing.T) {
	var entered, exited []string
	def, err := fsm.NewBuilder[light, lightEvent](off).States(off, on).Events(toggle, tick).Rules(
		fsm.Rule[light, lightEvent]{From: off, On: toggle, Then: fsm.To(on)},
		fsm.Rule[light, lightEvent]{From: off, On: tick, Then: fsm.Ignore[light](), Reason: "dark"},
		fsm.Rule[light, lightEvent]{From: on, On: toggle, Then: fsm.To(off)},
		fsm.Rule[light, lightEvent]{From: on, On: tick, Then: fsm.Ignore[light](), Reason: "lit"},
	).
		OnEnter(on, func(_ context.Context, tr fsm.Transition[light, lightEvent]) {
			entered = append(entered, fmt.Sprint(tr.From, "->", tr.To))
		}).
		OnExit(on, func(_ context.Context, tr fsm.Transition[light, lightEvent]) {
			exited = append(exited, fmt.Sprint("exit stopping=", tr.Stopping))
		}).
		Task(on, "glow", func(ctx context.Context, _ fsm.Transition[light, lightEvent], _ fsm.Emit[lightEvent]) error {
			<-ctx.Done()
			return nil
		}).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	fsmtest.Check(t, def, []fsmtest.Row[light, lightEvent]{
		{From: on, Event: tick, Want: fsm.Ignore[light]()},
		{From: on, Event: toggle, Want: fsm.To(off)},
	})
	// Row 1: driven to on, then stopped there. Row 2: driven to on, left by
	// the row's own toggle, stopped in off. goleak checks the glow tasks.
	if diff := cmp.Diff([]string{"0->1", "0->1"}, entered); diff != "" {
		t.Errorf("enter hooks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"exit stopping=true", "exit stopping=false"}, exited); diff != "" {
		t.Errorf("exit hooks (-want +got):\n%s", diff)
	}
}

// TestCheckPostponedRow: a row whose rule postpones the event is checked
// like the others: Want fsm.Postpone matches, and another Want gets a
// diff naming both outcomes rather than an error.
func TestCheckPostponedRow(t *testing.T) {
	type rule = fsm.Rule[light, lightEvent]
	def, err := fsm.NewBuilder[light, lightEvent](off).States(off, on).Events(toggle, tick).Rules(
		rule{From: off, On: toggle, Then: fsm.To(on)},
		rule{From: off, On: tick, Then: fsm.Postpone[light](), Reason: "counted once lit"},
		rule{From: on, On: toggle, Then: fsm.To(off)},
		rule{From: on, On: tick, Then: fsm.Ignore[light](), Reason: "lit"},
	).Build()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorderT{}
	fsmtest.Check(rec, def, []fsmtest.Row[light, lightEvent]{
		{From: off, Event: tick, Want: fsm.Postpone[light]()},
		{From: off, Event: tick, Want: fsm.Ignore[light]()},
	})
	var heads []string
	for _, e := range rec.errs {
		head, diff, _ := strings.Cut(e, "\n")
		heads = append(heads, head)
		if !strings.Contains(diff, "postpone") || !strings.Contains(diff, "ignore") {
			t.Errorf("report does not name both outcomes:\n%s", e)
		}
	}
	if diff := cmp.Diff([]string{"0 × 1 (-want +got):"}, heads); diff != "" {
		t.Errorf("reported rows (-want +got):\n%s", diff)
	}
}

// A row whose From is a composite state says so, and names its leaves,
// rather than calling it unreachable.
func TestCheckNamesWhyFromIsNoLeaf(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  fsmtest.Row[Player, Button]
		want string
	}{
		{"composite", fsmtest.Row[Player, Button]{From: Playing, Event: Stop, Want: fsm.To(Stopped)},
			"Playing × Stop: state Playing is composite: a row starts in one of its leaves (Normal, Fast)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorderT{}
			fsmtest.Check(rec, playerDefinition(t), []fsmtest.Row[Player, Button]{tc.row})
			if diff := cmp.Diff([]string{tc.want}, rec.errs); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}
