package fsm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/connfsm/connfsm/tasks"
)

var (
	// ErrRejected matches every *RejectedError.
	ErrRejected = errors.New("fsm: event rejected")
	// ErrUndeclaredTarget matches the *RejectedError of a step whose Choice
	// picked a target it does not declare, or panicked.
	ErrUndeclaredTarget = errors.New("fsm: choice picked an undeclared target")
	// ErrStateExited matches the cause of every state's task cancellation.
	ErrStateExited = errors.New("fsm: state exited")
	// ErrStopped is returned by Fire on a stopped machine.
	ErrStopped = errors.New("fsm: machine stopped")
	// ErrUnknownEvent is matched by the error of Fire with an event the
	// definition does not list, and by the failure of a task that emits one.
	ErrUnknownEvent = errors.New("fsm: unknown event")
	// ErrPostponeLimit matches the *RejectedError of an event postponed
	// while the machine already holds Builder.PostponeLimit events.
	ErrPostponeLimit = errors.New("fsm: postpone limit reached")
	// ErrPanicked matches every *PanicError, a task's included: it is
	// tasks.ErrPanicked.
	ErrPanicked = tasks.ErrPanicked
)

// BuildError lists every problem found in a definition.
type BuildError struct {
	Problems []string
}

// Error lists every problem, one per line.
func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fsm: invalid definition (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteByte('s')
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p)
	}
	return b.String()
}

// ExitError is the cancellation cause a state's tasks see when the state is
// left: context.Cause(ctx) returns it. It matches ErrStateExited.
type ExitError struct {
	State string // the state left
	Event string // the event that caused it; empty when the machine stopped
	// Inactive is set on the cause of a WhileIn context made while the
	// state was not active: it was left before the call.
	Inactive bool
}

// Error names the state left and the event that left it.
func (e *ExitError) Error() string {
	if e.Inactive {
		return fmt.Sprintf("fsm: state %s not active", e.State)
	}
	if e.Event == "" {
		return fmt.Sprintf("fsm: state %s exited: machine stopped", e.State)
	}
	return fmt.Sprintf("fsm: state %s exited on %s", e.State, e.Event)
}

// Is reports whether target is ErrStateExited.
func (e *ExitError) Is(target error) bool { return target == ErrStateExited }

// RejectedError is returned by Fire, and passed to the observer, for an event
// whose rule is Reject, or whose Choice picked an undeclared target.
type RejectedError struct {
	// State is the leaf the machine was in; Event the event rejected.
	State, Event, Reason string
	// Err is ErrUndeclaredTarget for a choice gone wrong, nil for a
	// declared rejection.
	Err error
}

// Error names the event, the state and the reason for the rejection.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("fsm: event %s rejected in state %s: %s", e.Event, e.State, e.Reason)
}

// Is reports whether target is ErrRejected.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Unwrap returns Err.
func (e *RejectedError) Unwrap() error { return e.Err }

// PanicError is a recovered panic, one type across fsm and tasks (it is
// tasks.PanicError). A panic in a hook, an action, the observer, a timeout
// function or a payload's Dispose during a step fail-stops the machine
// (see the package documentation): Err returns it from then on, with Where naming the code.
// A panic in a task is that task's failure, reported with Task naming it.
// A panic in a Choice's function is neither: the step is rejected (a
// *RejectedError matching ErrUndeclaredTarget) and the machine goes on. It
// matches ErrPanicked, and errors.Is and errors.As see through it to the
// panic value when that is an error.
type PanicError = tasks.PanicError
