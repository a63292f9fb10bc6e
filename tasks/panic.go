package tasks

import (
	"errors"
	"fmt"
)

// ErrPanicked matches every *PanicError: a panic recovered from a task, or
// (package fsm) from a hook, an action, a choice or an observer.
var ErrPanicked = errors.New("panic recovered")

// PanicError is a recovered panic: what a task that panicked is reported to
// have returned, and (package fsm, whose PanicError is this type) what a
// machine fail-stops on when a hook, an action or its observer panics. It
// matches ErrPanicked, and errors.Is and errors.As see through it to the
// panic value when that is an error.
type PanicError struct {
	// Task names the task that panicked; empty for a panic elsewhere.
	Task string
	// Where names the code that panicked when it is not a task: "enter
	// hook of Alive", "exit hook of Syncing", "action of Alive × Lost",
	// "observer"; empty for a task.
	Where string
	Value any
	Stack []byte
}

// Error names the task, or where the panic happened, and the panic value.
func (e *PanicError) Error() string {
	if e.Where == "" {
		return fmt.Sprintf("tasks: task %q panicked: %v", e.Task, e.Value)
	}
	return fmt.Sprintf("fsm: panic in %s: %v", e.Where, e.Value)
}

// Is reports whether target is ErrPanicked.
func (e *PanicError) Is(target error) bool { return target == ErrPanicked }

// Unwrap returns the panic value if it is an error, so errors.Is and
// errors.As see through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
