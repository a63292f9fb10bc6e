// Package flat has []fsm.Rule literals over a flat machine.
package flat

import "github.com/connfsm/connfsm/fsm"

type State int

const (
	Off State = iota
	On
	Broken
	numStates // a count, not a state
)

type Event string

const (
	Toggle Event = "toggle"
	Kick   Event = "kick"
	_Debug Event = "debug" // an underscore hides an event
)

// Also is another name for On: the same state, not a new one.
const Also = On

type rule = fsm.Rule[State, Event]

// complete declares every pair once: keyed and positional rows, and an
// alias of the rule type.
var complete = []fsm.Rule[State, Event]{
	{From: Off, On: Toggle, Then: fsm.To(On)},
	{From: Off, On: Kick, Then: fsm.To(Broken)},
	{On, Toggle, fsm.To(Off), ""},
	rule{From: On, On: Kick, Then: fsm.To(Broken)},
	{From: Broken, On: Toggle, Then: fsm.Ignore[State](), Reason: "broken"},
	{Broken, Kick, fsm.Ignore[State](), "still broken"},
}

var missing = []rule{ // want `rule table misses On × Kick` `rule table misses Broken × Toggle`
	{From: Off, On: Toggle, Then: fsm.To(On)},
	{From: Off, On: Kick, Then: fsm.To(Broken)},
	{From: On, On: Toggle, Then: fsm.To(Off)},
	{From: Broken, On: Kick, Then: fsm.Ignore[State]()},
}

var duplicate = []rule{
	{From: Off, On: Toggle, Then: fsm.To(On)},
	{From: Off, On: Kick, Then: fsm.To(Broken)},
	{From: On, On: Toggle, Then: fsm.To(Off)},
	{From: Also, On: Toggle, Then: fsm.To(Off)}, // want `duplicate rule On × Toggle \(first at line 49\)`
	{From: On, On: Kick, Then: fsm.To(Broken)},
	{From: Broken, On: Toggle, Then: fsm.Ignore[State]()},
	{From: Broken, On: Kick, Then: fsm.Ignore[State]()},
}

// A value no constant names is reported by value.
var unnamed = []rule{ // want `rule table misses Broken × Kick`
	{From: Off, On: Toggle, Then: fsm.To(On)},
	{From: Off, On: Kick, Then: fsm.To(Broken)},
	{From: On, On: Toggle, Then: fsm.To(Off)},
	{From: On, On: Kick, Then: fsm.To(Broken)},
	{From: Broken, On: Toggle, Then: fsm.Ignore[State]()},
	{From: State(7), On: Kick, Then: fsm.Ignore[State]()},
	{From: State(7), On: Kick, Then: fsm.Ignore[State]()}, // want `duplicate rule State\(7\) × Kick`
}

// A patch is partial on purpose.
//
//fsmvet:ignore
var patch = []rule{
	{From: Off, On: Toggle, Then: fsm.To(Broken)},
}

func use() []fsm.Rule[State, Event] {
	return append(append(append(complete, missing...), duplicate...), append(unnamed, patch...)...)
}
