package otelconnfsm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/tasks"
)

// Machines turns the records of every machine of one definition into
// instruments labelled with one machine name. Label values come from the
// definition alone (state paths and event names), so a label set stays
// bounded whatever the machines do. Its methods are safe for concurrent
// use.
type Machines[S, E comparable] struct {
	name    string
	release func()
	reg     metric.Registration

	transitions metric.Int64Counter
	stragglers  metric.Int64Counter
	panics      metric.Int64Counter
	duration    metric.Float64Histogram
	join        metric.Float64Histogram

	index   map[S]int
	leaf    []bool
	events  map[E]int
	evNames []string
	paths   []string

	// Per state, made once: the label sets every record reuses, so that
	// a record costs no allocation.
	stateAdd []metric.AddOption
	stateRec []metric.RecordOption
	stateObs []metric.ObserveOption
	panicAdd []metric.AddOption

	// active counts the machines in each leaf.
	active []atomic.Int64

	mu   sync.RWMutex
	hops map[hop][]metric.AddOption // transitions' label sets, made on first use
}

type hop struct{ from, event, to int }

// NewMachines makes the instruments of the machines of def, under the
// label machine="name", and registers the callback that reports how many
// machines are in each state. A name already used on the same meter
// provider is refused (ErrAttached): its machines would be counted twice.
// Close releases the name and the callback.
func NewMachines[S, E comparable](name string, def *fsm.Definition[S, E], opts ...Option) (*Machines[S, E], error) {
	if name == "" {
		return nil, errors.New("otelconnfsm: NewMachines: empty machine name")
	}
	if def == nil {
		return nil, fmt.Errorf("otelconnfsm: NewMachines %q: nil definition", name)
	}
	cfg := newConfig(opts)
	release, err := claim(cfg.provider, claimMachines, name)
	if err != nil {
		return nil, err
	}
	ms := &Machines[S, E]{name: name, release: release, index: map[S]int{}, events: map[E]int{}, hops: map[hop][]metric.AddOption{}}
	if err := ms.init(cfg.provider, def); err != nil {
		release()
		return nil, err
	}
	return ms, nil
}

func (ms *Machines[S, E]) init(mp metric.MeterProvider, def *fsm.Definition[S, E]) (err error) {
	defer recovered(&err)
	m := mp.Meter(ScopeName)
	states := def.States()
	ms.leaf = make([]bool, len(states))
	ms.paths = make([]string, len(states))
	ms.active = make([]atomic.Int64, len(states))
	for i, s := range states {
		ms.index[s] = i
		ms.leaf[i] = len(def.Children(s)) == 0
		ms.paths[i] = statePath(def, s)
	}
	for i, e := range def.Events() {
		ms.events[e] = i
		ms.evNames = append(ms.evNames, fmt.Sprint(e))
	}
	machine := attribute.String("machine", ms.name)
	for i := range states {
		set := metric.WithAttributeSet(attribute.NewSet(machine, attribute.String("state", ms.paths[i])))
		ms.stateAdd = append(ms.stateAdd, set)
		ms.stateRec = append(ms.stateRec, set)
		ms.stateObs = append(ms.stateObs, set)
	}
	ms.panicAdd = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(machine))}

	in := instruments{m: m}
	ms.transitions = in.counter("connfsm.transitions", "{transition}",
		"Transitions taken, one per region moved, by the leaf left (from), the event and the leaf entered (to).")
	ms.stragglers = in.counter("connfsm.stragglers", "{task}",
		"Tasks still running when their state's join deadline passed, by the state they belong to.")
	ms.panics = in.counter("connfsm.panics", "{panic}",
		"Panics recovered: in a task, or in a hook, action or observer (which stops the machine).")
	ms.duration = in.seconds("connfsm.state.duration",
		"Time spent in a state, from its entry to its exit, by state (composites too).", stateBuckets)
	ms.join = in.seconds("connfsm.task.join.duration",
		"Time a step waited for the tasks of a state it left to return, by state.", fastBuckets)
	gauge := in.gauge("connfsm.machines", "{machine}",
		"Machines in each state: a machine counts once per active leaf (once per region in a parallel state).")
	if err := in.err(); err != nil {
		return err
	}
	// Known label sets start at 0, so a scrape shows them before the
	// first straggler or panic (and rate() sees the first one).
	ctx := context.Background()
	ms.panics.Add(ctx, 0, ms.panicAdd...)
	for i := range states {
		if len(def.Tasks(states[i])) > 0 {
			ms.stragglers.Add(ctx, 0, ms.stateAdd[i:i+1]...)
		}
	}
	ms.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) (err error) {
		defer recovered(&err)
		for i := range ms.active {
			if ms.leaf[i] {
				o.ObserveInt64(gauge, ms.active[i].Load(), ms.stateObs[i])
			}
		}
		return nil
	}, gauge)
	if err != nil {
		return fmt.Errorf("otelconnfsm: register callback: %w", err)
	}
	return nil
}

