// Package regions has a parallel state: Alive runs its session phase
// (Syncing, Ready) and its data flow (Flowing, Backlogged) at once.
package regions

import "github.com/connfsm/connfsm/fsm"

type State uint8

const (
	Connecting State = iota
	Alive            // parallel: Phase, Flow
	Phase            // region: Syncing, Ready
	Syncing
	Ready
	Flow // region: Flowing, Backlogged
	Flowing
	Backlogged
	Closed
)

type Event uint8

const (
	Connected Event = iota
	Synced
	Full
	Drained
	Lost
)

type rule = fsm.Rule[State, Event]

var hierarchy = fsm.NewBuilder[State, Event](Connecting).
	Parallel(Alive, Phase, Flow).
	Children(Phase, Syncing, Ready).
	Children(Flow, Flowing, Backlogged)

// complete: each region's leaves resolve every event, up their region
// (Phase ignores the flow's events, Flow the phase's), the parallel state
// (Lost leaves both regions) and above.
var complete = []rule{
	{From: Connecting, On: Connected, Then: fsm.To(Alive)},
	{From: Connecting, On: Synced, Then: fsm.Reject[State]()},
	{From: Connecting, On: Full, Then: fsm.Reject[State]()},
	{From: Connecting, On: Drained, Then: fsm.Reject[State]()},
	{From: Connecting, On: Lost, Then: fsm.Reject[State]()},
	{From: Alive, On: Connected, Then: fsm.Reject[State]()},
	{From: Alive, On: Lost, Then: fsm.To(Connecting)},
	{From: Phase, On: Full, Then: fsm.Ignore[State]()},
	{From: Phase, On: Drained, Then: fsm.Ignore[State]()},
	{From: Syncing, On: Synced, Then: fsm.To(Ready)},
	{From: Ready, On: Synced, Then: fsm.Ignore[State]()},
	{From: Flow, On: Synced, Then: fsm.Ignore[State]()},
	{From: Flowing, On: Full, Then: fsm.To(Backlogged)},
	{From: Flowing, On: Drained, Then: fsm.Ignore[State]()},
	{From: Backlogged, On: Full, Then: fsm.Ignore[State]()},
	{From: Backlogged, On: Drained, Then: fsm.To(Flowing)},
	{From: Closed, On: Connected, Then: fsm.Ignore[State]()},
	{From: Closed, On: Synced, Then: fsm.Ignore[State]()},
	{From: Closed, On: Full, Then: fsm.Ignore[State]()},
	{From: Closed, On: Drained, Then: fsm.Ignore[State]()},
	{From: Closed, On: Lost, Then: fsm.Ignore[State]()},
}

// internal: an internal rule on a parallel state is refused by Build; on
// a region it is not.
var internal = []rule{
	{From: Connecting, On: Connected, Then: fsm.To(Alive)},
	{From: Connecting, On: Synced, Then: fsm.Reject[State]()},
	{From: Connecting, On: Full, Then: fsm.Reject[State]()},
	{From: Connecting, On: Drained, Then: fsm.Reject[State]()},
	{From: Connecting, On: Lost, Then: fsm.Reject[State]()},
	{From: Alive, On: Connected, Then: fsm.Internal(Syncing)}, // want `rule Alive × Connected: internal transition on parallel state Alive: its regions are all active, so none can be re-entered alone \(use To\)`
	{From: Alive, On: Lost, Then: fsm.To(Connecting)},
	{From: Phase, On: Full, Then: fsm.Ignore[State]()},
	{From: Phase, On: Drained, Then: fsm.Ignore[State]()},
	{From: Syncing, On: Synced, Then: fsm.To(Ready)},
	{From: Ready, On: Synced, Then: fsm.Internal(Syncing)}, // want `rule Ready × Synced: internal transition to Syncing: Syncing is not a proper descendant of Ready`
	{From: Flow, On: Synced, Then: fsm.Internal(Flowing)},
	{From: Flowing, On: Full, Then: fsm.To(Backlogged)},
	{From: Flowing, On: Drained, Then: fsm.Ignore[State]()},
	{From: Backlogged, On: Full, Then: fsm.Ignore[State]()},
	{From: Backlogged, On: Drained, Then: fsm.To(Flowing)},
	{From: Closed, On: Connected, Then: fsm.Ignore[State]()},
	{From: Closed, On: Synced, Then: fsm.Ignore[State]()},
	{From: Closed, On: Full, Then: fsm.Ignore[State]()},
	{From: Closed, On: Drained, Then: fsm.Ignore[State]()},
	{From: Closed, On: Lost, Then: fsm.Ignore[State]()},
}

// missing: Synced resolves in the phase region, but nothing resolves it
// in the flow region's leaves: neither they, Flow, Alive nor above.
var missing = []rule{ // want `rule table misses Flowing × Synced` `rule table misses Backlogged × Synced`
	{From: Connecting, On: Connected, Then: fsm.To(Alive)},
	{From: Connecting, On: Synced, Then: fsm.Reject[State]()},
	{From: Connecting, On: Full, Then: fsm.Reject[State]()},
	{From: Connecting, On: Drained, Then: fsm.Reject[State]()},
	{From: Connecting, On: Lost, Then: fsm.Reject[State]()},
	{From: Alive, On: Connected, Then: fsm.Reject[State]()},
	{From: Alive, On: Lost, Then: fsm.To(Connecting)},
	{From: Phase, On: Full, Then: fsm.Ignore[State]()},
	{From: Phase, On: Drained, Then: fsm.Ignore[State]()},
	{From: Syncing, On: Synced, Then: fsm.To(Ready)},
	{From: Ready, On: Synced, Then: fsm.Ignore[State]()},
	{From: Flowing, On: Full, Then: fsm.To(Backlogged)},
	{From: Flowing, On: Drained, Then: fsm.Ignore[State]()},
	{From: Backlogged, On: Full, Then: fsm.Ignore[State]()},
	{From: Backlogged, On: Drained, Then: fsm.To(Flowing)},
	{From: Closed, On: Connected, Then: fsm.Ignore[State]()},
	{From: Closed, On: Synced, Then: fsm.Ignore[State]()},
	{From: Closed, On: Full, Then: fsm.Ignore[State]()},
	{From: Closed, On: Drained, Then: fsm.Ignore[State]()},
	{From: Closed, On: Lost, Then: fsm.Ignore[State]()},
}
