package connfsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
)

var (
	specTo     = fsm.To[State]
	specIgnore = fsm.Ignore[State]()
	specReject = fsm.Reject[State]()
)

// lifecycleSpec restates the lifecycle table of the design, cell by cell,
// for every leaf: Alive's rules as each of its phases inherits them. A
// transition's Want names the leaf the machine ends in (Alive is entered
// at Syncing). It is written out, not derived from Table: Table is what it
// checks.
var lifecycleSpec = []fsmtest.Row[State, Event]{
	{From: Connecting, Event: Connected, Want: specTo(Syncing)},
	{From: Connecting, Event: DialFailed, Want: specTo(Reconnecting)},
	{From: Connecting, Event: Lost, Want: specReject},
	{From: Connecting, Event: RetryDue, Want: specIgnore},
	{From: Connecting, Event: GaveUp, Want: specReject},
	{From: Connecting, Event: Close, Want: specTo(Closed)},
	{From: Connecting, Event: CloseDone, Want: specIgnore},
	{From: Connecting, Event: Synced, Want: specIgnore},
	{From: Connecting, Event: Reconnect, Want: specIgnore},

	{From: Syncing, Event: Connected, Want: specReject},
	{From: Syncing, Event: DialFailed, Want: specIgnore},
	{From: Syncing, Event: Lost, Want: specTo(Reconnecting)},
	{From: Syncing, Event: RetryDue, Want: specIgnore},
	{From: Syncing, Event: GaveUp, Want: specReject},
	{From: Syncing, Event: Close, Want: specTo(Closing)},
	{From: Syncing, Event: CloseDone, Want: specIgnore},
	{From: Syncing, Event: Synced, Want: specTo(Ready)},
	{From: Syncing, Event: Reconnect, Want: specTo(Reconnecting)},

	{From: Ready, Event: Connected, Want: specReject},
	{From: Ready, Event: DialFailed, Want: specIgnore},
	{From: Ready, Event: Lost, Want: specTo(Reconnecting)},
	{From: Ready, Event: RetryDue, Want: specIgnore},
	{From: Ready, Event: GaveUp, Want: specReject},
	{From: Ready, Event: Close, Want: specTo(Closing)},
	{From: Ready, Event: CloseDone, Want: specIgnore},
	{From: Ready, Event: Synced, Want: specIgnore},
	{From: Ready, Event: Reconnect, Want: specTo(Reconnecting)},

	{From: Reconnecting, Event: Connected, Want: specReject},
	{From: Reconnecting, Event: DialFailed, Want: specIgnore},
	{From: Reconnecting, Event: Lost, Want: specIgnore},
	{From: Reconnecting, Event: RetryDue, Want: specTo(Connecting)},
	{From: Reconnecting, Event: GaveUp, Want: specTo(Closed)},
	{From: Reconnecting, Event: Close, Want: specTo(Closed)},
	{From: Reconnecting, Event: CloseDone, Want: specIgnore},
	{From: Reconnecting, Event: Synced, Want: specIgnore},
	{From: Reconnecting, Event: Reconnect, Want: specIgnore},

	{From: Closing, Event: Connected, Want: specReject},
	{From: Closing, Event: DialFailed, Want: specIgnore},
	{From: Closing, Event: Lost, Want: specTo(Closed)},
	{From: Closing, Event: RetryDue, Want: specIgnore},
	{From: Closing, Event: GaveUp, Want: specIgnore},
	{From: Closing, Event: Close, Want: specIgnore},
	{From: Closing, Event: CloseDone, Want: specTo(Closed)},
	{From: Closing, Event: Synced, Want: specIgnore},
	{From: Closing, Event: Reconnect, Want: specIgnore},
}

// leaves are the states the lifecycle can be in; Closed, final, stops it.
var leaves = []State{Connecting, Syncing, Ready, Reconnecting, Closing}

