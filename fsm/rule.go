package fsm

import (
	"context"

	"github.com/connfsm/connfsm/internal/enum"
	"github.com/connfsm/connfsm/tasks"
)

// Kind says what a declared (state, event) pair does.
type Kind uint8

const (
	// KindTransition leaves the state for the outcome's target.
	KindTransition Kind = iota + 1
	// KindIgnore drops the event: it is stale or harmless in this state.
	KindIgnore
	// KindReject drops the event and reports an error: it cannot happen in
	// this state unless there is a bug.
	KindReject
	// KindChoice leaves the state for a target its function picks, at the
	// time of the step, from a declared set.
	KindChoice
	// KindPostpone keeps the event and offers it again, in order, after the
	// next step that changes the active configuration.
	KindPostpone

	kindInvalid Kind = 255 // a rule with a reported problem; never in a built Definition
)

var kindNames = [...]string{KindTransition: "transition", KindIgnore: "ignore", KindReject: "reject", KindChoice: "choice", KindPostpone: "postpone"}

// String returns "transition", "ignore", "reject", "choice" or "postpone".
func (k Kind) String() string { return enum.Name(kindNames[:], k, "Kind(%d)") }

// Outcome is what a (state, event) pair does: made with To, Internal,
// Ignore, Reject, Choice or Postpone. Outcomes are comparable with ==: two
// Choice outcomes are equal only if they share their ChoiceRule.
type Outcome[S comparable] struct {
	Kind Kind
	To   S // the target state; the zero value unless Kind is KindTransition
	// Internal marks a transition made with Internal: the state declaring
	// the rule is not exited.
	Internal bool
	// Choice is a Choice outcome's function and targets; nil otherwise.
	Choice *ChoiceRule[S]
}

// ChoiceRule is the function and the declared targets of a Choice outcome.
type ChoiceRule[S comparable] struct {
	// Pick returns the target; see Choice.
	Pick func(env, payload any) S
	// Targets is the finite set Pick may return, in the order diagrams draw
	// them.
	Targets []S
}

// To returns the outcome "transition to target". A composite target is
// entered down to its initial leaf.
func To[S comparable](target S) Outcome[S] { return Outcome[S]{Kind: KindTransition, To: target} }

// Internal returns the outcome "move to target without leaving the state
// that declares the rule", an internal transition (XState's reenter:
// false). The declaring state must be a composite and target one of its
// proper descendants: the declaring state is not exited, its hooks do not
// run again and its tasks and timeouts keep running; only its active
// descendants that do not lead to target are exited, and the states from
// below it down to target (and target's initial descendants) are entered.
func Internal[S comparable](target S) Outcome[S] {
	return Outcome[S]{Kind: KindTransition, To: target, Internal: true}
}

// Postpone returns the outcome "keep the event for later", as gen_statem's
// postpone: the event is offered again, in order and ahead of the events
// queued after it, once a step has changed the active configuration. A
// machine holds at most Builder.PostponeLimit events postponed; one more
// is rejected with an error matching ErrPostponeLimit. A self-transition
// that re-enters the same states is no change. The rule's reason is
// optional. See the package documentation, "Postponed events".
func Postpone[S comparable]() Outcome[S] { return Outcome[S]{Kind: KindPostpone} }

// Ignore returns the outcome "drop the event, it is expected and harmless".
func Ignore[S comparable]() Outcome[S] { return Outcome[S]{Kind: KindIgnore} }

// Reject returns the outcome "drop the event and report an error".
func Reject[S comparable]() Outcome[S] { return Outcome[S]{Kind: KindReject} }

// Choice returns the outcome "transition to the target pick returns", a
// guarded choice among a declared, finite set of targets. pick runs on the
// machine's goroutine when the event is processed, before anything is
// exited; it receives the machine's environment (Config.Env) and the
// event's payload and must not block. Diagrams draw an edge to every
// target and fsmtest explores every branch. A target pick returns that is
// not among targets is a rejected step (a *RejectedError matching
// ErrUndeclaredTarget), never a silent jump; so is a panic in pick.
func Choice[S comparable](pick func(env, payload any) S, targets ...S) Outcome[S] {
	return Outcome[S]{Kind: KindChoice, Choice: &ChoiceRule[S]{Pick: pick, Targets: append([]S(nil), targets...)}}
}

