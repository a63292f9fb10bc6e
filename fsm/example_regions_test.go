package fsm_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/connfsm/connfsm/fsm"
)

type Order int

const (
	New Order = iota
	Working
	Accepted
	PartFilled
	PendingCancel
	Paused
	Filled
	Cancelled
	WorkingAgain // Working's history: not a state
)

func (o Order) String() string {
	return [...]string{"New", "Working", "Acked", "PartFilled", "PendingCancel", "Paused", "Filled", "Cancelled", "WorkingAgain"}[o]
}

type OrderEvent int

const (
	Ack OrderEvent = iota
	PartFill
	Fill
	Cancel
	CancelAck
	Halt
	Resume
)

func (e OrderEvent) String() string {
	return [...]string{"Ack", "PartFill", "Fill", "Cancel", "CancelAck", "Halt", "Resume"}[e]
}

// Example_internalAndHistory: an order is Working while it polls the
// venue. A partial fill moves inside Working with an internal transition,
// so Working is not re-entered and its poll keeps running; a halted order
// resumes, through Working's history, where it was.
func Example_internalAndHistory() {
	type r = fsm.Rule[Order, OrderEvent]
	ignore := func(from Order, on OrderEvent, why string) r {
		return r{From: from, On: on, Then: fsm.Ignore[Order](), Reason: why}
	}
	entries := 0
	def, err := fsm.NewBuilder[Order, OrderEvent](New).
		States(New, Working, Accepted, PartFilled, PendingCancel, Paused, Filled, Cancelled).
		Events(Ack, PartFill, Fill, Cancel, CancelAck, Halt, Resume).
		Children(Working, Accepted, PartFilled, PendingCancel).
		History(Working, fsm.Shallow, WorkingAgain).
		Final(Filled, Cancelled).
		Rules(
			r{From: New, On: Ack, Then: fsm.To(Working)},
			r{From: New, On: Cancel, Then: fsm.To(Cancelled)},
			ignore(New, PartFill, "not acked yet"), ignore(New, Fill, "not acked yet"),
			ignore(New, CancelAck, "nothing to cancel"), ignore(New, Halt, "nothing to halt"), ignore(New, Resume, "not halted"),
			r{From: Working, On: PartFill, Then: fsm.Internal(PartFilled), Reason: "more of it filled"},
			r{From: Working, On: Cancel, Then: fsm.Internal(PendingCancel), Reason: "asked the venue"},
			r{From: Working, On: Fill, Then: fsm.To(Filled)},
			r{From: Working, On: CancelAck, Then: fsm.To(Cancelled)},
			r{From: Working, On: Halt, Then: fsm.To(Paused), Reason: "the venue halted trading"},
			ignore(Working, Ack, "a duplicate ack"), ignore(Working, Resume, "not halted"),
			ignore(PendingCancel, Cancel, "already asked"),
			r{From: Paused, On: Resume, Then: fsm.To(WorkingAgain), Reason: "trading again"},
			r{From: Paused, On: Cancel, Then: fsm.To(Cancelled)},
			ignore(Paused, Ack, "a duplicate ack"), ignore(Paused, PartFill, "none while halted"), ignore(Paused, Fill, "none while halted"),
			ignore(Paused, CancelAck, "nothing asked"), ignore(Paused, Halt, "halted already"),
		).
		OnEnter(Working, func(context.Context, fsm.Transition[Order, OrderEvent]) { entries++ }).
		Task(Working, "poll", func(ctx context.Context, _ fsm.Transition[Order, OrderEvent], _ fsm.Emit[OrderEvent]) error {
			<-ctx.Done() // polls the venue until Working is left
			return nil
		}).
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	m := def.Start(context.Background(), fsm.Config[Order, OrderEvent]{})
	for _, e := range []OrderEvent{Ack, PartFill, PartFill, Halt, Resume, Fill} {
		_ = m.Fire(context.Background(), e)
		fmt.Printf("%-8v → %-18v Working entered %d time(s)\n", e, strings.Trim(fmt.Sprint(m.Path()), "[]"), entries)
	}
	// Output:
	// Ack      → Working Acked      Working entered 1 time(s)
	// PartFill → Working PartFilled Working entered 1 time(s)
	// PartFill → Working PartFilled Working entered 1 time(s)
	// Halt     → Paused             Working entered 1 time(s)
	// Resume   → Working PartFilled Working entered 2 time(s)
	// Fill     → Filled             Working entered 2 time(s)
}

type Media int

const (
	Player Media = iota
	Playback
	Playing
	PausedPlay
	Volume
	Audible
	Muted
)

func (s Media) String() string {
	return [...]string{"Player", "Playback", "Playing", "Paused", "Volume", "Audible", "Muted"}[s]
}

type Key int

const (
	PlayPause Key = iota
	MuteKey
	Sleep // pauses and mutes at once
)

func (k Key) String() string { return [...]string{"PlayPause", "Mute", "Sleep"}[k] }

// Example_parallel: a media player's playback and volume are two regions
// of one parallel state, both active at once. An event both regions take
// is one step, reported once, with a move per region.
func Example_parallel() {
	type r = fsm.Rule[Media, Key]
	def, err := fsm.NewBuilder[Media, Key](Player).
		States(Player, Playback, Playing, PausedPlay, Volume, Audible, Muted).
		Events(PlayPause, MuteKey, Sleep).
		Parallel(Player, Playback, Volume).
		Children(Playback, Playing, PausedPlay).
		Children(Volume, Audible, Muted).
		Rules(
			r{From: Playing, On: PlayPause, Then: fsm.To(PausedPlay)},
			r{From: PausedPlay, On: PlayPause, Then: fsm.To(Playing)},
			r{From: Audible, On: MuteKey, Then: fsm.To(Muted)},
			r{From: Muted, On: MuteKey, Then: fsm.To(Audible)},
			r{From: Playback, On: MuteKey, Then: fsm.Ignore[Media](), Reason: "the volume's"},
			r{From: Volume, On: PlayPause, Then: fsm.Ignore[Media](), Reason: "playback's"},
			r{From: Playing, On: Sleep, Then: fsm.To(PausedPlay)},
			r{From: PausedPlay, On: Sleep, Then: fsm.Ignore[Media](), Reason: "paused already"},
			r{From: Audible, On: Sleep, Then: fsm.To(Muted)},
			r{From: Muted, On: Sleep, Then: fsm.Ignore[Media](), Reason: "muted already"},
		).
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	m := def.Start(context.Background(), fsm.Config[Media, Key]{
		Observer: func(_ context.Context, rec fsm.Record[Media, Key]) {
			if rec.Kind == fsm.RecordTransition {
				fmt.Printf("%v: %v\n", rec.Event, rec.Moves)
			}
		},
	})
	defer m.Stop(context.Background())
	fmt.Println(m.Configuration())
	for _, k := range []Key{Sleep, MuteKey, PlayPause} {
		_ = m.Fire(context.Background(), k)
		fmt.Println(m.Configuration(), "State:", m.State())
	}
	// Output:
	// [Player Playback Playing Volume Audible]
	// Sleep: [{Playing Paused} {Audible Muted}]
	// [Player Playback Paused Volume Muted] State: Paused
	// Mute: [{Muted Audible}]
	// [Player Playback Paused Volume Audible] State: Paused
	// PlayPause: [{Paused Playing}]
	// [Player Playback Playing Volume Audible] State: Playing
}