// TestLifecycleTable fires every (leaf, event) pair on a real machine and
// compares the outcome with the specification.
func TestLifecycleTable(t *testing.T) {
	// The specification itself must name every pair exactly once.
	count := map[string]int{}
	for _, r := range lifecycleSpec {
		count[fmt.Sprint(r.From, " × ", r.Event)]++
	}
	if diff := cmp.Diff(leaves, Definition().Leaves()[:len(leaves)]); diff != "" {
		t.Errorf("leaves (-want +got):\n%s", diff)
	}
	for _, s := range leaves {
		for _, e := range Events() {
			if n := count[fmt.Sprint(s, " × ", e)]; n != 1 {
				t.Errorf("lifecycleSpec has %d rows for %v × %v, want 1", n, s, e)
			}
		}
	}
	fsmtest.Check(t, Definition(), lifecycleSpec)
}

// TestClosedIsFinal: entering Closed stops the machine, from every state
// that leads there; nothing is processed after.
func TestClosedIsFinal(t *testing.T) {
	def := Definition()
	if !def.IsFinal(Closed) {
		t.Fatal("Closed is not final")
	}
	for _, path := range [][]Event{{Close}, {DialFailed, GaveUp}, {DialFailed, Close}, {Connected, Close, CloseDone}} {
		m := def.Start(context.Background(), fsm.Config[State, Event]{})
		for _, e := range path {
			if err := m.Fire(context.Background(), e); err != nil {
				t.Fatalf("%v: Fire(%v): %v", path, e, err)
			}
		}
		select {
		case <-m.Done():
		default:
			t.Errorf("%v: the machine runs on in %v", path, m.State())
		}
		if err := m.Fire(context.Background(), Connected); !errors.Is(err, fsm.ErrStopped) {
			t.Errorf("%v: Fire after Closed = %v, want ErrStopped", path, err)
		}
	}
}

// bareBuilder is the lifecycle's builder with rules in place of the table.
func bareBuilder(rules []fsm.Rule[State, Event]) *fsm.Builder[State, Event] {
	return fsm.NewBuilder[State, Event](Connecting).States(States()...).Events(Events()...).
		Children(Alive, Syncing, Ready).Final(Closed).Rules(rules...)
}

