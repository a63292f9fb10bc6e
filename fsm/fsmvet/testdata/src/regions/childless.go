package regions

import "github.com/connfsm/connfsm/fsm"

// A sign is On with two regions, Color and Blink; Blink has no children,
// which Build refuses. Its missing pairs are not reported again.
type Sign uint8

const (
	Off   Sign = iota
	On         // parallel: Color, Blink
	Color      // region: Red, Green
	Red
	Green
	Blink // a region without children
)

type Switch uint8

const (
	Flip Switch = iota
	Turn
)

func sign() {
	b := fsm.NewBuilder[Sign, Switch](Off)
	b.Parallel(On, Color, Blink)
	b.Children(Color, Red, Green)
	b.Rules( // want `region Blink of On has no initial child: a region is a composite state \(declare its Children\)`
		fsm.Rule[Sign, Switch]{From: Off, On: Flip, Then: fsm.To(On)},
		fsm.Rule[Sign, Switch]{From: Off, On: Turn, Then: fsm.Ignore[Sign]()},
		fsm.Rule[Sign, Switch]{From: On, On: Flip, Then: fsm.To(Off)},
		fsm.Rule[Sign, Switch]{From: Red, On: Turn, Then: fsm.To(Green)},
		fsm.Rule[Sign, Switch]{From: Green, On: Turn, Then: fsm.To(Red)},
	)
	b.Build()
}
