package fsm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/connfsm/connfsm/fsm"
)

type Door int

const (
	Closed Door = iota
	Open
)

func (d Door) String() string { return [...]string{"Closed", "Open"}[d] }

type DoorEvent int

const (
	Push DoorEvent = iota
	Pull
	Lock
)

func (e DoorEvent) String() string { return [...]string{"Push", "Pull", "Lock"}[e] }

// Example builds a two-state definition in which the Open state owns a task
// that closes the door again, and fires events at a machine.
func Example() {
	def, err := fsm.NewBuilder[Door, DoorEvent](Closed).
		States(Closed, Open).
		Events(Push, Pull, Lock).
		Rules(
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Push, Then: fsm.To(Open)},
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Pull, Then: fsm.Ignore[Door](), Reason: "pulling a closed door does nothing"},
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Lock, Then: fsm.Ignore[Door](), Reason: "the lock is not modelled"},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Push, Then: fsm.Ignore[Door](), Reason: "already open"},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Pull, Then: fsm.To(Closed)},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Lock, Then: fsm.Reject[Door](), Reason: "an open door cannot be locked"},
		).
		// The closer pulls the door shut: its event is processed after the
		// step that started it, and the task is joined before Closed is entered.
		Task(Open, "closer", func(ctx context.Context, _ fsm.Transition[Door, DoorEvent], emit fsm.Emit[DoorEvent]) error {
			emit(Pull, nil)
			<-ctx.Done()
			return nil
		}).
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	closedAgain := make(chan struct{})
	m := def.Start(context.Background(), fsm.Config[Door, DoorEvent]{
		Observer: func(_ context.Context, r fsm.Record[Door, DoorEvent]) {
			switch r.Kind {
			case fsm.RecordTransition:
				fmt.Printf("%v: %v -%v-> %v (epoch %d)\n", r.Kind, r.From, r.Event, r.To, r.Epoch)
				if r.To == Closed {
					close(closedAgain)
				}
			case fsm.RecordIgnored, fsm.RecordRejected:
				fmt.Printf("%v: %v in %v: %s\n", r.Kind, r.Event, r.From, r.Reason)
			case fsm.RecordStopped:
				fmt.Printf("%v in %v\n", r.Kind, r.From)
			}
		},
	})

	// Fire processes the event before it returns when the machine is idle.
	fmt.Println("Pull:", m.Fire(context.Background(), Pull))
	err = m.Fire(context.Background(), Push)
	<-closedAgain // the closer's Pull may be processed by another goroutine
	fmt.Println("Push:", err)
	fmt.Println("Stop:", m.Stop(context.Background()))
	// Output:
	// ignored: Pull in Closed: pulling a closed door does nothing
	// Pull: <nil>
	// transition: Closed -Push-> Open (epoch 2)
	// transition: Open -Pull-> Closed (epoch 3)
	// Push: <nil>
	// stopped in Closed
	// Stop: <nil>
}

// ExampleMachine_Fire shows what Fire returns for a rejected event.
func ExampleMachine_Fire() {
	def, err := fsm.NewBuilder[Door, DoorEvent](Open).
		States(Closed, Open).
		Events(Push, Pull, Lock).
		Rules(
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Push, Then: fsm.To(Open)},
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Pull, Then: fsm.Ignore[Door](), Reason: "already closed"},
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Lock, Then: fsm.Ignore[Door](), Reason: "the lock is not modelled"},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Push, Then: fsm.Ignore[Door](), Reason: "already open"},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Pull, Then: fsm.To(Closed)},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Lock, Then: fsm.Reject[Door](), Reason: "an open door cannot be locked"},
		).
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	m := def.Start(context.Background(), fsm.Config[Door, DoorEvent]{})
	defer m.Stop(context.Background())

	err = m.Fire(context.Background(), Lock)
	var rejected *fsm.RejectedError
	fmt.Println(errors.Is(err, fsm.ErrRejected), errors.As(err, &rejected) && rejected.Reason == "an open door cannot be locked")
	fmt.Println(err)
	// Output:
	// true true
	// fsm: event Lock rejected in state Open: an open door cannot be locked
}

// A session of a network client, three levels deep: Online has the phases
// Syncing (itself Login, then Replay) and Ready; Online's heartbeat runs
// across all of them.
type Session int

const (
	Offline Session = iota
	Online
	Syncing
	Login
	Replay
	Ready
	Gone
)

func (s Session) String() string {
	return [...]string{"Offline", "Online", "Syncing", "Login", "Replay", "Ready", "Gone"}[s]
}

type Signal int

const (
	Connect Signal = iota
	Acked
	Lost
	Quit
)

func (s Signal) String() string { return [...]string{"Connect", "Acked", "Lost", "Quit"}[s] }

