package fsm

import (
	"context"
	"runtime/trace"
)

// This file shows the lifecycle in `go tool trace`: while the execution
// tracer runs, every state entry is a trace task (nested in its parent's
// entry) and every state-scoped task runs in a region of its state's
// trace task. With tracing off it costs one check per state entry.

func traceOn() bool { return trace.IsEnabled() }

// traceEnter opens the trace task of the entry m.path[i].
func (m *Machine[S, E]) traceEnter(i int) {
	lv := &m.path[i]
	parent := m.inner()
	for j := i - 1; j >= 0; j-- { // the nearest ancestor's (with regions, not a sibling's)
		if p := m.path[j]; m.def.ancestorOrSelf(p.si, lv.si) {
			if p.ext != nil && p.ext.tctx != nil {
				parent = p.ext.tctx
			}
			break
		}
	}
	x := lv.extra()
	x.tctx, x.trace = trace.NewTask(parent, m.def.stateNames[lv.si])
}

// traceRegion wraps a task of lv so that it runs in a region named
// "State/task" of lv's trace task.
func (m *Machine[S, E]) traceRegion(lv *level, name string, run func(context.Context) error) func(context.Context) error {
	tctx, region := lv.ext.tctx, m.def.stateNames[lv.si]+"/"+name
	return func(ctx context.Context) (err error) {
		trace.WithRegion(tctx, region, func() { err = run(ctx) })
		return err
	}
}

// snapshotFlight writes the flight recorder's window for a straggler, if
// the machine has a running recorder and Snapshot gives a destination.
func (m *Machine[S, E]) snapshotFlight(r Record[S, E]) {
	if m.cold.flight == nil || m.cold.snapshot == nil || !m.cold.flight.Enabled() {
		return
	}
	w := m.cold.snapshot(r)
	if w == nil {
		return
	}
	_, _ = m.cold.flight.WriteTo(w)
	_ = w.Close()
}
