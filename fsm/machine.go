package fsm

import (
	"context"
	"fmt"
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
}

// Machine is a running instance of a Definition. Its methods are safe for
// concurrent use.
type Machine[S, E comparable] struct {
	def         *Definition[S, E]
	obs         func(context.Context, Record[S, E])
	joinTimeout time.Duration
	ctx         context.Context // handed to hooks and tasks; carries the inside marker
	cancel      context.CancelCauseFunc
	detach      func() bool // unregisters the stop on the Start context
	done        chan struct{}

	// busy is held by the one goroutine processing events; qlen mirrors
	// len(queue) so the processor can check for work without the lock.
	busy    atomic.Bool
	started atomic.Bool
	qlen    atomic.Int32
	stopReq atomic.Bool
	stopped atomic.Bool
	mu      sync.Mutex
	queue   []item
	head    int

	// Owned by the processor.
	cur      int
	epoch    uint64
	group    *tasks.Group
	stopped0 bool

	// Published for State and Epoch.
	pubState atomic.Int32
	pubEpoch atomic.Uint64
}

type op uint8

const (
	opEvent op = iota
	opStop
	opTaskFailed
	opStragglerReturned
)

type item struct {
	op      op
	ev      int32
	epoch   uint64 // 0 for events from outside the machine's tasks
	payload any
	task    string
}

type machineKey[S, E comparable] struct{ m *Machine[S, E] }

// scope is one state entry's tasks: their state, epoch and group.
type scope struct {
	si    int
	epoch uint64
	g     *tasks.Group
}

// Start starts a machine in the definition's initial state: its enter hooks
// run and its tasks start before Start returns. When ctx is done the machine
// stops as if Stop had been called; ctx's values reach every hook and task.
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
	m := &Machine[S, E]{
		def:         d,
		obs:         cfg.Observer,
		joinTimeout: cfg.JoinTimeout,
		done:        make(chan struct{}),
		cur:         d.initial,
		epoch:       1,
	}
	if m.joinTimeout == 0 {
		m.joinTimeout = DefaultJoinTimeout
	}
	m.pubState.Store(int32(d.initial))
	m.pubEpoch.Store(1)
	m.busy.Store(true) // held until Start: events queue meanwhile
	return m
}

