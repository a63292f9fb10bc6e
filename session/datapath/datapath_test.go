package datapath

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	specTo     = fsm.To[State]
	specIgnore = fsm.Ignore[State]()
	specReject = fsm.Reject[State]()
)

// hardRows are the rules the pump's flags used to encode, one row each.
var hardRows = []fsmtest.Row[State, Event]{
	// A message and its handler call.
	{From: Flowing, Event: Deliver, Want: specTo(Busy)},
	{From: Busy, Event: Return, Want: specTo(Flowing)},
	// A handler of an earlier connection still runs.
	{From: Flowing, Event: Wait, Want: specTo(WaitingHeld)},
	{From: WaitingHeld, Event: Deliver, Want: specTo(Busy)},
	// A ping due while the handler holds the reader lends a read-ahead,
	// once; a read-ahead is never lent while the reader reads.
	{From: Busy, Event: Lend, Want: specTo(ReadAhead)},
	{From: ReadAhead, Event: Lend, Want: specIgnore},
	{From: Backlogged, Event: Lend, Want: specIgnore},
	{From: Flowing, Event: Lend, Want: specIgnore},
	{From: WaitingHeld, Event: Lend, Want: specTo(WaitingReadAhead)},
	// The read-ahead holds the next message: backlogged.
	{From: ReadAhead, Event: Park, Want: specTo(Backlogged)},
	{From: WaitingReadAhead, Event: Park, Want: specTo(WaitingBacklogged)},
	{From: WaitingReadAhead, Event: Deliver, Want: specTo(ReadAhead)},
	{From: WaitingBacklogged, Event: Deliver, Want: specTo(Backlogged)},
	{From: ReadAhead, Event: Return, Want: specTo(Flowing)},
	{From: Backlogged, Event: Return, Want: specTo(Taking)},
	{From: Taking, Event: Deliver, Want: specTo(Busy)},
	{From: Taking, Event: Wait, Want: specTo(WaitingHeld)},
	{From: Flowing, Event: Park, Want: specIgnore},
	// One call at a time.
	{From: Busy, Event: Deliver, Want: specReject},
	{From: Flowing, Event: Return, Want: specReject},
	// The end of Alive.
	{From: Unstarted, Event: Stop, Want: specTo(Abandoned)},
	{From: Flowing, Event: Stop, Want: specTo(Stopped)},
	{From: WaitingBacklogged, Event: Stop, Want: specTo(Stopped)},
	{From: Taking, Event: Stop, Want: specTo(Stopped)},
	{From: Unstarted, Event: Start, Want: specTo(Flowing)},
	{From: Busy, Event: Start, Want: specIgnore},
}

// TestTable checks the hard rows on real machines, and that every
// (leaf, event) pair of every live leaf is declared with a reason.
func TestTable(t *testing.T) {
	def := Definition()
	fsmtest.Check(t, def, hardRows)
	for _, s := range def.Leaves() {
		if def.IsFinal(s) {
			continue
		}
		for _, e := range Events() {
			c, ok := def.Cell(s, e)
			if !ok {
				t.Errorf("%v × %v is not declared", s, e)
				continue
			}
			if c.Reason == "" {
				t.Errorf("%v × %v has no reason", s, e)
			}
		}
	}
	for _, s := range []State{Stopped, Abandoned} {
		if !def.IsFinal(s) {
			t.Errorf("%v is not final", s)
		}
	}
}

// TestEveryRule runs every (leaf, event) pair on a real machine and
// checks it does what the table declares for it (its own rule or the one
// it inherits); the postponed Stops are TestStopWaitsForTheHandler's.
func TestEveryRule(t *testing.T) {
	def := Definition()
	var rows []fsmtest.Row[State, Event]
	for _, s := range def.Leaves() {
		if def.IsFinal(s) {
			continue
		}
		for _, e := range Events() {
			c, ok := def.Cell(s, e)
			if !ok {
				t.Fatalf("%v × %v is not declared", s, e)
			}
			if c.Kind == fsm.KindPostpone {
				continue
			}
			rows = append(rows, fsmtest.Row[State, Event]{From: s, Event: e, Want: c.Outcome})
		}
	}
	if len(rows) < 60 {
		t.Fatalf("%d rows, want every pair of 10 leaves and 7 events but the 3 postponed", len(rows))
	}
	fsmtest.Check(t, def, rows)
}