// statePath names s by its path from the top: "Alive/Ready".
func statePath[S, E comparable](def *fsm.Definition[S, E], s S) string {
	parts := []string{fmt.Sprint(s)}
	for p, ok := def.Parent(s); ok; p, ok = def.Parent(p) {
		parts = append(parts, fmt.Sprint(p))
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

// Close unregisters the machines' callback and releases their name. The
// observers handed out keep counting transitions; the gauge stops.
func (ms *Machines[S, E]) Close() error {
	ms.release()
	if ms.reg == nil {
		return nil
	}
	return ms.reg.Unregister()
}

// Observer returns the observer of one more machine: give it to that
// machine's Config.Observer, or call it from the observer the machine has.
// It measures one machine: a second start record (the observer given to a
// second machine, or twice to one) is an error, reported to otel.Handle,
// and the observer stops counting altogether rather than count twice. A
// panic of the meter provider is recovered: it stops this observer, never
// the machine.
func (ms *Machines[S, E]) Observer() func(context.Context, fsm.Record[S, E]) {
	return ms.newObserver().observe
}

// Attach sets cfg.Observer to Observer's, calling the observer cfg had
// first. A cfg attached already is refused with ErrAttached.
func (ms *Machines[S, E]) Attach(cfg *fsm.Config[S, E]) error {
	if cfg == nil {
		return errors.New("otelconnfsm: Attach: nil config")
	}
	if cfg.Observer != nil && reflect.ValueOf(cfg.Observer).Pointer() == chainedPointer[S, E]() {
		return fmt.Errorf("%w: the machine's config has an observer of otelconnfsm", ErrAttached)
	}
	cfg.Observer = chained(cfg.Observer, ms.Observer())
	return nil
}

// chained calls first, then ours. Every observer Attach sets is made by
// this one function literal, so that Attach can recognise one: chained is
// never inlined, which would copy the literal.
//
//go:noinline
func chained[S, E comparable](first, ours func(context.Context, fsm.Record[S, E])) func(context.Context, fsm.Record[S, E]) {
	return func(ctx context.Context, r fsm.Record[S, E]) {
		if first != nil {
			first(ctx, r)
		}
		ours(ctx, r)
	}
}

// chainedPointer is the code pointer of chained's function literal.
func chainedPointer[S, E comparable]() uintptr {
	return reflect.ValueOf(chained[S, E](nil, nil)).Pointer()
}

// observer is one machine's: when each of its active states was entered.
type observer[S, E comparable] struct {
	ms      *Machines[S, E]
	mu      sync.Mutex // records come one at a time; this guards a misuse
	since   []int64    // by state: UnixNano of the active entry, 0 if inactive
	started bool
	off     bool
}

func (ms *Machines[S, E]) newObserver() *observer[S, E] {
	return &observer[S, E]{ms: ms, since: make([]int64, len(ms.leaf))}
}

func (o *observer[S, E]) observe(ctx context.Context, r fsm.Record[S, E]) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.off {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			o.stop()
			otel.Handle(fmt.Errorf("otelconnfsm: machine %q: the meter provider panicked: %v", o.ms.name, v))
		}
	}()
	ms := o.ms
	now := r.When.UnixNano()
	switch r.Kind {
	case fsm.RecordStarted:
		if o.started {
			o.stop()
			otel.Handle(fmt.Errorf("%w: machine %q: one observer saw two starts (given to two machines, or twice to one); it counts nothing more", ErrAttached, ms.name))
			return
		}
		o.started = true
		o.enter(r.Entered, now)
	case fsm.RecordTransition:
		for _, mv := range r.Moves {
			ms.transitions.Add(ctx, 1, ms.hop(mv.From, r.Event, mv.To)...)
		}
		o.exit(ctx, r.Exited, now)
		o.enter(r.Entered, now)
	case fsm.RecordStopped:
		o.exit(ctx, r.Exited, now)
		o.leaveAll() // what Exited did not list is not active either
		o.countPanic(ctx, r.Err)
	case fsm.RecordStraggler:
		if i, ok := ms.index[r.State]; ok {
			ms.stragglers.Add(ctx, 1, ms.stateAdd[i:i+1]...)
		}
	case fsm.RecordTaskFailed, fsm.RecordStragglerReturned:
		o.countPanic(ctx, r.Err)
	}
}

