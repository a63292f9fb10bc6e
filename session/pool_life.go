package session

import (
	"context"
	"sync"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/enum"
)

// PoolState is a state of a Pool's own life.
type PoolState uint8

// A pool's states: PoolRunning, the initial; PoolEnding while its
// connections close; PoolEnded, final.
const (
	// PoolRunning: subscriptions are taken and placed; a connection that
	// gives up for good hands its subscriptions to the others.
	PoolRunning PoolState = iota
	// PoolEnding: Close was called (or the lifetime ended): every
	// connection is closing.
	PoolEnding
	// PoolEnded: every connection is Closed.
	PoolEnded
)

var poolStateNames = [...]string{"Running", "Ending", "Ended"}

// String returns the state's name, e.g. "Ending".
func (s PoolState) String() string { return enum.Name(poolStateNames[:], s, "PoolState(%d)") }

// PoolEvent is an event of a Pool's own life.
type PoolEvent uint8

// A pool's events.
const (
	// PoolClose: Close was called, or a connection's lifetime ended; the
	// payload is the pool's Err.
	PoolClose PoolEvent = iota
	// PoolConnEnded: one connection reached Closed; the payload is its Err.
	PoolConnEnded
	// PoolDrained: no connection is left running.
	PoolDrained
)

var poolEventNames = [...]string{"Close", "ConnEnded", "Drained"}

// String returns the event's name, e.g. "ConnEnded".
func (e PoolEvent) String() string { return enum.Name(poolEventNames[:], e, "PoolEvent(%d)") }

type poolRow fsm.Rule[PoolState, PoolEvent]

// poolTable is a pool's life: every rule with its reason. PoolEnded is
// final.
var poolTable = fsm.Rows([]poolRow{
	{PoolRunning, PoolClose, fsm.To(PoolEnding), "closed: close every connection, together"},
	{PoolRunning, PoolConnEnded, fsm.Ignore[PoolState](), "a connection gave up for good: its subscriptions move to the others, and the pool runs on"},
	{PoolRunning, PoolDrained, fsm.Ignore[PoolState](), "every connection gave up: the subscriptions wait Pending for a connection a Subscribe opens, or Close"},
	{PoolEnding, PoolClose, fsm.Ignore[PoolState](), "already ending: Close is idempotent"},
	{PoolEnding, PoolConnEnded, fsm.Ignore[PoolState](), "one of the connections being closed"},
	{PoolEnding, PoolDrained, fsm.To(PoolEnded), "every connection is Closed"},
})

// poolLife is every pool's machine: built once, shared. Entering
// PoolEnding closes the connections (its payload is the pool's Err), and
// its drain task emits PoolDrained once they are all Closed and their
// watchers have returned.
var poolLife = sync.OnceValues(func() (*fsm.Definition[PoolState, PoolEvent], error) {
	return fsm.NewBuilder[PoolState, PoolEvent](PoolRunning).
		States(PoolRunning, PoolEnding, PoolEnded).
		Events(PoolClose, PoolConnEnded, PoolDrained).
		Final(PoolEnded).
		Rules(poolTable...).
		OnEnter(PoolEnding, func(_ context.Context, t fsm.Transition[PoolState, PoolEvent]) {
			if p, ok := t.Env.(*Pool); ok { // none in PoolDefinition's tests
				p.ending(t.Payload)
			}
		}).
		Task(PoolEnding, "drain", func(ctx context.Context, in fsm.Transition[PoolState, PoolEvent], emit fsm.Emit[PoolEvent]) error {
			if p, ok := in.Env.(*Pool); ok {
				return p.drainTask(ctx, emit)
			}
			<-ctx.Done() // PoolDefinition's: the shape, for diagrams and tests
			return nil
		}).
		Build()
})

// PoolDefinition returns a pool's own life as declared, for diagrams and
// tests.
func PoolDefinition() *fsm.Definition[PoolState, PoolEvent] {
	d, err := poolLife()
	if err != nil {
		panic(err) // the table is a constant; its tests keep it valid
	}
	return d
}

// drainTask is PoolEnding's task: it waits until every connection is
// Closed (closing any that PoolEnding's enter hook could not know of)
// and every watcher has returned, then emits PoolDrained: nothing of the
// pool runs once it is Ended.
func (p *Pool) drainTask(ctx context.Context, emit fsm.Emit[PoolEvent]) error {
	for _, pc := range p.snapshot() {
		pc.c.requestClose(ErrClosed) // idempotent: the hook asked already
		select {
		case <-pc.c.Done():
		case <-ctx.Done():
			return nil
		}
	}
	p.watchers.Wait()
	emit(PoolDrained, nil)
	return nil
}
