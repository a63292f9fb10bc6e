package fsm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// The three-level definition of these tests:
//
//	A            (task a)
//	├── A1       (task a1)
//	│   ├── A1a  (task a1a)
//	│   └── A1b
//	└── A2
//	    └── A2a
//	B
//	└── B1       (task b1)
//	    └── B1a
//	C
//	Done         (final)
type ns int

const (
	nA ns = iota
	nA1
	nA1a
	nA1b
	nA2
	nA2a
	nB
	nB1
	nB1a
	nC
	nDone
)

var nsNames = [...]string{"A", "A1", "A1a", "A1b", "A2", "A2a", "B", "B1", "B1a", "C", "Done"}

func (s ns) String() string {
	if int(s) < len(nsNames) {
		return nsNames[s]
	}
	return fmt.Sprint(int(s))
}

type nev int

const (
	Sib nev = iota
	Cousin
	Up
	Down
	SelfComp
	ToB
	ToC
	Finish
)

var nevNames = [...]string{"Sib", "Cousin", "Up", "Down", "SelfComp", "ToB", "ToC", "Finish"}

func (e nev) String() string {
	if int(e) < len(nevNames) {
		return nevNames[e]
	}
	return fmt.Sprint(int(e))
}

type nrule = fsm.Rule[ns, nev]

func nestedRules() []nrule {
	ign := fsm.Ignore[ns]()
	return []nrule{
		{nA1a, Sib, fsm.To(nA1b), ""},
		{nA1b, Sib, fsm.To(nA1a), ""},
		{nA, Sib, ign, "no sibling to go to"},
		{nB, Sib, ign, "no sibling"},
		{nC, Sib, ign, "no sibling"},

		{nA1, Cousin, fsm.To(nA2a), ""},
		{nA2, Cousin, fsm.To(nA1b), ""},
		{nB, Cousin, ign, "no cousin"},
		{nC, Cousin, ign, "no cousin"},

		{nA1, Up, fsm.To(nA), ""},
		{nA2, Up, fsm.Reject[ns](), "A2 never goes up"},
		{nB1a, Up, fsm.To(nB), ""},
		{nC, Up, ign, "top level"},

		{nA, Down, fsm.To(nA1b), ""},
		{nB, Down, ign, "already down"},
		{nC, Down, fsm.To(nB1a), ""},

		{nA1, SelfComp, fsm.To(nA1), ""},
		{nA, SelfComp, ign, "only A1 re-enters itself"},
		{nB, SelfComp, fsm.To(nB), ""},
		{nC, SelfComp, fsm.To(nC), ""},

		{nA, ToB, fsm.To(nB), ""},
		{nB, ToB, ign, "in B"},
		{nC, ToB, fsm.To(nB), ""},

		{nA, ToC, fsm.To(nC), ""},
		{nB, ToC, fsm.To(nC), ""},
		{nC, ToC, ign, "in C"},

		{nA, Finish, fsm.To(nDone), ""},
		{nB, Finish, fsm.To(nDone), ""},
		{nC, Finish, fsm.To(nDone), ""},
	}
}

func nestedBuilder() *fsm.Builder[ns, nev] {
	b := fsm.NewBuilder[ns, nev](nA).
		States(nA, nA1, nA1a, nA1b, nA2, nA2a, nB, nB1, nB1a, nC, nDone).
		Events(Sib, Cousin, Up, Down, SelfComp, ToB, ToC, Finish).
		Children(nA, nA1, nA2).
		Children(nA1, nA1a, nA1b).
		Children(nA2, nA2a).
		Children(nB, nB1).
		Children(nB1, nB1a).
		Final(nDone).
		Rules(nestedRules()...)
	return b
}

// nestedLog records, in order, what the hooks, actions and tasks of a
// nested machine saw.
type nestedLog struct {
	mu    sync.Mutex
	lines []string
	// starts counts each state's task starts; entries its entries.
	starts, entries [len(nsNames)]atomic.Int32
	running         [len(nsNames)]atomic.Int32
}

