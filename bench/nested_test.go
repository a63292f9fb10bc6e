package bench

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/qmuntal/stateless"

	"github.com/connfsm/connfsm/fsm"
)

// The nested toggle: a parent with two children, Left (its initial child)
// and Right, and one event that flips between them. The step never leaves
// the parent. connfsm's parent runs a task, which must keep running across
// the toggles untouched; the children have none. stateless, the peer with
// substates (SubstateOf), has no tasks: its parent gets nothing, so each
// library does the least its model allows for a step between siblings.
// looplab/fsm has no hierarchy and is left out.
type nstate int

const (
	Parent nstate = iota
	Left
	Right
)

func (s nstate) String() string { return [...]string{"Parent", "Left", "Right"}[s] }

// newNestedConnfsm returns the connfsm toggle; returned counts the parent's
// task returning.
func newNestedConnfsm(tb testing.TB, returned *atomic.Int64) *fsm.Machine[nstate, event] {
	tb.Helper()
	heartbeat := func(ctx context.Context, _ fsm.Transition[nstate, event], _ fsm.Emit[event]) error {
		<-ctx.Done()
		returned.Add(1)
		return nil
	}
	def, err := fsm.NewBuilder[nstate, event](Parent).
		States(Parent, Left, Right).
		Events(Toggle).
		Children(Parent, Left, Right).
		Rules(
			fsm.Rule[nstate, event]{From: Left, On: Toggle, Then: fsm.To(Right)},
			fsm.Rule[nstate, event]{From: Right, On: Toggle, Then: fsm.To(Left)},
		).
		Task(Parent, "heartbeat", heartbeat).
		Build()
	if err != nil {
		tb.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[nstate, event]{})
	tb.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return m
}

// newNestedStateless returns the stateless toggle on the same substate
// definition, starting in Left.
func newNestedStateless() *stateless.StateMachine {
	sm := stateless.NewStateMachineWithMode(Left, stateless.FiringImmediate)
	sm.Configure(Parent).InitialTransition(Left)
	sm.Configure(Left).SubstateOf(Parent).Permit(Toggle, Right)
	sm.Configure(Right).SubstateOf(Parent).Permit(Toggle, Left)
	return sm
}

// nestedPeer is one library's nested toggle as the tests drive it.
type nestedPeer struct {
	name string
	new  func(testing.TB) (toggle func() error, leaf func() nstate, inParent func() bool)
}

var nestedPeers = []nestedPeer{
	{name: "connfsm", new: func(tb testing.TB) (func() error, func() nstate, func() bool) {
		var returned atomic.Int64
		m := newNestedConnfsm(tb, &returned)
		ctx := context.Background()
		return func() error { return m.Fire(ctx, Toggle) }, m.State, func() bool { return m.In(Parent) }
	}},
	{name: "stateless", new: func(tb testing.TB) (func() error, func() nstate, func() bool) {
		sm := newNestedStateless()
		return func() error { return sm.Fire(Toggle) },
			func() nstate { return sm.MustState().(nstate) },
			func() bool {
				in, err := sm.IsInState(Parent)
				if err != nil {
					tb.Error(err)
				}
				return in
			}
	}},
}

// TestNestedToggle checks that every peer's nested toggle does what the
// benchmark assumes: each event flips the leaf between the two children,
// and the parent stays active throughout.
func TestNestedToggle(t *testing.T) {
	type step struct {
		Leaf     nstate
		InParent bool
	}
	want := []step{{Left, true}, {Right, true}, {Left, true}, {Right, true}}
	for _, p := range nestedPeers {
		t.Run(p.name, func(t *testing.T) {
			toggle, leaf, inParent := p.new(t)
			got := []step{{leaf(), inParent()}}
			for range len(want) - 1 {
				if err := toggle(); err != nil {
					t.Fatalf("toggle %d: %v", len(got), err)
				}
				got = append(got, step{leaf(), inParent()})
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s nested toggles (-want +got):\n%s", p.name, diff)
			}
		})
	}
}

// TestNestedToggleParentTask checks that the toggle leaves connfsm's parent
// task alone: it has not returned after the toggles (the parent was never
// left, or its task would have been joined before Fire returned), and
// returns once the machine stops.
func TestNestedToggleParentTask(t *testing.T) {
	var returned atomic.Int64
	m := newNestedConnfsm(t, &returned)
	ctx := context.Background()
	var got []int64
	for i := range 4 {
		if err := m.Fire(ctx, Toggle); err != nil {
			t.Fatalf("toggle %d: %v", i+1, err)
		}
		got = append(got, returned.Load())
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	got = append(got, returned.Load())
	if diff := cmp.Diff([]int64{0, 0, 0, 0, 1}, got); diff != "" {
		t.Errorf("parent task returns after each toggle, then after Stop (-want +got):\n%s", diff)
	}
}

// TestNestedToggleAllocs checks what BenchmarkNestedToggle requires of
// connfsm: a toggle between two children allocates nothing.
func TestNestedToggleAllocs(t *testing.T) {
	var returned atomic.Int64
	m := newNestedConnfsm(t, &returned)
	ctx := context.Background()
	var err error
	allocs := testing.AllocsPerRun(1000, func() {
		if e := m.Fire(ctx, Toggle); e != nil && err == nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("a nested toggle allocates %v times, want 0", allocs)
	}
}

// BenchmarkNestedToggle measures a step between two children of one
// parent, which connfsm and stateless both take without leaving the parent.
func BenchmarkNestedToggle(b *testing.B) {
	b.Run("connfsm", func(b *testing.B) {
		var returned atomic.Int64
		m := newNestedConnfsm(b, &returned)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Fire(ctx, Toggle); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stateless", func(b *testing.B) {
		sm := newNestedStateless()
		b.ReportAllocs()
		for b.Loop() {
			if err := sm.Fire(Toggle); err != nil {
				b.Fatal(err)
			}
		}
	})
}
