package nested

import "github.com/connfsm/connfsm/fsm"

// Deeper nesting over its own types: Up holds Mid, Mid holds Low and
// High; a rule on Up reaches the leaves two levels down.
type Level uint8

const (
	Down Level = iota
	Up
	Mid
	Low
	High
)

type Tick uint8

const (
	Beat Tick = iota
	Stop
)

func deeper() {
	b := fsm.NewBuilder[Level, Tick](Down)
	b.Children(Up, Mid)
	b.Children(Mid, Low, High)
	b.Rules( // want `rule table misses High × Beat`
		fsm.Rule[Level, Tick]{From: Down, On: Beat, Then: fsm.To(Up)},
		fsm.Rule[Level, Tick]{From: Down, On: Stop, Then: fsm.Ignore[Level]()},
		fsm.Rule[Level, Tick]{From: Up, On: Stop, Then: fsm.To(Down)},
		fsm.Rule[Level, Tick]{From: Low, On: Beat, Then: fsm.To(High)},
	)
	b.Build()
}
