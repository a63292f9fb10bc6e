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

// lifecycleSpec restates the lifecycle table of the design, cell by cell.
// It is written out, not derived from Table: Table is what it checks.
var lifecycleSpec = []fsmtest.Row[State, Event]{
	{From: Connecting, Event: Connected, Want: specTo(Alive)},
	{From: Connecting, Event: DialFailed, Want: specTo(Reconnecting)},
	{From: Connecting, Event: Lost, Want: specReject},
	{From: Connecting, Event: RetryDue, Want: specIgnore},
	{From: Connecting, Event: GaveUp, Want: specReject},
	{From: Connecting, Event: Close, Want: specTo(Closed)},
	{From: Connecting, Event: CloseDone, Want: specIgnore},

	{From: Alive, Event: Connected, Want: specReject},
	{From: Alive, Event: DialFailed, Want: specIgnore},
	{From: Alive, Event: Lost, Want: specTo(Reconnecting)},
	{From: Alive, Event: RetryDue, Want: specIgnore},
	{From: Alive, Event: GaveUp, Want: specReject},
	{From: Alive, Event: Close, Want: specTo(Closing)},
	{From: Alive, Event: CloseDone, Want: specIgnore},

	{From: Reconnecting, Event: Connected, Want: specReject},
	{From: Reconnecting, Event: DialFailed, Want: specIgnore},
	{From: Reconnecting, Event: Lost, Want: specIgnore},
	{From: Reconnecting, Event: RetryDue, Want: specTo(Connecting)},
	{From: Reconnecting, Event: GaveUp, Want: specTo(Closed)},
	{From: Reconnecting, Event: Close, Want: specTo(Closed)},
	{From: Reconnecting, Event: CloseDone, Want: specIgnore},

	{From: Closing, Event: Connected, Want: specReject},
	{From: Closing, Event: DialFailed, Want: specIgnore},
	{From: Closing, Event: Lost, Want: specTo(Closed)},
	{From: Closing, Event: RetryDue, Want: specIgnore},
	{From: Closing, Event: GaveUp, Want: specIgnore},
	{From: Closing, Event: Close, Want: specIgnore},
	{From: Closing, Event: CloseDone, Want: specTo(Closed)},

	{From: Closed, Event: Connected, Want: specIgnore},
	{From: Closed, Event: DialFailed, Want: specIgnore},
	{From: Closed, Event: Lost, Want: specIgnore},
	{From: Closed, Event: RetryDue, Want: specIgnore},
	{From: Closed, Event: GaveUp, Want: specIgnore},
	{From: Closed, Event: Close, Want: specIgnore},
	{From: Closed, Event: CloseDone, Want: specIgnore},
}

// TestLifecycleTable fires every (state, event) pair on a real machine and
// compares the outcome with the specification.
func TestLifecycleTable(t *testing.T) {
	// The specification itself must name every pair exactly once.
	count := map[string]int{}
	for _, r := range lifecycleSpec {
		count[fmt.Sprint(r.From, " × ", r.Event)]++
	}
	for _, s := range States() {
		for _, e := range Events() {
			if n := count[fmt.Sprint(s, " × ", e)]; n != 1 {
				t.Errorf("lifecycleSpec has %d rows for %v × %v, want 1", n, s, e)
			}
		}
	}
	fsmtest.Check(t, Definition(), lifecycleSpec)
}

