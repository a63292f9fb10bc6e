package fsm

import (
	"context"
	"errors"
	"testing"
)

// TestFireWithOwnOutcomeBehindQueue: a firer that takes the processor role
// while others' events are queued processes them, then its own, and gets
// its own event's outcome. This interleaving (an enqueue that lost the race
// for the processor role moments before) made FireWith return nil for a
// rejected event under contention.
func TestFireWithOwnOutcomeBehindQueue(t *testing.T) {
	type s int
	type e int
	const (
		a s = iota
		b
	)
	const (
		stay e = iota
		bad
		move
	)
	def, err := NewBuilder[s, e](a).States(a, b).Events(stay, bad, move).Rules(
		Rule[s, e]{From: a, On: stay, Then: Ignore[s](), Reason: "stays"},
		Rule[s, e]{From: a, On: bad, Then: Reject[s](), Reason: "never in a"},
		Rule[s, e]{From: a, On: move, Then: To(b)},
		Rule[s, e]{From: b, On: stay, Then: Ignore[s](), Reason: "stays"},
		Rule[s, e]{From: b, On: bad, Then: Ignore[s](), Reason: "fine in b"},
		Rule[s, e]{From: b, On: move, Then: To(a)},
	).Build()
	if err != nil {
		t.Fatal(err)
	}
	m := def.Start(context.Background(), Config[s, e]{})
	defer m.Stop(context.Background())
	m.enqueue(item{ev: int32(stay)}) // another firer's, queued
	err = m.FireWith(context.Background(), bad, nil)
	if !errors.Is(err, ErrRejected) {
		t.Errorf("FireWith(bad) behind a queued event = %v, want its rejection", err)
	}
}
