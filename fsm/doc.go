// Package fsm is a typed, exhaustive, hierarchical state-machine engine
// whose states own goroutines: nothing a state starts outlives it.
//
// # Definitions
//
// A Definition is built once with a Builder and never changes. Machines
// are cheap instances of it, so one definition serves any number of
// machines. Each machine has its own environment (Config.Env): the owner
// its hooks and tasks work for. States and events are the caller's own
// comparable types, usually integer enums. Their names come from
// fmt.Sprint, so a String method names them in errors and diagrams.
//
// States nest. Builder.Children makes states the children of a composite
// state; the first child is its initial child. While a leaf is active, so
// are all its ancestors. The active configuration is a path from a
// top-level state down to a leaf. With parallel states (see Parallel
// regions) it is a tree, with a leaf per active region. A definition
// without children is flat and behaves exactly as a one-level machine.
//
// # Rules and their resolution
//
// A rule declares what an event does in a state. It is a transition (To),
// a guarded choice among declared targets (Choice), an Ignore or a Reject.
// Each has a reason, required for Ignore and Reject. An event is resolved
// from the active leaf upward: the first state on the path with a rule for
// it decides. A child refines its parent's rule only by declaring its own
// rule for the event. The matrix shows such a rule as an override.
//
// Every definition is exhaustive: for every leaf and every event exactly
// one rule applies. Otherwise Build fails with one *BuildError that lists
// every problem:
//
//   - a (leaf, event) pair no rule applies to;
//   - a pair declared twice at one state;
//   - an unknown name, or a child of an unknown parent;
//   - a state with two parents, or a cycle;
//   - a leaf unreachable from the initial state (through transitions,
//     choices and histories).
//
// # Order of a step
//
// A transition is external, as in SCXML. Say it is declared at state S
// (the active leaf or an ancestor) with target T. Its domain A is the
// nearest proper ancestor of S that is also a proper ancestor of T, or
// the root. Every active state below A is exited. Every state from below A
// down to T is entered, then T's initial descendants. So a
// self-transition exits and re-enters its state. A transition from a
// composite to its descendant exits and re-enters the composite. One to an
// ancestor exits and re-enters that ancestor. The order is fixed:
//
//  1. The tasks of every state being exited are cancelled, all at once. A
//     child's task context ends with its parent's, and the outermost
//     exited state's is cancelled first (cause: *ExitError). So nothing of
//     a state being left keeps working while an inner level is joined.
//  2. They are joined, innermost level first. Config.JoinTimeout bounds
//     each level. A task still running then is reported as a straggler and
//     left behind with its cancelled context.
//  3. The exit hooks run, innermost level first, each state's in reverse
//     declaration order.
//  4. The rule's action runs.
//  5. The configuration and epochs are set, and the observer is told.
//  6. The new states are entered, outermost first, each fully before its
//     child: its enter hooks in declaration order, then its tasks start,
//     then its timeouts are armed.
//
// Exit hooks therefore never race a task of their state or of a state
// below it: closing a socket in an exit hook is safe. A transition between
// two children of a parent leaves the parent, its hooks and its tasks
// alone.
//
// # Internal transitions
//
// A rule made with Internal on a composite state C moves between C's
// descendants. It does not leave C, as XState's reenter: false. Its domain
// is C itself. Only the active states below C are exited. The states from
// below C down to the target are entered, then the target's initial
// descendants, in the order above. C's hooks do not run again. Its tasks
// keep running, its timeouts keep counting, and its epoch does not change.
// The target must be a proper descendant of C, or a history of C or of a
// descendant. An internal rule on a parallel state is refused: its regions
// cannot stay while one of them is re-entered. External (To) stays the
// default.
//
// # History
//
// A history (Builder.History) is a pseudo-state of a composite state C. It
// is a value of S that is not a state, which a rule may target (To,
// Internal, Choice). As in SCXML, whenever C is exited the machine records
// the leaves active below it. A transition to a shallow history enters the
// child of C that was active then, and that child's initial descendants. A
// transition to a deep history enters the leaves themselves, with their
// ancestors below C. If C was never exited, its initial configuration is
// entered.
//
// The record is made as C is exited, before the transition works out what
// it enters. So a transition from inside C to C's history re-enters what
// was active. An internal transition on C to C's history does not exit C.
// It enters what C held when it was last exited. Everything else about the
// step is as for a transition to C.
//
// # Parallel regions
//
// A parallel state P (Builder.Parallel) has regions: composite states that
// are all active while P is. The active configuration is then a tree, with
// one active leaf per region. These are SCXML's semantics:
//
//   - Entering P enters every region in declaration order. Each is entered
//     fully before the next: down to its initial leaf, with enter hooks,
//     tasks and timeouts at every level. Every entry follows document
//     order: a pre-order walk of the states, children and regions in
//     declaration order.
//   - Exiting P exits the regions in reverse declaration order, each from
//     its leaf up. Cancellation comes first, all at once. Joins and exit
//     hooks follow in reverse document order.
//   - An event is offered to every active leaf, in document order. Each
//     leaf resolves it from itself upward, as above, so each region takes
//     at most one transition. A Reject anywhere rejects the whole event,
//     and no region takes it.
//   - The transitions found are taken together, as one step, unless they
//     conflict. Two conflict when they would exit a common state. Of two
//     that conflict, the later one in document order is dropped. But a
//     rule declared below the other's state preempts it: a region's own
//     rule beats a rule it would inherit from P or above.
//   - So a rule found on P or above exits every region, unless a region
//     declares its own rule for the event. It is taken once, however many
//     leaves inherit it.
//   - A parallel state is never a transition's domain (SCXML's least
//     common compound ancestor). So a transition from one region into
//     another leaves and re-enters P and all its regions. So does an
//     external one declared on a region to its own descendant. Internal,
//     declared on the region, stays inside it.
//   - One event is one step: the exits of every transition taken, then the
//     actions in document order, then the entries. It makes one Record,
//     with a Move per transition taken.
//   - A task's failure scope F is, as before, the nearest state up from the
//     task's that declares a failure event. Only the tasks of F and below
//     are cancelled. The failure event is offered only to the active
//     leaves below F. So a failure inside one region resolves from that
//     region's leaf upward, and the other regions' tasks keep running. Its
//     rules may still exit P. Other events, from tasks, timeouts or
//     outside, are offered to every region.
//   - Exhaustiveness holds per region leaf. Reachability counts every leaf
//     a transition enters. A final state in a region stops the machine.
//
// State returns the first active leaf in document order. In reports any
// active state, Configuration lists them all, and Path is the path to
// State.
//
// # Run to completion
//
// One step runs at a time. An event fired while a step runs is queued and
// processed after it, in FIFO order. That holds whoever fires it: a hook, a
// task, a timer or another goroutine. Firing never nests and never blocks
// a task: a task's Emit only enqueues.
//
// # Epochs
//
// Every entry into a state, at any level, gets a new epoch. Epochs count
// from 1 over the whole machine. Emit stamps events with the epoch of its
// task's state entry, and a timeout with its state's. An event processed
// after that entry ended is dropped and reported as stale, never applied.
// This holds even if the machine has re-entered the same state since. An
// event from a task of a parent whose entry is still active is not stale,
// whichever child is active now.
//
// # Failures
//
// A task fails when it returns an error or panics while its context is
// live. It also fails when it emits an event not in the definition. The
// failure event that applies is its own state's (FailureEvent), or else
// its nearest ancestor's. The state F declaring it is the failure's scope.
// Every task of F and of F's descendants is cancelled at once, before the
// event is processed. The event is fired with the error as payload,
// stamped with F's entry. So when a task of a child finds the connection
// dead, the parent's heartbeat stops before it can ping.
//
// Without a failure event up the tree, the failed task's siblings are
// cancelled. With them go the tasks of the states below its state, whose
// contexts end with theirs. The failure is reported and the machine
// stays where it is.
//
// A cancelled scope stays cancelled for the rest of its entry. So the rule
// that takes a failure event may leave the scope, the usual case. It may
// ignore or reject the event: the scope stays, its tasks stopped. It may
// not move to states inside the scope, since they would start their tasks
// cancelled. Build refuses such a rule.
//
// Some events a task emits surely leave its state: the rule that applies
// is a transition (not a choice, which may be rejected) that exits the
// state whichever of its leaves is active. Such an event cancels the tasks
// of the outermost state it surely leaves before it is queued. So the
// siblings take no step with a live context after it.
//
// # Timeouts, choices, final states
//
// Builder.Timeout fires an event once a state has been active for a
// duration, as gen_statem's state_timeout. It is a timer, not a goroutine,
// stopped when the state is exited and stamped with the state's entry.
// Builder.TimerTask declares a task that a timer steps instead of a
// goroutine: a heartbeat that mostly waits costs a timer while it waits.
// It is a task of its state all the same: joined when the state is left,
// its last step seeing its context done, so none of its steps runs once
// the next state is entered.
// Choice picks a target at run time from a declared set. A target outside
// it, or a panic in the function, is a rejected step, never a silent jump.
// A final state (Builder.Final) stops the machine once its enter hooks have
// run.
//
// # Postponed events
//
// A rule made with Postpone keeps its event instead of processing it, as
// gen_statem's postpone. The event is held, and offered again once a step
// has changed the active configuration. A change means a different set of
// active states. A self-transition that exits and re-enters the same
// states is no change and replays nothing, as in gen_statem. That holds on
// a leaf, and on a composite that returns to the same leaf. A move to
// another leaf is a change, an internal transition included.
//
// The held events are offered after that step has completed, including
// the enter hooks, tasks and timeouts of the new states. They come in the
// order they were postponed, ahead of every event queued meanwhile. Each
// is processed as it would have been when fired. One emitted by a task
// whose state entry is over is stale. One the new configuration postpones
// again is held again. With parallel states, a region's rule that
// postpones the event postpones it whole: no region takes it in that step,
// and no region's choice runs for it. But if a region rejects it, the
// whole event is rejected.
//
// A machine holds at most Builder.PostponeLimit events, 64 by default. An
// event postponed beyond it is rejected: Fire returns a *RejectedError
// matching ErrPostponeLimit, the observer gets it too, and the payload is
// disposed. The events still held when the machine stops are disposed and
// reported as dropped, as queued ones are. Postponing is reported as
// RecordPostponed; FireWith returns nil for it.
//
// # Payloads
//
// An event may carry a payload. A transition hands it to the exit hooks,
// action and enter hooks, which own it. A payload that implements Disposer
// and is never consumed is disposed exactly once. That covers payloads
// stale, ignored, rejected, fired after Stop, or queued when the machine
// stops.
//
// # Inside calls
//
// Hooks, actions, tasks and the observer receive a context that marks them
// as inside the machine. It carries cancellation and that marker, nothing
// else: the owner is the environment, not a context value. Fire and Stop
// called with it never wait for a step that may include their caller: they
// enqueue and return. Post enqueues from anywhere without processing on
// the caller's goroutine.
//
// # Panics
//
// A panic in a task is a failure of that task (see Failures). A panic in a
// hook, an action, the observer, a timeout function or a payload's Dispose
// fail-stops the machine:
//
//   - the panic is recovered on the goroutine processing the step, so it
//     never escapes on whatever goroutine happened to process it, such as
//     Post's;
//   - every active state's tasks are cancelled and joined;
//   - the exit hooks of the states entered so far run, and a panic among
//     them is recovered too;
//   - Done is closed, and Err returns the *PanicError with its stack.
//
// The firer whose step panicked gets the *PanicError; later calls get
// ErrStopped. A machine is never left holding its processor role.
// Re-panicking was rejected: the step may run on a goroutine that has no
// caller to unwind to, and the machine's resources would stay held.
//
// A payload that FireWith or Post refuses (its event unknown, the machine
// stopped) is disposed on the caller's goroutine before the call returns,
// outside any step: a panic in that Dispose reaches the caller, as if it
// had called Dispose itself, and does not stop the machine.
//
// A panic anywhere the machine recovers one is a *PanicError. It is one
// type with package tasks: a task's panic is a tasks.PanicError, the same
// type. All match ErrPanicked.
//
// # Observer and stop
//
// Config.Observer receives a Record of every step. A step's record holds
// the leaf left and the leaf entered, and every level exited with its
// join. It holds every level entered, and a Move per transition the step
// took: one per region that moved. The observer also gets every ignored,
// rejected, stale and dropped event, failed task and straggler. When a
// straggler finally returns, it gets what the straggler returned.
//
// The start is a record of its own kind, RecordStarted. No event caused
// it, and its Event field means nothing: it is the zero value, a real
// event of most enums. Record.String prints a record as one readable line,
// e.g. "Connecting --Connected--> Alive/Syncing (epoch 3)" or "started in
// Connecting", never with the start record's event.
//
// Stop exits every active state the same way: cancel all, join innermost
// first, exit hooks innermost first. It leaves nothing of the machine
// running, and it is idempotent.
//
// # Waiting on a machine
//
// Await(ctx, pred) waits for a configuration. It asks pred at once, then
// after every transition once its configuration is published, and after
// the stop. Await returns nil when pred holds. It returns the cause of ctx
// when ctx ends first. It returns an error matching ErrStopped when the
// machine stops with pred false.
//
// WhileIn(ctx, s) returns a context that ends when the entry of s active
// at the call is over, with an *ExitError as its cause. A self-transition
// on s or an ancestor's re-entry ends it; a move between s's descendants
// does not. If s is not active, it ends at once. UntilIn(ctx, s) returns
// one that ends when s becomes active, with an *EnterError, at once if it
// is.
//
// A transition made while any of them is being called is never missed:
// the call either sees the step's configuration or is told of the step.
// At the stop, every such context ends. None of them keeps a goroutine
// waiting.
//
// # Light machines
//
// A definition is shared; a machine is what one instance costs. A program
// may keep one per stream or subscription. A light machine is one
// allocation, the Machine itself, of at most 208 bytes. It makes no
// context and starts no goroutine, and Fire processes an event on it without allocating. A
// machine is light when:
//
//   - its active states have no tasks and no timeouts;
//   - its Config has no environment or other settings, an observer aside;
//   - nobody waits on it.
//
// What only some machines need is made when first needed:
//
//   - the context handed to hooks, actions, tasks and the observer, when
//     the first of them runs;
//   - a scope per entry of a state with tasks, and the joiner;
//   - the queue, when an event must wait;
//   - postponed events and history memory;
//   - the channels of Done and Changed, and the contexts of WhileIn and
//     UntilIn.
//
// # Tracing
//
// While runtime/trace is on, every state entry is a trace task named after
// the state, nested in its parent's. Every state-scoped task runs in a
// region named "State/task", except a timer task, whose steps are not
// regions. So `go tool trace` shows the lifecycle. With
// Config.FlightRecorder, a straggler writes the recorder's window for a
// post-mortem.
package fsm