func (l *nestedLog) add(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *nestedLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// instrument gives every state enter and exit hooks, and states A, A1, A1a
// and B1 a task each. The hooks check the order the engine promises:
// an exit hook runs only once no task of a state being exited runs, and an
// enter hook of a child runs only once its parent's tasks of this entry
// have started.
func (l *nestedLog) instrument(t *testing.T, b *fsm.Builder[ns, nev]) {
	for s := range ns(len(nsNames)) {
		b.OnEnter(s, func(_ context.Context, tr fsm.Transition[ns, nev]) {
			l.entries[tr.State].Add(1)
			if p, ok := parentOf(tr.State); ok && hasTask(p) {
				// The parent's tasks start before its child is entered.
				deadline := time.Now().Add(time.Second)
				for l.starts[p].Load() < l.entries[p].Load() {
					if time.Now().After(deadline) {
						t.Errorf("enter %v: the tasks of %v have not started", tr.State, p)
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
			l.add("enter %v #%d", tr.State, tr.Epoch)
		})
		b.OnExit(s, func(_ context.Context, tr fsm.Transition[ns, nev]) {
			for q := range ns(len(nsNames)) {
				if n := l.running[q].Load(); n != 0 && isUnder(q, tr.State) {
					t.Errorf("exit %v: a task of %v is still running", tr.State, q)
				}
			}
			l.add("exit %v #%d", tr.State, tr.Epoch)
		})
	}
	for _, s := range []ns{nA, nA1, nA1a, nB1} {
		name := strings.ToLower(s.String())
		b.Task(s, name, func(ctx context.Context, _ fsm.Transition[ns, nev], _ fsm.Emit[nev]) error {
			l.running[s].Add(1)
			l.starts[s].Add(1)
			<-ctx.Done()
			l.add("%s stopped: %v", name, context.Cause(ctx))
			l.running[s].Add(-1)
			return nil
		})
	}
}

func parentOf(s ns) (ns, bool) {
	switch s {
	case nA1, nA2:
		return nA, true
	case nA1a, nA1b:
		return nA1, true
	case nA2a:
		return nA2, true
	case nB1:
		return nB, true
	case nB1a:
		return nB1, true
	}
	return 0, false
}

func hasTask(s ns) bool { return s == nA || s == nA1 || s == nA1a || s == nB1 }

// isUnder reports whether q is s or one of its descendants.
func isUnder(q, s ns) bool {
	for {
		if q == s {
			return true
		}
		p, ok := parentOf(q)
		if !ok {
			return false
		}
		q = p
	}
}

// TestNestedOrder fires one event of every kind of transition and checks
// the exact order of hooks and actions, the epochs they see, which tasks
// stop and why, and the record the observer gets.
func TestNestedOrder(t *testing.T) {
	type step struct {
		ev      nev
		want    []string // hooks, actions and task stops, in order; task stops sorted
		leaf    ns
		exited  []ns
		entered []ns
	}
	tests := []struct {
		name  string
		setup []nev // events fired before the step under test
		step  step
	}{
		{"sibling: leaf to leaf under one parent", nil, step{ev: Sib,
			want:    []string{"a1a stopped: fsm: state A1a exited on Sib", "exit A1a #3", "enter A1b #4"},
			leaf:    nA1b,
			exited:  []ns{nA1a},
			entered: []ns{nA1b},
		}},
		{"cousin: through the grandparent", nil, step{ev: Cousin,
			// A1's tasks and A1a's stop at once: A1 is the outermost state
			// left, so its exit is the cause both see.
			want:    []string{"a1 stopped: fsm: state A1 exited on Cousin", "a1a stopped: fsm: state A1 exited on Cousin", "exit A1a #3", "exit A1 #2", "action A1×Cousin #2", "enter A2 #4", "enter A2a #5"},
			leaf:    nA2a,
			exited:  []ns{nA1a, nA1},
			entered: []ns{nA2, nA2a},
		}},
		{"up: to an ancestor, which is exited and re-entered", nil, step{ev: Up,
			want: []string{
				"a stopped: fsm: state A exited on Up", "a1 stopped: fsm: state A exited on Up", "a1a stopped: fsm: state A exited on Up",
				"exit A1a #3", "exit A1 #2", "exit A #1", "enter A #4", "enter A1 #5", "enter A1a #6",
			},
			leaf:    nA1a,
			exited:  []ns{nA1a, nA1, nA},
			entered: []ns{nA, nA1, nA1a},
		}},
		{"down: a composite's rule to its own descendant re-enters it", []nev{Sib}, step{ev: Down,
			want: []string{
				"a stopped: fsm: state A exited on Down", "a1 stopped: fsm: state A exited on Down",
				"exit A1b #4", "exit A1 #2", "exit A #1", "enter A #5", "enter A1 #6", "enter A1b #7",
			},
			leaf:    nA1b,
			exited:  []ns{nA1b, nA1, nA},
			entered: []ns{nA, nA1, nA1b},
		}},
		{"self on a composite: exits and re-enters it, down to its initial leaf", []nev{Sib}, step{ev: SelfComp,
			want:    []string{"a1 stopped: fsm: state A1 exited on SelfComp", "exit A1b #4", "exit A1 #2", "enter A1 #5", "enter A1a #6"},
			leaf:    nA1a,
			exited:  []ns{nA1b, nA1},
			entered: []ns{nA1, nA1a},
		}},
		{"into a composite: down to its initial leaf", []nev{ToC}, step{ev: ToB,
			want:    []string{"exit C #4", "enter B #5", "enter B1 #6", "enter B1a #7"},
			leaf:    nB1a,
			exited:  []ns{nC},
			entered: []ns{nB, nB1, nB1a},
		}},
		{"inherited from the top: every level left", nil, step{ev: ToC,
			want: []string{
				"a stopped: fsm: state A exited on ToC", "a1 stopped: fsm: state A exited on ToC", "a1a stopped: fsm: state A exited on ToC",
				"exit A1a #3", "exit A1 #2", "exit A #1", "enter C #4",
			},
			leaf:    nC,
			exited:  []ns{nA1a, nA1, nA},
			entered: []ns{nC},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log nestedLog
				b := nestedBuilder()
				log.instrument(t, b)
				b.Action(nA1, Cousin, func(_ context.Context, tr fsm.Transition[ns, nev]) {
					log.add("action %v×%v #%d", tr.State, tr.Event, tr.Epoch)
				})
				def, err := b.Build()
				if err != nil {
					t.Fatal(err)
				}
				var recs []fsm.Record[ns, nev]
				m := def.Start(context.Background(), fsm.Config[ns, nev]{Observer: func(_ context.Context, r fsm.Record[ns, nev]) {
					if r.Kind == fsm.RecordTransition {
						recs = append(recs, r)
					}
				}})
				defer m.Stop(context.Background())
				if diff := cmp.Diff([]string{"enter A #1", "enter A1 #2", "enter A1a #3"}, log.take()); diff != "" {
					t.Errorf("start (-want +got):\n%s", diff)
				}
				for _, e := range tt.setup {
					if err := m.Fire(context.Background(), e); err != nil {
						t.Fatal(err)
					}
				}
				synctest.Wait()
				log.take()
				recs = nil

				if err := m.Fire(context.Background(), tt.step.ev); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				got := sortTaskStops(log.take())
				if diff := cmp.Diff(tt.step.want, got); diff != "" {
					t.Errorf("%v (-want +got):\n%s", tt.step.ev, diff)
				}
				if m.State() != tt.step.leaf {
					t.Errorf("leaf after %v = %v, want %v", tt.step.ev, m.State(), tt.step.leaf)
				}
				if len(recs) != 1 {
					t.Fatalf("%d transition records, want 1", len(recs))
				}
				var exited []ns
				for _, l := range recs[0].Exited {
					exited = append(exited, l.State)
				}
				if diff := cmp.Diff(tt.step.exited, exited); diff != "" {
					t.Errorf("record's exited levels (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.step.entered, recs[0].Entered); diff != "" {
					t.Errorf("record's entered levels (-want +got):\n%s", diff)
				}
				// The states entered are numbered in turn, outermost first,
				// the last being the record's Epoch: what the enter hooks saw.
				var hooks, numbered []string
				for _, l := range got {
					if strings.HasPrefix(l, "enter ") {
						hooks = append(hooks, l)
					}
				}
				for i, s := range recs[0].Entered {
					numbered = append(numbered, fmt.Sprintf("enter %v #%d", s, recs[0].Epoch-uint64(len(recs[0].Entered)-1-i)))
				}
				if diff := cmp.Diff(hooks, numbered); diff != "" {
					t.Errorf("entries numbered from the record's Epoch (-hooks +from the record):\n%s", diff)
				}
			})
		})
	}
}

// sortTaskStops sorts the leading task-stop lines: the tasks of the levels
// exited stop concurrently, all before the first exit hook.
func sortTaskStops(lines []string) []string {
	n := 0
	for n < len(lines) && strings.Contains(lines[n], " stopped: ") {
		n++
	}
	stops := append([]string(nil), lines[:n]...)
	for i := range stops {
		for j := i + 1; j < len(stops); j++ {
			if stops[j] < stops[i] {
				stops[i], stops[j] = stops[j], stops[i]
			}
		}
	}
	return append(stops, lines[n:]...)
}

// TestNestedParentTasksSurviveChildSteps: a step between two children
// leaves the parent's tasks running, and an event a parent's task emits
// after it is not stale; a child's task's emit after its entry ended is.
func TestNestedParentTasksSurviveChildSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var parentRuns, parentStarts atomic.Int32
		emitParent := make(chan nev)
		emitChild := make(chan nev, 1)
		b := nestedBuilder().
			Task(nA, "a", func(ctx context.Context, _ fsm.Transition[ns, nev], emit fsm.Emit[nev]) error {
				parentStarts.Add(1)
				parentRuns.Add(1)
				defer parentRuns.Add(-1)
				for {
					select {
					case <-ctx.Done():
						return nil
					case e := <-emitParent:
						emit(e, nil)
					}
				}
			}).
			Task(nA1a, "a1a", func(ctx context.Context, _ fsm.Transition[ns, nev], emit fsm.Emit[nev]) error {
				<-ctx.Done()
				emit(<-emitChild, nil) // a late emit: its entry is over
				return nil
			})
		def, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		m := def.Start(context.Background(), fsm.Config[ns, nev]{Observer: func(_ context.Context, r fsm.Record[ns, nev]) {
			kinds = append(kinds, fmt.Sprintf("%v %v %v→%v state %v", r.Kind, r.Event, r.From, r.To, r.State))
		}})
		defer m.Stop(context.Background())
		emitChild <- Sib
		fire := func(e nev) {
			t.Helper()
			if err := m.Fire(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		fire(Sib)    // A1a → A1b: A's task keeps running
		fire(Cousin) // A1b → A2a
		emitParent <- Sib
		synctest.Wait()
		if n := parentStarts.Load(); n != 1 {
			t.Errorf("A's task started %d times across child steps, want 1", n)
		}
		if n := parentRuns.Load(); n != 1 {
			t.Errorf("%d of A's tasks running, want 1", n)
		}
		want := []string{
			"started Sib A1a→A1a state A1a",
			"transition Sib A1a→A1b state A1a",
			"stale Sib A1b→A1b state A1a", // the child's late emit
			"transition Cousin A1b→A2a state A1b",
			"ignored Sib A2a→A2a state A", // the parent's emit, resolved from the leaf
		}
		if diff := cmp.Diff(want, kinds); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
	})
}

// TestNestedFailureScope: a child's task fails and the failure event is
// its parent's: the parent's tasks are cancelled before the event is
// processed, and the event, stamped with the parent's entry, leaves it.
func TestNestedFailureScope(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hbCtx atomic.Pointer[context.Context]
		var seenAtFailure atomic.Value
		b := nestedBuilder().
			FailureEvent(nA, ToC).
			Task(nA, "heartbeat", func(ctx context.Context, _ fsm.Transition[ns, nev], _ fsm.Emit[nev]) error {
				hbCtx.Store(&ctx)
				<-ctx.Done()
				return nil
			}).
			Task(nA1a, "sync", func(ctx context.Context, _ fsm.Transition[ns, nev], _ fsm.Emit[nev]) error {
				time.Sleep(time.Second) // the parent's heartbeat is running by now
				return fmt.Errorf("connection dead")
			})
		def, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		var recs []string
		m := def.Start(context.Background(), fsm.Config[ns, nev]{Observer: func(_ context.Context, r fsm.Record[ns, nev]) {
			if r.Kind == fsm.RecordTaskFailed {
				hb := *hbCtx.Load()
				seenAtFailure.Store(fmt.Sprint(context.Cause(hb)))
			}
			recs = append(recs, fmt.Sprintf("%v %v %v→%v", r.Kind, r.Event, r.From, r.To))
		}})
		defer m.Stop(context.Background())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got, want := seenAtFailure.Load(), `tasks: task "sync" failed: connection dead`; got != want {
			t.Errorf("the heartbeat's cause when the failure was reported = %v, want %q", got, want)
		}
		want := []string{"started Sib A1a→A1a", "task_failed Sib A1a→A1a", "transition ToC A1a→C"}
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
		if m.State() != nC {
			t.Errorf("state = %v, want C", m.State())
		}
	})
}

