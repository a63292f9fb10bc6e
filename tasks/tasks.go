// Package tasks runs named goroutines that share one context and stop together.
//
// A Group is like golang.org/x/sync/errgroup with two additions a state
// machine needs: the wait is bounded by a deadline, and every task still
// running at that deadline is reported by name (a straggler) instead of being
// forgotten. Goroutines started with Go have returned before Wait returns;
// Stop returns at the deadline at the latest and tells which have not.
//
// The first task that fails (returns a non-nil error, or panics, while the
// group's context is still live) cancels the context of all its siblings at
// once, with a *TaskError as the cause: context.Cause tells a sibling why it
// was stopped.
//
// A panic in a task is recovered and reported as a *PanicError, as if the task
// had returned it; a task that ends with runtime.Goexit is reported to have
// returned an error matching ErrGoexit. Re-panicking would take the whole process down from a
// background goroutine (or from the goroutine that joins, in the middle of a
// state change) with the owner's resources still held; as a value it is
// handled like any other failure: siblings are cancelled and the owner
// decides, with the stack kept for the report.
package tasks

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Func is the body of a task. It must return promptly once ctx is done; a
// call that blocks without regard to ctx can be unblocked with
// context.AfterFunc(ctx, conn.Close).
type Func func(ctx context.Context) error

// Group is a set of named tasks bound to one context. Create it with New; a
// Group is used for one batch of tasks: after Stop or Wait, Go starts
// nothing and returns an error matching ErrStopped.
type Group struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	onFail func(name string, err error)
	idle   chan struct{} // closed when the group is stopped and no task runs

	mu       sync.Mutex
	tasks    []*task
	running  int
	stopping bool
	failed   bool
}

type task struct {
	name   string
	err    error
	done   bool
	failed bool
}

// New returns a group whose context is derived from parent. When a task
// fails, onFail (if not nil) is called once, on that task's goroutine, after
// the siblings' context has been cancelled; only the first failure is passed
// to it.
func New(parent context.Context, onFail func(name string, err error)) *Group {
	ctx, cancel := context.WithCancelCause(parent)
	return &Group{ctx: ctx, cancel: cancel, onFail: onFail, idle: make(chan struct{})}
}

// Context returns the context the group's tasks receive. It is cancelled by
// Cancel, Stop, the first failing task, or the parent.
func (g *Group) Context() context.Context { return g.ctx }

// ErrStopped is returned by Go on a group that Stop or Wait has been called on.
var ErrStopped = errors.New("tasks: group stopped")

// ErrGoexit is matched by what a task that called runtime.Goexit is
// reported to have returned: a failure, like an error or a panic.
var ErrGoexit = errors.New("called runtime.Goexit")

// Go starts fn in a new goroutine under name. Names are used in reports and
// need not be unique. After Stop or Wait, Go starts nothing and returns an
// error matching ErrStopped: a task may race its group's stop (spawning a
// helper while its state is left), and that must not bring the process down.
// A nil fn starts nothing and returns an error naming the task.
func (g *Group) Go(name string, fn Func) error {
	if fn == nil {
		return fmt.Errorf("tasks: Go(%q): nil func", name)
	}
	t := &task{name: name}
	g.mu.Lock()
	if g.stopping {
		g.mu.Unlock()
		return fmt.Errorf("tasks: Go(%q): %w", name, ErrStopped)
	}
	g.tasks = append(g.tasks, t)
	g.running++
	g.mu.Unlock()
	go g.run(t, fn)
	return nil
}

func (g *Group) run(t *task, fn Func) {
	var err error
	returned := false
	defer func() { g.finish(t, err) }()
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Task: t.name, Value: v, Stack: debug.Stack()}
		} else if !returned {
			// Neither a return nor a panic: runtime.Goexit (t.FailNow
			// in a test) ended the goroutine. Its siblings must not go
			// on as if it had succeeded.
			err = fmt.Errorf("tasks: task %q: %w", t.name, ErrGoexit)
		}
	}()
	err = fn(g.ctx)
	returned = true
}

