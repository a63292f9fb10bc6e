// Package tasks runs named goroutines that share one context and stop
// together.
//
// A Group is like golang.org/x/sync/errgroup, with two additions a state
// machine needs. The wait is bounded by a deadline. Every task still
// running at that deadline is reported by name, as a straggler, instead of
// being forgotten. Goroutines started with Go have returned before Wait
// returns. Stop returns at the deadline at the latest, and tells which
// have not returned.
//
// The first task that fails cancels the context of all its siblings at
// once. A task fails when it returns a non-nil error, or panics, while the
// group's context is still live. The cause is a *TaskError, so
// context.Cause tells a sibling why it was stopped.
//
// A panic in a task is recovered and reported as a *PanicError, as if the
// task had returned it. A task that ends with runtime.Goexit is reported
// to have returned an error matching ErrGoexit. Re-panicking would take
// the whole process down with the owner's resources still held. It would
// do so from a background goroutine, or from the goroutine that joins, in
// the middle of a state change. As a value, a panic is handled like any
// other failure: siblings are cancelled and the owner decides, with the
// stack kept for the report.
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

// Run calls f: a Func is a Task.
func (f Func) Run(ctx context.Context) error { return f(ctx) }

// Task is the body of a task given as a value: Run has Func's contract. A
// pointer to the owner's own record of the task, given as a Task, costs
// no allocation where a closure would (GoTask).
type Task interface {
	Run(ctx context.Context) error
}

// Owner is told of a group's first failure (NewOwned).
type Owner interface {
	// TaskFailed is called as New's onFail is: once, for the first task
	// that fails, on its goroutine, after the siblings' context has been
	// cancelled and before the task counts as returned.
	TaskFailed(name string, err error)
}

// Group is a set of named tasks bound to one context. Create it with New or
// NewOwned; a Group is used for one batch of tasks: after Stop, Halt or
// Wait, Go starts nothing and returns an error matching ErrStopped.
type Group struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	owner  Owner // New's onFail, or NewOwned's owner; nil for none

	mu       sync.Mutex
	started  int32    // tasks started: inline's first, then more's
	running  int32    // tasks started that have not returned
	more     *[]*task // the records of the tasks after inline's; a pointer, as few groups have any
	stopping bool
	failed   bool
	quiet    bool          // stopping, and no task runs: the group is done
	timers   bool          // a timer task was started (GoTimer)
	idle     chan struct{} // Done's; made on demand, closed once quiet
	waiter   chan struct{} // a join waiting for quiet; signalled, not closed
	took     time.Duration // how long the first join waited

	// The first task's record, kept in the group: most groups have one
	// task (a state machine's state its one task), and need no allocation
	// for it. Room for a second would put every group in a larger size
	// class (224 bytes instead of 160).
	inline [1]task
}

type task struct {
	g      *Group
	name   string
	fn     Task
	err    error
	done   bool
	failed bool
}

// New returns a group whose context is derived from parent. When a task
// fails, onFail (if not nil) is called once, on that task's goroutine, after
// the siblings' context has been cancelled; only the first failure is passed
// to it.
func New(parent context.Context, onFail func(name string, err error)) *Group {
	g := newGroup(parent)
	if onFail != nil {
		g.owner = onFailFunc(onFail)
	}
	return g
}

// onFailFunc is New's onFail as an Owner.
type onFailFunc func(name string, err error)

func (f onFailFunc) TaskFailed(name string, err error) { f(name, err) }

// NewOwned is New with the first failure passed to owner.TaskFailed instead
// of a func: for an owner that makes many groups (a state machine makes one
// per entry of a state with tasks), it spares a closure per group. A nil
// owner is New with a nil onFail.
func NewOwned(parent context.Context, owner Owner) *Group {
	g := newGroup(parent)
	g.owner = owner
	return g
}

