package fsm

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
)

// TestAwaitGivesBackItsChannel: an Await that returns drops the channel it
// took, when no other Await or caller of Changed holds it, so that a
// machine waited on once keeps no channel, and its steps no check of what
// waits. One still held by another Await, or handed out by Changed, is
// kept and closed at the next step.
func TestAwaitGivesBackItsChannel(t *testing.T) {
	type s int
	type e int
	const (
		a s = iota
		b
		c
	)
	const next e = 0
	def, err := NewBuilder[s, e](a).States(a, b, c).Events(next).Rules(
		Rule[s, e]{From: a, On: next, Then: To(b)},
		Rule[s, e]{From: b, On: next, Then: To(c)},
		Rule[s, e]{From: c, On: next, Then: To(a)},
	).Build()
	if err != nil {
		t.Fatal(err)
	}
	in := func(st s) func(*Machine[s, e]) bool { return func(m *Machine[s, e]) bool { return m.State() == st } }
	type held struct {
		Channel, Watched bool
	}
	look := func(m *Machine[s, e]) held {
		w := m.watch.Load()
		if w == nil { // let go: nothing waits
			return held{Watched: m.watched.Load()}
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		return held{Channel: w.changed != nil, Watched: m.watched.Load()}
	}
	// waitHeld waits until the Awaits started are blocked, and checks
	// that n of them hold the channel.
	waitHeld := func(t *testing.T, m *Machine[s, e], n int) {
		t.Helper()
		synctest.Wait()
		var got int32
		if w := m.watch.Load(); w != nil {
			w.mu.Lock()
			got = w.awaits
			w.mu.Unlock()
		}
		if int(got) != n {
			t.Fatalf("%d Awaits hold the channel, want %d", got, n)
		}
	}
	ctx := context.Background()

	t.Run("alone", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := def.Start(ctx, Config[s, e]{})
			defer m.Stop(ctx)
			done := make(chan error, 1)
			go func() { done <- m.Await(ctx, in(b)) }()
			waitHeld(t, m, 1)
			m.Fire(ctx, next) // a -> b: the Await returns
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(held{}, look(m)); diff != "" {
				t.Errorf("after the Await returned (-want +got):\n%s", diff)
			}
		})
	})

	t.Run("another Await still waits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := def.Start(ctx, Config[s, e]{})
			defer m.Stop(ctx)
			first, second := make(chan error, 1), make(chan error, 1)
			go func() { first <- m.Await(ctx, in(b)) }()
			waitHeld(t, m, 1)
			go func() { second <- m.Await(ctx, in(c)) }()
			waitHeld(t, m, 2)
			m.Fire(ctx, next) // a -> b: the first returns, the second waits again
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			waitHeld(t, m, 1)
			if diff := cmp.Diff(held{Channel: true, Watched: true}, look(m)); diff != "" {
				t.Errorf("with an Await still waiting (-want +got):\n%s", diff)
			}
			m.Fire(ctx, next) // b -> c: the second must see it
			synctest.Wait()
			select {
			case err := <-second:
				if err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatal("the second Await missed the step into c")
			}
			if diff := cmp.Diff(held{}, look(m)); diff != "" {
				t.Errorf("after both returned (-want +got):\n%s", diff)
			}
		})
	})

	t.Run("Changed shares it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := def.Start(ctx, Config[s, e]{})
			defer m.Stop(ctx)
			done := make(chan error, 1)
			go func() { done <- m.Await(ctx, in(b)) }()
			waitHeld(t, m, 1)
			ch := m.Changed()
			m.Fire(ctx, next) // a -> b
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			select {
			case <-ch:
			default:
				t.Error("the channel of Changed, shared with the Await, was not closed by the step")
			}
			// A channel of Changed taken before an Await satisfied at once
			// outlives it: the Await gives back only what it alone holds.
			ch = m.Changed()
			if err := m.Await(ctx, in(b)); err != nil {
				t.Fatal(err)
			}
			ctx2, cancel := context.WithCancel(ctx)
			cancel()
			if err := m.Await(ctx2, in(a)); err == nil {
				t.Fatal("Await with a done context returned nil")
			}
			if diff := cmp.Diff(held{Channel: true, Watched: true}, look(m)); diff != "" {
				t.Errorf("with a channel of Changed out (-want +got):\n%s", diff)
			}
			m.Fire(ctx, next) // b -> c
			select {
			case <-ch:
			default:
				t.Error("the channel of Changed was not closed by the step")
			}
		})
	})
}
