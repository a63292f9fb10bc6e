package fsm

import (
	"context"
	"io"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm/tasks"
)

// DefaultJoinTimeout bounds the wait for a state's tasks when Config leaves
// JoinTimeout zero.
const DefaultJoinTimeout = 5 * time.Second

// Config holds the per-machine settings given to Start.
type Config[S, E comparable] struct {
	// Observer, if not nil, receives a Record for every step the machine
	// takes. It is called by one goroutine at a time, in order, from inside
	// the machine: it must not block for long. ctx comes from inside the
	// machine, so Fire and Stop called with it enqueue and return; Stop
	// called from the observer with any other context would wait for the
	// observer itself.
	Observer func(ctx context.Context, r Record[S, E])
	// JoinTimeout bounds how long leaving a state waits for its tasks to
	// return; tasks still running then are reported as stragglers and the
	// machine moves on. Zero means DefaultJoinTimeout; negative means no bound.
	JoinTimeout time.Duration
	// Env is the machine's environment: the owner its hooks and tasks work
	// for (a client, a connection). Hooks, tasks and timeout functions find
	// it in their Transition's Env, choices as their env argument. One
	// definition thus serves many owners.
	Env any
	// FlightRecorder, if not nil and running, is snapshotted when a
	// straggler is reported: Snapshot receives the record and returns where
	// to write the trace (closed afterwards), or nil to skip.
	FlightRecorder *trace.FlightRecorder
	// Snapshot chooses where a FlightRecorder snapshot goes; see
	// FlightRecorder.
	Snapshot func(r Record[S, E]) io.WriteCloser
}

// Machine is a running instance of a Definition. Its methods are safe for
// concurrent use.
//
// A machine is small: what few machines use (the environment and other
// settings of a non-zero Config, the context handed to hooks and tasks,
// the joiner, postponed events, history memory, what waits on it) lives
// behind pointers made when first needed, so that a machine whose states
// have no tasks or timeouts and that nobody watches is one allocation.
type Machine[S, E comparable] struct {
	def   *Definition[S, E]
	obs   func(context.Context, Record[S, E])
	cold  *coldConfig[S, E] // Config's other settings; shared by machines that set none
	ext   *machineExt       // owned by the processor; nil until needed
	env   any               // Config.Env: kept here, not in cold, so that an owner's machine shares its cold settings
	path  []level           // the active configuration, outermost first; owned by the processor
	q     *queue            // under mu; nil until an event is queued
	path0 [1]level          // path's storage for a machine without children

	mu sync.Mutex

	// Owned by the processor.
	epoch uint64 // the last epoch handed out
	at    where  // what user code runs now, to name a panic
	cur   int32  // the active leaf: path's last state (the first leaf in document order); beside at, in its padding

	// Published for State, In, Epoch and Err.
	pubEpoch atomic.Uint64
	pubConf  atomic.Pointer[pubConfig] // with parallel states: every active state
	failure  atomic.Pointer[PanicError]
	// What waits on the machine (Changed, Done, Await, WhileIn, UntilIn)
	// is made when first asked for: a step pays one atomic load, watched,
	// unless someone waits.
	watch atomic.Pointer[watch]

	pubLeaf atomic.Int32
	// busy is held by the one goroutine processing events; qlen mirrors
	// the queue's length so the processor can check for work without the
	// lock.
	qlen    atomic.Int32
	busy    atomic.Bool
	started atomic.Bool
	stopReq atomic.Bool
	stopped atomic.Bool
	watched atomic.Bool

	// Owned by the processor.
	stopped0  bool
	obsBroken bool // the observer panicked: it is not called again
	risky     bool // steps may run user code: hooks, actions, choices, the observer
}

// coldConfig is what a Config sets besides the observer and the
// environment: read by few steps, and the same for every machine that
// sets none of it, which share their definition's.
type coldConfig[S, E comparable] struct {
	joinTimeout time.Duration
	flight      *trace.FlightRecorder
	snapshot    func(Record[S, E]) io.WriteCloser
}

