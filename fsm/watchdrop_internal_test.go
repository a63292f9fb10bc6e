package fsm

import (
	"context"
	"runtime"
	"testing"
)

// TestAwaitKeepsNoWatch: a machine waited on once by Await, as a client's
// dial waits for its first connection, keeps no watch once the Await has
// returned; a later Await makes one anew and is woken by the next step.
func TestAwaitKeepsNoWatch(t *testing.T) {
	def := NewBuilder[int, int](0).States(0, 1).Events(0).Rules(
		Rule[int, int]{From: 0, On: 0, Then: To(1)},
		Rule[int, int]{From: 1, On: 0, Then: To(0)},
	).MustBuild()
	m := def.Start(context.Background(), Config[int, int]{})
	defer m.Stop(context.Background())
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- m.Await(ctx, func(m *Machine[int, int]) bool { return m.State() == 1 }) }()
	for m.watch.Load() == nil || !m.watched.Load() { // until the Await has registered
		runtime.Gosched()
	}
	if err := m.Fire(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m.watch.Load() != nil {
		t.Error("the machine keeps a watch after its one Await returned")
	}
	go func() { done <- m.Await(ctx, func(m *Machine[int, int]) bool { return m.State() == 0 }) }()
	for m.watch.Load() == nil || !m.watched.Load() {
		runtime.Gosched()
	}
	if err := m.Fire(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