// Targets returns the targets a transition may lead to: To for a
// transition, the declared set for a choice, nil otherwise.
func (o Outcome[S]) Targets() []S {
	switch o.Kind {
	case KindTransition:
		return []S{o.To}
	case KindChoice:
		if o.Choice != nil {
			return append([]S(nil), o.Choice.Targets...)
		}
	}
	return nil
}

// Rule declares one cell of the transition table: in state From (a leaf or
// a composite state, whose rule its descendants inherit), event On has the
// outcome Then. Reason says why the cell is what it is; it is required for
// Ignore and Reject and shown in the transition matrix.
type Rule[S, E comparable] struct {
	From   S
	On     E
	Then   Outcome[S]
	Reason string
}

// Rows returns a table's rows as rules. A table declares its rows as a
// local type defined as Rule ("type row fsm.Rule[State, Event]"), so that
// they read as positional literals, which go vet allows only for a local
// type.
func Rows[S, E comparable, R ~struct {
	From   S
	On     E
	Then   Outcome[S]
	Reason string
}](rows []R) []Rule[S, E] {
	out := make([]Rule[S, E], len(rows))
	for i, r := range rows {
		out[i] = Rule[S, E](r)
	}
	return out
}

// Transition is what hooks and actions receive: the step being taken.
type Transition[S, E comparable] struct {
	// From is the leaf the machine was in; To the leaf it goes to (the
	// target's initial leaf when the target is composite). For the initial
	// entry From and To are the initial leaf.
	From  S
	Event E
	To    S
	// State is the state whose hook runs: From, To, or one of their
	// ancestors being exited or entered. For an action it is the state
	// that declares the rule.
	State S
	// Payload is the value fired with the event (a connection, an error).
	// Hooks and actions of a transition own it: it is not disposed.
	Payload any
	// Epoch is the epoch of State's entry: the one being left for exit
	// hooks and actions, the new one for enter hooks.
	Epoch uint64
	// Env is the machine's environment, Config.Env.
	Env any
	// Stopping is true for the exit hooks run by Stop (or by the stop that
	// follows the entry of a final state or a panic); Event and To are then
	// zero values.
	Stopping bool
	// Started is true for the entries Start makes: no event entered the
	// state, and Event is the zero value, which means nothing.
	Started bool
}

// Hook is an enter hook, an exit hook or a transition action. ctx is the
// machine's context: calls into the machine made with it (Fire, Stop) are
// recognised as coming from inside and never wait for the step in progress.
type Hook[S, E comparable] func(ctx context.Context, t Transition[S, E])

// Emit hands an event, with an optional payload, from a task to its machine.
// It only enqueues: it never blocks and never runs a transition itself. The
// event carries the epoch of the task's state entry and is dropped as stale
// if that entry is over when it is processed.
type Emit[E comparable] func(event E, payload any)

// Task is the body of a state-scoped task: started when its state is
// entered, its ctx is cancelled when the state is left (or a task in the
// same failure scope fails), and the machine waits for it to return before
// the step that left the state goes on.
//
// in is the step that entered the task's state, as the state's enter hooks
// saw it: From, Event, Payload and To of the step (Started for the entry
// made by Start), State the task's state and Epoch its entry. in.Env is
// the machine's environment, Config.Env: the owner a task works for,
// reached without a context lookup. A task that needs to know why its state
// was entered (the cause of a reconnect, the connection just dialled) reads
// it here rather than from a copy kept by its owner.
//
// A non-nil error returned while ctx is live fires the failure event of the
// task's state, or of its nearest ancestor that declares one, with the error
// as the payload.
type Task[S, E comparable] func(ctx context.Context, in Transition[S, E], emit Emit[E]) error

// TimerTask is the body of a task stepped by a timer (Builder.TimerTask):
// a Task that, instead of waiting in a goroutine, re-arms t to be called
// again. ctx, in and emit are a Task's, the same at every step of one
// state entry. A step must return promptly once ctx is done, and must not
// re-arm t then. See tasks.Stepper.
type TimerTask[S, E comparable] func(ctx context.Context, in Transition[S, E], emit Emit[E], t *tasks.Timer) error

// Disposer is implemented by payloads that own a resource. The machine
// calls Dispose exactly once on a payload whose event is not consumed by a
// transition: stale, ignored, rejected, fired after Stop, or still queued
// when the machine stops.
type Disposer interface{ Dispose() }

func dispose(payload any) {
	if d, ok := payload.(Disposer); ok {
		d.Dispose()
	}
}
