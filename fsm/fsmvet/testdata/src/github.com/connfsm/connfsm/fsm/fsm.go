// Package fsm is a stand-in for the engine with the API the analyzer
// reads: Rule, Builder and its Rules, States, Events and Children methods.
package fsm

type Outcome[S comparable] struct{ To S }

func To[S comparable](target S) Outcome[S] { return Outcome[S]{To: target} }
func Ignore[S comparable]() Outcome[S]     { return Outcome[S]{} }
func Reject[S comparable]() Outcome[S]     { return Outcome[S]{} }

type Rule[S, E comparable] struct {
	From   S
	On     E
	Then   Outcome[S]
	Reason string
}

type Builder[S, E comparable] struct{ rules []Rule[S, E] }

type Definition[S, E comparable] struct{}

func NewBuilder[S, E comparable](initial S) *Builder[S, E] { return &Builder[S, E]{} }

func (b *Builder[S, E]) States(states ...S) *Builder[S, E] { return b }
func (b *Builder[S, E]) Events(events ...E) *Builder[S, E] { return b }
func (b *Builder[S, E]) Rules(rules ...Rule[S, E]) *Builder[S, E] {
	b.rules = append(b.rules, rules...)
	return b
}
func (b *Builder[S, E]) Children(parent S, children ...S) *Builder[S, E] { return b }
func (b *Builder[S, E]) Build() (*Definition[S, E], error)               { return &Definition[S, E]{}, nil }
func (b *Builder[S, E]) Final(states ...S) *Builder[S, E]                { return b }
