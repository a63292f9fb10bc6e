package fsm_test

import (
	"context"
	"fmt"

	"github.com/connfsm/connfsm/fsm"
)

// door returns the door of Example without its closer task.
func door() *fsm.Definition[Door, DoorEvent] {
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
		).Build()
	if err != nil {
		panic(err)
	}
	return def
}

// ExampleMachine_Await waits for the door to open, pushed by another
// goroutine: no Changed loop, no missed transition.
func ExampleMachine_Await() {
	m := door().Start(context.Background(), fsm.Config[Door, DoorEvent]{})
	defer m.Stop(context.Background())
	go func() { _ = m.Fire(context.Background(), Push) }()

	err := m.Await(context.Background(), func(m *fsm.Machine[Door, DoorEvent]) bool { return m.In(Open) })
	fmt.Println("open:", err, m.State())

	// The machine stops with the door open: a wait for Closed fails.
	go func() { _ = m.Stop(context.Background()) }()
	err = m.Await(context.Background(), func(m *fsm.Machine[Door, DoorEvent]) bool { return m.In(Closed) })
	fmt.Println("closed:", err)
	// Output:
	// open: <nil> Open
	// closed: fsm: Await: fsm: machine stopped in Open
}

// ExampleMachine_WhileIn binds work to the door being open: its context
// ends, with the exit as its cause, when the door is pulled shut.
func ExampleMachine_WhileIn() {
	m := door().Start(context.Background(), fsm.Config[Door, DoorEvent]{})
	defer m.Stop(context.Background())
	_ = m.Fire(context.Background(), Push)

	ctx, cancel := m.WhileIn(context.Background(), Open)
	defer cancel()
	fmt.Println("while open:", ctx.Err())
	_ = m.Fire(context.Background(), Pull)
	<-ctx.Done()
	fmt.Println("after Pull:", context.Cause(ctx))

	// Asked when the state is not active, the context has ended already.
	late, cancelLate := m.WhileIn(context.Background(), Open)
	defer cancelLate()
	fmt.Println("asked too late:", context.Cause(late))
	// Output:
	// while open: <nil>
	// after Pull: fsm: state Open exited on Pull
	// asked too late: fsm: state Open not active
}

// ExampleMachine_UntilIn bounds a wait by a state's entry: the context
// ends when the door opens.
func ExampleMachine_UntilIn() {
	m := door().Start(context.Background(), fsm.Config[Door, DoorEvent]{})
	defer m.Stop(context.Background())

	ctx, cancel := m.UntilIn(context.Background(), Open)
	defer cancel()
	go func() { _ = m.Fire(context.Background(), Push) }()
	<-ctx.Done()
	fmt.Println(context.Cause(ctx))
	// Output:
	// fsm: state Open entered on Push
}