// TestEveryCellIsRequired removes each cell from Table in turn: Build must
// fail and name exactly that cell as undeclared.
func TestEveryCellIsRequired(t *testing.T) {
	for _, r := range lifecycleSpec {
		name := fmt.Sprintf("%v × %v", r.From, r.Event)
		t.Run(name, func(t *testing.T) {
			var rules []fsm.Rule[State, Event]
			for _, c := range Table() {
				if c.From != r.From || c.On != r.Event {
					rules = append(rules, c)
				}
			}
			if len(rules) != len(Table())-1 {
				t.Fatalf("Table has %d rules for %s, want 1", len(Table())-len(rules), name)
			}
			_, err := fsm.NewBuilder[State, Event](Connecting).States(States()...).Events(Events()...).Rules(rules...).Build()
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
			if diff := cmp.Diff([]string{"undeclared: " + name}, undeclared); diff != "" {
				t.Errorf("undeclared pairs (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), "undeclared: "+name) {
				t.Errorf("error %q does not name %s", err, name)
			}
		})
	}
}

type lifecyclePath = fsmtest.Path[State, Event]

// TestLifecyclePaths proves that the coverage paths take every declared
// transition, and drives a real machine along each.
func TestLifecyclePaths(t *testing.T) {
	def := Definition()
	paths := fsmtest.Paths(def)
	if missing := fsmtest.Uncovered(def, paths); missing != nil {
		t.Errorf("transitions no path takes: %v", missing)
	}
	// Ten transitions; the paths to Alive, Reconnecting and Closing are
	// prefixes of longer ones.
	want := []lifecyclePath{
		{Events: []Event{Close}, States: []State{Connecting, Closed}},
		{Events: []Event{Connected, Lost}, States: []State{Connecting, Alive, Reconnecting}},
		{Events: []Event{DialFailed, RetryDue}, States: []State{Connecting, Reconnecting, Connecting}},
		{Events: []Event{DialFailed, GaveUp}, States: []State{Connecting, Reconnecting, Closed}},
		{Events: []Event{DialFailed, Close}, States: []State{Connecting, Reconnecting, Closed}},
		{Events: []Event{Connected, Close, Lost}, States: []State{Connecting, Alive, Closing, Closed}},
		{Events: []Event{Connected, Close, CloseDone}, States: []State{Connecting, Alive, Closing, Closed}},
	}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("Paths (-want +got):\n%s", diff)
	}

	for _, p := range paths {
		ctx := context.Background()
		m := def.Start(ctx, fsm.Config[State, Event]{})
		got := []State{m.State()}
		for _, e := range p.Events {
			if err := m.Fire(ctx, e); err != nil {
				t.Errorf("%v: Fire(%v): %v", p, e, err)
			}
			got = append(got, m.State())
		}
		// Every step of a coverage path is a transition: a new entry each.
		if got, want := m.Epoch(), uint64(1+len(p.Events)); got != want {
			t.Errorf("%v: epoch %d at the end, want %d", p, got, want)
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

// taskEvents are the events each state's own tasks emit (wsconn's, and any
// transport's that follows Tasks' contract), besides its failure event.
var taskEvents = map[State][]Event{
	Connecting:   {Connected, DialFailed},
	Alive:        {Lost},
	Reconnecting: {RetryDue, GaveUp},
	Closing:      {CloseDone},
}

// lifecycleInvariants returns the check Explore runs after every step:
// Closed is terminal, and Close leads to Closed from every state within two
// steps: Close, then whatever the state it leads to reports on its own
// (every event its tasks emit, and its failure event, leads to Closed).
func lifecycleInvariants(def *fsm.Definition[State, Event]) func(lifecycleTrace) error {
	// closeOK depends on the state alone: work it out once per state.
	var closeOK [len(stateNames)]error
	var known [len(stateNames)]bool
	closeFrom := func(s State) error {
		c, _ := def.Cell(s, Close)
		after := s
		if c.Kind == fsm.KindTransition {
			after = c.To
		}
		if after == Closed {
			return nil
		}
		own := taskEvents[after]
		if f, ok := def.FailureEvent(after); ok {
			own = append(own, f)
		}
		if len(own) == 0 {
			return fmt.Errorf("Close from %v leads to %v, whose tasks emit nothing", s, after)
		}
		for _, e := range own {
			if c, _ := def.Cell(after, e); c.Kind != fsm.KindTransition || c.To != Closed {
				return fmt.Errorf("Close from %v leads to %v, where its own %v does not reach Closed", s, after, e)
			}
		}
		return nil
	}
	return func(tr lifecycleTrace) error {
		last := tr[len(tr)-1]
		if last.From == Closed && last.Kind == fsm.KindTransition {
			return fmt.Errorf("Closed is not terminal: %v", last)
		}
		s := last.To
		if !known[s] {
			closeOK[s], known[s] = closeFrom(s), true
		}
		return closeOK[s]
	}
}

// TestLifecycleExplore checks the lifecycle's invariants after every step of
// every event sequence up to depth 8 (7 + 7² + … + 7⁸ traces).
func TestLifecycleExplore(t *testing.T) {
	const depth = 8
	check := lifecycleInvariants(Definition())
	n := 0
	start := time.Now()
	err := fsmtest.Explore(Definition(), depth, func(tr lifecycleTrace) error {
		n++
		return check(tr)
	})
	t.Logf("explored %d traces to depth %d in %v", n, depth, time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	want, p := 0, 1
	for range depth {
		p *= len(Events())
		want += p
	}
	if n != want {
		t.Errorf("explored %d traces, want %d", n, want)
	}
}

// TestLifecycleExploreCatchesBrokenTables plants a broken cell and expects
// Explore to report the first trace that shows it.
func TestLifecycleExploreCatchesBrokenTables(t *testing.T) {
	tests := []struct {
		name  string
		patch []fsm.Rule[State, Event]
		want  string
	}{
		{
			name:  "Closed revives",
			patch: []fsm.Rule[State, Event]{{From: Closed, On: Connected, Then: specTo(Alive)}},
			want: "Connecting --Connected--> Alive, Alive --Connected--> (reject), Alive --Connected--> (reject), " +
				"Alive --Connected--> (reject), Alive --Connected--> (reject), Alive --Lost--> Reconnecting, " +
				"Reconnecting --GaveUp--> Closed, Closed --Connected--> Alive",
		},
		{
			name: "Closing never ends",
			patch: []fsm.Rule[State, Event]{
				{From: Closing, On: Lost, Then: specIgnore, Reason: "broken"},
				{From: Closing, On: CloseDone, Then: specIgnore, Reason: "broken"},
			},
			want: "Connecting --Connected--> Alive",
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
			def, err := fsm.NewBuilder[State, Event](Connecting).States(States()...).Events(Events()...).Rules(rules...).Build()
			if err != nil {
				t.Fatal(err)
			}
			err = fsmtest.Explore(def, 8, lifecycleInvariants(def))
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
	cur      entry            // set by the enter hooks
	running  map[string]entry // task name → the entry it belongs to
	problems []string
}

func (l *taskLog) problem(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// task is a fake task of state s: it records its start and end and waits
// for its context, like a task should.
func (l *taskLog) task(s State, name string) fsm.Task[Event] {
	return func(ctx context.Context, _ any, _ fsm.Emit[Event]) error {
		l.mu.Lock()
		if l.cur.state != s {
			l.problem("task %s of %v started in %v", name, s, l.cur.state)
		}
		if e, ok := l.running[name]; ok {
			l.problem("task %s started for %v@%d while its run for %v is not over", name, s, l.cur.epoch, e)
		}
		l.running[name] = entry{s, l.cur.epoch}
		l.mu.Unlock()
		<-ctx.Done()
		l.mu.Lock()
		delete(l.running, name)
		l.mu.Unlock()
		return nil
	}
}

// hooks checks, from inside the machine, that no task runs while a state is
// exited (its tasks are joined first) or entered (the new tasks start after
// the enter hooks).
func (l *taskLog) hooks(b *fsm.Builder[State, Event]) {
	for _, s := range States() {
		b.OnExit(s, func(_ context.Context, tr fsm.Transition[State, Event]) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if len(l.running) > 0 {
				l.problem("exiting %v@%d: still running: %v", tr.From, tr.Epoch, l.running)
			}
		})
		b.OnEnter(s, func(_ context.Context, tr fsm.Transition[State, Event]) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if len(l.running) > 0 {
				l.problem("entering %v@%d: still running: %v", tr.To, tr.Epoch, l.running)
			}
			l.cur = entry{tr.To, tr.Epoch}
		})
	}
}

// verify checks, from outside, that exactly the current entry's tasks run.
func (l *taskLog) verify(t *testing.T, m *fsm.Machine[State, Event], after string) {
	t.Helper()
	cur := entry{m.State(), m.Epoch()}
	l.mu.Lock()
	defer l.mu.Unlock()
	var names []string
	for name, e := range l.running {
		names = append(names, name)
		if e != cur {
			t.Errorf("after %s: task %s of %v runs in %v", after, name, e, cur)
		}
	}
	want := slices.Clone(TaskNames(cur.state))
	sort.Strings(want)
	sort.Strings(names)
	if diff := cmp.Diff(want, names, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("after %s: tasks running in %v (-want +got):\n%s", after, cur.state, diff)
	}
	for _, p := range l.problems {
		t.Errorf("after %s: %s", after, p)
	}
	l.problems = nil
}

// transitionKey packs the events of a trace's transitions (up to 10, 3 bits
// each, Event+1 so that 0 ends the sequence) into a map key without
// allocating.
func transitionKey(tr lifecycleTrace) uint32 {
	var k uint32
	for _, s := range tr {
		if s.Kind == fsm.KindTransition {
			k = k<<3 | (uint32(s.Event) + 1)
		}
	}
	return k
}

func decodeKey(k uint32) []Event {
	var es []Event
	for ; k != 0; k >>= 3 {
		es = append(es, Event(k&7-1))
	}
	slices.Reverse(es)
	return es
}

// TestNoTaskOutlivesItsState runs the lifecycle with recording fake tasks
// along every distinct sequence of transitions Explore finds to depth 8.
//
// Replaying all 6.7 million traces on real machines would take minutes, and
// most of them differ only in ignored and rejected events, which by the
// engine's contract touch no task: they neither cancel, join nor start one.
// So only the distinct transition sequences are replayed, the longest ones
// (every prefix is checked on the way). The claim about ignored and rejected
// events is checked too: at every state of a replay, each of them is fired
// before the next transition, and the same tasks must still be running for
// the same entry.
func TestNoTaskOutlivesItsState(t *testing.T) {
	log := &taskLog{running: map[string]entry{}}
	b := NewBuilder(Tasks{
		Dial:      log.task(Connecting, "dial"),
		Reader:    log.task(Alive, "reader"),
		Heartbeat: log.task(Alive, "heartbeat"),
		Writer:    log.task(Alive, "writer"),
		Backoff:   log.task(Reconnecting, "backoff"),
		Closer:    log.task(Closing, "closer"),
	})
	log.hooks(b)
	def, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}

	seen := map[uint32]bool{}
	err = fsmtest.Explore(def, 8, func(tr lifecycleTrace) error {
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
			for x := k2 >> 3; x != 0 && !longer; x >>= 3 {
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
				log.verify(t, m, trail)
			}
			if err := m.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			log.mu.Lock()
			if len(log.running) > 0 || len(log.problems) > 0 {
				t.Errorf("%s, stopped: still running %v; %v", trail, log.running, log.problems)
			}
			log.mu.Unlock()
		}
	})
}