// machineExt is what the processor keeps for machines that need it: the
// context handed to hooks, tasks and the observer (made at the first
// need) and the joiner. What fewer machines use (postponed events,
// history memory, the scratch of steps with regions) is in rare.
type machineExt struct {
	parent context.Context // the Start context; nil for context.Background
	inner  innerCtx        // handed to hooks and tasks: the machine's own, marked as its
	scopes context.Context // the top-level scopes' parent: &inner, or its values alone
	detach func() bool     // unregisters the stop on the Start context
	joiner tasks.Joiner    // the joins' wake and timer, reused: steps join one at a time
	rare   *rareExt        // nil until an event is postponed, a history left, or a step needs scratch
}

// rareExt is the part of machineExt that machines without postponed
// events, histories or regions never make.
type rareExt struct {
	held     []item  // postponed events, in order; see postpone.go
	heldConf []int32 // the configuration the held events wait to see change
	// memory[si] is what the composite si with a history last left: the
	// leaves active below it. nil until a history's composite is exited.
	memory [][]int32
	// work is the scratch of config.go's steps, a *stepWork[S, E] (this
	// type has no type parameters), made at the first such step.
	work any
}

// innerCtx is the context handed to hooks, tasks and the observer: the
// machine's cancellable context, answering Inside's key. Kept in the
// machineExt, it costs no allocation of its own, as a context.WithValue
// would. Its cancellation (base, a child of the Start context, cancelled
// when the machine has stopped) is made at once if the Start context can
// end, and otherwise when first asked for: by Done, by a context derived
// from it, or by the stop. A machine whose hooks and observer only read
// its values (a light machine with an observer) never makes it. Once
// made, a context derived from it is cancelled with it as directly as
// from a context.WithValue.
type innerCtx struct {
	context.Context     // the Start context, or context.Background: values and deadline
	mark            any // machineKey[S, E]{m}
	base            atomic.Pointer[innerBase]
}

// innerBase is an innerCtx's cancellation.
type innerBase struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// cancellation returns c's cancellation, made at the first call.
func (c *innerCtx) cancellation() *innerBase {
	if b := c.base.Load(); b != nil {
		return b
	}
	ctx, cancel := context.WithCancelCause(c.Context)
	b := &innerBase{ctx: ctx, cancel: cancel}
	if c.base.CompareAndSwap(nil, b) {
		return b
	}
	cancel(nil) // another goroutine made it first
	return c.base.Load()
}

// Done returns the channel closed once the machine has stopped (or the
// Start context ended); asking for it makes the cancellation.
func (c *innerCtx) Done() <-chan struct{} { return c.cancellation().ctx.Done() }

// Err is nil until the machine has stopped: the cancellation not made
// yet is not cancelled (the stop makes it).
func (c *innerCtx) Err() error {
	if b := c.base.Load(); b != nil {
		return b.ctx.Err()
	}
	return nil
}

// Value returns the machine for Inside's key, and otherwise what the
// cancellation holds, or before it is made the Start context (whose
// values it has).
func (c *innerCtx) Value(key any) any {
	if key == c.mark {
		return c.mark
	}
	if b := c.base.Load(); b != nil {
		return b.ctx.Value(key)
	}
	return c.Context.Value(key)
}

// pubConfig is a published configuration of a machine with parallel
// states: every active state in document order, and the last epoch handed
// out when it was made.
type pubConfig struct {
	states []int32
	gen    uint64
}

// queue holds the events waiting for the processor: made when one is
// queued, dropped once drained.
type queue struct {
	items []item
	head  int
}

// trackedIDs numbers the items whose firer waits for the outcome: unique
// across machines, so that a queue dropped when drained forgets nothing.
var trackedIDs atomic.Uint64

// extra returns the processor's extension, made at the first call.
func (m *Machine[S, E]) extra() *machineExt {
	if m.ext == nil {
		m.ext = new(machineExt)
	}
	return m.ext
}

// inner returns the context handed to hooks, actions, tasks and the
// observer, made at the first call: a machine that runs none of them
// never makes one. Only the processor calls it.
func (m *Machine[S, E]) inner() context.Context {
	if x := m.ext; x != nil && x.inner.Context != nil {
		return &x.inner
	}
	return m.makeInner()
}