func newGroup(parent context.Context) *Group {
	ctx, cancel := context.WithCancelCause(parent)
	return &Group{ctx: ctx, cancel: cancel}
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
// need not be unique. After Stop, Halt or Wait, Go starts nothing and returns an
// error matching ErrStopped: a task may race its group's stop (spawning a
// helper while its state is left), and that must not bring the process down.
// A nil fn starts nothing and returns an error naming the task.
func (g *Group) Go(name string, fn Func) error {
	if fn == nil {
		return fmt.Errorf("tasks: Go(%q): nil func", name)
	}
	return g.GoTask(name, fn)
}

// GoTask is Go for a Task value: its Run is called in a new goroutine
// with the group's context. A nil t, or a nil Func, starts nothing and
// returns an error naming the task.
func (g *Group) GoTask(name string, t Task) error {
	if f, ok := t.(Func); t == nil || ok && f == nil {
		return fmt.Errorf("tasks: Go(%q): nil task", name)
	}
	g.mu.Lock()
	if g.stopping {
		g.mu.Unlock()
		return fmt.Errorf("tasks: Go(%q): %w", name, ErrStopped)
	}
	var rec *task
	if n := g.started; n < int32(len(g.inline)) {
		rec = &g.inline[n]
		*rec = task{g: g, name: name, fn: t}
	} else {
		rec = &task{g: g, name: name, fn: t}
		if g.more == nil {
			g.more = new([]*task)
		}
		*g.more = append(*g.more, rec)
	}
	g.started++
	g.running++
	tt, isTimer := t.(timerTask)
	if isTimer {
		g.timers = true
		tt.t.rec = rec
	}
	g.mu.Unlock()
	if isTimer {
		go tt.t.run()
	} else {
		go rec.run()
	}
	return nil
}

func (t *task) run() {
	var err error
	returned := false
	defer func() {
		if !returned {
			if v := recover(); v != nil {
				err = &PanicError{Task: t.name, Value: v, Stack: debug.Stack()}
			} else {
				// Neither a return nor a panic: runtime.Goexit (t.FailNow
				// in a test) ended the goroutine. Its siblings must not go
				// on as if it had succeeded.
				err = fmt.Errorf("tasks: task %q: %w", t.name, ErrGoexit)
			}
		}
		t.g.finish(t, err)
	}()
	err = t.fn.Run(t.g.ctx)
	returned = true
}

func (g *Group) finish(t *task, err error) {
	// An error returned after the context ended is the task's answer to the
	// cancellation, not a failure of its own.
	fail := err != nil && g.ctx.Err() == nil
	first := false
	if fail {
		g.mu.Lock()
		first = !g.failed
		g.failed = true
		g.mu.Unlock()
	}
	// The siblings are cancelled and onFail has returned before the task
	// counts as finished, so a Wait or Stop that returns has seen both.
	if first {
		g.cancelAll(&TaskError{Task: t.name, Err: err})
		if g.owner != nil {
			g.owner.TaskFailed(t.name, err)
		}
	}
	g.mu.Lock()
	t.err, t.done, t.failed = err, true, fail
	g.running--
	if g.running == 0 && g.stopping {
		g.quietLocked()
	}
	g.mu.Unlock()
}

// quietLocked marks the stopped group as done: Done's channel is closed,
// and a join waiting is woken. g.mu is held.
func (g *Group) quietLocked() {
	g.quiet = true
	if g.idle != nil {
		close(g.idle)
	}
	if g.waiter != nil {
		select {
		case g.waiter <- struct{}{}:
		default:
		}
	}
}

// Cancel cancels the group's context with cause (context.Canceled if nil)
// without waiting. It is safe to call more than once; the first cause wins.
func (g *Group) Cancel(cause error) { g.cancelAll(cause) }

// Stop cancels the group's context with cause and waits for every task to
// return, but no longer than timeout (no bound if timeout <= 0). Tasks still
// running then are marked as stragglers in the report; they keep their
// cancelled context and Done is closed when the last of them returns.
// Stop may be called more than once; later calls report the state at that time.
func (g *Group) Stop(cause error, timeout time.Duration) Report {
	g.cancelAll(cause)
	return g.joinReport(timeout)
}

// Halt is Stop without the report, waiting with j: it cancels the group's
// context with cause, waits for every task to return, but no longer than
// timeout (no bound if timeout <= 0), and returns how many still run.
// Report tells which, when it matters: a join that found every task
// returned needs no report built. Like Stop, Halt may be called more than
// once, and Go starts nothing after it.
func (g *Group) Halt(j *Joiner, cause error, timeout time.Duration) (left int) {
	g.cancelAll(cause)
	return g.join(j, timeout)
}

// Wait waits, without a deadline and without cancelling, for every task to
// return.
func (g *Group) Wait() Report { return g.joinReport(0) }

// joinReport joins with a Joiner of its own and reports, with Took the
// wait of this call.
func (g *Group) joinReport(timeout time.Duration) Report {
	start := time.Now()
	var j Joiner
	g.join(&j, timeout)
	j.release()
	r := g.Report()
	r.Took = time.Since(start)
	return r
}

// Report returns what the group's tasks did, in start order, as of now:
// each task's outcome, or that it still runs (a straggler, once the group
// is stopped), and in Took how long the first Stop, Halt or Wait waited
// (zero if every task had returned already, or none was called).
func (g *Group) Report() Report {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := Report{Took: g.took, Tasks: make([]Result, g.started)}
	for i := range r.Tasks {
		t := g.record(i)
		r.Tasks[i] = Result{Name: t.name, Err: t.err, Failed: t.failed, Straggler: !t.done}
	}
	return r
}

// record returns the record of the i-th task started. g.mu is held.
func (g *Group) record(i int) *task {
	if i < len(g.inline) {
		return &g.inline[i]
	}
	return (*g.more)[i-len(g.inline)]
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
