package history

import "github.com/connfsm/connfsm/fsm"

// A lamp's Lit is a leaf: a history on it is refused, as is a history
// listed among the States.
type Lamp uint8

const (
	Dark Lamp = iota
	Lit
	Again // the history of Lit, a leaf
)

type Press uint8

const Toggle Press = 0

func lamp() {
	b := fsm.NewBuilder[Lamp, Press](Dark)
	b.States(Dark, Lit, Again)
	b.Events(Toggle)
	b.History(Lit, fsm.Deep, Again)
	b.Rules( // want `history Again of Lit: Lit has no children: a history belongs to a composite state` `history Again of Lit is listed in States: a history is a pseudo-state, not a state`
		fsm.Rule[Lamp, Press]{From: Dark, On: Toggle, Then: fsm.To(Again)},
		fsm.Rule[Lamp, Press]{From: Lit, On: Toggle, Then: fsm.To(Dark)},
	)
	b.Build()
}
