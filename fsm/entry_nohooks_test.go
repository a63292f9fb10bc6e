package fsm_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// TestEntryDataWithoutHooks: in a definition without hooks or actions, a
// task of a state entered by a step below a composite still sees the step
// that entered it (from, event, payload, environment).
func TestEntryDataWithoutHooks(t *testing.T) {
	type seen struct {
		From, To, State ns
		Event           nev
		Payload, Env    any
	}
	got := make(chan seen, 1)
	def, err := nestedBuilder().Task(nA1b, "reader", func(ctx context.Context, in fsm.Transition[ns, nev], _ fsm.Emit[nev]) error {
		got <- seen{From: in.From, To: in.To, State: in.State, Event: in.Event, Payload: in.Payload, Env: in.Env}
		<-ctx.Done()
		return nil
	}).Build()
	if err != nil {
		t.Fatal(err)
	}
	env := &struct{ name string }{"owner"}
	m := def.Start(context.Background(), fsm.Config[ns, nev]{Env: env})
	defer m.Stop(context.Background())
	if err := m.FireWith(context.Background(), Sib, "conn"); err != nil { // A1a → A1b below A and A1
		t.Fatal(err)
	}
	want := seen{From: nA1a, To: nA1b, State: nA1b, Event: Sib, Payload: "conn", Env: env}
	if diff := cmp.Diff(want, <-got, cmp.Comparer(func(a, b *struct{ name string }) bool { return a == b })); diff != "" {
		t.Errorf("the task's entry (-want +got):\n%s", diff)
	}
}