func (g *Group) finish(t *task, err error) {
	// An error returned after the context ended is the task's answer to the
	// cancellation, not a failure of its own.
	fail := err != nil && g.ctx.Err() == nil
	g.mu.Lock()
	first := fail && !g.failed
	if fail {
		g.failed = true
	}
	g.mu.Unlock()
	// The siblings are cancelled and onFail has returned before the task
	// counts as finished, so a Wait or Stop that returns has seen both.
	if first {
		g.cancel(&TaskError{Task: t.name, Err: err})
		if g.onFail != nil {
			g.onFail(t.name, err)
		}
	}
	g.mu.Lock()
	t.err, t.done, t.failed = err, true, fail
	g.running--
	if g.running == 0 && g.stopping {
		close(g.idle)
	}
	g.mu.Unlock()
}

// Cancel cancels the group's context with cause (context.Canceled if nil)
// without waiting. It is safe to call more than once; the first cause wins.
func (g *Group) Cancel(cause error) { g.cancel(cause) }

// Stop cancels the group's context with cause and waits for every task to
// return, but no longer than timeout (no bound if timeout <= 0). Tasks still
// running then are marked as stragglers in the report; they keep their
// cancelled context and Done is closed when the last of them returns.
// Stop may be called more than once; later calls report the state at that time.
func (g *Group) Stop(cause error, timeout time.Duration) Report {
	g.cancel(cause)
	return g.wait(timeout)
}

// Wait waits, without a deadline and without cancelling, for every task to
// return.
func (g *Group) Wait() Report { return g.wait(0) }

// Done returns a channel closed once Stop or Wait has been called and every
// task has returned, stragglers included.
func (g *Group) Done() <-chan struct{} { return g.idle }

func (g *Group) wait(timeout time.Duration) Report {
	start := time.Now()
	g.mu.Lock()
	if !g.stopping {
		g.stopping = true
		if g.running == 0 {
			close(g.idle)
		}
	}
	g.mu.Unlock()
	if timeout <= 0 {
		<-g.idle
	} else {
		t := time.NewTimer(timeout)
		select {
		case <-g.idle:
		case <-t.C:
		}
		t.Stop()
	}
	r := Report{Took: time.Since(start)}
	g.mu.Lock()
	r.Tasks = make([]Result, len(g.tasks))
	for i, t := range g.tasks {
		r.Tasks[i] = Result{Name: t.name, Err: t.err, Failed: t.failed, Straggler: !t.done}
	}
	g.mu.Unlock()
	return r
}

// Report is what a join found: each task in start order, and how long the
// wait took.
type Report struct {
	Tasks []Result
	Took  time.Duration
}

// Result is one task's outcome in a Report.
type Result struct {
	Name string
	// Err is what the task returned (a *PanicError if it panicked), or nil.
	// It is always nil for a straggler.
	Err error
	// Failed is true if the task returned its error (or panicked) while the
	// group's context was still live, which cancelled its siblings.
	Failed bool
	// Straggler is true if the task was still running when the wait ended.
	Straggler bool
}

// Stragglers returns the names of the tasks still running when the wait
// ended, in start order, or nil.
func (r Report) Stragglers() []string {
	var names []string
	for _, t := range r.Tasks {
		if t.Straggler {
			names = append(names, t.Name)
		}
	}
	return names
}

// Failures returns the results of the tasks that failed (see Result.Failed),
// in start order, or nil.
func (r Report) Failures() []Result {
	var out []Result
	for _, t := range r.Tasks {
		if t.Failed {
			out = append(out, t)
		}
	}
	return out
}

// TaskError is the cancellation cause the group's context carries after a
// task failed: context.Cause(ctx) returns it to the siblings.
type TaskError struct {
	Task string
	Err  error
}

// Error names the task and its error.
func (e *TaskError) Error() string { return fmt.Sprintf("tasks: task %q failed: %v", e.Task, e.Err) }

// Unwrap returns the task's error.
func (e *TaskError) Unwrap() error { return e.Err }

// PanicError is what a task that panicked is reported to have returned.
type PanicError struct {
	Task  string
	Value any
	Stack []byte
}

// Error names the task and the panic value.
func (e *PanicError) Error() string {
	return fmt.Sprintf("tasks: task %q panicked: %v", e.Task, e.Value)
}

// Unwrap returns the panic value if it is an error, so errors.Is and
// errors.As see through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