// TestNestedFinal: entering a final state runs its enter hooks, then stops
// the machine; nothing is processed after.
func TestNestedFinal(t *testing.T) {
	var log nestedLog
	b := nestedBuilder()
	log.instrument(t, b)
	def, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[ns, nev]{})
	log.take()
	if err := m.Fire(context.Background(), Finish); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Done():
	default:
		t.Fatal("the machine did not stop on entering its final state")
	}
	want := []string{
		"a stopped: fsm: state A exited on Finish", "a1 stopped: fsm: state A exited on Finish", "a1a stopped: fsm: state A exited on Finish",
		"exit A1a #3", "exit A1 #2", "exit A #1", "enter Done #4", "exit Done #4",
	}
	if diff := cmp.Diff(want, sortTaskStops(log.take())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := m.Fire(context.Background(), ToB); err != fsm.ErrStopped {
		t.Errorf("Fire after the final state = %v, want ErrStopped", err)
	}
	if m.Err() != nil {
		t.Errorf("Err() = %v, want nil", m.Err())
	}
	if m.State() != nDone || !m.In(nDone) || m.In(nA) {
		t.Errorf("State() = %v, In(Done) = %v, In(A) = %v", m.State(), m.In(nDone), m.In(nA))
	}
}

// TestNestedAccessors: State, In and Path report the active configuration.
func TestNestedAccessors(t *testing.T) {
	def, err := nestedBuilder().Build()
	if err != nil {
		t.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[ns, nev]{})
	defer m.Stop(context.Background())
	if err := m.Fire(context.Background(), Cousin); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ns{nA, nA2, nA2a}, m.Path()); diff != "" {
		t.Errorf("Path (-want +got):\n%s", diff)
	}
	var in []ns
	for s := range ns(len(nsNames)) {
		if m.In(s) {
			in = append(in, s)
		}
	}
	if diff := cmp.Diff([]ns{nA, nA2, nA2a}, in); diff != "" {
		t.Errorf("In (-want +got):\n%s", diff)
	}
	if m.State() != nA2a || m.Epoch() != 5 {
		t.Errorf("State, Epoch = %v, %d; want A2a, 5", m.State(), m.Epoch())
	}
	if m.In(ns(99)) {
		t.Error("In(unknown state) = true")
	}
}

