package fsm_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// The reference model's own tests: small definitions whose traces are
// worked out by hand from the specification, so that the oracle is
// checked before it judges the engine.

// mkSpec starts a hand-written definition of n states and the given
// events; states are numbered in document order.
func mkSpec(n, events int, initial dState) *rSpec {
	return &rSpec{
		n: n, events: events, initial: initial, limit: 64,
		parent: make([]dState, n+1), kids: make([][]dState, n+1), par: make([]bool, n+1),
		final: make([]bool, n+1), tasks: make([]int, n+1), failure: make([]dEvent, n+1),
	}
}

func (sp *rSpec) children(p dState, kids ...dState) *rSpec {
	sp.kids[p] = kids
	for _, k := range kids {
		sp.parent[k] = p
	}
	return sp
}

func (sp *rSpec) parallel(p dState, regions ...dState) *rSpec {
	sp.par[p] = true
	return sp.children(p, regions...)
}

func (sp *rSpec) addHistory(of dState, deep bool) dState {
	h := dState(sp.n + len(sp.hist) + 1)
	sp.hist = append(sp.hist, rHist{State: h, Of: of, Deep: deep})
	return h
}

func (sp *rSpec) rule(from dState, on dEvent, kind rKind, to dState) *rSpec {
	sp.rules = append(sp.rules, rRule{From: from, On: on, Kind: kind, To: to})
	return sp
}

// hooksOn gives every state an enter hook (id 1000+s) and an exit hook
// (id 2000+s), so that the trace shows each entry and exit.
func (sp *rSpec) hooksOn() *rSpec {
	for s := dState(1); int(s) <= sp.n; s++ {
		sp.hooks = append(sp.hooks, dHook{State: s, Enter: true, ID: 1000 + int(s)}, dHook{State: s, ID: 2000 + int(s)})
	}
	return sp
}

// rStep is one thing done to the model: an event fired from outside, or,
// with Fault set, task Task of state Fault failing.
type rStep struct {
	Event   dEvent
	Payload int
	Fault   dState
	Task    int
}

// rOutcome is what one step of the model produced, in short: Fire's
// error, the records and hooks as "kind state" strings, the configuration
// and the postponed events.
type rOutcome struct {
	Fire      string
	Trace     []string
	Config    []dState
	Postponed []dEvent
	Ends      []dEnd
}

func brief(log []rEntry) []string {
	var out []string
	for _, e := range log {
		switch e.What {
		case "enter", "exit":
			out = append(out, e.What+" "+e.State.String())
		case "record transition", "record started", "record stopped":
			out = append(out, e.What[len("record "):]+" "+fmtStates(e.Exited)+" "+fmtStates(e.Entered))
		default:
			out = append(out, e.What[len("record "):]+" "+e.State.String()+" "+e.Event.String())
		}
	}
	return out
}

func fmtStates(ss []dState) string {
	s := "["
	for i, x := range ss {
		if i > 0 {
			s += " "
		}
		s += x.String()
	}
	return s + "]"
}

func runModel(sp *rSpec, steps []rStep) []rOutcome {
	r := newRRef(sp)
	r.budget = dBudget
	r.start()
	r.drain()
	take := func(fire string) rOutcome {
		o := rOutcome{Fire: fire, Trace: brief(r.log), Config: r.config(), Ends: r.ends}
		for _, p := range r.postponed {
			o.Postponed = append(o.Postponed, p.Event)
		}
		r.log, r.ends = nil, nil
		return o
	}
	out := []rOutcome{take("nil")}
	for _, st := range steps {
		if st.Fault != 0 {
			r.fault(st.Fault, st.Task, "boom")
			out = append(out, take("nil"))
			continue
		}
		out = append(out, take(r.run(st.Event, st.Payload)))
	}
	r.stop()
	r.drain()
	return append(out, take("nil"))
}

