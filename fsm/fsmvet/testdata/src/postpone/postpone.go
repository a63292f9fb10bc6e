// Package postpone has a machine that postpones sends while it connects.
package postpone

import "github.com/connfsm/connfsm/fsm"

type State uint8

const (
	Dialing State = iota
	Open
)

type Event uint8

const (
	Send Event = iota
	Up
	Down
)

// complete: a postponed event is a declared cell.
var complete = []fsm.Rule[State, Event]{
	{From: Dialing, On: Send, Then: fsm.Postpone[State](), Reason: "sent once open"},
	{From: Dialing, On: Up, Then: fsm.To(Open)},
	{From: Dialing, On: Down, Then: fsm.Ignore[State]()},
	{From: Open, On: Send, Then: fsm.Ignore[State]()},
	{From: Open, On: Up, Then: fsm.Reject[State]()},
	{From: Open, On: Down, Then: fsm.To(Dialing)},
}

// twice: a postpone is a cell like any other; a second rule repeats it.
var twice = []fsm.Rule[State, Event]{ // want `rule table misses Open × Down`
	{From: Dialing, On: Send, Then: fsm.Postpone[State]()},
	{From: Dialing, On: Send, Then: fsm.Postpone[State]()}, // want `duplicate rule Dialing × Send`
	{From: Dialing, On: Up, Then: fsm.To(Open)},
	{From: Dialing, On: Down, Then: fsm.Ignore[State]()},
	{From: Open, On: Send, Then: fsm.Ignore[State]()},
	{From: Open, On: Up, Then: fsm.Reject[State]()},
}

const tooFew = -2

// limits: a negative constant limit is refused by Build; any other
// constant, and a value known only at run time, are not reported.
func limits(n int) {
	fsm.NewBuilder[State, Event](Dialing).PostponeLimit(-1)     // want `postpone limit -1 is negative`
	fsm.NewBuilder[State, Event](Dialing).PostponeLimit(tooFew) // want `postpone limit -2 is negative`
	fsm.NewBuilder[State, Event](Dialing).PostponeLimit(0)
	fsm.NewBuilder[State, Event](Dialing).PostponeLimit(fsm.DefaultPostponeLimit)
	fsm.NewBuilder[State, Event](Dialing).PostponeLimit(n - 3)
}
