package fsm_test

import (
	"context"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/connfsm/connfsm/fsm"
)

// TestStoppedMachineIsCollectable: once stopped, a machine that joined
// tasks is garbage: the timer of its joins, kept armed between joins, does
// not hold it until the last join's deadline (the join timeout, seconds
// away).
func TestStoppedMachineIsCollectable(t *testing.T) {
	wait := func(ctx context.Context, _ fsm.Transition[state, event], _ fsm.Emit[event]) error {
		<-ctx.Done()
		return nil
	}
	d, err := fsm.NewBuilder[state, event](A).States(A, B).Events(Go, Back).Rules(
		rule{From: A, On: Go, Then: fsm.To(B)},
		rule{From: B, On: Back, Then: fsm.To(A)},
		rule{From: A, On: Back, Then: fsm.Ignore[state](), Reason: "home already"},
		rule{From: B, On: Go, Then: fsm.Ignore[state](), Reason: "there already"},
	).Task(A, "a", wait).Task(B, "b", wait).Build()
	if err != nil {
		t.Fatal(err)
	}
	m := d.Start(context.Background(), fsm.Config[state, event]{JoinTimeout: time.Hour})
	if err := m.Fire(context.Background(), Go); err != nil { // a join: its timer armed for an hour
		t.Fatal(err)
	}
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ref := weak.Make(m)
	m = nil
	for range 10 {
		runtime.GC()
		if ref.Value() == nil {
			return
		}
	}
	t.Errorf("the stopped machine is still reachable after 10 garbage collections")
}