// TestEveryRuleIsRequired removes each rule from Table in turn. A rule a
// phase declares over Alive's falls back to Alive's, which the table test
// would catch; any other rule's removal must fail Build, naming exactly the
// leaves left without a rule for that event.
func TestEveryRuleIsRequired(t *testing.T) {
	phases := map[State][]State{Alive: {Syncing, Ready}}
	for _, r := range Table() {
		name := fmt.Sprintf("%v × %v", r.From, r.On)
		t.Run(name, func(t *testing.T) {
			var rules []fsm.Rule[State, Event]
			declared := map[State]bool{}
			for _, c := range Table() {
				if c.From != r.From || c.On != r.On {
					rules = append(rules, c)
					if c.On == r.On {
						declared[c.From] = true
					}
				}
			}
			if len(rules) != len(Table())-1 {
				t.Fatalf("Table has %d rules for %s, want 1", len(Table())-len(rules), name)
			}
			def, err := bareBuilder(rules).Build()
			var want []string
			if under, ok := phases[r.From]; ok {
				for _, l := range under {
					if !declared[l] {
						want = append(want, fmt.Sprintf("undeclared: %v × %v (no rule in %v or its ancestors Alive)", l, r.On, l))
					}
				}
			} else if !declared[Alive] || (r.From != Syncing && r.From != Ready) {
				want = []string{fmt.Sprintf("undeclared: %s", name)}
			}
			if want == nil {
				// The phase falls back to Alive's rule. Build may still fail,
				// but only because a state is then out of reach.
				var be *fsm.BuildError
				if errors.As(err, &be) {
					for _, p := range be.Problems {
						if !strings.Contains(p, "is unreachable") {
							t.Errorf("Build without %s: %s", name, p)
						}
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if c, _ := def.Cell(r.From, r.On); c.At != Alive {
					t.Errorf("without its own rule, %s resolves at %v, want Alive", name, c.At)
				}
				return
			}
			var be *fsm.BuildError
			if !errors.As(err, &be) {
				t.Fatalf("Build = %v, want a *fsm.BuildError", err)
			}
			var undeclared []string
			for _, p := range be.Problems {
				if strings.HasPrefix(p, "undeclared:") {
					undeclared = append(undeclared, p)
				}
			}
			if diff := cmp.Diff(want, undeclared); diff != "" {
				t.Errorf("undeclared pairs (-want +got):\n%s", diff)
			}
		})
	}
}

type lifecyclePath = fsmtest.Path[State, Event]

// TestLifecyclePaths proves that the coverage paths take every transition
// of every leaf, and drives a real machine along each.
func TestLifecyclePaths(t *testing.T) {
	def := Definition()
	paths := fsmtest.Paths(def)
	if missing := fsmtest.Uncovered(def, paths); missing != nil {
		t.Errorf("transitions no path takes: %v", missing)
	}
	// A shortest path to each transition's source, then the transition;
	// a path that is a prefix of another is left out.
	want := []lifecyclePath{
		{Events: []Event{Close}, States: []State{Connecting, Closed}},
		{Events: []Event{Connected, Lost}, States: []State{Connecting, Syncing, Reconnecting}},
		{Events: []Event{Connected, Reconnect}, States: []State{Connecting, Syncing, Reconnecting}},
		{Events: []Event{Connected, Synced, Lost}, States: []State{Connecting, Syncing, Ready, Reconnecting}},
		{Events: []Event{Connected, Synced, Close}, States: []State{Connecting, Syncing, Ready, Closing}},
		{Events: []Event{Connected, Synced, Reconnect}, States: []State{Connecting, Syncing, Ready, Reconnecting}},
		{Events: []Event{DialFailed, RetryDue}, States: []State{Connecting, Reconnecting, Connecting}},
		{Events: []Event{DialFailed, GaveUp}, States: []State{Connecting, Reconnecting, Closed}},
		{Events: []Event{DialFailed, Close}, States: []State{Connecting, Reconnecting, Closed}},
		{Events: []Event{Connected, Close, Lost}, States: []State{Connecting, Syncing, Closing, Closed}},
		{Events: []Event{Connected, Close, CloseDone}, States: []State{Connecting, Syncing, Closing, Closed}},
	}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("Paths (-want +got):\n%s", diff)
	}

	for _, p := range paths {
		ctx := context.Background()
		var entered uint64 = 1 // Connecting
		m := def.Start(ctx, fsm.Config[State, Event]{Observer: func(_ context.Context, r fsm.Record[State, Event]) {
			if r.Kind == fsm.RecordTransition {
				entered += uint64(len(r.Entered))
			}
		}})
		got := []State{m.State()}
		for _, e := range p.Events {
			if err := m.Fire(ctx, e); err != nil {
				t.Errorf("%v: Fire(%v): %v", p, e, err)
			}
			got = append(got, m.State())
		}
		// Every state entered, at every level, is a new entry.
		if m.Epoch() != entered {
			t.Errorf("%v: epoch %d at the end, want %d", p, m.Epoch(), entered)
		}
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p.States, got); diff != "" {
			t.Errorf("states visited along %v (-want +got):\n%s", p, diff)
		}
	}
}

type lifecycleTrace = fsmtest.Trace[State, Event]

// taskEvents are the events each state's own tasks, timeouts and hooks
// report (wsconn's, and any transport's that follows Tasks' contract),
// besides its failure event.
var taskEvents = map[State][]Event{
	Connecting:   {Connected, DialFailed},
	Alive:        {Lost},
	Syncing:      {Synced},
	Reconnecting: {RetryDue, GaveUp},
	Closing:      {CloseDone},
}

