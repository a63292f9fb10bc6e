// Package order has an order whose Working state moves between its
// own children without being left: its rules are internal.
package order

import "github.com/connfsm/connfsm/fsm"

type Order uint8

const (
	New     Order = iota
	Working       // composite: Acked, PartFilled, PendingCancel
	Acked
	PartFilled
	PendingCancel
	Filled
	Cancelled
)

type Exec uint8

const (
	Ack Exec = iota
	Fill
	Cancel
	Done
)

var hierarchy = fsm.NewBuilder[Order, Exec](New).Children(Working, Acked, PartFilled, PendingCancel)

// good: an internal rule is a declared cell like any other.
var good = []fsm.Rule[Order, Exec]{
	{From: New, On: Ack, Then: fsm.To(Working)},
	{From: New, On: Fill, Then: fsm.Reject[Order]()},
	{From: New, On: Cancel, Then: fsm.To(Cancelled)},
	{From: New, On: Done, Then: fsm.Reject[Order]()},
	{From: Working, On: Ack, Then: fsm.Ignore[Order]()},
	{From: Working, On: Fill, Then: fsm.Internal(PartFilled)},
	{From: Working, On: Cancel, Then: fsm.Internal[Order](PendingCancel)},
	{From: Working, On: Done, Then: fsm.To(Filled)},
	{From: PendingCancel, On: Done, Then: fsm.To(Cancelled)},
	{From: Filled, On: Ack, Then: fsm.Ignore[Order]()},
	{From: Filled, On: Fill, Then: fsm.Ignore[Order]()},
	{From: Filled, On: Cancel, Then: fsm.Ignore[Order]()},
	{From: Filled, On: Done, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Ack, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Fill, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Cancel, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Done, Then: fsm.Ignore[Order]()},
}

// outside: internal targets must be proper descendants of the rule's
// state: not a sibling, not the state itself, not a leaf's anything.
var outside = []fsm.Rule[Order, Exec]{
	{From: New, On: Ack, Then: fsm.To(Working)},
	{From: New, On: Fill, Then: fsm.Internal(Working)}, // want `rule New × Fill: internal transition to Working: Working is not a proper descendant of New`
	{From: New, On: Cancel, Then: fsm.To(Cancelled)},
	{From: New, On: Done, Then: fsm.Reject[Order]()},
	{From: Working, On: Ack, Then: fsm.Internal(Working)}, // want `rule Working × Ack: internal transition to Working: Working is not a proper descendant of Working`
	{From: Working, On: Fill, Then: fsm.Internal(PartFilled)},
	{From: Working, On: Cancel, Then: fsm.Internal(PendingCancel)},
	{From: Working, On: Done, Then: fsm.Internal(Filled)},        // want `rule Working × Done: internal transition to Filled: Filled is not a proper descendant of Working`
	{From: PartFilled, On: Fill, Then: fsm.Internal(PartFilled)}, // want `rule PartFilled × Fill: internal transition to PartFilled: PartFilled is not a proper descendant of PartFilled`
	{Filled, Ack, fsm.Ignore[Order](), ""},
	{Filled, Fill, fsm.Ignore[Order](), ""},
	{Filled, Cancel, fsm.Internal(Acked), ""}, // want `rule Filled × Cancel: internal transition to Acked: Acked is not a proper descendant of Filled`
	{Filled, Done, fsm.Ignore[Order](), ""},
	{From: Cancelled, On: Ack, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Fill, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Cancel, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Done, Then: fsm.Ignore[Order]()},
}

// missing: an internal rule counts as the cell it declares; the cells it
// does not declare are still missing.
var missing = []fsm.Rule[Order, Exec]{ // want `rule table misses Acked × Cancel` `rule table misses PartFilled × Cancel` `rule table misses PendingCancel × Cancel`
	{From: New, On: Ack, Then: fsm.To(Working)},
	{From: New, On: Fill, Then: fsm.Reject[Order]()},
	{From: New, On: Cancel, Then: fsm.To(Cancelled)},
	{From: New, On: Done, Then: fsm.Reject[Order]()},
	{From: Working, On: Ack, Then: fsm.Ignore[Order]()},
	{From: Working, On: Fill, Then: fsm.Internal(PartFilled)},
	{From: Working, On: Done, Then: fsm.To(Filled)},
	{From: Working, On: Done, Then: fsm.Internal(Acked)}, // want `duplicate rule Working × Done`
	{From: Filled, On: Ack, Then: fsm.Ignore[Order]()},
	{From: Filled, On: Fill, Then: fsm.Ignore[Order]()},
	{From: Filled, On: Cancel, Then: fsm.Ignore[Order]()},
	{From: Filled, On: Done, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Ack, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Fill, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Cancel, Then: fsm.Ignore[Order]()},
	{From: Cancelled, On: Done, Then: fsm.Ignore[Order]()},
}

// variable: a target that is no constant is not checked.
func variable(target Order) []fsm.Rule[Order, Exec] {
	return []fsm.Rule[Order, Exec]{
		{From: New, On: Ack, Then: fsm.Internal(target)},
		{From: New, On: Fill, Then: fsm.Reject[Order]()},
		{From: New, On: Cancel, Then: fsm.To(Cancelled)},
		{From: New, On: Done, Then: fsm.Reject[Order]()},
		{From: Working, On: Ack, Then: fsm.Ignore[Order]()},
		{From: Working, On: Fill, Then: fsm.Internal(PartFilled)},
		{From: Working, On: Cancel, Then: fsm.Internal(PendingCancel)},
		{From: Working, On: Done, Then: fsm.To(Filled)},
		{From: Filled, On: Ack, Then: fsm.Ignore[Order]()},
		{From: Filled, On: Fill, Then: fsm.Ignore[Order]()},
		{From: Filled, On: Cancel, Then: fsm.Ignore[Order]()},
		{From: Filled, On: Done, Then: fsm.Ignore[Order]()},
		{From: Cancelled, On: Ack, Then: fsm.Ignore[Order]()},
		{From: Cancelled, On: Fill, Then: fsm.Ignore[Order]()},
		{From: Cancelled, On: Cancel, Then: fsm.Ignore[Order]()},
		{From: Cancelled, On: Done, Then: fsm.Ignore[Order]()},
	}
}
