// Package builder declares rules through Builder.Rules calls.
package builder

import "github.com/connfsm/connfsm/fsm"

type State uint8

const (
	A State = iota
	B
	C
)

type Event uint8

const (
	Go Event = iota
	Back
)

type rule = fsm.Rule[State, Event]

func chain() {
	fsm.NewBuilder[State, Event](A).Rules( // want `rule table misses C × Back`
		rule{From: A, On: Go, Then: fsm.To(B)},
		rule{From: A, On: Back, Then: fsm.To(A)},
		rule{From: B, On: Go, Then: fsm.To(C)},
		rule{From: B, On: Back, Then: fsm.To(A)},
		rule{From: C, On: Go, Then: fsm.To(A)},
	).Build()
}

// split declares one table in two Rules calls on a variable: complete
// together.
func split() {
	b := fsm.NewBuilder[State, Event](A)
	b.Rules(
		rule{From: A, On: Go, Then: fsm.To(B)},
		rule{From: A, On: Back, Then: fsm.To(A)},
		rule{From: B, On: Go, Then: fsm.To(C)},
	)
	b = b.Rules(rule{From: B, On: Back, Then: fsm.To(A)})
	b.Rules([]rule{
		{From: C, On: Go, Then: fsm.To(A)},
		{From: C, On: Back, Then: fsm.To(B)},
	}...)
	_, _ = b.Build()
}

// twice repeats a pair across two Rules calls of one builder.
func twice() {
	fsm.NewBuilder[State, Event](A).States(A, B).Events(Go, Back).
		Rules( // want `rule table misses B × Back`
			rule{From: A, On: Go, Then: fsm.To(B)},
			rule{From: A, On: Back, Then: fsm.To(A)},
		).
		Rules(
			rule{From: B, On: Go, Then: fsm.To(A)},
			rule{From: A, On: Go, Then: fsm.To(B)}, // want `duplicate rule A × Go`
		).Build()
}

// subset covers only the states and events it declares with constants.
func subset() {
	fsm.NewBuilder[State, Event](A).States(A).States(B).Events(Go).Rules(
		rule{From: A, On: Go, Then: fsm.To(B)},
		rule{From: B, On: Go, Then: fsm.To(A)},
	).Build()
}

// escapes returns its builder: the caller may add rules, so the table is
// not checked.
func escapes() *fsm.Builder[State, Event] {
	return fsm.NewBuilder[State, Event](A).Rules(rule{From: A, On: Go, Then: fsm.To(B)})
}

// param adds rules to a builder it did not make: not checked.
func param(b *fsm.Builder[State, Event]) {
	b.Rules(rule{From: A, On: Go, Then: fsm.To(B)})
}

// passed hands its builder to another function: not checked.
func passed() {
	b := fsm.NewBuilder[State, Event](A)
	b.Rules(rule{From: A, On: Go, Then: fsm.To(B)})
	param(b)
}

// fromCall starts from a builder another function made: not checked.
func fromCall() {
	b := escapes()
	b.Rules(rule{From: B, On: Go, Then: fsm.To(A)})
}

// ignored opts out.
func ignored() {
	b := fsm.NewBuilder[State, Event](A)
	//fsmvet:ignore
	b.Rules(rule{From: A, On: Go, Then: fsm.To(B)})
}

// escapesWhole returns its builder, so its Rules calls are not followed;
// the literal spread into it is still checked, as a table of its own.
func escapesWhole() *fsm.Builder[State, Event] {
	return fsm.NewBuilder[State, Event](A).Rules([]rule{ // want `rule table misses C × Back`
		{From: A, On: Go, Then: fsm.To(B)},
		{From: A, On: Back, Then: fsm.To(A)},
		{From: B, On: Go, Then: fsm.To(C)},
		{From: B, On: Back, Then: fsm.To(A)},
		{From: C, On: Go, Then: fsm.To(A)},
	}...)
}
