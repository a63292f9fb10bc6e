// Package fsm is a stand-in for the engine with the API the analyzer
// reads: Rule, its outcomes (To, Internal, Ignore, Reject, Postpone),
// Builder and its Rules, States, Events, Children, Parallel, History,
// Final and PostponeLimit methods.
package fsm

import "errors"

type Kind uint8

const (
	KindTransition Kind = iota + 1
	KindIgnore
	KindReject
	KindChoice
	KindPostpone
)

type Outcome[S comparable] struct {
	Kind     Kind
	To       S
	Internal bool
}

func To[S comparable](target S) Outcome[S] { return Outcome[S]{Kind: KindTransition, To: target} }
func Internal[S comparable](target S) Outcome[S] {
	return Outcome[S]{Kind: KindTransition, To: target, Internal: true}
}
func Ignore[S comparable]() Outcome[S]   { return Outcome[S]{Kind: KindIgnore} }
func Reject[S comparable]() Outcome[S]   { return Outcome[S]{Kind: KindReject} }
func Postpone[S comparable]() Outcome[S] { return Outcome[S]{Kind: KindPostpone} }

var ErrPostponeLimit = errors.New("fsm: postpone limit reached")

const DefaultPostponeLimit = 64

type Rule[S, E comparable] struct {
	From   S
	On     E
	Then   Outcome[S]
	Reason string
}

type HistoryKind uint8

const (
	Shallow HistoryKind = iota + 1
	Deep
)

type Builder[S, E comparable] struct{ rules []Rule[S, E] }

type Definition[S, E comparable] struct{}

type Cell[S comparable] struct {
	At       S
	Then     Outcome[S]
	Internal bool
}

func NewBuilder[S, E comparable](initial S) *Builder[S, E] { return &Builder[S, E]{} }

func (b *Builder[S, E]) States(states ...S) *Builder[S, E] { return b }
func (b *Builder[S, E]) Events(events ...E) *Builder[S, E] { return b }
func (b *Builder[S, E]) Rules(rules ...Rule[S, E]) *Builder[S, E] {
	b.rules = append(b.rules, rules...)
	return b
}
func (b *Builder[S, E]) Children(parent S, children ...S) *Builder[S, E]           { return b }
func (b *Builder[S, E]) Parallel(parent S, regions ...S) *Builder[S, E]            { return b }
func (b *Builder[S, E]) History(composite S, kind HistoryKind, h S) *Builder[S, E] { return b }
func (b *Builder[S, E]) PostponeLimit(n int) *Builder[S, E]                        { return b }
func (b *Builder[S, E]) Build() (*Definition[S, E], error)                         { return &Definition[S, E]{}, nil }
func (b *Builder[S, E]) Final(states ...S) *Builder[S, E]                          { return b }

func (d *Definition[S, E]) IsParallel(s S) bool { return false }
func (d *Definition[S, E]) History(h S) (composite S, kind HistoryKind, ok bool) {
	return composite, 0, false
}
func (d *Definition[S, E]) Histories() []S { return nil }
