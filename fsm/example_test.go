package fsm_test

import (
	"context"
	"errors"
	"fmt"

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
		Task(Open, "closer", func(ctx context.Context, _ any, emit fsm.Emit[DoorEvent]) error {
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