func TestReferenceModel(t *testing.T) {
	// Off(1); On(2) parallel: R1(3){a(4), b(5)}, R2(6){c(7), d(8)}.
	regions := func() *rSpec {
		return mkSpec(8, 4, 1).children(2, 3, 6).parallel(2, 3, 6).children(3, 4, 5).children(6, 7, 8).hooksOn()
	}
	tests := []struct {
		name  string
		spec  *rSpec
		steps []rStep
		want  []rOutcome
	}{
		{
			name:  "entering a parallel state enters every region in order, exiting reverses it",
			spec:  regions().rule(1, 1, rTo, 2).rule(2, 1, rTo, 1),
			steps: []rStep{{Event: 1}, {Event: 1}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S1]", "enter S1"}, Config: []dState{1}},
				{Fire: "nil", Trace: []string{"exit S1", "transition [S1] [S2 S3 S4 S6 S7]", "enter S2", "enter S3", "enter S4", "enter S6", "enter S7"}, Config: []dState{2, 3, 4, 6, 7}},
				{Fire: "nil", Trace: []string{"exit S7", "exit S6", "exit S4", "exit S3", "exit S2", "transition [S7 S6 S4 S3 S2] [S1]", "enter S1"}, Config: []dState{1}},
				{Fire: "nil", Trace: []string{"exit S1", "stopped [S1] []"}},
			},
		},
		{
			name:  "an event two regions take is one step",
			spec:  regions().rule(1, 1, rTo, 2).rule(2, 1, rIgnore, 0).rule(4, 2, rTo, 5).rule(7, 2, rTo, 8).rule(2, 2, rIgnore, 0),
			steps: []rStep{{Event: 1}, {Event: 2}, {Event: 2}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S1]", "enter S1"}, Config: []dState{1}},
				{Fire: "nil", Trace: []string{"exit S1", "transition [S1] [S2 S3 S4 S6 S7]", "enter S2", "enter S3", "enter S4", "enter S6", "enter S7"}, Config: []dState{2, 3, 4, 6, 7}},
				{Fire: "nil", Trace: []string{"exit S7", "exit S4", "transition [S7 S4] [S5 S8]", "enter S5", "enter S8"}, Config: []dState{2, 3, 5, 6, 8}},
				// b and d resolve E2 at On: one rule, one record.
				{Fire: "nil", Trace: []string{"ignored S2 E2"}, Config: []dState{2, 3, 5, 6, 8}},
				{Fire: "nil", Trace: []string{"exit S8", "exit S6", "exit S5", "exit S3", "exit S2", "stopped [S8 S6 S5 S3 S2] []"}},
			},
		},
		{
			name:  "a region's own rule preempts a rule found on the parallel state (SCXML)",
			spec:  regions().rule(1, 1, rTo, 2).rule(2, 1, rTo, 1).rule(7, 1, rTo, 8),
			steps: []rStep{{Event: 1}, {Event: 1}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S1]", "enter S1"}, Config: []dState{1}},
				{Fire: "nil", Trace: []string{"exit S1", "transition [S1] [S2 S3 S4 S6 S7]", "enter S2", "enter S3", "enter S4", "enter S6", "enter S7"}, Config: []dState{2, 3, 4, 6, 7}},
				{Fire: "nil", Trace: []string{"exit S7", "transition [S7] [S8]", "enter S8"}, Config: []dState{2, 3, 4, 6, 8}},
				{Fire: "nil", Trace: []string{"exit S8", "exit S6", "exit S4", "exit S3", "exit S2", "stopped [S8 S6 S4 S3 S2] []"}},
			},
		},
		{
			name:  "a rule on the parallel state found by every region exits all regions, once",
			spec:  regions().rule(1, 1, rTo, 2).rule(2, 1, rTo, 1),
			steps: []rStep{{Event: 1}, {Event: 1}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S1]", "enter S1"}, Config: []dState{1}},
				{Fire: "nil", Trace: []string{"exit S1", "transition [S1] [S2 S3 S4 S6 S7]", "enter S2", "enter S3", "enter S4", "enter S6", "enter S7"}, Config: []dState{2, 3, 4, 6, 7}},
				{Fire: "nil", Trace: []string{"exit S7", "exit S6", "exit S4", "exit S3", "exit S2", "transition [S7 S6 S4 S3 S2] [S1]", "enter S1"}, Config: []dState{1}},
				{Fire: "nil", Trace: []string{"exit S1", "stopped [S1] []"}},
			},
		},
		{
			name:  "a target inside one region enters the others by default",
			spec:  regions().rule(1, 1, rTo, 8),
			steps: []rStep{{Event: 1}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S1]", "enter S1"}, Config: []dState{1}},
				{Fire: "nil", Trace: []string{"exit S1", "transition [S1] [S2 S3 S4 S6 S8]", "enter S2", "enter S3", "enter S4", "enter S6", "enter S8"}, Config: []dState{2, 3, 4, 6, 8}},
				{Fire: "nil", Trace: []string{"exit S8", "exit S6", "exit S4", "exit S3", "exit S2", "stopped [S8 S6 S4 S3 S2] []"}},
			},
		},
		{
			// C(1){A(2){a1(3), a2(4)}, B(5)}: C's internal rule to a2
			// leaves C alone and its tasks running; its external rule
			// exits and re-enters C.
			name: "an internal rule does not leave its state; an external one does",
			spec: func() *rSpec {
				sp := mkSpec(5, 2, 1).children(1, 2, 5).children(2, 3, 4).rule(1, 1, rInternal, 4).rule(1, 2, rTo, 4).hooksOn()
				sp.tasks[1] = 1
				return sp
			}(),
			steps: []rStep{{Event: 1}, {Event: 2}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S1 S2 S3]", "enter S1", "enter S2", "enter S3"}, Config: []dState{1, 2, 3}},
				{Fire: "nil", Trace: []string{"exit S3", "exit S2", "transition [S3 S2] [S2 S4]", "enter S2", "enter S4"}, Config: []dState{1, 2, 4}},
				{
					Fire: "nil", Trace: []string{"exit S4", "exit S2", "exit S1", "transition [S4 S2 S1] [S1 S2 S4]", "enter S1", "enter S2", "enter S4"},
					Config: []dState{1, 2, 4}, Ends: []dEnd{{State: 1, Cause: "fsm: state S1 exited on E2"}},
				},
				{Fire: "nil", Trace: []string{"exit S4", "exit S2", "exit S1", "stopped [S4 S2 S1] []"}, Ends: []dEnd{{State: 1, Cause: "fsm: state S1 exited: machine stopped"}}},
			},
		},
		{
			// P(1){X(2){x1(3), x2(4)}, Y(5)}, Out(6); H7 shallow, H8 deep
			// of P. Shallow restores X by default (x1), deep restores x2.
			name: "history: shallow re-enters the child, deep the leaves",
			spec: func() *rSpec {
				sp := mkSpec(6, 4, 6).children(1, 2, 5).children(2, 3, 4)
				h := sp.addHistory(1, false)
				d := sp.addHistory(1, true)
				return sp.rule(6, 1, rTo, h).rule(6, 2, rTo, d).rule(3, 3, rTo, 4).rule(1, 4, rTo, 6)
			}(),
			steps: []rStep{{Event: 1}, {Event: 3}, {Event: 4}, {Event: 1}, {Event: 3}, {Event: 4}, {Event: 2}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S6]"}, Config: []dState{6}},
				{Fire: "nil", Trace: []string{"transition [S6] [S1 S2 S3]"}, Config: []dState{1, 2, 3}}, // never left: the default
				{Fire: "nil", Trace: []string{"transition [S3] [S4]"}, Config: []dState{1, 2, 4}},
				{Fire: "nil", Trace: []string{"transition [S4 S2 S1] [S6]"}, Config: []dState{6}},
				{Fire: "nil", Trace: []string{"transition [S6] [S1 S2 S3]"}, Config: []dState{1, 2, 3}}, // shallow: X, then its default
				{Fire: "nil", Trace: []string{"transition [S3] [S4]"}, Config: []dState{1, 2, 4}},
				{Fire: "nil", Trace: []string{"transition [S4 S2 S1] [S6]"}, Config: []dState{6}},
				{Fire: "nil", Trace: []string{"transition [S6] [S1 S2 S4]"}, Config: []dState{1, 2, 4}}, // deep: x2
				{Fire: "nil", Trace: []string{"stopped [S4 S2 S1] []"}},
			},
		},
		{
			// A(1), B(2); limit 1. A postpones E1; E3 is a
			// self-transition, no change; E2 moves to B, where the
			// postponed E1 is offered again, ahead of anything else.
			name: "postpone: kept, bounded, replayed after a change, not after a self-transition",
			spec: func() *rSpec {
				sp := mkSpec(2, 3, 1).rule(1, 1, rPostpone, 0).rule(1, 2, rTo, 2).rule(1, 3, rTo, 1).
					rule(2, 1, rIgnore, 0).rule(2, 2, rTo, 1).rule(2, 3, rPostpone, 0)
				sp.limit = 1
				return sp
			}(),
			steps: []rStep{{Event: 1}, {Event: 1}, {Event: 3}, {Event: 2}, {Event: 3}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S1]"}, Config: []dState{1}},
				{Fire: "nil", Trace: []string{"postponed S1 E1"}, Config: []dState{1}, Postponed: []dEvent{1}},
				{Fire: "postpone limit: rejected S1 × E1", Trace: []string{"rejected S1 E1"}, Config: []dState{1}, Postponed: []dEvent{1}},
				{Fire: "nil", Trace: []string{"transition [S1] [S1]"}, Config: []dState{1}, Postponed: []dEvent{1}},
				{Fire: "nil", Trace: []string{"transition [S1] [S2]", "ignored S2 E1"}, Config: []dState{2}},
				{Fire: "nil", Trace: []string{"postponed S2 E3"}, Config: []dState{2}, Postponed: []dEvent{3}},
				{Fire: "nil", Trace: []string{"stopped [S2] []", "dropped S0 E3"}},
			},
		},
		{
			// P(1) parallel: R1(2){a(3)}, R2(4){b(5), c(6)}. a postpones
			// E1 while b would take it: the whole event waits. E2 moves b
			// to c, a change: E1 comes back, a postpones it again.
			name: "postpone in one region holds the event for all",
			spec: mkSpec(6, 2, 1).parallel(1, 2, 4).children(2, 3).children(4, 5, 6).
				rule(3, 1, rPostpone, 0).rule(3, 2, rIgnore, 0).rule(5, 1, rTo, 6).rule(5, 2, rTo, 6).rule(6, 1, rIgnore, 0).rule(6, 2, rIgnore, 0),
			steps: []rStep{{Event: 1}, {Event: 2}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S1 S2 S3 S4 S5]"}, Config: []dState{1, 2, 3, 4, 5}},
				{Fire: "nil", Trace: []string{"postponed S3 E1"}, Config: []dState{1, 2, 3, 4, 5}, Postponed: []dEvent{1}},
				{Fire: "nil", Trace: []string{"transition [S5] [S6]", "postponed S3 E1"}, Config: []dState{1, 2, 3, 4, 6}, Postponed: []dEvent{1}},
				{Fire: "nil", Trace: []string{"stopped [S6 S4 S3 S2 S1] []", "dropped S0 E1"}},
			},
		},
		{
			// P(1){p1(2), p2(3)}, Q(4). p1 has two tasks, P one and the
			// failure event E1 (to Q). A fault in p1 cancels P's scope at
			// once, then E1 leaves P: its tasks have ended already.
			name: "a fault cancels the failure scope, then its event is processed",
			spec: func() *rSpec {
				sp := mkSpec(4, 2, 1).children(1, 2, 3).rule(1, 1, rTo, 4).rule(1, 2, rIgnore, 0).rule(4, 1, rIgnore, 0).rule(4, 2, rTo, 1)
				sp.tasks[1], sp.tasks[2], sp.failure[1] = 1, 2, 1
				return sp
			}(),
			steps: []rStep{{Fault: 2, Task: 1}, {Fault: 2, Task: 0}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S1 S2]"}, Config: []dState{1, 2}},
				{
					Fire: "nil", Trace: []string{"task_failed S2 E0", "transition [S2 S1] [S4]"}, Config: []dState{4},
					Ends: []dEnd{{State: 2, Cause: "failed"}, {State: 1, Cause: "failure"}, {State: 2, Cause: "failure"}},
				},
				{Fire: "nil", Config: []dState{4}}, // p1 is no longer active: nothing fails
				{Fire: "nil", Trace: []string{"stopped [S4] []"}},
			},
		},
		{
			// In the regions of On, a moves on E3 while c rejects it:
			// the whole event is rejected, no region moves.
			name:  "a rejection in one region rejects the event in all",
			spec:  regions().rule(1, 1, rTo, 2).rule(4, 3, rTo, 5).rule(7, 3, rReject, 0),
			steps: []rStep{{Event: 1}, {Event: 3}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S1]", "enter S1"}, Config: []dState{1}},
				{Fire: "nil", Trace: []string{"exit S1", "transition [S1] [S2 S3 S4 S6 S7]", "enter S2", "enter S3", "enter S4", "enter S6", "enter S7"}, Config: []dState{2, 3, 4, 6, 7}},
				{Fire: "rejected S7 × E3", Trace: []string{"rejected S7 E3"}, Config: []dState{2, 3, 4, 6, 7}},
				{Fire: "nil", Trace: []string{"exit S7", "exit S6", "exit S4", "exit S3", "exit S2", "stopped [S7 S6 S4 S3 S2] []"}},
			},
		},
		{
			// R2 of On declares the failure event E4; c's task fails. E4
			// is offered to R2's leaf only: c moves to d, a does not move
			// though its own rule for E4 would.
			name: "a failure event is offered below its scope only",
			spec: func() *rSpec {
				sp := regions().rule(4, 4, rTo, 5).rule(7, 4, rTo, 8)
				sp.tasks[7], sp.failure[6], sp.initial = 1, 4, 2
				return sp
			}(),
			steps: []rStep{{Fault: 7}},
			want: []rOutcome{
				{Fire: "nil", Trace: []string{"started [] [S2 S3 S4 S6 S7]", "enter S2", "enter S3", "enter S4", "enter S6", "enter S7"}, Config: []dState{2, 3, 4, 6, 7}},
				{
					Fire: "nil", Trace: []string{"task_failed S7 E0", "exit S7", "transition [S7] [S8]", "enter S8"}, Config: []dState{2, 3, 4, 6, 8},
					Ends: []dEnd{{State: 7, Cause: "failed"}},
				},
				{Fire: "nil", Trace: []string{"exit S8", "exit S6", "exit S4", "exit S3", "exit S2", "stopped [S8 S6 S4 S3 S2] []"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runModel(tt.spec, tt.steps)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("model trace (-want +got):\n%s\ndefinition:\n%v", diff, tt.spec)
			}
		})
	}
}

