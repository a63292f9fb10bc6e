// Package history has a player whose pause resumes the track it left:
// Resume is the history of Playing, a pseudo-state with no rules.
package history

import "github.com/connfsm/connfsm/fsm"

type State uint8

const (
	Stopped State = iota
	Playing       // composite: Track1, Track2
	Track1
	Track2
	Paused
	Resume // the shallow history of Playing
	Back   // the deep history of Playing
)

type Event uint8

const (
	Play Event = iota
	Pause
	Next
)

var hierarchy = fsm.NewBuilder[State, Event](Stopped).
	Children(Playing, Track1, Track2).
	History(Playing, fsm.Shallow, Resume).
	History(Playing, fsm.Deep, Back)

// complete: Resume and Back need no rules; they are targets, of To and of
// an internal rule on their own composite.
var complete = []fsm.Rule[State, Event]{
	{From: Stopped, On: Play, Then: fsm.To(Playing)},
	{From: Stopped, On: Pause, Then: fsm.Ignore[State]()},
	{From: Stopped, On: Next, Then: fsm.Ignore[State]()},
	{From: Playing, On: Play, Then: fsm.Internal(Back)},
	{From: Playing, On: Pause, Then: fsm.To(Paused)},
	{From: Track1, On: Next, Then: fsm.To(Track2)},
	{From: Track2, On: Next, Then: fsm.To(Track1)},
	{From: Paused, On: Play, Then: fsm.To(Resume)},
	{From: Paused, On: Pause, Then: fsm.Ignore[State]()},
	{From: Paused, On: Next, Then: fsm.Ignore[State]()},
}

// ruled: a history state takes no rules; an internal rule targeting a
// history must be declared on or above its composite.
var ruled = []fsm.Rule[State, Event]{
	{From: Stopped, On: Play, Then: fsm.To(Playing)},
	{From: Stopped, On: Pause, Then: fsm.Ignore[State]()},
	{From: Stopped, On: Next, Then: fsm.Ignore[State]()},
	{From: Playing, On: Play, Then: fsm.Ignore[State]()},
	{From: Playing, On: Pause, Then: fsm.To(Paused)},
	{From: Track1, On: Next, Then: fsm.Internal(Resume)}, // want `rule Track1 × Next: internal transition to Resume: Resume is not a proper descendant of Track1`
	{From: Track2, On: Next, Then: fsm.To(Track1)},
	{From: Paused, On: Play, Then: fsm.To(Resume)},
	{From: Paused, On: Pause, Then: fsm.Ignore[State]()},
	{From: Paused, On: Next, Then: fsm.Ignore[State]()},
	{From: Resume, On: Next, Then: fsm.To(Track1)}, // want `rule Resume × Next is for a history state: it has no rules`
}