// Start enters the initial state of a machine made with New: its enter
// hooks run and its tasks start before Start returns, then the events
// queued so far are processed. When ctx is done the machine stops as if
// Stop had been called; ctx's values reach every hook and task. Calls after
// the first have no effect.
func (m *Machine[S, E]) Start(ctx context.Context) {
	if !m.started.CompareAndSwap(false, true) {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	d := m.def
	base, cancel := context.WithCancelCause(ctx)
	m.ctx, m.cancel = context.WithValue(base, machineKey[S, E]{m}, m), cancel
	if m.obs != nil {
		s := d.states[d.initial]
		m.obs(m.ctx, Record[S, E]{Kind: RecordStarted, When: time.Now(), From: s, To: s, Epoch: 1})
	}
	t := Transition[S, E]{From: d.states[d.initial], To: d.states[d.initial], Epoch: 1}
	for _, h := range d.per[d.initial].enter {
		h(m.ctx, t)
	}
	m.startTasks(d.initial)
	m.detach = context.AfterFunc(ctx, func() { m.requestStop() })
	m.drain()
}

// State returns the current state. During a transition it is the source
// state until the exit hooks and the action have run.
func (m *Machine[S, E]) State() S { return m.def.states[m.pubState.Load()] }

// Epoch returns the number of the current state entry, counting from 1.
func (m *Machine[S, E]) Epoch() uint64 { return m.pubEpoch.Load() }

// Definition returns the definition the machine was started from.
func (m *Machine[S, E]) Definition() *Definition[S, E] { return m.def }

// Done returns a channel closed when the machine has stopped: the last
// state's tasks joined and its exit hooks run.
func (m *Machine[S, E]) Done() <-chan struct{} { return m.done }

// Inside reports whether ctx is, or is derived from, a context this machine
// handed to a hook, action or task: a call made with it comes from inside
// the machine.
func (m *Machine[S, E]) Inside(ctx context.Context) bool {
	return ctx != nil && ctx.Value(machineKey[S, E]{m}) != nil
}

// Fire fires event without a payload; see FireWith.
func (m *Machine[S, E]) Fire(ctx context.Context, event E) error {
	return m.FireWith(ctx, event, nil)
}

// FireWith fires event with payload.
//
// If no other goroutine is processing events and ctx does not come from
// inside the machine, the event is processed on the calling goroutine before
// FireWith returns (including the join of the state being left), and the
// error tells its outcome: nil for a transition or an ignored or stale
// event, a *RejectedError for a rejected one. Otherwise the event is queued
// behind the events already queued, FireWith returns nil at once, and the
// outcome reaches the observer. FireWith never runs a step nested inside
// another and never waits for a join that includes its caller, as long as
// code inside the machine passes the context it was given.
//
// An event fired with FireWith is never dropped as stale, even when a task
// fires it with its own context: Fire is a request to the machine as it is
// now (a user's Close must close whatever the state), whereas a task
// reports on its own state entry with its Emit, whose events are dropped
// once that entry is over.
//
// On a stopped machine, FireWith returns ErrStopped. An event not in the
// definition returns an error matching ErrUnknownEvent and naming it. In
// both cases the payload is disposed.
func (m *Machine[S, E]) FireWith(ctx context.Context, event E, payload any) error {
	ei, err := m.admit(event, payload)
	if err != nil {
		return err
	}
	it := item{ev: int32(ei), payload: payload}
	if m.Inside(ctx) {
		m.enqueue(it)
		m.kick()
		return nil
	}
	if !m.busy.CompareAndSwap(false, true) {
		m.enqueue(it)
		if m.busy.CompareAndSwap(false, true) {
			m.drain()
		}
		return nil
	}
	if m.qlen.Load() == 0 {
		err = m.process(&it)
	} else {
		m.enqueue(it) // keep FIFO: earlier events are still queued
	}
	// Usually nothing was queued meanwhile: releasing busy here spares the
	// hot path the call to drain.
	if m.qlen.Load() > 0 || !m.release() {
		m.drain()
	}
	return err
}

// Post queues event with payload and returns at once: the event is
// processed by another goroutine, after the events queued before it, and
// its outcome reaches the observer. Unlike FireWith, Post never runs a step
// on the calling goroutine, so the caller never waits for a join. Like
// FireWith, it returns ErrStopped on a stopped machine and an error
// matching ErrUnknownEvent for an event not in the definition, disposing
// the payload.
func (m *Machine[S, E]) Post(event E, payload any) error {
	ei, err := m.admit(event, payload)
	if err != nil {
		return err
	}
	m.enqueue(item{ev: int32(ei), payload: payload})
	m.kick()
	return nil
}

// admit returns event's index, or why it cannot be fired (unknown event,
// stopped machine), having disposed of payload then.
func (m *Machine[S, E]) admit(event E, payload any) (int, error) {
	ei, ok := m.def.eventIndex(event)
	if !ok {
		dispose(payload)
		return 0, fmt.Errorf("%w: %v", ErrUnknownEvent, event)
	}
	if m.stopped.Load() {
		dispose(payload)
		return 0, ErrStopped
	}
	return ei, nil
}

// Stop stops the machine: the current state is exited as by a transition
// (its tasks cancelled and joined, its exit hooks run, with Stopping set),
// and events queued behind the stop are disposed. Events queued before it
// are processed first. Stop is idempotent.
//
// Called from outside, Stop returns once the machine has stopped, or with
// context.Cause(ctx) if ctx ends first. Called with a context from inside the
// machine, it requests the stop and returns nil at once.
func (m *Machine[S, E]) Stop(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if m.Inside(ctx) {
		m.requestStopAsync()
		return nil
	}
	// The stop runs on another goroutine so that ctx bounds this wait even
	// when the join of the current state takes longer.
	m.requestStopAsync()
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		select {
		case <-m.done: // stopped in time: prefer the success
			return nil
		default:
		}
		return context.Cause(ctx)
	}
}

func (m *Machine[S, E]) requestStop() {
	if m.stopReq.CompareAndSwap(false, true) {
		m.enqueue(item{op: opStop})
	}
	if m.busy.CompareAndSwap(false, true) {
		m.drain()
	}
}

func (m *Machine[S, E]) requestStopAsync() {
	if m.stopReq.CompareAndSwap(false, true) {
		m.enqueue(item{op: opStop})
	}
	m.kick()
}

func (m *Machine[S, E]) enqueue(it item) {
	m.mu.Lock()
	m.queue = append(m.queue, it)
	m.qlen.Add(1)
	m.mu.Unlock()
}

func (m *Machine[S, E]) dequeue() item {
	m.mu.Lock()
	it := m.queue[m.head]
	m.queue[m.head] = item{}
	m.head++
	if m.head == len(m.queue) {
		m.queue, m.head = m.queue[:0], 0
	}
	m.qlen.Add(-1)
	m.mu.Unlock()
	return it
}

// kick makes sure queued events get processed without the caller doing it:
// callers inside the machine must not, as a transition may join them.
func (m *Machine[S, E]) kick() {
	if m.busy.CompareAndSwap(false, true) {
		go m.drain()
	}
}

