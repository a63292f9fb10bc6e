// Package fsm is a typed, exhaustive state-machine engine whose states own
// goroutines: nothing a state starts outlives it.
//
// # Semantics
//
// A Definition is built once with a Builder and never changes; Machines are
// cheap instances of it. States and events are the caller's own comparable
// types (usually integer enums); their names come from fmt.Sprint, so a
// String method names them in errors and diagrams.
//
// Exhaustive: every (state, event) pair is declared exactly once, as a
// transition (To), an Ignore or a Reject, each with a reason. Build fails
// with one *BuildError listing every undeclared or duplicate pair, unknown
// name and unreachable state.
//
// Order of a transition, fixed:
//
//  1. the source state's task context is cancelled (cause: *ExitError);
//  2. its tasks are joined, bounded by Config.JoinTimeout; any still running
//     is reported as a straggler and left behind with its cancelled context;
//  3. the source's exit hooks run, in reverse declaration order;
//  4. the transition's action runs;
//  5. the state and epoch are set, and the observer is told;
//  6. the target's enter hooks run, in declaration order;
//  7. the target's tasks start.
//
// Exit hooks therefore never race a task of their state: closing a socket in
// an exit hook is safe.
//
// Run to completion: one step at a time. An event fired while a step runs
// (by a hook, a task or another goroutine) is queued and processed after it,
// in FIFO order. Firing never nests and never blocks a task: a task's Emit
// only enqueues.
//
// Epochs: every entry into a state gets a new epoch, counting from 1. Emit
// stamps events with the epoch of its task's entry; an event processed after
// that entry ended is dropped and reported as stale, never applied, even if
// the machine has re-entered the same state since.
//
// Siblings fail together: when a task returns an error with its context
// live, or emits an event that leaves its state, its siblings' context is
// cancelled at once, before the event is processed.
//
// Payloads: an event may carry a payload. A transition hands it to the exit
// hooks, action and enter hooks, which own it. A payload that implements
// Disposer and is never consumed (stale, ignored, rejected, fired after
// Stop, queued when the machine stops) is disposed exactly once.
//
// Inside calls: hooks, actions, tasks and the observer receive a context
// that marks them as inside the machine. Fire and Stop called with it never
// wait for a step that may include their caller: they enqueue and return.
// Post enqueues from anywhere without processing on the caller's goroutine.
//
// Observer: Config.Observer receives a Record of every step, ignored,
// rejected, stale and dropped event, failed task and straggler, and, when a
// straggler finally returns, what it returned.
//
// Stop exits the current state the same way (cancel, join, exit hooks) and
// leaves nothing of the machine running. It is idempotent.
package fsm