// lifecycleInvariants returns the check Explore runs after every step:
// Close leads to Closed from every leaf within two steps: Close, then
// whatever the leaf it leads to reports on its own (every event its
// states' tasks emit, and its failure event, leads to Closed). Explore
// itself ends every sequence at Closed, which is final.
func lifecycleInvariants(def *fsm.Definition[State, Event]) func(lifecycleTrace) error {
	// closeOK depends on the leaf alone: work it out once per leaf.
	var closeOK [len(stateNames)]error
	var known [len(stateNames)]bool
	closeFrom := func(s State) error {
		c, _ := def.Cell(s, Close)
		after := s
		if c.Kind == fsm.KindTransition {
			after = c.Leaf
		}
		if after == Closed {
			return nil
		}
		var own []Event
		for x := after; ; {
			own = append(own, taskEvents[x]...)
			p, ok := def.Parent(x)
			if !ok {
				break
			}
			x = p
		}
		if f, ok := def.FailureEvent(after); ok {
			own = append(own, f)
		}
		if len(own) == 0 {
			return fmt.Errorf("Close from %v leads to %v, whose tasks emit nothing", s, after)
		}
		for _, e := range own {
			if c, _ := def.Cell(after, e); c.Kind != fsm.KindTransition || c.Leaf != Closed {
				return fmt.Errorf("Close from %v leads to %v, where its own %v does not reach Closed", s, after, e)
			}
		}
		return nil
	}
	return func(tr lifecycleTrace) error {
		s := tr[len(tr)-1].To
		if !known[s] {
			closeOK[s], known[s] = closeFrom(s), true
		}
		return closeOK[s]
	}
}

// exploreDepth bounds the lifecycle's exploration: 9 events to depth 7 are
// at most 5.4 million traces, fewer as a sequence ends at Closed; the test
// logs the count.
const exploreDepth = 7