func (o *observer[S, E]) countPanic(ctx context.Context, err error) {
	var pe *tasks.PanicError
	if err != nil && errors.As(err, &pe) {
		o.ms.panics.Add(ctx, 1, o.ms.panicAdd...)
	}
}

func (o *observer[S, E]) enter(states []S, now int64) {
	for _, s := range states {
		i, ok := o.ms.index[s]
		if !ok {
			continue
		}
		o.since[i] = now
		if o.ms.leaf[i] {
			o.ms.active[i].Add(1)
		}
	}
}

func (o *observer[S, E]) exit(ctx context.Context, levels []fsm.Level[S], now int64) {
	ms := o.ms
	for _, l := range levels {
		i, ok := ms.index[l.State]
		if !ok || o.since[i] == 0 {
			continue
		}
		ms.duration.Record(ctx, float64(now-o.since[i])/1e9, ms.stateRec[i:i+1]...)
		if len(l.Join.Tasks) > 0 {
			ms.join.Record(ctx, l.Join.Took.Seconds(), ms.stateRec[i:i+1]...)
		}
		o.since[i] = 0
		if ms.leaf[i] {
			ms.active[i].Add(-1)
		}
	}
}

// leaveAll takes the machine out of every state it is counted in.
func (o *observer[S, E]) leaveAll() {
	for i, t := range o.since {
		if t != 0 && o.ms.leaf[i] {
			o.ms.active[i].Add(-1)
		}
		o.since[i] = 0
	}
}

// stop turns the observer off, taking its machine out of the gauge.
func (o *observer[S, E]) stop() {
	o.off = true
	o.leaveAll()
}

// hop returns the label set of a transition, made once.
func (ms *Machines[S, E]) hop(from S, event E, to S) []metric.AddOption {
	k := hop{ms.index[from], ms.events[event], ms.index[to]}
	ms.mu.RLock()
	opts, ok := ms.hops[k]
	ms.mu.RUnlock()
	if ok {
		return opts
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if opts, ok = ms.hops[k]; !ok {
		opts = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("machine", ms.name), attribute.String("from", ms.paths[k.from]),
			attribute.String("event", ms.evNames[k.event]), attribute.String("to", ms.paths[k.to])))}
		ms.hops[k] = opts
	}
	return opts
}

// recovered turns a panic into *err: a panic there is the meter
// provider's, and must reach neither whoever collects nor a constructor's
// caller.
func recovered(err *error) {
	if v := recover(); v != nil {
		*err = fmt.Errorf("otelconnfsm: the meter provider panicked: %v", v)
	}
}