// drain processes queued events until the queue is empty, then releases
// busy.
func (m *Machine[S, E]) drain() {
	for m.qlen.Load() > 0 || !m.release() {
		it := m.dequeue()
		_ = m.process(&it)
	}
}

// release gives up busy. It reports false if events were queued meanwhile
// and busy was taken back: the caller must process them. The re-check after
// the release closes the race with an enqueue that saw busy still held.
func (m *Machine[S, E]) release() bool {
	m.busy.Store(false)
	return m.qlen.Load() == 0 || !m.busy.CompareAndSwap(false, true)
}

// process takes it by pointer: copying the six-word item into every call
// measurably slowed the hot path.
func (m *Machine[S, E]) process(it *item) error {
	switch it.op {
	case opStop:
		m.stop()
		return nil
	case opTaskFailed, opStragglerReturned:
		if m.obs != nil {
			kind := RecordTaskFailed
			if it.op == opStragglerReturned {
				kind = RecordStragglerReturned
			}
			s := m.def.states[it.ev] // the task's state, not necessarily the current one
			err, _ := it.payload.(error)
			m.observe(Record[S, E]{Kind: kind, From: s, To: s, Epoch: it.epoch, Task: it.task, Err: err})
		}
		return nil
	}
	d := m.def
	if m.stopped0 {
		dispose(it.payload)
		if m.obs != nil {
			m.observe(Record[S, E]{Kind: RecordDropped, From: d.states[m.cur], To: d.states[m.cur],
				Event: d.events[it.ev], Epoch: it.epoch, Err: ErrStopped, Payload: it.payload})
		}
		return ErrStopped
	}
	if it.epoch != 0 && it.epoch != m.epoch {
		dispose(it.payload)
		if m.obs != nil {
			m.observe(Record[S, E]{Kind: RecordStale, From: d.states[m.cur], To: d.states[m.cur],
				Event: d.events[it.ev], Epoch: it.epoch, Payload: it.payload})
		}
		return nil
	}
	c := &d.cells[m.cur*len(d.events)+int(it.ev)]
	switch c.kind {
	case KindIgnore:
		dispose(it.payload)
		if m.obs != nil {
			m.observe(Record[S, E]{Kind: RecordIgnored, From: d.states[m.cur], To: d.states[m.cur],
				Event: d.events[it.ev], Epoch: m.epoch, Reason: c.reason, Payload: it.payload})
		}
		return nil
	case KindReject:
		dispose(it.payload)
		if m.obs != nil {
			m.observe(Record[S, E]{Kind: RecordRejected, From: d.states[m.cur], To: d.states[m.cur],
				Event: d.events[it.ev], Epoch: m.epoch, Reason: c.reason, Err: c.rejected, Payload: it.payload})
		}
		return c.rejected
	}
	m.transition(c, it.ev, it.payload)
	return nil
}

// transition takes one step in the documented order: cancel and join the
// source's tasks, exit hooks, action, set state and epoch, enter hooks,
// start the target's tasks.
func (m *Machine[S, E]) transition(c *cell[S, E], ev int32, payload any) {
	d := m.def
	from := m.cur
	var join tasks.Report
	if g := m.group; g != nil {
		m.group = nil
		join = g.Stop(c.leaves, m.joinTimeout)
		m.reportStragglers(from, g, join)
	}
	exit, enter := d.per[from].exit, d.per[c.to].enter
	// Only hooks and actions receive the Transition: a step without them
	// skips building it, a measurable share of a bare step's cost.
	var t Transition[S, E]
	if len(exit) > 0 || c.action != nil || len(enter) > 0 {
		t = Transition[S, E]{From: d.states[from], Event: d.events[ev], To: d.states[c.to], Payload: payload, Epoch: m.epoch}
	}
	for _, h := range exit {
		h(m.ctx, t)
	}
	if c.action != nil {
		c.action(m.ctx, t)
	}
	m.cur = c.to
	m.epoch++
	t.Epoch = m.epoch
	m.pubState.Store(int32(c.to))
	m.pubEpoch.Store(m.epoch)
	if m.obs != nil {
		m.observe(Record[S, E]{Kind: RecordTransition, From: d.states[from], Event: d.events[ev], To: d.states[c.to], Epoch: m.epoch, Join: join, Payload: payload})
	}
	for _, h := range enter {
		h(m.ctx, t)
	}
	if len(d.per[c.to].tasks) > 0 { // most states have none: skip the call
		m.startTasks(c.to)
	}
}