// ExampleBuilder_Children builds a three-level definition and prints its
// Mermaid diagram: rules declared on Online apply to every phase inside it.
func ExampleBuilder_Children() {
	type r = fsm.Rule[Session, Signal]
	wait := func(ctx context.Context, _ fsm.Transition[Session, Signal], _ fsm.Emit[Signal]) error {
		<-ctx.Done()
		return nil
	}
	def, err := fsm.NewBuilder[Session, Signal](Offline).
		States(Offline, Online, Syncing, Login, Replay, Ready, Gone).
		Events(Connect, Acked, Lost, Quit).
		Children(Online, Syncing, Ready).
		Children(Syncing, Login, Replay).
		Final(Gone).
		Rules(
			r{Offline, Connect, fsm.To(Online), ""},
			r{Offline, Acked, fsm.Ignore[Session](), "no session"},
			r{Offline, Lost, fsm.Ignore[Session](), "already offline"},
			r{Offline, Quit, fsm.To(Gone), ""},
			r{Online, Connect, fsm.Reject[Session](), "one connection at a time"},
			r{Login, Acked, fsm.To(Replay), ""},
			r{Replay, Acked, fsm.To(Ready), ""},
			r{Ready, Acked, fsm.Ignore[Session](), "a late ack"},
			r{Online, Lost, fsm.To(Offline), ""},
			r{Online, Quit, fsm.To(Gone), ""},
		).
		Task(Online, "heartbeat", wait).
		FailureEvent(Online, Lost).
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = def.WriteMermaid(os.Stdout)

	m := def.Start(context.Background(), fsm.Config[Session, Signal]{})
	for _, s := range []Signal{Connect, Acked} {
		_ = m.Fire(context.Background(), s)
	}
	fmt.Println(m.Path(), m.In(Online), m.In(Ready))
	_ = m.Stop(context.Background())
	// Output:
	// stateDiagram-v2
	//     state "Offline" as s0
	//     state "Online<br>tasks#58; heartbeat<br>task failure → Lost" as s1 {
	//         state "Syncing" as s2 {
	//             state "Login" as s3
	//             state "Replay" as s4
	//             [*] --> s3
	//         }
	//         state "Ready" as s5
	//         [*] --> s2
	//     }
	//     state "Gone" as s6
	//     [*] --> s0
	//     s0 --> s1 : Connect
	//     s0 --> s6 : Quit
	//     s1 --> s0 : Lost
	//     s1 --> s6 : Quit
	//     s3 --> s4 : Acked
	//     s4 --> s5 : Acked
	//     s6 --> [*]
	// [Online Syncing Replay] true false
}

// ExampleBuilder_Timeout declares a state timeout: Closed is left for Open
// on Push, and Open closes again by itself after its timeout, unless
// pulled shut first. A timeout is a timer, not a task; leaving the state
// cancels it.
func ExampleBuilder_Timeout() {
	def, err := fsm.NewBuilder[Door, DoorEvent](Closed).
		States(Closed, Open).
		Events(Push, Pull, Lock).
		Rules(
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Push, Then: fsm.To(Open)},
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Pull, Then: fsm.Ignore[Door](), Reason: "already closed"},
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Lock, Then: fsm.Ignore[Door](), Reason: "not modelled"},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Push, Then: fsm.Ignore[Door](), Reason: "already open"},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Pull, Then: fsm.To(Closed)},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Lock, Then: fsm.Reject[Door](), Reason: "an open door cannot be locked"},
		).
		Timeout(Open, 10*time.Millisecond, Pull). // the door closer
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	closed := make(chan struct{})
	m := def.Start(context.Background(), fsm.Config[Door, DoorEvent]{
		Observer: func(_ context.Context, r fsm.Record[Door, DoorEvent]) {
			if r.Kind == fsm.RecordTransition {
				fmt.Printf("%v -%v-> %v\n", r.From, r.Event, r.To)
				if r.To == Closed {
					close(closed)
				}
			}
		},
	})
	_ = m.Fire(context.Background(), Push)
	<-closed // the timeout fired Pull
	_ = m.Stop(context.Background())
	// Output:
	// Closed -Push-> Open
	// Open -Pull-> Closed
}

// ExampleChoice picks a transition's target at run time from a declared
// set: here from the event's payload. The diagram draws every branch; a
// target outside the set is a rejected step.
func ExampleChoice() {
	const maxTries = 3
	pick := func(_, payload any) Door {
		if payload.(int) >= maxTries {
			return Closed // give up: stay shut
		}
		return Open
	}
	def, err := fsm.NewBuilder[Door, DoorEvent](Closed).
		States(Closed, Open).
		Events(Push, Pull, Lock).
		Rules(
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Push, Then: fsm.Choice(pick, Open, Closed)},
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Pull, Then: fsm.Ignore[Door](), Reason: "already closed"},
			fsm.Rule[Door, DoorEvent]{From: Closed, On: Lock, Then: fsm.Ignore[Door](), Reason: "not modelled"},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Push, Then: fsm.Ignore[Door](), Reason: "already open"},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Pull, Then: fsm.To(Closed)},
			fsm.Rule[Door, DoorEvent]{From: Open, On: Lock, Then: fsm.Reject[Door](), Reason: "an open door cannot be locked"},
		).
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	m := def.Start(context.Background(), fsm.Config[Door, DoorEvent]{})
	_ = m.FireWith(context.Background(), Push, 1)
	fmt.Println("after try 1:", m.State())
	_ = m.Fire(context.Background(), Pull)
	_ = m.FireWith(context.Background(), Push, maxTries)
	fmt.Println("after try 3:", m.State())
	_ = m.Stop(context.Background())
	_ = def.WriteMermaid(os.Stdout)
	// Output:
	// after try 1: Open
	// after try 3: Closed
	// stateDiagram-v2
	//     state "Closed" as s0
	//     state "Open" as s1
	//     [*] --> s0
	//     state c0_0 <<choice>>
	//     s0 --> c0_0 : Push
	//     c0_0 --> s1
	//     c0_0 --> s0
	//     s1 --> s0 : Pull
}
