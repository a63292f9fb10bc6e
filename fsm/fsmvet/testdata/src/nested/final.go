package nested

import "github.com/connfsm/connfsm/fsm"

// Door's Gone is final: it needs no rules, and may have none.
type Door uint8

const (
	Shut Door = iota
	Open
	Gone
)

type Push uint8

const (
	In Push = iota
	Out
)

var final = fsm.NewBuilder[Door, Push](Shut).Final(Gone)

var doorComplete = []fsm.Rule[Door, Push]{
	{From: Shut, On: In, Then: fsm.To(Open)},
	{From: Shut, On: Out, Then: fsm.To(Gone)},
	{From: Open, On: In, Then: fsm.Ignore[Door]()},
	{From: Open, On: Out, Then: fsm.To(Shut)},
}

var doorRuleOnFinal = []fsm.Rule[Door, Push]{
	{From: Shut, On: In, Then: fsm.To(Open)},
	{From: Shut, On: Out, Then: fsm.To(Gone)},
	{From: Gone, On: In, Then: fsm.Ignore[Door]()}, // want `rule Gone × In is for a final state: no event is processed in it`
	{From: Open, On: In, Then: fsm.Ignore[Door]()},
	{From: Open, On: In, Then: fsm.Ignore[Door]()}, // want `duplicate rule Open × In`
	{From: Open, On: Out, Then: fsm.To(Shut)},
}