func (m *Machine[S, E]) makeInner() context.Context {
	x := m.extra()
	parent := x.parent
	if parent == nil {
		parent = context.Background()
	}
	x.inner.Context, x.inner.mark = parent, machineKey[S, E]{m}
	ctx := context.Context(&x.inner)
	x.scopes = ctx
	if parent.Done() == nil {
		// The Start context never ends, so ctx ends only when the machine
		// has stopped, after it has cancelled every scope itself: the
		// top-level scopes need its values but not its cancellation, and
		// a child of it would cost it a map entry made and removed at
		// every entry. Its cancellation is made when first asked for.
		x.scopes = context.WithoutCancel(ctx)
	} else {
		x.inner.cancellation() // the Start context may end: follow it now
	}
	if m.stopped0 { // made for a record after the stop: as ended as the rest
		x.inner.cancellation().cancel(ErrStopped)
	}
	return ctx
}

// scopes returns the parent of the top-level scopes.
func (m *Machine[S, E]) scopes() context.Context {
	m.inner()
	return m.ext.scopes
}

// rare returns the processor's rarely needed state, made at the first
// call.
func (m *Machine[S, E]) rare() *rareExt {
	x := m.extra()
	if x.rare == nil {
		x.rare = new(rareExt)
	}
	return x.rare
}

// held returns the postponed events, or nil.
func (m *Machine[S, E]) held() []item {
	if x := m.ext; x != nil && x.rare != nil {
		return x.rare.held
	}
	return nil
}

// joiner returns the joiner the processor's joins wait with.
func (m *Machine[S, E]) joiner() *tasks.Joiner { return &m.extra().joiner }

// level is one active state: its entry's epoch, the scope its tasks (and
// its descendants' tasks) run in, and what only some entries have.
type level struct {
	epoch   uint64
	sc      *scope    // nil if no task runs at or below the state
	ext     *levelExt // nil unless the entry has timeouts or is traced
	si      int32     // an int32 beside entered: 32 bytes a level, not 40
	entered bool      // its enter hooks have begun: a stop runs its exit hooks
}

// levelExt is what few entries need, kept out of level so that a step
// copies little.
type levelExt struct {
	timers []*time.Timer
	trace  *trace.Task     // the entry's trace task, while tracing
	tctx   context.Context // the context holding it
}

func (lv *level) extra() *levelExt {
	if lv.ext == nil {
		lv.ext = &levelExt{}
	}
	return lv.ext
}

type machineKey[S, E comparable] struct{ m *Machine[S, E] }

// Start starts a machine in the definition's initial state: its enter hooks
// run and its tasks start, level by level down to the initial leaf, before
// Start returns. When ctx is done, every task's context is cancelled at
// once, with context.Cause(ctx), and the machine stops as if Stop had been
// called; ctx's values reach every hook and task.
func (d *Definition[S, E]) Start(ctx context.Context, cfg Config[S, E]) *Machine[S, E] {
	m := d.New(cfg)
	m.Start(ctx)
	return m
}

// New returns a machine of d that has not started yet, so that hooks and
// tasks can refer to it before anything runs. Events fired and a Stop
// requested before Start are queued and processed once it has entered the
// initial state.
func (d *Definition[S, E]) New(cfg Config[S, E]) *Machine[S, E] {
	m := &Machine[S, E]{def: d, obs: cfg.Observer, cold: d.cold0, env: cfg.Env}
	if cfg.JoinTimeout != 0 || cfg.FlightRecorder != nil || cfg.Snapshot != nil || m.cold == nil {
		m.cold = &coldConfig[S, E]{joinTimeout: cfg.JoinTimeout, flight: cfg.FlightRecorder, snapshot: cfg.Snapshot}
		if m.cold.joinTimeout == 0 {
			m.cold.joinTimeout = DefaultJoinTimeout
		}
	}
	if d.levels == 1 && !d.parallel {
		m.path = m.path0[:0]
	} else {
		m.path = make([]level, 0, d.levels)
	}
	m.risky = d.hooked || m.obs != nil || m.cold.snapshot != nil
	// The first leaf in document order; the start's entries are numbered
	// from 1 in that order.
	for i, s := range d.start {
		if len(d.tree[s].children) == 0 {
			m.cur = s
			m.pubLeaf.Store(s)
			m.pubEpoch.Store(uint64(i + 1))
			break
		}
	}
	m.busy.Store(true) // held until Start: events queue meanwhile
	return m
}