// TestPaths walks paths that take every transition the table declares on
// real machines: each visits the states the table says.
func TestPaths(t *testing.T) {
	def := Definition()
	paths := fsmtest.Paths(def)
	if u := fsmtest.Uncovered(def, paths); u != nil {
		t.Fatalf("transitions no path takes: %v", u)
	}
	ctx := context.Background()
	for _, p := range paths {
		m := def.Start(ctx, fsm.Config[State, Event]{})
		got := []State{m.State()}
		for _, e := range p.Events {
			if err := m.Fire(ctx, e); err != nil {
				t.Fatalf("%v: %v: %v", p, e, err)
			}
			got = append(got, m.State())
		}
		if diff := cmp.Diff(p.States, got); diff != "" {
			t.Errorf("%v (-want +got):\n%s", p, diff)
		}
		_ = m.Stop(ctx)
	}
}

// TestStopWaitsForTheHandler: a Stop while the handler runs is postponed
// until it returns, in every state of the handler's call; a message the
// read-ahead held is then not delivered.
func TestStopWaitsForTheHandler(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		before []Event
		after  []Event // fired after Stop
		want   []State // after Stop, then after each of after
	}{
		{"busy", []Event{Start, Deliver}, []Event{Return}, []State{Busy, Stopped}},
		{"read-ahead", []Event{Start, Deliver, Lend}, []Event{Park, Return}, []State{ReadAhead, Backlogged, Stopped}},
		{"backlogged", []Event{Start, Deliver, Lend, Park}, []Event{Return}, []State{Backlogged, Stopped}},
		{"waiting", []Event{Start, Wait}, nil, []State{Stopped}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Definition().Start(ctx, fsm.Config[State, Event]{})
			defer m.Stop(ctx)
			for _, e := range tt.before {
				if err := m.Fire(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			_ = m.Fire(ctx, Stop)
			got := []State{m.State()}
			for _, e := range tt.after {
				_ = m.Fire(ctx, e)
				got = append(got, m.State())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHolding: the predicates the heartbeat, the watchdog and the drain
// ask, per leaf.
func TestHolding(t *testing.T) {
	type pred struct{ Holding, ReaderHeld bool }
	want := map[State]pred{
		Unstarted: {}, Flowing: {}, Stopped: {}, Abandoned: {},
		WaitingHeld: {true, true}, WaitingReadAhead: {true, false}, WaitingBacklogged: {true, true},
		Busy: {true, true}, ReadAhead: {true, false}, Backlogged: {true, true},
		Taking: {true, false},
	}
	got := map[State]pred{}
	for _, s := range Definition().Leaves() {
		got[s] = pred{Holding(s), ReaderHeld(s)}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestLight: the machine is light: two allocations to start (the machine
// and its nested configuration), none to step.
func TestLight(t *testing.T) {
	def := Definition()
	ctx := context.Background()
	var m *fsm.Machine[State, Event]
	if n := testing.AllocsPerRun(50, func() { m = def.Start(ctx, fsm.Config[State, Event]{}) }); n > 2 {
		t.Errorf("Start: %v allocations, want at most 2", n)
	}
	_ = m.Fire(ctx, Start)
	if n := testing.AllocsPerRun(100, func() {
		_ = m.Fire(ctx, Deliver)
		_ = m.Fire(ctx, Return)
	}); n != 0 {
		t.Errorf("a message: %v allocations, want 0", n)
	}
}

// BenchmarkMessage is what the data path adds to each message a handler
// takes: its two steps, Deliver and Return.
func BenchmarkMessage(b *testing.B) {
	ctx := context.Background()
	m := Definition().Start(ctx, fsm.Config[State, Event]{})
	defer m.Stop(ctx)
	_ = m.Fire(ctx, Start)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Fire(ctx, Deliver)
		_ = m.Fire(ctx, Return)
	}
}
