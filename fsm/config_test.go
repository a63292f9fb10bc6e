package fsm

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRegionTimeoutAndStale: a timeout of a region's leaf fires in its
// region only; an event from a task of a region entry that is over is
// stale, while the other region's tasks' events still count.
func TestRegionTimeoutAndStale(t *testing.T) {
	const (
		tick orderEvent = iota
		poke
	)
	synctest.Test(t, func(t *testing.T) {
		type r = Rule[hState, orderEvent]
		emits := make(chan Emit[orderEvent], 4)
		// A is parallel: B{B1, B2} ∥ C{...}: hC holds Out as its only child.
		d, err := NewBuilder[hState, orderEvent](hA).
			States(hA, hB, hB1, hB2, hC, hOut).
			Events(tick, poke).
			Parallel(hA, hB, hC).
			Children(hB, hB1, hB2).
			Children(hC, hOut).
			Timeout(hB1, time.Second, tick).
			Rules(
				r{hB1, tick, To(hB2), ""},
				r{hB2, tick, Ignore[hState](), "ticked"},
				r{hB, poke, To(hB1), ""},
				r{hC, tick, Ignore[hState](), "B's"},
				r{hC, poke, Ignore[hState](), "B's"},
			).
			Task(hB2, "poker", func(ctx context.Context, _ Transition[hState, orderEvent], emit Emit[orderEvent]) error {
				emits <- emit
				<-ctx.Done()
				return nil
			}).
			Build()
		if err != nil {
			t.Fatal(err)
		}
		var kinds []RecordKind
		m := d.Start(context.Background(), Config[hState, orderEvent]{Observer: func(_ context.Context, rec Record[hState, orderEvent]) {
			kinds = append(kinds, rec.Kind)
		}})
		defer m.Stop(context.Background())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]hState{hA, hB, hB2, hC, hOut}, m.Configuration()); diff != "" {
			t.Fatalf("after the timeout (-want +got):\n%s", diff)
		}
		old := <-emits
		old(poke, nil) // B2 → B1 → (timeout) B2
		synctest.Wait()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		<-emits
		old(poke, nil) // from B2's first entry: stale
		synctest.Wait()
		want := []RecordKind{RecordStarted, RecordTransition, RecordTransition, RecordTransition, RecordStale}
		if diff := cmp.Diff(want, kinds); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]hState{hA, hB, hB2, hC, hOut}, m.Configuration()); diff != "" {
			t.Errorf("configuration (-want +got):\n%s", diff)
		}
	})
}

// TestHistoryInternalAndChoice: an internal transition of A to A's own
// history enters what A held when it was last exited (A is not exited by
// it); a choice may pick a history.
func TestHistoryInternalAndChoice(t *testing.T) {
	const (
		next orderEvent = iota
		out
		back
		reset
	)
	type r = Rule[hState, orderEvent]
	d, err := NewBuilder[hState, orderEvent](hA).
		States(hA, hB, hB1, hB2, hC, hOut).
		Events(next, out, back, reset).
		Children(hA, hB, hC).
		Children(hB, hB1, hB2).
		History(hA, Deep, hH).
		Rules(
			r{hB1, next, To(hB2), ""},
			r{hB2, next, To(hC), ""},
			r{hC, next, To(hB1), ""},
			r{hA, out, To(hOut), ""},
			r{hA, back, Ignore[hState](), "in A"},
			r{hA, reset, Internal(hH), "back to where A was left"},
			r{hOut, next, Ignore[hState](), "out"},
			r{hOut, out, Ignore[hState](), "out"},
			r{hOut, reset, Ignore[hState](), "out"},
			r{hOut, back, Choice(func(env, payload any) hState { return payload.(hState) }, hH, hA), ""},
		).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	m := d.Start(context.Background(), Config[hState, orderEvent]{})
	defer m.Stop(context.Background())
	ctx := context.Background()
	steps := []struct {
		event   orderEvent
		payload any
		want    []hState
	}{
		{reset, nil, []hState{hA, hB, hB1}}, // never exited: A's initial configuration
		{next, nil, []hState{hA, hB, hB2}},
		{out, nil, []hState{hOut}},          // A remembers B2
		{back, hH, []hState{hA, hB, hB2}},   // the choice picks the history
		{next, nil, []hState{hA, hC}},       // inside A
		{reset, nil, []hState{hA, hB, hB2}}, // A not exited: what it held when it was
		{out, nil, []hState{hOut}},          //
		{back, hA, []hState{hA, hB, hB1}},   // the other branch: A's initial leaf
	}
	for i, s := range steps {
		if err := m.FireWith(ctx, s.event, s.payload); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if diff := cmp.Diff(s.want, m.Path()); diff != "" {
			t.Errorf("step %d (%v): Path (-want +got):\n%s", i, s.event, diff)
		}
	}
}

// TestTaskSeesEntryWithoutHooks: in a definition without hooks, a task of
// a state entered by a nested step still sees the step and the machine's
// environment (it saw a zero Transition).
func TestTaskSeesEntryWithoutHooks(t *testing.T) {
	const again orderEvent = 0
	type r = Rule[hState, orderEvent]
	got := make(chan Transition[hState, orderEvent], 2)
	d, err := NewBuilder[hState, orderEvent](hA).
		States(hA, hB).
		Events(again).
		Children(hA, hB).
		Rules(r{hB, again, To(hA), ""}).
		Task(hB, "t", func(ctx context.Context, in Transition[hState, orderEvent], _ Emit[orderEvent]) error {
			got <- in
			<-ctx.Done()
			return nil
		}).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	m := d.Start(context.Background(), Config[hState, orderEvent]{Env: "owner"})
	defer m.Stop(context.Background())
	<-got
	if err := m.Fire(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	want := Transition[hState, orderEvent]{From: hB, Event: again, To: hB, State: hB, Epoch: 4, Env: "owner"}
	if diff := cmp.Diff(want, <-got); diff != "" {
		t.Errorf("the task's entry (-want +got):\n%s", diff)
	}
}