// Start enters the initial state of a machine made with New: its enter
// hooks run and its tasks start, level by level, before Start returns,
// then the events queued so far are processed. When ctx is done, every
// task's context is cancelled at once, with context.Cause(ctx), and the
// machine stops as if Stop had been called; ctx's values reach every hook
// and task. Calls after the first have no effect.
func (m *Machine[S, E]) Start(ctx context.Context) {
	if !m.started.CompareAndSwap(false, true) {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if ctx != context.Background() {
		m.extra().parent = ctx
	}
	m.enterInitial()
	if ctx.Done() != nil { // a context that never ends needs no watch
		m.extra().detach = context.AfterFunc(ctx, func() { m.requestStop() })
	}
	m.drain()
}

// State returns the active leaf: for a machine without children, its
// state; with parallel regions, the first active leaf in document order
// (Configuration lists them all). During a step it is the source leaf until the exit hooks and the
// action have run.
func (m *Machine[S, E]) State() S { return m.def.states[m.pubLeaf.Load()] }

// In reports whether state is active: the active leaf or one of its
// ancestors, or with parallel regions any active state.
func (m *Machine[S, E]) In(state S) bool {
	d := m.def
	si, ok := d.stateIdx[state]
	if !ok {
		return false
	}
	if conf := m.pubConf.Load(); conf != nil {
		for _, s := range conf.states {
			if int(s) == si {
				return true
			}
		}
		return false
	}
	return d.ancestorOrSelf(si, int(m.pubLeaf.Load()))
}

// Configuration returns every active state in document order (a parent
// before its children, regions in declaration order), in a new slice. For
// a machine without parallel states it is Path.
func (m *Machine[S, E]) Configuration() []S {
	conf := m.pubConf.Load()
	if conf == nil {
		return m.Path()
	}
	out := make([]S, len(conf.states))
	for i, s := range conf.states {
		out[i] = m.def.states[s]
	}
	return out
}

// Path returns the active states, outermost first, ending with the active
// leaf, in a new slice. With parallel regions it is the path to State(),
// the first active leaf in document order; Configuration lists them all.
func (m *Machine[S, E]) Path() []S {
	d := m.def
	leaf := int(m.pubLeaf.Load())
	out := make([]S, d.tree[leaf].depth+1)
	for s, i := leaf, len(out)-1; s >= 0; s, i = d.tree[s].parent, i-1 {
		out[i] = d.states[s]
	}
	return out
}

// Epoch returns the number of the active leaf's entry (with parallel
// regions, State's). Every entry into a
// state, at any level, takes the next number, counting from 1.
func (m *Machine[S, E]) Epoch() uint64 { return m.pubEpoch.Load() }

// Definition returns the definition the machine was started from.
func (m *Machine[S, E]) Definition() *Definition[S, E] { return m.def }

// Env returns the machine's environment, Config.Env.
func (m *Machine[S, E]) Env() any { return m.env }

// Done returns a channel closed when the machine has stopped: the last
// states' tasks joined and their exit hooks run. It is closed last: once
// it is (and so once Stop has returned to a caller outside the machine),
// Err, State, Epoch and the channels of Changed are final, and the
// observer has received RecordStopped (only a straggler's late return is
// reported after it).
func (m *Machine[S, E]) Done() <-chan struct{} { return m.doneChan() }

// Err returns nil while the machine runs and after a stop by Stop, a final
// state or the end of the Start context; after a fail-stop, the
// *PanicError that caused it.
func (m *Machine[S, E]) Err() error {
	if p := m.failure.Load(); p != nil {
		return p
	}
	return nil
}

// Inside reports whether ctx is, or is derived from, a context this machine
// handed to a hook, action, task or the observer: a call made with it comes
// from inside the machine.
func (m *Machine[S, E]) Inside(ctx context.Context) bool {
	return ctx != nil && ctx.Value(machineKey[S, E]{m}) != nil
}
