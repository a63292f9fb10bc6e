package fsmtest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
)

// Door is the state of a door.
type Door int

const (
	Open Door = iota
	Closed
	Locked
)

func (d Door) String() string { return [...]string{"Open", "Closed", "Locked"}[d] }

// Action is what someone does to a door.
type Action int

const (
	Push Action = iota
	Shut
	Lock
	Unlock
)

func (a Action) String() string { return [...]string{"Push", "Shut", "Lock", "Unlock"}[a] }

func doorDefinition() *fsm.Definition[Door, Action] {
	def, err := fsm.NewBuilder[Door, Action](Closed).
		States(Open, Closed, Locked).
		Events(Push, Shut, Lock, Unlock).
		Rules(
			fsm.Rule[Door, Action]{From: Open, On: Push, Then: fsm.Ignore[Door](), Reason: "already open"},
			fsm.Rule[Door, Action]{From: Open, On: Shut, Then: fsm.To(Closed)},
			fsm.Rule[Door, Action]{From: Open, On: Lock, Then: fsm.Reject[Door](), Reason: "the bolt would hit the frame"},
			fsm.Rule[Door, Action]{From: Open, On: Unlock, Then: fsm.Ignore[Door](), Reason: "not locked"},
			fsm.Rule[Door, Action]{From: Closed, On: Push, Then: fsm.To(Open)},
			fsm.Rule[Door, Action]{From: Closed, On: Shut, Then: fsm.Ignore[Door](), Reason: "already closed"},
			fsm.Rule[Door, Action]{From: Closed, On: Lock, Then: fsm.To(Locked)},
			fsm.Rule[Door, Action]{From: Closed, On: Unlock, Then: fsm.Ignore[Door](), Reason: "not locked"},
			fsm.Rule[Door, Action]{From: Locked, On: Push, Then: fsm.Reject[Door](), Reason: "a locked door does not open"},
			fsm.Rule[Door, Action]{From: Locked, On: Shut, Then: fsm.Ignore[Door](), Reason: "already closed"},
			fsm.Rule[Door, Action]{From: Locked, On: Lock, Then: fsm.Ignore[Door](), Reason: "already locked"},
			fsm.Rule[Door, Action]{From: Locked, On: Unlock, Then: fsm.To(Closed)},
		).
		Build()
	if err != nil {
		panic(err)
	}
	return def
}

// printT stands in for the *testing.T a real test passes to Check: it prints
// the first line of each failure (the diff below it is go-cmp's, whose exact
// spacing is deliberately unstable).
type printT struct{ testing.TB }

func (printT) Helper() {}

func (printT) Errorf(format string, args ...any) {
	msg, _, _ := strings.Cut(fmt.Sprintf(format, args...), "\n")
	fmt.Println(msg)
}

func ExampleCheck() {
	// In a test: fsmtest.Check(t, doorDefinition(), rows)
	var t testing.TB = printT{}

	fsmtest.Check(t, doorDefinition(), []fsmtest.Row[Door, Action]{
		{From: Closed, Event: Push, Want: fsm.To(Open)},
		{From: Closed, Event: Lock, Want: fsm.To(Locked)},
		{From: Open, Event: Lock, Want: fsm.Reject[Door]()},
		{From: Locked, Event: Unlock, Want: fsm.To(Closed)},
		{From: Locked, Event: Shut, Want: fsm.Ignore[Door]()},
		{From: Locked, Event: Push, Want: fsm.To(Open)}, // wrong: the table rejects it
	})
	// Output:
	// Locked × Push (-want +got):
}
