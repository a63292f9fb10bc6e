// Package rows builds its table from a local row type, as the lifecycle's
// transitions.go does.
package rows

import "github.com/connfsm/connfsm/fsm"

type State uint8

const (
	Idle State = iota
	Busy
)

type Event uint8

const (
	Start Event = iota
	Stop
)

type row struct {
	from   State
	on     Event
	then   fsm.Outcome[State]
	reason string
}

var to = fsm.To[State]

func rules(rows []row) []fsm.Rule[State, Event] {
	out := make([]fsm.Rule[State, Event], len(rows))
	for i, r := range rows {
		out[i] = fsm.Rule[State, Event]{From: r.from, On: r.on, Then: r.then, Reason: r.reason}
	}
	return out
}

var complete = rules([]row{
	{Idle, Start, to(Busy), "go"},
	{Idle, Stop, fsm.Ignore[State](), "already idle"},
	{Busy, Start, fsm.Ignore[State](), "already busy"},
	{Busy, Stop, to(Idle), "stop"},
})

var missing = rules([]row{ // want `rule table misses Busy × Stop`
	{Idle, Start, to(Busy), "go"},
	{Idle, Stop, fsm.Ignore[State](), "already idle"},
	{Busy, Start, fsm.Ignore[State](), "already busy"},
})

var keyed = rules([]row{
	{from: Idle, on: Start, then: to(Busy)},
	{on: Stop, from: Idle},
	{from: Busy, on: Start},
	{from: Busy, on: Stop, then: to(Idle)},
	{from: Busy, on: Stop, then: to(Idle)}, // want `duplicate rule Busy × Stop`
})

// spread passes a converted table straight to Rules: one table, reported
// once, at the Rules call.
func spread() {
	fsm.NewBuilder[State, Event](Idle).Rules(rules([]row{ // want `rule table misses Idle × Stop`
		{Idle, Start, to(Busy), "go"},
		{Busy, Start, fsm.Ignore[State](), "already busy"},
		{Busy, Stop, to(Idle), "stop"},
	})...).Build()
}

// other is a slice of structs of other types: not a table.
type other struct {
	name  string
	state State
}

var others = []other{{"a", Idle}}

// notRules returns something else than rules: not a table.
func notRules(rows []row) int { return len(rows) }

var n = notRules([]row{{Idle, Start, to(Busy), ""}})
