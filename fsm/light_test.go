package fsm_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/connfsm/connfsm/fsm"
)

// lightDef is five states in a ring, without tasks, timeouts or hooks.
func lightDef(t *testing.T) *fsm.Definition[int, string] {
	t.Helper()
	b := fsm.NewBuilder[int, string](0).States(0, 1, 2, 3, 4).Events("next")
	for s := range 5 {
		b.Rules(fsm.Rule[int, string]{From: s, On: "next", Then: fsm.To((s + 1) % 5)})
	}
	def, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// TestLightMachine: a machine whose states have no tasks or timeouts,
// started with the zero Config, costs one allocation, starts no goroutine,
// and fires without allocating; waiting on it or giving it an environment
// costs only then.
func TestLightMachine(t *testing.T) {
	def := lightDef(t)
	ctx := context.Background()
	var m *fsm.Machine[int, string]
	if n := testing.AllocsPerRun(100, func() {
		m = def.Start(ctx, fsm.Config[int, string]{})
	}); n != 1 {
		t.Errorf("Start: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := m.Fire(ctx, "next"); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Fire: %v allocations, want 0", n)
	}
	g0 := runtime.NumGoroutine()
	ms := make([]*fsm.Machine[int, string], 100)
	for i := range ms {
		ms[i] = def.Start(ctx, fsm.Config[int, string]{})
		_ = ms[i].Fire(ctx, "next")
	}
	if g := runtime.NumGoroutine() - g0; g != 0 {
		t.Errorf("100 light machines started %d goroutines, want 0", g)
	}
	for _, x := range append(ms, m) {
		if err := x.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if x.State() < 0 || x.Err() != nil {
			t.Fatalf("after Stop: state %v, err %v", x.State(), x.Err())
		}
	}
}