// TestLifecycleExplore checks the lifecycle's invariants after every step of
// every event sequence up to exploreDepth.
func TestLifecycleExplore(t *testing.T) {
	check := lifecycleInvariants(Definition())
	n := 0
	start := time.Now()
	err := fsmtest.Explore(Definition(), exploreDepth, func(tr lifecycleTrace) error {
		n++
		return check(tr)
	})
	t.Logf("explored %d traces to depth %d in %v", n, exploreDepth, time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	if n < 1_000_000 {
		t.Errorf("explored %d traces: too few to mean anything", n)
	}
}

// TestLifecycleExploreCatchesBrokenTables plants a broken rule and expects
// Explore to report the first trace that shows it.
func TestLifecycleExploreCatchesBrokenTables(t *testing.T) {
	tests := []struct {
		name  string
		patch []fsm.Rule[State, Event]
		want  string
	}{
		{
			name:  "closed while disconnected is nobody's job",
			patch: []fsm.Rule[State, Event]{{From: Reconnecting, On: Close, Then: specIgnore, Reason: "broken"}},
			want:  "Connecting --Connected--> Syncing, Syncing --Connected--> (reject), Syncing --Connected--> (reject), Syncing --Connected--> (reject), Syncing --Connected--> (reject), Syncing --Connected--> (reject), Syncing --Lost--> Reconnecting",
		},
		{
			name: "Closing never ends",
			patch: []fsm.Rule[State, Event]{
				{From: Closing, On: Lost, Then: specIgnore, Reason: "broken"},
				{From: Closing, On: CloseDone, Then: specIgnore, Reason: "broken"},
			},
			want: "Connecting --Connected--> Syncing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rules []fsm.Rule[State, Event]
			for _, r := range Table() {
				i := slices.IndexFunc(tt.patch, func(p fsm.Rule[State, Event]) bool { return p.From == r.From && p.On == r.On })
				if i >= 0 {
					r = tt.patch[i]
				}
				rules = append(rules, r)
			}
			def, err := bareBuilder(rules).Build()
			if err != nil {
				t.Fatal(err)
			}
			err = fsmtest.Explore(def, exploreDepth, lifecycleInvariants(def))
			var xe *fsmtest.ExploreError[State, Event]
			if !errors.As(err, &xe) {
				t.Fatalf("Explore = %v, want an *ExploreError", err)
			}
			if got := xe.Trace.String(); got != tt.want {
				t.Errorf("failing trace:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// entry is one entry into a state.
type entry struct {
	state State
	epoch uint64
}

func (e entry) String() string { return fmt.Sprintf("%v@%d", e.state, e.epoch) }

// taskLog records which fake tasks run, for which state entry, and every
// broken rule it sees from inside the machine.
type taskLog struct {
	mu       sync.Mutex
	active   map[State]uint64 // state → the epoch of its entry, set by the hooks
	running  map[string]entry // task name → the entry it belongs to
	problems []string
}

func (l *taskLog) problem(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// task is a fake task of state s: it records its start and end and waits
// for its context, like a task should.
func (l *taskLog) task(s State, name string) fsm.Task[State, Event] {
	return func(ctx context.Context, _ fsm.Transition[State, Event], _ fsm.Emit[Event]) error {
		l.mu.Lock()
		epoch, ok := l.active[s]
		if !ok {
			l.problem("task %s of %v started while %v is not active", name, s, s)
		}
		if e, ok := l.running[name]; ok {
			l.problem("task %s started for %v@%d while its run for %v is not over", name, s, epoch, e)
		}
		l.running[name] = entry{s, epoch}
		l.mu.Unlock()
		<-ctx.Done()
		l.mu.Lock()
		delete(l.running, name)
		l.mu.Unlock()
		return nil
	}
}

// under reports whether s is state or one of its descendants.
func under(s, state State) bool { return s == state || state == Alive && (s == Syncing || s == Ready) }

// hooks checks, from inside the machine, that no task of a state, or of a
// state below it, runs when it is exited (they are joined first) or
// entered (its tasks start after its enter hooks).
func (l *taskLog) hooks(b *fsm.Builder[State, Event]) {
	for _, s := range States() {
		b.OnExit(s, func(_ context.Context, tr fsm.Transition[State, Event]) {
			l.mu.Lock()
			defer l.mu.Unlock()
			for name, e := range l.running {
				if under(e.state, tr.State) {
					l.problem("exiting %v@%d: %s of %v still running", tr.State, tr.Epoch, name, e)
				}
			}
			delete(l.active, tr.State)
		})
		b.OnEnter(s, func(_ context.Context, tr fsm.Transition[State, Event]) {
			l.mu.Lock()
			defer l.mu.Unlock()
			for name, e := range l.running {
				if under(e.state, tr.State) {
					l.problem("entering %v@%d: %s of %v still running", tr.State, tr.Epoch, name, e)
				}
			}
			l.active[tr.State] = tr.Epoch
		})
	}
}

// verify checks, from outside, that exactly the tasks of the active states
// run, each for its state's current entry.
func (l *taskLog) verify(t *testing.T, m *fsm.Machine[State, Event], after string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var want, names []string
	for _, s := range m.Path() {
		want = append(want, TaskNames(s)...)
	}
	for name, e := range l.running {
		names = append(names, name)
		if !m.In(e.state) || l.active[e.state] != e.epoch {
			t.Errorf("after %s: task %s of %v runs, but %v's entry is %d", after, name, e, e.state, l.active[e.state])
		}
	}
	sort.Strings(want)
	sort.Strings(names)
	if diff := cmp.Diff(want, names, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("after %s: tasks running in %v (-want +got):\n%s", after, m.Path(), diff)
	}
	for _, p := range l.problems {
		t.Errorf("after %s: %s", after, p)
	}
	l.problems = nil
}

// transitionKey packs the events of a trace's transitions (up to 16, 4 bits
// each, Event+1 so that 0 ends the sequence) into a map key without
// allocating.
func transitionKey(tr lifecycleTrace) uint64 {
	var k uint64
	for _, s := range tr {
		if s.Kind == fsm.KindTransition {
			k = k<<4 | (uint64(s.Event) + 1)
		}
	}
	return k
}

func decodeKey(k uint64) []Event {
	var es []Event
	for ; k != 0; k >>= 4 {
		es = append(es, Event(k&15-1))
	}
	slices.Reverse(es)
	return es
}

// TestNoTaskOutlivesItsState runs the lifecycle with recording fake tasks
// along every distinct sequence of transitions Explore finds to
// exploreDepth.
//
// Replaying all the traces on real machines would take minutes, and most of
// them differ only in ignored and rejected events, which by the engine's
// contract touch no task: they neither cancel, join nor start one. So only
// the distinct transition sequences are replayed, the longest ones (every
// prefix is checked on the way). The claim about ignored and rejected
// events is checked too: at every state of a replay, each of them is fired
// before the next transition, and the same tasks must still be running for
// the same entries.
func TestNoTaskOutlivesItsState(t *testing.T) {
	log := &taskLog{active: map[State]uint64{}, running: map[string]entry{}}
	b := NewBuilder(Tasks{
		Dial:      log.task(Connecting, "dial"),
		Reader:    log.task(Alive, "reader"),
		Heartbeat: log.task(Alive, "heartbeat"),
		Sync:      log.task(Syncing, "sync"),
		Backoff:   log.task(Reconnecting, "backoff"),
		Closer:    log.task(Closing, "closer"),
	})
	log.hooks(b)
	def, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}

	seen := map[uint64]bool{}
	err = fsmtest.Explore(def, exploreDepth, func(tr lifecycleTrace) error {
		if tr[len(tr)-1].Kind == fsm.KindTransition {
			seen[transitionKey(tr)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var seqs [][]Event
	for k := range seen {
		longer := false
		for k2 := range seen {
			for x := k2 >> 4; x != 0 && !longer; x >>= 4 {
				longer = x == k
			}
		}
		if !longer {
			seqs = append(seqs, decodeKey(k))
		}
	}
	slices.SortFunc(seqs, slices.Compare)
	t.Logf("%d distinct transition sequences, %d of them maximal", len(seen), len(seqs))
	if len(seqs) == 0 {
		t.Fatal("no transition sequences to replay")
	}

	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		for _, seq := range seqs {
			m := def.Start(ctx, fsm.Config[State, Event]{})
			synctest.Wait()
			log.verify(t, m, "start")
			trail := m.State().String()
			for _, e := range seq {
				for _, other := range Events() {
					c, _ := def.Cell(m.State(), other)
					if c.Kind == fsm.KindTransition {
						continue
					}
					before := entry{m.State(), m.Epoch()}
					if err := m.Fire(ctx, other); err != nil && !errors.Is(err, fsm.ErrRejected) {
						t.Errorf("%s, %v: Fire: %v", trail, other, err)
					}
					synctest.Wait()
					if now := (entry{m.State(), m.Epoch()}); now != before {
						t.Errorf("%s: %v (%v) moved the machine from %v to %v", trail, other, c.Kind, before, now)
					}
					log.verify(t, m, fmt.Sprintf("%s, %v (%v)", trail, other, c.Kind))
				}
				if err := m.Fire(ctx, e); err != nil {
					t.Errorf("%s: Fire(%v): %v", trail, e, err)
				}
				synctest.Wait()
				trail += fmt.Sprintf(" --%v--> %v", e, m.State())
				if m.State() != Closed {
					log.verify(t, m, trail)
				}
			}
			if err := m.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			log.mu.Lock()
			if len(log.running) > 0 || len(log.problems) > 0 {
				t.Errorf("%s, stopped: still running %v; %v", trail, log.running, log.problems)
			}
			clear(log.active)
			log.mu.Unlock()
		}
	})
}
