package fsm

import (
	"context"
	"errors"
	"testing"
)

// TestInnerCancellationLazy: a machine whose Start context never ends
// and whose observer only reads its context's values (the data path's,
// with a client's OnRecord) makes no cancellation for that context: 96
// bytes a machine. The context still ends at the stop with ErrStopped,
// for a holder that asked for Done before it and for one that did not;
// a machine whose Start context can end follows it from the start.
func TestInnerCancellationLazy(t *testing.T) {
	def := NewBuilder[int, int](0).States(0, 1).Events(0).Rules(
		Rule[int, int]{From: 0, On: 0, Then: To(1)},
		Rule[int, int]{From: 1, On: 0, Then: To(0)},
	).MustBuild()
	var seen []context.Context
	obs := func(ctx context.Context, _ Record[int, int]) { seen = append(seen, ctx) }
	m := def.Start(context.Background(), Config[int, int]{Observer: obs})
	for range 3 {
		if err := m.Fire(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) == 0 || !m.Inside(seen[0]) {
		t.Fatalf("observer contexts %v: want the machine's", seen)
	}
	if b := m.ext.inner.base.Load(); b != nil {
		t.Fatal("the cancellation was made for an observer that only read the context")
	}
	if err := seen[0].Err(); err != nil {
		t.Errorf("Err before the stop = %v", err)
	}
	child, cancel := context.WithCancel(seen[0]) // asks for Done: makes it
	defer cancel()
	if m.ext.inner.base.Load() == nil {
		t.Fatal("a context derived from it made no cancellation")
	}
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, ctx := range []context.Context{seen[0], child} {
		<-ctx.Done()
		if !errors.Is(context.Cause(ctx), ErrStopped) {
			t.Errorf("cause after the stop = %v, want ErrStopped", context.Cause(ctx))
		}
	}

	// Stopped without anyone asking: the stop makes it, cancelled.
	seen = nil
	m = def.Start(context.Background(), Config[int, int]{Observer: obs})
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := seen[0].Err(); !errors.Is(err, context.Canceled) || !errors.Is(context.Cause(seen[0]), ErrStopped) {
		t.Errorf("after a stop nobody waited for: Err %v, cause %v; want Canceled, ErrStopped", err, context.Cause(seen[0]))
	}

	// A Start context that can end: followed from the start.
	seen = nil
	start, end := context.WithCancelCause(context.Background())
	m = def.Start(start, Config[int, int]{Observer: obs})
	if m.ext.inner.base.Load() == nil {
		t.Error("no cancellation for a Start context that can end")
	}
	end(errors.New("gone"))
	<-m.Done()
	if seen[0].Err() == nil {
		t.Error("the machine's context did not end with its Start context")
	}
}
