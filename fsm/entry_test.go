package fsm_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// entrySeen is what a task or a timeout function saw of the step that entered
// its state.
type entrySeen struct {
	Who             string
	From, To, State ns
	Event           nev
	Payload         any
	Epoch           uint64
	Started, EnvOK  bool
}

// TestEntryData checks that tasks and timeout functions at every level see
// the step that entered their state, as its enter hooks do: the initial
// entry (Started) and a transition with a payload, down three levels.
func TestEntryData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := &struct{ name string }{"owner"}
		var (
			mu  sync.Mutex
			got []entrySeen
		)
		note := func(who string, in fsm.Transition[ns, nev]) {
			mu.Lock()
			got = append(got, entrySeen{who, in.From, in.To, in.State, in.Event, in.Payload, in.Epoch, in.Started, in.Env == env})
			mu.Unlock()
		}
		b := nestedBuilder()
		for _, s := range []ns{nA, nA1, nA1a, nB, nB1} {
			name := s.String()
			b.Task(s, "t"+name, func(ctx context.Context, in fsm.Transition[ns, nev], _ fsm.Emit[nev]) error {
				note("task "+name, in)
				<-ctx.Done()
				return nil
			})
		}
		b.TimeoutFunc(nB1, "the entry's wait", func(in fsm.Transition[ns, nev]) time.Duration {
			note("timeout B1", in)
			return -1
		}, Up)
		def, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		m := def.Start(context.Background(), fsm.Config[ns, nev]{Env: env})
		synctest.Wait()
		if err := m.FireWith(context.Background(), ToB, "payload"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Tasks start in goroutines: order within one entry's level is not
		// fixed, but each level's tasks start after its parent's entry.
		mu.Lock()
		defer mu.Unlock()
		byWho := map[string]entrySeen{}
		for _, s := range got {
			byWho[s.Who] = s
		}
		want := map[string]entrySeen{
			"task A":     {"task A", nA1a, nA1a, nA, 0, nil, 1, true, true},
			"task A1":    {"task A1", nA1a, nA1a, nA1, 0, nil, 2, true, true},
			"task A1a":   {"task A1a", nA1a, nA1a, nA1a, 0, nil, 3, true, true},
			"task B":     {"task B", nA1a, nB1a, nB, ToB, "payload", 4, false, true},
			"task B1":    {"task B1", nA1a, nB1a, nB1, ToB, "payload", 5, false, true},
			"timeout B1": {"timeout B1", nA1a, nB1a, nB1, ToB, "payload", 5, false, true},
		}
		if diff := cmp.Diff(want, byWho); diff != "" {
			t.Errorf("entry data (-want +got):\n%s", diff)
		}
		if len(got) != len(want) {
			t.Errorf("%d notes, want %d: %v", len(got), len(want), got)
		}
	})
}

// TestEntryDataFlat checks a machine without hooks, whose steps skip
// building a Transition for hooks: its tasks still see the step.
func TestEntryDataFlat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seenc := make(chan fsm.Transition[state, event], 2)
		def, err := fsm.NewBuilder[state, event](A).
			States(A, B).
			Events(Go, Back).
			Rules(
				rule{A, Go, fsm.To(B), ""}, rule{A, Back, fsm.Ignore[state](), "in A"},
				rule{B, Back, fsm.To(A), ""}, rule{B, Go, fsm.Ignore[state](), "in B"},
			).
			Task(B, "worker", func(ctx context.Context, in fsm.Transition[state, event], _ fsm.Emit[event]) error {
				seenc <- in
				<-ctx.Done()
				return nil
			}).
			Build()
		if err != nil {
			t.Fatal(err)
		}
		m := def.Start(context.Background(), fsm.Config[state, event]{})
		defer m.Stop(context.Background())
		if err := m.FireWith(context.Background(), Go, 42); err != nil {
			t.Fatal(err)
		}
		in := <-seenc
		want := fsm.Transition[state, event]{From: A, Event: Go, To: B, State: B, Payload: 42, Epoch: 2}
		if diff := cmp.Diff(want, in); diff != "" {
			t.Errorf("entry (-want +got):\n%s", diff)
		}
	})
}
