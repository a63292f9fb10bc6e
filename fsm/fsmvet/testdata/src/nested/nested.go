// Package nested has a hierarchy: Alive holds Syncing and Ready.
package nested

import "github.com/connfsm/connfsm/fsm"

type State uint8

const (
	Connecting State = iota
	Alive            // composite: Syncing, Ready
	Syncing
	Ready
	Closed
)

type Event uint8

const (
	Connected Event = iota
	Synced
	Lost
)

type rule = fsm.Rule[State, Event]

var hierarchy = fsm.NewBuilder[State, Event](Connecting).Children(Alive, Syncing, Ready)

// complete: Alive's rules cover Syncing and Ready; Syncing overrides
// Synced; Alive itself is no leaf and needs no rule of its own for it.
var complete = []rule{
	{From: Connecting, On: Connected, Then: fsm.To(Alive)},
	{From: Connecting, On: Synced, Then: fsm.Reject[State]()},
	{From: Connecting, On: Lost, Then: fsm.Reject[State]()},
	{From: Alive, On: Connected, Then: fsm.Reject[State]()},
	{From: Alive, On: Lost, Then: fsm.To(Connecting)},
	{From: Syncing, On: Synced, Then: fsm.To(Ready)},
	{From: Ready, On: Synced, Then: fsm.Ignore[State]()},
	{From: Ready, On: Lost, Then: fsm.To(Closed)}, // an override of Alive's Lost
	{From: Closed, On: Connected, Then: fsm.Ignore[State]()},
	{From: Closed, On: Synced, Then: fsm.Ignore[State]()},
	{From: Closed, On: Lost, Then: fsm.Ignore[State]()},
}

// missing: nothing resolves Synced in Ready, neither Ready nor Alive.
var missing = []rule{ // want `rule table misses Ready × Synced`
	{From: Connecting, On: Connected, Then: fsm.To(Alive)},
	{From: Connecting, On: Synced, Then: fsm.Reject[State]()},
	{From: Connecting, On: Lost, Then: fsm.Reject[State]()},
	{From: Alive, On: Connected, Then: fsm.Reject[State]()},
	{From: Alive, On: Lost, Then: fsm.To(Connecting)},
	{From: Syncing, On: Synced, Then: fsm.To(Ready)},
	{From: Closed, On: Connected, Then: fsm.Ignore[State]()},
	{From: Closed, On: Synced, Then: fsm.Ignore[State]()},
	{From: Closed, On: Lost, Then: fsm.Ignore[State]()},
}

// duplicate: two rules for one pair at one level.
var duplicate = []rule{
	{From: Connecting, On: Connected, Then: fsm.To(Alive)},
	{From: Connecting, On: Synced, Then: fsm.Reject[State]()},
	{From: Connecting, On: Lost, Then: fsm.Reject[State]()},
	{From: Alive, On: Connected, Then: fsm.Reject[State]()},
	{From: Alive, On: Synced, Then: fsm.Ignore[State]()},
	{From: Alive, On: Lost, Then: fsm.To(Connecting)},
	{From: Alive, On: Lost, Then: fsm.To(Closed)}, // want `duplicate rule Alive × Lost`
	{From: Closed, On: Connected, Then: fsm.Ignore[State]()},
	{From: Closed, On: Synced, Then: fsm.Ignore[State]()},
	{From: Closed, On: Lost, Then: fsm.Ignore[State]()},
}
