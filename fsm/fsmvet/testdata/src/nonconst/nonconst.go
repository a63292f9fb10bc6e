// Package nonconst has tables the analyzer cannot read, so it skips them.
package nonconst

import "github.com/connfsm/connfsm/fsm"

type State uint8

const (
	A State = iota
	B
)

type Event uint8

const (
	Go Event = iota
	Back
)

type rule = fsm.Rule[State, Event]

var start = A

// A row whose state is a variable: the whole table is skipped.
var variable = []rule{
	{From: start, On: Go, Then: fsm.To(B)},
}

func r(from State, on Event) rule { return rule{From: from, On: on} }

// Rows made by a function call: skipped.
var called = []rule{
	r(A, Go),
}

// A row that leaves From out: skipped.
var partialRow = []rule{
	{On: Go},
}

// Rules built in a loop and spread into Rules: skipped.
func loop() {
	var rules []rule
	for _, s := range []State{A, B} {
		rules = append(rules, rule{From: s, On: Go, Then: fsm.To(A)})
	}
	fsm.NewBuilder[State, Event](A).Rules(rules...).Build()
}

// Rules built in a loop from an empty literal: skipped too, as the empty
// literal declares no rule.
func loopFromEmpty() {
	rules := []rule{}
	for _, s := range []State{A, B} {
		rules = append(rules, rule{From: s, On: Go, Then: fsm.To(A)})
	}
	fsm.NewBuilder[State, Event](A).Rules(rules...).Build()
}

// Tables of a type whose nesting is declared with non-constant children:
// skipped, since its leaves are unknown.
type Phase uint8

const (
	P Phase = iota
	Q
	R
)

var kids = []Phase{Q, R}

var nest = fsm.NewBuilder[Phase, Event](P).Children(P, kids...)

var phases = []fsm.Rule[Phase, Event]{
	{From: P, On: Go, Then: fsm.To(Q)},
}

// A generic table: its states are no constants.
func generic[S, E comparable](s S, e E) []fsm.Rule[S, E] {
	return []fsm.Rule[S, E]{{From: s, On: e}}
}