// TestNestedResolution: every leaf resolves every event to the nearest
// rule, own or inherited, as Cell reports it.
func TestNestedResolution(t *testing.T) {
	def, err := nestedBuilder().Build()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		leaf ns
		ev   nev
		kind fsm.Kind
		at   ns
		to   ns // the leaf a transition ends in
	}
	var got []row
	for _, l := range def.Leaves() {
		for _, e := range def.Events() {
			c, ok := def.Cell(l, e)
			if !ok {
				if !def.IsFinal(l) {
					t.Errorf("no rule applies to %v × %v", l, e)
				}
				continue
			}
			got = append(got, row{l, e, c.Kind, c.At, c.Leaf})
		}
	}
	// A sample of the table: own rules, inherited ones, overrides.
	want := map[[2]int]row{
		{int(nA1a), int(Sib)}:    {nA1a, Sib, fsm.KindTransition, nA1a, nA1b}, // own, overriding A's ignore
		{int(nA2a), int(Sib)}:    {nA2a, Sib, fsm.KindIgnore, nA, 0},          // inherited from the grandparent
		{int(nA1b), int(Cousin)}: {nA1b, Cousin, fsm.KindTransition, nA1, nA2a},
		{int(nA2a), int(Up)}:     {nA2a, Up, fsm.KindReject, nA2, 0},
		{int(nB1a), int(Down)}:   {nB1a, Down, fsm.KindIgnore, nB, 0},
		{int(nC), int(ToB)}:      {nC, ToB, fsm.KindTransition, nC, nB1a}, // into B's initial leaf
	}
	seen := 0
	for _, r := range got {
		if w, ok := want[[2]int{int(r.leaf), int(r.ev)}]; ok {
			seen++
			if diff := cmp.Diff(w, r, cmp.AllowUnexported(row{})); diff != "" {
				t.Errorf("%v × %v (-want +got):\n%s", r.leaf, r.ev, diff)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("checked %d cells, want %d", seen, len(want))
	}
	if c, _ := def.Cell(nA2a, Sib); !c.Inherited(nA2a) {
		t.Error("A2a × Sib is not reported inherited")
	}
	if got, want := len(def.Leaves()), 6; got != len(def.Leaves()) || got != want {
		t.Errorf("%d leaves, want %d", got, want)
	}
}

// TestNestedBuildProblems: every problem of a nested definition is
// reported, by name, in one error.
func TestNestedBuildProblems(t *testing.T) {
	ign := fsm.Ignore[ns]()
	nop := func(context.Context, fsm.Transition[ns, nev], fsm.Emit[nev]) error { return nil }
	tests := []struct {
		name  string
		build func() *fsm.Builder[ns, nev]
		want  []string
	}{
		{
			name: "a leaf pair no rule applies to",
			build: func() *fsm.Builder[ns, nev] {
				rules := nestedRules()
				var kept []nrule
				for _, r := range rules {
					if !(r.From == nA && r.On == ToC) {
						kept = append(kept, r)
					}
				}
				return fsm.NewBuilder[ns, nev](nA).States(nA, nA1, nA1a, nA1b, nA2, nA2a, nB, nB1, nB1a, nC, nDone).
					Events(Sib, Cousin, Up, Down, SelfComp, ToB, ToC, Finish).
					Children(nA, nA1, nA2).Children(nA1, nA1a, nA1b).Children(nA2, nA2a).Children(nB, nB1).Children(nB1, nB1a).
					Final(nDone).Rules(kept...)
			},
			want: []string{
				"undeclared: A1a × ToC (no rule in A1a or its ancestors A1, A)",
				"undeclared: A1b × ToC (no rule in A1b or its ancestors A1, A)",
				"undeclared: A2a × ToC (no rule in A2a or its ancestors A2, A)",
			},
		},
		{
			name: "declared twice at one level; an override at another is fine",
			build: func() *fsm.Builder[ns, nev] {
				return nestedBuilder().Rules(nrule{nA, Sib, ign, "again"}, nrule{nA2a, Sib, ign, "an override"})
			},
			want: []string{"rule A × Sib declared twice"},
		},
		{
			name: "unknown parent and child, two parents, own child",
			build: func() *fsm.Builder[ns, nev] {
				return nestedBuilder().Children(ns(42), nC).Children(nC, ns(43), nA1a, nC)
			},
			want: []string{
				"children of unknown state 42",
				"child 43 of C: unknown state",
				"state A1a has two parents: A1 and C",
				"state C cannot be its own child",
			},
		},
		{
			name: "a cycle",
			build: func() *fsm.Builder[ns, nev] {
				return fsm.NewBuilder[ns, nev](nC).States(nA, nB, nC).Events(Sib).
					Children(nA, nB).Children(nB, nA).
					Rules(nrule{nC, Sib, ign, "x"})
			},
			// The cycle is cut above A, whose only child B is then a leaf.
			want: []string{"cycle of parents: A → B → A", "undeclared: B × Sib (no rule in B or its ancestors A)", "state B is unreachable from C"},
		},
		{
			name: "an unreachable leaf",
			build: func() *fsm.Builder[ns, nev] {
				return fsm.NewBuilder[ns, nev](nA).States(nA, nA1, nA2, nC).Events(Sib).
					Children(nA, nA1, nA2).
					Rules(nrule{nA, Sib, ign, "x"}, nrule{nC, Sib, fsm.To(nA2), ""})
			},
			want: []string{"state A2 is unreachable from A", "state C is unreachable from A"},
		},
		{
			name: "final states: with children, rules, tasks, timeouts",
			build: func() *fsm.Builder[ns, nev] {
				return nestedBuilder().Final(nB, ns(50)).
					Rules(nrule{nDone, Sib, ign, "never"}).
					Task(nDone, "late", nop).
					Timeout(nDone, time.Second, Sib)
			},
			want: []string{
				"final state B has children: a final state is a leaf",
				"final state 50 is not declared",
				"rule Done × Sib: Done is final: no event is processed in it",
				`task "late" of Done: Done is final: nothing runs in it`,
				"timeout of Done: Done is final: nothing fires in it",
			},
		},
		{
			name: "choices and timeouts",
			build: func() *fsm.Builder[ns, nev] {
				pick := func(env, payload any) ns { return nC }
				return nestedBuilder().Rules(
					nrule{nC, Finish, fsm.Choice(pick), ""},
					nrule{nB, Finish, fsm.Choice(pick, nC, ns(60), nC), ""},
					nrule{nA, Finish, fsm.Choice[ns](nil, nC), ""},
				).Timeout(nC, 0, Sib).Timeout(ns(61), time.Second, Sib).Timeout(nC, time.Second, nev(62))
			},
			want: []string{
				"rule C × Finish: choice declares no targets",
				"rule C × Finish declared twice",
				"rule B × Finish: unknown choice target 60",
				"rule B × Finish: choice target C listed twice",
				"rule B × Finish declared twice",
				"rule A × Finish: choice has no function",
				"rule A × Finish declared twice",
				"timeout of C on Sib: duration 0s must be positive",
				"timeout for unknown state 61",
				"timeout of C: unknown event 62",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.build().Build()
			var be *fsm.BuildError
			if !errors.As(err, &be) {
				t.Fatalf("Build() = %v, want a *BuildError", err)
			}
			if diff := cmp.Diff(tt.want, be.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChanged: the channel Changed returns closes at the next transition,
// not at an ignored event, and at the stop; after the stop it is closed.
func TestChanged(t *testing.T) {
	def, err := nestedBuilder().Build()
	if err != nil {
		t.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[ns, nev]{})
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	ch := m.Changed()
	if m.Changed() != ch {
		t.Error("two calls before a step return different channels")
	}
	_ = m.Fire(context.Background(), ToC) // A1a → C
	if !closed(ch) || m.State() != nC {
		t.Fatalf("after a transition: closed %v, state %v", closed(ch), m.State())
	}
	ch = m.Changed()
	_ = m.Fire(context.Background(), ToC) // ignored in C
	if closed(ch) {
		t.Error("closed by an ignored event")
	}
	_ = m.Stop(context.Background())
	if !closed(ch) || !closed(m.Changed()) {
		t.Error("not closed by the stop")
	}
}

// TestNestedStragglers: tasks that ignore their context past the join
// timeout are reported level by level, innermost first, each with its own
// state; the step goes on without them, and each is reported again when it
// returns.
func TestNestedStragglers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stuck := func(d time.Duration) fsm.Task[ns, nev] {
			return func(ctx context.Context, _ fsm.Transition[ns, nev], _ fsm.Emit[nev]) error {
				<-ctx.Done()
				time.Sleep(d) // ignores the cancellation for a while
				return nil
			}
		}
		def, err := nestedBuilder().Task(nA, "outer", stuck(12*time.Second)).Task(nA1a, "inner", stuck(10*time.Second)).Build()
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu   sync.Mutex
			recs []string
		)
		m := def.Start(context.Background(), fsm.Config[ns, nev]{JoinTimeout: time.Second,
			Observer: func(_ context.Context, r fsm.Record[ns, nev]) {
				mu.Lock()
				defer mu.Unlock()
				switch r.Kind {
				case fsm.RecordStraggler, fsm.RecordStragglerReturned:
					recs = append(recs, fmt.Sprintf("%v %v of %v", r.Kind, r.Task, r.State))
				case fsm.RecordTransition:
					var joins []string
					for _, l := range r.Exited {
						joins = append(joins, fmt.Sprintf("%v:%v", l.State, l.Join.Stragglers()))
					}
					recs = append(recs, fmt.Sprintf("transition %v→%v %v", r.From, r.To, joins))
				}
			}})
		defer m.Stop(context.Background())
		start := time.Now()
		if err := m.Fire(context.Background(), ToC); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("the step took %v, want two join timeouts (2s), one per level with a straggler", d)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		want := []string{
			"straggler inner of A1a",
			"straggler outer of A",
			"transition A1a→C [A1a:[inner] A1:[] A:[outer]]",
			"straggler_returned inner of A1a",
			"straggler_returned outer of A",
		}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}