// TestReferenceModelDraws checks the model on random definitions against
// invariants the specification states outright: the configuration is a
// set closed under parents, with exactly one active child under an active
// non-parallel composite and every region under an active parallel
// state; every entered state is exited before it is entered again; tasks
// run only in active states; postponed events never exceed the limit;
// every state of a drawn definition is reachable.
func TestReferenceModelDraws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sp := drawRSpec(t, rOpts{postpone: true, internalOnParallel: true, faults: true, historyFromInside: true, finalInRegions: true})
		seen := sp.reachable()
		for s := dState(1); int(s) <= sp.n; s++ {
			if !seen[s] && sp.leaf(s) {
				return // the repair gave up: Build would refuse it; nothing to run
			}
		}
		sp.hooksOn()
		r := newRRef(sp)
		r.budget = dBudget
		r.start()
		r.drain()
		active := map[dState]bool{}
		checkLog := func() {
			for _, e := range r.log {
				if e.ID < 1000 {
					continue // a drawn hook
				}
				switch e.What {
				case "enter":
					if active[e.State] {
						t.Fatalf("%v entered twice\n%v", e.State, sp)
					}
					active[e.State] = true
				case "exit":
					if !active[e.State] && !e.Stopping {
						t.Fatalf("%v exited while not active\n%v", e.State, sp)
					}
					delete(active, e.State)
				}
			}
			r.log = nil
		}
		checkLog()
		for i := range rapid.IntRange(1, 30).Draw(t, "steps") {
			if rapid.IntRange(0, 4).Draw(t, "fault") == 0 {
				s := dState(rapid.IntRange(1, sp.n).Draw(t, "fault state"))
				r.fault(s, 0, "boom")
			} else {
				r.run(dEvent(rapid.IntRange(1, sp.events).Draw(t, "event")), i)
			}
			checkLog()
			if len(r.postponed) > sp.limit {
				t.Fatalf("%d events postponed, limit %d\n%v", len(r.postponed), sp.limit, sp)
			}
			if r.stopped {
				return
			}
			for s := dState(1); int(s) <= sp.n; s++ {
				if r.live[s] > 0 && !r.act[s] {
					t.Fatalf("tasks of %v run while it is not active\n%v", s, sp)
				}
				if !r.act[s] {
					continue
				}
				if p := sp.parent[s]; p != 0 && !r.act[p] {
					t.Fatalf("%v active without its parent %v\n%v", s, p, sp)
				}
				n := 0
				for _, k := range sp.kids[s] {
					if r.act[k] {
						n++
					}
				}
				want := 1
				if sp.par[s] {
					want = len(sp.kids[s])
				}
				if !sp.leaf(s) && n != want {
					t.Fatalf("%v has %d active children, want %d; configuration %v\n%v", s, n, want, r.config(), sp)
				}
			}
		}
	})
}
