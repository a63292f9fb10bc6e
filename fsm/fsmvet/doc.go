// Package fsmvet is a static analyzer for the rule tables of package fsm.
// It finds the tables built from constant states and events. It reports,
// before the program runs, what Build would refuse:
//
//   - each (state, event) pair a table misses or declares twice;
//   - the problems of its regions, internal rules, history states and
//     postpone limit.
//
// fsm.Builder.Build finds the same problems at run time. fsmvet moves them
// to the line of the table.
//
// Run it through go vet:
//
//	go install github.com/connfsm/connfsm/fsm/fsmvet/cmd/fsmvet@latest
//	go vet -vettool=$(command -v fsmvet) ./...
//
// It reports, for example:
//
//	transitions.go:62:22: rule table misses Syncing × Lost
//	transitions.go:98:2: duplicate rule Closing × GaveUp (first at line 97)
//
// A missing pair is reported at the table: its slice literal, or its first
// Rules call. A duplicate is reported at the row that repeats the pair.
//
// # Tables
//
// A table is one of:
//
//   - a []fsm.Rule[S, E] composite literal, with keyed (From, On, Then,
//     Reason) or positional rows;
//   - a slice literal of a local row type whose first two fields have
//     types S and E, passed to a function that returns []fsm.Rule[S, E]
//     (the rows(...) pattern of the lifecycle's transitions.go);
//   - every Rules call on one *fsm.Builder[S, E], taken together: rule
//     literals as arguments, or one of the two literals above spread with
//     "...". A builder is followed from its fsm.NewBuilder call along
//     method chains and through local variables.
//
// A literal is checked as a whole table on its own. The exception is a
// literal spread straight into a Rules call of a builder fsmvet follows.
// Such a literal is part of that builder's table.
//
// # States and events
//
// Some builders call States (Events) with only constant arguments. Their
// tables must cover exactly those states (events). Any other table must
// cover every constant of the named type S (E) declared at package level
// in the type's own package. It needs one per distinct value: a second
// name for a value is the same state. For a type declared in another
// package, those are its exported constants, the only ones a table can
// name.
//
// Some constants are not members. One is a name that starts with "_".
// Another is a count such as numStates or NumEvents: "num" or "Num" and an
// upper-case letter.
//
// # Nested states
//
// Calls (*fsm.Builder[S, E]).Children(parent, children...) give the
// nesting of the state type S. They count when their arguments are
// constant, anywhere in the package being analyzed. A state with children
// is composite; the others are leaves. A table must resolve every (leaf,
// event) pair. It needs a rule for the leaf, or for its nearest ancestor
// that has one: a child's rule overrides its parent's. A composite state
// needs no rule of its own for an event all its leaves resolve. Two rules
// for one (state, event) pair are a duplicate at any level. Without
// Children calls the machine is flat: every state is a leaf.
//
// Final states come from (*fsm.Builder[S, E]).Final calls with constant
// arguments in the package. They need no rules: no event is processed in
// them. A rule for one is reported, as Build would refuse it:
//
//	rule Gone × In is for a final state: no event is processed in it
//
// # Parallel regions, internal transitions, history, postpone
//
// A call (*fsm.Builder[S, E]).Parallel(state, regions...) with constant
// arguments makes each region a child of the parallel state.
// Exhaustiveness holds per region leaf. Every leaf under a region resolves
// every event up its own ancestors: its region, the parallel state and
// above. A region without children is reported at the table, as Build
// refuses it. Its pairs are not reported missing:
//
//	region Blink of On has no initial child: a region is a composite state (declare its Children)
//
// An fsm.Internal(target) or fsm.Postpone() outcome declares its cell like
// any other. Some internal rules are reported at the row, as Build refuses
// them. That is so when the constant target is not a proper descendant of
// the rule's state. It is so too when the rule is declared on a parallel
// state:
//
//	rule Working × Done: internal transition to Filled: Filled is not a proper descendant of Working
//	rule Alive × Connected: internal transition on parallel state Alive: its regions are all active, so none can be re-entered alone (use To)
//
// A call (*fsm.Builder[S, E]).History(composite, kind, h) with a constant
// composite and h makes h a pseudo-state of composite. Then h is no leaf
// and needs no rules. It counts as a descendant of composite, so an
// internal rule on composite may target it. Build refuses a rule for h, a
// history on a leaf, and a history listed in States. fsmvet reports them:
//
//	rule Resume × Next is for a history state: it has no rules
//	history Again of Lit: Lit has no children: a history belongs to a composite state
//	history Again of Lit is listed in States: a history is a pseudo-state, not a state
//
// A PostponeLimit call whose argument is a negative constant is reported
// at the argument:
//
//	postpone limit -1 is negative
//
// # What it cannot see
//
// fsmvet reads source, not running programs. It skips, without a report:
//
//   - tables built at run time: rules appended in a loop, returned by a
//     function (other than the row conversion above), or read from a
//     variable, as in Rules(table...). The literal that initialises table
//     is checked where it is written, unless it is empty: an empty literal
//     declares no rule.
//   - a table with any row whose state or event is not a constant (a
//     variable, a function result, an omitted From or On). So is a table
//     with any row that is not a literal (rule(A, Go) is a call). The whole
//     table is skipped, not just that row.
//   - the Rules calls of a builder that escapes the function that made it
//     (returned, passed to a function, stored in a field or a
//     package-level variable). So are those of a builder it did not make (a
//     parameter, another function's result). More rules may be added
//     where fsmvet does not look. A literal spread into such a call is
//     still checked on its own.
//   - every table of a state type whose Children, Parallel, Final or
//     History calls have a non-constant state argument (children...): its
//     leaves are unknown.
//   - an internal rule whose target is not a constant.
//   - tables in _test.go files. Tests build partial and broken tables on
//     purpose, to test the engine's own checks.
//
// It also cannot see a hierarchy, or final or history states, declared in
// another package than the table. There the composite states count as
// leaves. Their children, the final and the history states are reported
// as missing pairs. Nor does it know which constants a definition leaves
// out when its States or Events are not constant arguments. It then counts
// them all.
//
// A table that is partial on purpose, such as a patch merged into another
// table, can opt out. Put this comment on its first line or the line
// above:
//
//	//fsmvet:ignore
//	var patch = []fsm.Rule[State, Event]{...}
//
// # Dependencies
//
// fsmvet is a module of its own, github.com/connfsm/connfsm/fsm/fsmvet. It
// needs golang.org/x/tools, which is thus no requirement of
// github.com/connfsm/connfsm: importers of the library never download it.
// In the root module, "GOWORK=off go mod graph" lists no golang.org/x/tools.
package fsmvet