func (m *Machine[S, E]) stop() {
	if m.stopped0 {
		return
	}
	m.stopped0 = true
	m.stopped.Store(true)
	d := m.def
	var join tasks.Report
	if g := m.group; g != nil {
		m.group = nil
		join = g.Stop(&ExitError{State: d.stateNames[m.cur]}, m.joinTimeout)
		m.reportStragglers(m.cur, g, join)
	}
	t := Transition[S, E]{From: d.states[m.cur], Epoch: m.epoch, Stopping: true}
	for _, h := range d.per[m.cur].exit {
		h(m.ctx, t)
	}
	if m.obs != nil {
		m.observe(Record[S, E]{Kind: RecordStopped, From: t.From, To: t.From, Epoch: m.epoch, Join: join})
	}
	m.detach()
	m.cancel(ErrStopped)
	close(m.done)
}

func (m *Machine[S, E]) startTasks(si int) {
	specs := m.def.per[si].tasks
	if len(specs) == 0 {
		return
	}
	sc := &scope{si: si, epoch: m.epoch}
	sc.g = tasks.New(m.ctx, func(name string, err error) {
		m.taskFailed(sc, name, err)
	})
	m.group = sc.g
	for _, s := range specs {
		fn, name := s.fn, s.name
		emit := func(e E, payload any) { m.emit(sc, name, e, payload) }
		sc.g.Go(name, func(ctx context.Context) error { return fn(ctx, emit) })
	}
}

// taskFailed reports a failed task of sc and fires its state's failure
// event, if it has one, stamped with sc's epoch.
func (m *Machine[S, E]) taskFailed(sc *scope, name string, err error) {
	// ev carries the task's state: the machine may have left it by the
	// time the failure is processed.
	m.enqueue(item{op: opTaskFailed, ev: int32(sc.si), epoch: sc.epoch, task: name, payload: err})
	if fail := m.def.per[sc.si].fail; fail >= 0 {
		m.enqueue(item{ev: int32(fail), epoch: sc.epoch, payload: err})
	}
	m.kick()
}

// emit enqueues an event from the task name of sc. An event the definition
// does not know is a bug in the task: it fails as if it had returned an
// error matching ErrUnknownEvent, so its siblings stop and the failure is
// reported rather than lost.
func (m *Machine[S, E]) emit(sc *scope, name string, e E, payload any) {
	ei, ok := m.def.eventIndex(e)
	if !ok {
		dispose(payload)
		err := fmt.Errorf("%w: task %q emitted %v", ErrUnknownEvent, name, e)
		if sc.g.Context().Err() == nil { // a late emit of a cancelled task is no failure
			sc.g.Cancel(&tasks.TaskError{Task: name, Err: err})
			m.taskFailed(sc, name, err)
		}
		return
	}
	// An event that leaves the state cancels the task's siblings before it
	// is queued, so none of them takes another step with a live context
	// after it.
	if c := &m.def.cells[sc.si*len(m.def.events)+ei]; c.kind == KindTransition {
		sc.g.Cancel(c.leaves)
	}
	m.enqueue(item{ev: int32(ei), epoch: sc.epoch, payload: payload})
	m.kick()
}

// reportStragglers reports the tasks of state si that the join left
// running, and reports each again, with what it returned, once it has.
func (m *Machine[S, E]) reportStragglers(si int, g *tasks.Group, join tasks.Report) {
	if m.obs == nil {
		return
	}
	left := false
	for _, r := range join.Tasks {
		if r.Straggler {
			left = true
			m.observe(Record[S, E]{Kind: RecordStraggler, From: m.def.states[si], To: m.def.states[si],
				Epoch: m.epoch, Task: r.Name, Join: join})
		}
	}
	if !left {
		return
	}
	epoch := m.epoch
	go func() {
		late := g.Wait() // the group is stopped: this waits for the stragglers alone
		for i, r := range join.Tasks {
			if r.Straggler {
				m.enqueue(item{op: opStragglerReturned, ev: int32(si), epoch: epoch, task: r.Name, payload: late.Tasks[i].Err})
			}
		}
		m.kick()
	}()
}

func (m *Machine[S, E]) observe(r Record[S, E]) {
	r.When = time.Now()
	m.obs(m.ctx, r)
}

// scanEvents is the number of events up to which eventIndex compares them in
// turn: for a handful of events that beats hashing the event for the map.
const scanEvents = 8

// eventIndex returns the index of event in the definition.
func (d *Definition[S, E]) eventIndex(event E) (int, bool) {
	if len(d.events) <= scanEvents {
		for i, e := range d.events {
			if e == event {
				return i, true
			}
		}
		return 0, false
	}
	i, ok := d.eventIdx[event]
	return i, ok
}

func dispose(payload any) {
	if d, ok := payload.(Disposer); ok {
		d.Dispose()
	}
}
