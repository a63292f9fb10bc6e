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
	"github.com/connfsm/connfsm/tasks"
)

type state int

const (
	A state = iota
	B
	C
)

func (s state) String() string {
	switch s {
	case A:
		return "A"
	case B:
		return "B"
	case C:
		return "C"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

type event int

const (
	Go event = iota
	Back
	X
	Fail
)

func (e event) String() string {
	switch e {
	case Go:
		return "Go"
	case Back:
		return "Back"
	case X:
		return "X"
	case Fail:
		return "Fail"
	}
	return fmt.Sprintf("event(%d)", int(e))
}

type (
	builder = fsm.Builder[state, event]
	machine = fsm.Machine[state, event]
	rule    = fsm.Rule[state, event]
	trans   = fsm.Transition[state, event]
)

// stdRules is the table most tests use:
//
//	     Go        Back     X        Fail
//	A    → B       reject   → B      → B
//	B    ignore    → A      ignore   ignore
func stdRules() []rule {
	return []rule{
		{From: A, On: Go, Then: fsm.To(B)},
		{From: A, On: Back, Then: fsm.Reject[state](), Reason: "only B goes back"},
		{From: A, On: X, Then: fsm.To(B)},
		{From: A, On: Fail, Then: fsm.To(B)},
		{From: B, On: Go, Then: fsm.Ignore[state](), Reason: "already in B"},
		{From: B, On: Back, Then: fsm.To(A)},
		{From: B, On: X, Then: fsm.Ignore[state](), Reason: "noise"},
		{From: B, On: Fail, Then: fsm.Ignore[state](), Reason: "B has no tasks"},
	}
}

// stdDef builds stdRules with what configure adds (hooks, tasks...).
func stdDef(t testing.TB, configure func(b *builder)) *fsm.Definition[state, event] {
	t.Helper()
	b := fsm.NewBuilder[state, event](A).States(A, B).Events(Go, Back, X, Fail).Rules(stdRules()...)
	if configure != nil {
		configure(b)
	}
	d, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return d
}

// recorder is an observer keeping every record.
type recorder struct {
	mu   sync.Mutex
	recs []fsm.Record[state, event]
}

func (r *recorder) observe(_ context.Context, rec fsm.Record[state, event]) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

func (r *recorder) records() []fsm.Record[state, event] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fsm.Record[state, event](nil), r.recs...)
}

// lines renders the records in a form that reads like the spec.
func (r *recorder) lines() []string {
	var out []string
	for _, rec := range r.records() {
		out = append(out, line(rec))
	}
	return out
}

func line(rec fsm.Record[state, event]) string {
	switch rec.Kind {
	case fsm.RecordTransition:
		return fmt.Sprintf("transition %v -%v-> %v #%d", rec.From, rec.Event, rec.To, rec.Epoch)
	case fsm.RecordIgnored, fsm.RecordRejected, fsm.RecordStale, fsm.RecordDropped:
		return fmt.Sprintf("%v %v %v #%d", rec.Kind, rec.From, rec.Event, rec.Epoch)
	case fsm.RecordStraggler:
		return fmt.Sprintf("straggler %v #%d %s", rec.From, rec.Epoch, rec.Task)
	case fsm.RecordTaskFailed, fsm.RecordStragglerReturned:
		return fmt.Sprintf("%v %v #%d %s: %v", rec.Kind, rec.From, rec.Epoch, rec.Task, rec.Err)
	default:
		return fmt.Sprintf("%v %v #%d", rec.Kind, rec.From, rec.Epoch)
	}
}

func start(t testing.TB, d *fsm.Definition[state, event], cfg fsm.Config[state, event]) (*machine, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg.Observer = rec.observe
	m := d.Start(context.Background(), cfg)
	t.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return m, rec
}

func diffLines(t *testing.T, what string, want, got []string) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// resource is a payload that owns something: it counts its disposals.
type resource struct {
	name     string
	disposed atomic.Int32
	done     chan struct{}
}

func newResource(name string) *resource { return &resource{name: name, done: make(chan struct{})} }

func (r *resource) Dispose() {
	if r.disposed.Add(1) == 1 {
		close(r.done)
	}
}

// log is an ordered, concurrency-safe list of what happened.
type log struct {
	mu    sync.Mutex
	lines []string
}

func (l *log) add(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *log) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func TestFireResult(t *testing.T) {
	d := stdDef(t, nil)
	tests := []struct {
		name      string
		before    []event
		fire      event
		wantErr   error // matched with errors.Is; nil for success
		wantText  string
		wantState state
		wantEpoch uint64
		wantLast  string
	}{
		{name: "transition", fire: Go, wantState: B, wantEpoch: 2, wantLast: "transition A -Go-> B #2"},
		{name: "ignored", before: []event{Go}, fire: X, wantState: B, wantEpoch: 2, wantLast: "ignored B X #2"},
		{name: "rejected", fire: Back, wantErr: fsm.ErrRejected,
			wantText: "fsm: event Back rejected in state A: only B goes back", wantState: A, wantEpoch: 1, wantLast: "rejected A Back #1"},
		{name: "unknown event", fire: event(42), wantErr: fsm.ErrUnknownEvent, wantText: "fsm: unknown event: event(42)", wantState: A, wantEpoch: 1, wantLast: "started A #1"},
		{name: "back and forth", before: []event{Go, Back, X}, fire: Back, wantState: A, wantEpoch: 5, wantLast: "transition B -Back-> A #5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, rec := start(t, d, fsm.Config[state, event]{})
			for _, e := range tt.before {
				if err := m.Fire(context.Background(), e); err != nil {
					t.Fatalf("Fire(%v) = %v", e, err)
				}
			}
			err := m.Fire(context.Background(), tt.fire)
			switch {
			case tt.wantText == "" && err != nil:
				t.Errorf("Fire(%v) = %v, want nil", tt.fire, err)
			case tt.wantText != "" && (err == nil || err.Error() != tt.wantText):
				t.Errorf("Fire(%v) = %v, want %q", tt.fire, err, tt.wantText)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantErr)
			}
			if got := m.State(); got != tt.wantState {
				t.Errorf("State() = %v, want %v", got, tt.wantState)
			}
			if got := m.Epoch(); got != tt.wantEpoch {
				t.Errorf("Epoch() = %d, want %d", got, tt.wantEpoch)
			}
			lines := rec.lines()
			if got := lines[len(lines)-1]; got != tt.wantLast {
				t.Errorf("last record = %q, want %q", got, tt.wantLast)
			}
		})
	}
}

func TestRejectedError(t *testing.T) {
	m, rec := start(t, stdDef(t, nil), fsm.Config[state, event]{})
	err := m.Fire(context.Background(), Back)
	var re *fsm.RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("errors.As(%v, *RejectedError) = false", err)
	}
	want := fsm.RejectedError{State: "A", Event: "Back", Reason: "only B goes back"}
	if diff := cmp.Diff(want, *re); diff != "" {
		t.Errorf("RejectedError (-want +got):\n%s", diff)
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", err), fsm.ErrRejected) {
		t.Error("a wrapped *RejectedError does not match ErrRejected")
	}
	recs := rec.records()
	last := recs[len(recs)-1]
	if last.Kind != fsm.RecordRejected || last.Err != err || last.Reason != "only B goes back" {
		t.Errorf("observer got %v (err %v, reason %q), want the rejection with the same error", last.Kind, last.Err, last.Reason)
	}
}

func TestFireAfterStop(t *testing.T) {
	m, rec := start(t, stdDef(t, nil), fsm.Config[state, event]{})
	if err := m.Stop(context.Background()); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	for _, e := range []event{Go, Back, X} {
		if err := m.Fire(context.Background(), e); !errors.Is(err, fsm.ErrStopped) {
			t.Errorf("Fire(%v) after Stop = %v, want ErrStopped", e, err)
		}
	}
	diffLines(t, "records", []string{"started A #1", "stopped A #1"}, rec.lines())
}

// TestTransitionOrder checks the documented order of a step: cancel, join,
// exit hooks in reverse, action, state set (observer), enter hooks, tasks;
// and the same for Stop.
func TestTransitionOrder(t *testing.T) {
	var l log
	var m *machine
	started := make(chan string, 2)
	hook := func(name string) fsm.Hook[state, event] {
		return func(ctx context.Context, tr trans) {
			l.add("%s: %v -%v-> %v epoch=%d stopping=%v state=%v inside=%v",
				name, tr.From, tr.Event, tr.To, tr.Epoch, tr.Stopping, m.State(), m.Inside(ctx))
		}
	}
	task := func(name string) fsm.Task[state, event] {
		return func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
			l.add("%s started", name)
			started <- name
			<-ctx.Done()
			l.add("%s cancelled: %v", name, context.Cause(ctx))
			defer l.add("%s returned", name)
			return nil
		}
	}
	d := stdDef(t, func(b *builder) {
		b.Task(A, "a1", task("a1")).
			OnExit(A, hook("exit A 1")).
			OnExit(A, hook("exit A 2")).
			OnExit(A, hook("exit A 3")).
			Action(A, Go, hook("action A Go")).
			OnEnter(B, hook("enter B 1")).
			OnEnter(B, hook("enter B 2")).
			Task(B, "b1", task("b1")).
			OnExit(B, hook("exit B 1"))
	})
	m = d.Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) {
		if m == nil { // the start record, from inside Start
			l.add("observer: %s", line(r))
			return
		}
		l.add("observer: %s state=%v join=%v", line(r), m.State(), r.Join.Tasks)
	}})
	<-started
	if err := m.Fire(context.Background(), Go); err != nil {
		t.Fatalf("Fire = %v", err)
	}
	<-started
	if err := m.Stop(context.Background()); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	want := []string{
		"observer: started A #1",
		"a1 started",
		"a1 cancelled: fsm: state A exited on Go",
		"a1 returned",
		"exit A 3: A -Go-> B epoch=1 stopping=false state=A inside=true",
		"exit A 2: A -Go-> B epoch=1 stopping=false state=A inside=true",
		"exit A 1: A -Go-> B epoch=1 stopping=false state=A inside=true",
		"action A Go: A -Go-> B epoch=1 stopping=false state=A inside=true",
		"observer: transition A -Go-> B #2 state=B join=[{a1 <nil> false false}]",
		"enter B 1: A -Go-> B epoch=2 stopping=false state=B inside=true",
		"enter B 2: A -Go-> B epoch=2 stopping=false state=B inside=true",
		"b1 started",
		"b1 cancelled: fsm: state B exited: machine stopped",
		"b1 returned",
		"exit B 1: B -Go-> A epoch=2 stopping=true state=B inside=true",
		"observer: stopped B #2 state=B join=[{b1 <nil> false false}]",
	}
	diffLines(t, "order of a transition", want, l.get())
}

// TestTaskCancellationCause checks that a state's tasks see why they were
// cancelled, and that the cause matches ErrStateExited.
func TestTaskCancellationCause(t *testing.T) {
	causes := make(chan error, 1)
	d := stdDef(t, func(b *builder) {
		b.Task(A, "t", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return nil
		})
	})
	m, _ := start(t, d, fsm.Config[state, event]{})
	if err := m.Fire(context.Background(), X); err != nil {
		t.Fatal(err)
	}
	cause := <-causes
	var ee *fsm.ExitError
	if !errors.Is(cause, fsm.ErrStateExited) || !errors.As(cause, &ee) {
		t.Fatalf("cause = %v, want an *ExitError matching ErrStateExited", cause)
	}
	if diff := cmp.Diff(fsm.ExitError{State: "A", Event: "X"}, *ee); diff != "" {
		t.Errorf("ExitError (-want +got):\n%s", diff)
	}
}

func TestStraggler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		late := newResource("late")
		d := stdDef(t, func(b *builder) {
			b.Task(A, "polite", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
				<-ctx.Done()
				return nil
			})
			b.Task(A, "stubborn", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
				time.Sleep(time.Hour) // ignores ctx
				emit(X, late)
				return nil
			})
		})
		m, rec := start(t, d, fsm.Config[state, event]{JoinTimeout: time.Second})
		t0 := time.Now()
		if err := m.Fire(context.Background(), Go); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(t0); got != time.Second {
			t.Errorf("Fire took %v, want the 1s join timeout", got)
		}
		if m.State() != B || m.Epoch() != 2 {
			t.Errorf("machine in %v #%d, want B #2: it must move on", m.State(), m.Epoch())
		}
		diffLines(t, "records", []string{"started A #1", "straggler A #1 stubborn", "transition A -Go-> B #2"}, rec.lines())
		recs := rec.records()
		for _, r := range recs[1:] {
			if diff := cmp.Diff([]string{"stubborn"}, r.Join.Stragglers()); diff != "" {
				t.Errorf("%s: Join.Stragglers (-want +got):\n%s", line(r), diff)
			}
		}
		// When the straggler finally emits, its event is stale.
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		diffLines(t, "records", []string{"started A #1", "straggler A #1 stubborn", "transition A -Go-> B #2", "stale B X #1",
			"straggler_returned A #1 stubborn: <nil>"}, rec.lines())
		if n := late.disposed.Load(); n != 1 {
			t.Errorf("stale payload disposed %d times, want 1", n)
		}
	})
}

func TestStragglerAtStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := stdDef(t, func(b *builder) {
			b.Task(A, "stubborn", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
				time.Sleep(time.Minute)
				panic("too late")
			})
		})
		m, rec := start(t, d, fsm.Config[state, event]{JoinTimeout: time.Second})
		t0 := time.Now()
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(t0); got != time.Second {
			t.Errorf("Stop took %v, want the 1s join timeout", got)
		}
		diffLines(t, "records", []string{"started A #1", "straggler A #1 stubborn", "stopped A #1"}, rec.lines())
		// The straggler ends in its own time; what it did then is reported,
		// a panic included, even after the stop.
		time.Sleep(time.Minute)
		synctest.Wait()
		diffLines(t, "records", []string{"started A #1", "straggler A #1 stubborn", "stopped A #1",
			`straggler_returned A #1 stubborn: tasks: task "stubborn" panicked: too late`}, rec.lines())
		recs := rec.records()
		var pe *tasks.PanicError
		if !errors.As(recs[len(recs)-1].Err, &pe) {
			t.Errorf("straggler_returned Err = %v, want a *tasks.PanicError", recs[len(recs)-1].Err)
		}
	})
}

// TestTaskEmitsUnknownEvent: a task emitting an event the definition does
// not list is a bug in that task. It fails like a task returning an error:
// reported, its siblings cancelled, the state's failure event fired. The
// machine must not sit in a state whose tasks were all cancelled.
func TestTaskEmitsUnknownEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		causes := make(chan error, 1)
		d := stdDef(t, func(b *builder) {
			b.FailureEvent(A, Fail)
			b.Task(A, "bad", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
				emit(event(99), nil)
				<-ctx.Done()
				return nil
			})
			b.Task(A, "sibling", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
				<-ctx.Done()
				causes <- context.Cause(ctx)
				return nil
			})
		})
		m, rec := start(t, d, fsm.Config[state, event]{})
		synctest.Wait()
		diffLines(t, "records", []string{
			"started A #1",
			`task_failed A #1 bad: fsm: unknown event: task "bad" emitted event(99)`,
			"transition A -Fail-> B #2",
		}, rec.lines())
		if cause := <-causes; !errors.Is(cause, fsm.ErrUnknownEvent) {
			t.Errorf("sibling's cause = %v, want one matching fsm.ErrUnknownEvent", cause)
		}
		if m.State() != B {
			t.Errorf("State() = %v, want B", m.State())
		}
	})
}

// TestObserverCallsIn: the observer runs inside the machine; Fire and Stop
// called with the context it is given enqueue and return, where Stop with
// a context of its own would wait for the observer itself.
func TestObserverCallsIn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := stdDef(t, nil)
		rec := &recorder{}
		var m *machine
		m = d.Start(context.Background(), fsm.Config[state, event]{Observer: func(ctx context.Context, r fsm.Record[state, event]) {
			rec.observe(ctx, r)
			if r.Kind != fsm.RecordTransition {
				return
			}
			switch r.To {
			case B:
				if err := m.Fire(ctx, Back); err != nil {
					t.Errorf("Fire from the observer: %v", err)
				}
			case A:
				if err := m.Stop(ctx); err != nil {
					t.Errorf("Stop from the observer: %v", err)
				}
			}
		}})
		if err := m.Fire(context.Background(), Go); err != nil {
			t.Fatal(err)
		}
		<-m.Done()
		diffLines(t, "records", []string{"started A #1", "transition A -Go-> B #2", "transition B -Back-> A #3", "stopped A #3"}, rec.lines())
	})
}

// TestStaleEvents: an event from a task of an entry that is over is
// dropped, also when the machine has re-entered the same state since.
func TestStaleEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		emits := make(chan fsm.Emit[event], 3)
		d := stdDef(t, func(b *builder) {
			b.Task(A, "keeper", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
				emits <- emit // used after the task returned, like a late callback
				return nil
			})
		})
		m, rec := start(t, d, fsm.Config[state, event]{})
		first := <-emits
		fire := func(e event) {
			t.Helper()
			if err := m.Fire(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		fire(Go)
		inB := newResource("in B")
		first(X, inB) // X is ignored in B, but stale first
		synctest.Wait()
		fire(Back)
		inA := newResource("in A again")
		first(X, inA) // X would leave A: it must not
		synctest.Wait()
		if m.State() != A || m.Epoch() != 3 {
			t.Errorf("machine in %v #%d, want A #3", m.State(), m.Epoch())
		}
		diffLines(t, "records", []string{
			"started A #1",
			"transition A -Go-> B #2",
			"stale B X #1",
			"transition B -Back-> A #3",
			"stale A X #1",
		}, rec.lines())
		for _, r := range []*resource{inB, inA} {
			if n := r.disposed.Load(); n != 1 {
				t.Errorf("%s: disposed %d times, want 1", r.name, n)
			}
		}
		// The task of the current entry (epoch 3) is not stale.
		current := <-emits
		current(X, nil)
		synctest.Wait()
		if m.State() != B || m.Epoch() != 4 {
			t.Errorf("current task's event: machine in %v #%d, want B #4", m.State(), m.Epoch())
		}
	})
}

// TestTaskEmitsWhileExiting: a task that emits while its state is being
// left (during the join) does not deadlock, and its event is stale.
func TestTaskEmitsWhileExiting(t *testing.T) {
	p := newResource("emitted during exit")
	d := stdDef(t, func(b *builder) {
		b.Task(A, "t", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
			<-ctx.Done()
			emit(X, p)
			return nil
		})
	})
	m, rec := start(t, d, fsm.Config[state, event]{})
	if err := m.Fire(context.Background(), Go); err != nil {
		t.Fatal(err)
	}
	// Queued during the join, the event was processed before Fire returned.
	diffLines(t, "records", []string{"started A #1", "transition A -Go-> B #2", "stale B X #1"}, rec.lines())
	if n := p.disposed.Load(); n != 1 {
		t.Errorf("disposed %d times, want 1", n)
	}
}

// TestHookFiresEvent: an event fired by a hook is queued and processed
// after the current step, never nested in it.
func TestHookFiresEvent(t *testing.T) {
	var l log
	var m *machine
	d := stdDef(t, func(b *builder) {
		b.OnEnter(B, func(ctx context.Context, tr trans) {
			err := m.Fire(ctx, Back)
			l.add("enter B 1: fired Back (err %v), state=%v", err, m.State())
		})
		b.OnEnter(B, func(ctx context.Context, tr trans) {
			l.add("enter B 2: state=%v", m.State())
		})
		b.OnEnter(A, func(ctx context.Context, tr trans) {
			if tr.Event == Back {
				l.add("enter A: state=%v epoch=%d", m.State(), tr.Epoch)
			}
		})
	})
	m = d.Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) {
		l.add("observer: %s", line(r))
	}})
	defer m.Stop(context.Background())
	if err := m.Fire(context.Background(), Go); err != nil {
		t.Fatal(err)
	}
	diffLines(t, "log", []string{
		"observer: started A #1",
		"observer: transition A -Go-> B #2",
		"enter B 1: fired Back (err <nil>), state=B",
		"enter B 2: state=B",
		"observer: transition B -Back-> A #3",
		"enter A: state=A epoch=3",
	}, l.get())
}

// TestConcurrentFire: senders firing at once, from outside and from inside,
// neither deadlock nor lose, duplicate or reorder any sender's events.
func TestConcurrentFire(t *testing.T) {
	const senders, perSender = 8, 1000
	var disposed sync.Map // tag → number of disposals
	var inside atomic.Pointer[context.Context]
	d, err := fsm.NewBuilder[state, event](A).States(A).Events(Go, X).Rules(
		rule{From: A, On: Go, Then: fsm.To(A)},
		rule{From: A, On: X, Then: fsm.Ignore[state](), Reason: "noise"},
	).OnEnter(A, func(ctx context.Context, _ trans) {
		inside.CompareAndSwap(nil, &ctx) // a context from inside, as a hook holds it
	}).Build()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []tag
	m := d.Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) {
		if p, ok := r.Payload.(*disposable); ok {
			mu.Lock()
			order = append(order, p.tag)
			mu.Unlock()
		}
	}})

	var wg sync.WaitGroup
	for s := range senders {
		ctx := context.Background()
		if s < 2 {
			ctx = *inside.Load()
		}
		wg.Go(func() {
			for i := range perSender {
				e := Go
				if i%2 == 1 {
					e = X
				}
				if err := m.FireWith(ctx, e, &disposable{tag: tag{s, i}, count: &disposed}); err != nil {
					t.Errorf("sender %d: FireWith = %v", s, err)
					return
				}
			}
		})
	}
	wg.Wait()
	// The stop is queued behind every event fired before it.
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != senders*perSender {
		t.Errorf("observer saw %d events, want %d", len(order), senders*perSender)
	}
	next := make([]int, senders)
	for _, tg := range order {
		if tg.seq != next[tg.sender] {
			t.Fatalf("sender %d: event %d processed when %d was due: not FIFO, lost or duplicated", tg.sender, tg.seq, next[tg.sender])
		}
		next[tg.sender]++
	}
	// Ignored events were disposed exactly once; transitions never.
	for s := range senders {
		for i := range perSender {
			v, _ := disposed.Load(tag{s, i})
			n, _ := v.(int)
			if want := i % 2; n != want {
				t.Fatalf("event %d of sender %d disposed %d times, want %d", i, s, n, want)
			}
		}
	}
}

type tag struct{ sender, seq int }

// disposable counts its disposals in count, keyed by its tag.
type disposable struct {
	tag   tag
	count *sync.Map
}

func (p *disposable) Dispose() {
	for {
		v, loaded := p.count.LoadOrStore(p.tag, 1)
		if !loaded || p.count.CompareAndSwap(p.tag, v, v.(int)+1) {
			return
		}
	}
}

// TestFailingTaskCancelsSibling: a task that fails (error, panic) or emits
// an event leaving its state cancels its siblings at once, before the event
// is processed: no sibling runs a step with a live context after that.
func TestFailingTaskCancelsSibling(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		// reader fails in its own way once released.
		reader      func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event], sibling func() context.Context) error
		failure     bool // declare Fail as A's failure event
		want        []string
		wantCause   string
		wantExitErr bool
	}{
		{
			name: "error with a failure event",
			reader: func(context.Context, fsm.Transition[state, event], fsm.Emit[event], func() context.Context) error {
				return errBoom
			},
			failure:   true,
			want:      []string{"started A #1", "task_failed A #1 reader: boom", "transition A -Fail-> B #2"},
			wantCause: `tasks: task "reader" failed: boom`,
		},
		{
			name: "panic with a failure event",
			reader: func(context.Context, fsm.Transition[state, event], fsm.Emit[event], func() context.Context) error {
				panic("bad frame")
			},
			failure:   true,
			want:      []string{"started A #1", `task_failed A #1 reader: tasks: task "reader" panicked: bad frame`, "transition A -Fail-> B #2"},
			wantCause: `tasks: task "reader" failed: tasks: task "reader" panicked: bad frame`,
		},
		{
			name: "error without a failure event",
			reader: func(context.Context, fsm.Transition[state, event], fsm.Emit[event], func() context.Context) error {
				return errBoom
			},
			want:      []string{"started A #1", "task_failed A #1 reader: boom"},
			wantCause: `tasks: task "reader" failed: boom`,
		},
		{
			name: "emitting a leaving event",
			reader: func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event], sibling func() context.Context) error {
				emit(Go, nil)
				if sibling().Err() == nil {
					return errors.New("sibling still live right after the leaving event was emitted")
				}
				<-ctx.Done()
				return nil
			},
			want:        []string{"started A #1", "transition A -Go-> B #2"},
			wantCause:   "fsm: state A exited on Go",
			wantExitErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var processed atomic.Bool // the failure or leaving event reached the observer
				var violations atomic.Int32
				var siblingCtx atomic.Pointer[context.Context]
				sibling := func() context.Context { return *siblingCtx.Load() }
				causes := make(chan error, 1)
				release := make(chan struct{})
				returned := make(chan error, 1)
				d := stdDef(t, func(b *builder) {
					b.Task(A, "heartbeat", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
						siblingCtx.Store(&ctx)
						tick := time.NewTicker(time.Millisecond)
						defer tick.Stop()
						for {
							select {
							case <-ctx.Done():
								causes <- context.Cause(ctx)
								return nil
							case <-tick.C:
								if ctx.Err() == nil && processed.Load() {
									violations.Add(1) // a ping on a dead connection
								}
							}
						}
					})
					b.Task(A, "reader", func(ctx context.Context, in fsm.Transition[state, event], emit fsm.Emit[event]) (err error) {
						defer func() { returned <- err }()
						<-release
						return tt.reader(ctx, in, emit, sibling)
					})
					if tt.failure {
						b.FailureEvent(A, Fail)
					}
				})
				rec := &recorder{}
				m := d.Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) {
					if r.Kind == fsm.RecordTaskFailed || r.Kind == fsm.RecordTransition {
						processed.Store(true)
						if p := siblingCtx.Load(); p != nil && (*p).Err() == nil {
							violations.Add(1)
						}
					}
					rec.observe(context.Background(), r)
				}})
				time.Sleep(10 * time.Millisecond) // the heartbeat ticks a few times
				close(release)
				cause := <-causes
				synctest.Wait()
				if cause == nil || cause.Error() != tt.wantCause {
					t.Errorf("sibling's cause = %v, want %q", cause, tt.wantCause)
				}
				if got := errors.Is(cause, fsm.ErrStateExited); got != tt.wantExitErr {
					t.Errorf("errors.Is(cause, ErrStateExited) = %v, want %v", got, tt.wantExitErr)
				}
				var te *tasks.TaskError
				if !tt.wantExitErr && !errors.As(cause, &te) {
					t.Errorf("cause %v is not a *tasks.TaskError", cause)
				}
				if n := violations.Load(); n != 0 {
					t.Errorf("the sibling had a live context %d times after the failure was processed", n)
				}
				if err := <-returned; tt.wantExitErr && err != nil {
					t.Error(err)
				}
				diffLines(t, "records", tt.want, rec.lines())
				if err := m.Stop(context.Background()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestTaskFailureAfterLeaving: a failure processed after its state was left
// is reported with the task's state and epoch, and its failure event is
// stale.
func TestTaskFailureAfterLeaving(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failNow := make(chan struct{})
		var m *machine
		d := stdDef(t, func(b *builder) {
			b.Task(A, "reader", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
				<-failNow
				return errors.New("boom")
			})
			b.FailureEvent(A, Fail)
		})
		rec := &recorder{}
		m = d.Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) {
			rec.observe(context.Background(), r)
			if r.Kind == fsm.RecordRejected {
				// While this step runs, Go is queued and then the task fails:
				// its failure is queued behind Go.
				if err := m.Fire(context.Background(), Go); err != nil {
					t.Errorf("Fire from the observer = %v", err)
				}
				close(failNow)
				time.Sleep(time.Millisecond)
			}
		}})
		defer m.Stop(context.Background())
		if err := m.Fire(context.Background(), Back); !errors.Is(err, fsm.ErrRejected) {
			t.Fatalf("Fire(Back) = %v, want ErrRejected", err)
		}
		synctest.Wait()
		diffLines(t, "records", []string{
			"started A #1",
			"rejected A Back #1",
			"transition A -Go-> B #2",
			"task_failed A #1 reader: boom",
			"stale B Fail #1",
		}, rec.lines())
	})
}

// TestPayloadDisposal: a payload implementing Disposer whose event is not
// consumed by a transition is disposed exactly once; a consumed one never.
func TestPayloadDisposal(t *testing.T) {
	type stopAndQueue struct{ p *resource } // makes B's enter hook stop, then fire
	tests := []struct {
		name    string
		run     func(t *testing.T, m *machine, emits <-chan fsm.Emit[event], p *resource) error
		wantErr error
		want    []string
		wantN   int32
	}{
		{
			name: "consumed by a transition",
			run: func(t *testing.T, m *machine, _ <-chan fsm.Emit[event], p *resource) error {
				return m.FireWith(context.Background(), Go, p)
			},
			want:  []string{"started A #1", "transition A -Go-> B #2"},
			wantN: 0,
		},
		{
			name: "ignored",
			run: func(t *testing.T, m *machine, _ <-chan fsm.Emit[event], p *resource) error {
				m.Fire(context.Background(), Go)
				return m.FireWith(context.Background(), X, p)
			},
			want:  []string{"started A #1", "transition A -Go-> B #2", "ignored B X #2"},
			wantN: 1,
		},
		{
			name: "rejected",
			run: func(t *testing.T, m *machine, _ <-chan fsm.Emit[event], p *resource) error {
				return m.FireWith(context.Background(), Back, p)
			},
			wantErr: fsm.ErrRejected,
			want:    []string{"started A #1", "rejected A Back #1"},
			wantN:   1,
		},
		{
			name: "stale",
			run: func(t *testing.T, m *machine, emits <-chan fsm.Emit[event], p *resource) error {
				emit := <-emits
				m.Fire(context.Background(), Go)
				emit(X, p)
				return nil
			},
			want:  []string{"started A #1", "transition A -Go-> B #2", "stale B X #1"},
			wantN: 1,
		},
		{
			name: "fired after Stop",
			run: func(t *testing.T, m *machine, _ <-chan fsm.Emit[event], p *resource) error {
				m.Stop(context.Background())
				return m.FireWith(context.Background(), Go, p)
			},
			wantErr: fsm.ErrStopped,
			want:    []string{"started A #1", "stopped A #1"},
			wantN:   1,
		},
		{
			name: "emitted after Stop",
			run: func(t *testing.T, m *machine, emits <-chan fsm.Emit[event], p *resource) error {
				emit := <-emits
				m.Stop(context.Background())
				emit(X, p)
				return nil
			},
			want:  []string{"started A #1", "stopped A #1", "dropped A X #1"},
			wantN: 1,
		},
		{
			name: "queued at Stop",
			run: func(t *testing.T, m *machine, _ <-chan fsm.Emit[event], p *resource) error {
				return m.FireWith(context.Background(), Go, &stopAndQueue{p})
			},
			want:  []string{"started A #1", "transition A -Go-> B #2", "stopped B #2", "dropped B X #0"},
			wantN: 1,
		},
		{
			name: "unknown event",
			run: func(t *testing.T, m *machine, _ <-chan fsm.Emit[event], p *resource) error {
				if err := m.FireWith(context.Background(), event(9), p); err == nil || !strings.Contains(err.Error(), "event(9)") {
					t.Errorf("FireWith(unknown) = %v, want an error naming event(9)", err)
				}
				return nil
			},
			want:  []string{"started A #1"},
			wantN: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var m *machine
				emits := make(chan fsm.Emit[event], 1)
				var consumed atomic.Int32
				d := stdDef(t, func(b *builder) {
					b.Task(A, "keeper", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
						select {
						case emits <- emit:
						default:
						}
						<-ctx.Done()
						return nil
					})
					b.OnEnter(B, func(ctx context.Context, tr trans) {
						switch p := tr.Payload.(type) {
						case *resource:
							consumed.Add(1)
						case *stopAndQueue:
							if err := m.Stop(ctx); err != nil {
								t.Errorf("Stop from a hook = %v", err)
							}
							if err := m.FireWith(ctx, X, p.p); err != nil {
								t.Errorf("FireWith from a hook = %v", err)
							}
						}
					})
				})
				rec := &recorder{}
				m = d.Start(context.Background(), fsm.Config[state, event]{Observer: rec.observe})
				p := newResource(tt.name)
				err := tt.run(t, m, emits, p)
				if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
					t.Errorf("error = %v, want %v", err, tt.wantErr)
				}
				synctest.Wait()
				if n := p.disposed.Load(); n != tt.wantN {
					t.Errorf("disposed %d times, want %d", n, tt.wantN)
				}
				if tt.wantN == 0 && consumed.Load() != 1 {
					t.Errorf("the enter hook did not receive the payload")
				}
				got := rec.lines() // before the final Stop
				m.Stop(context.Background())
				if n := p.disposed.Load(); n != tt.wantN {
					t.Errorf("after Stop: disposed %d times, want %d", n, tt.wantN)
				}
				diffLines(t, "records", tt.want, got)
			})
		})
	}
}

// TestCallsFromInside: hooks and tasks may call Fire and Stop with the
// context they were given; neither waits for a step that includes its caller.
func TestCallsFromInside(t *testing.T) {
	tests := []struct {
		name      string
		configure func(b *builder, m func() *machine, errs chan<- error)
		fire      bool // fire Go from outside after the start
		want      []string
	}{
		{
			name: "Stop from an enter hook",
			configure: func(b *builder, m func() *machine, errs chan<- error) {
				b.OnEnter(B, func(ctx context.Context, _ trans) { errs <- m().Stop(ctx) })
			},
			fire: true,
			want: []string{"started A #1", "transition A -Go-> B #2", "stopped B #2"},
		},
		{
			name: "Stop from an exit hook",
			configure: func(b *builder, m func() *machine, errs chan<- error) {
				b.OnExit(A, func(ctx context.Context, _ trans) { errs <- m().Stop(ctx) })
			},
			fire: true,
			want: []string{"started A #1", "transition A -Go-> B #2", "stopped B #2"},
		},
		{
			name: "Fire from an action",
			configure: func(b *builder, m func() *machine, errs chan<- error) {
				b.Action(A, Go, func(ctx context.Context, _ trans) { errs <- m().Fire(ctx, Back) })
			},
			fire: true,
			want: []string{"started A #1", "transition A -Go-> B #2", "transition B -Back-> A #3"},
		},
		{
			name: "Stop from a task",
			configure: func(b *builder, m func() *machine, errs chan<- error) {
				b.Task(A, "quitter", func(ctx context.Context, _ fsm.Transition[state, event], _ fsm.Emit[event]) error {
					time.Sleep(time.Second) // m is set by then
					errs <- m().Stop(ctx)
					<-ctx.Done()
					return nil
				})
			},
			want: []string{"started A #1", "stopped A #1"},
		},
		{
			name: "Fire from a task",
			configure: func(b *builder, m func() *machine, errs chan<- error) {
				b.Task(A, "mover", func(ctx context.Context, _ fsm.Transition[state, event], _ fsm.Emit[event]) error {
					time.Sleep(time.Second)
					errs <- m().Fire(ctx, Go)
					<-ctx.Done()
					return nil
				})
			},
			want: []string{"started A #1", "transition A -Go-> B #2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mp atomic.Pointer[machine]
				errs := make(chan error, 1)
				d := stdDef(t, func(b *builder) { tt.configure(b, mp.Load, errs) })
				rec := &recorder{}
				m := d.Start(context.Background(), fsm.Config[state, event]{Observer: rec.observe})
				mp.Store(m)
				if tt.fire {
					if err := m.Fire(context.Background(), Go); err != nil {
						t.Fatal(err)
					}
				}
				if err := <-errs; err != nil {
					t.Errorf("call from inside = %v, want nil", err)
				}
				synctest.Wait()
				diffLines(t, "records", tt.want, rec.lines())
				if err := m.Stop(context.Background()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestStop(t *testing.T) {
	errCause := errors.New("caller gave up")
	// slowDef's task takes exit seconds to return after cancellation, or
	// ignores its context for a minute when exit < 0.
	slowDef := func(t *testing.T, exit time.Duration, exits *atomic.Int32) *fsm.Definition[state, event] {
		return stdDef(t, func(b *builder) {
			b.Task(A, "slow", func(ctx context.Context, _ fsm.Transition[state, event], _ fsm.Emit[event]) error {
				if exit < 0 {
					time.Sleep(time.Minute)
					return nil
				}
				<-ctx.Done()
				time.Sleep(exit)
				return nil
			})
			b.OnExit(A, func(context.Context, trans) { exits.Add(1) })
		})
	}
	t.Run("waits for Done", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var exits atomic.Int32
			m, rec := start(t, slowDef(t, 3*time.Second, &exits), fsm.Config[state, event]{})
			t0 := time.Now()
			if err := m.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(t0); got != 3*time.Second {
				t.Errorf("Stop returned after %v, want 3s, when the task returned", got)
			}
			select {
			case <-m.Done():
			default:
				t.Error("Done not closed when Stop returned")
			}
			if exits.Load() != 1 {
				t.Errorf("exit hooks ran %d times, want 1", exits.Load())
			}
			diffLines(t, "records", []string{"started A #1", "stopped A #1"}, rec.lines())
		})
	})
	t.Run("idempotent and concurrent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var exits atomic.Int32
			m, rec := start(t, slowDef(t, time.Second, &exits), fsm.Config[state, event]{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					if err := m.Stop(context.Background()); err != nil {
						t.Errorf("Stop = %v", err)
					}
				})
			}
			wg.Wait()
			if err := m.Stop(context.Background()); err != nil {
				t.Errorf("Stop again = %v", err)
			}
			if exits.Load() != 1 {
				t.Errorf("exit hooks ran %d times, want 1", exits.Load())
			}
			diffLines(t, "records", []string{"started A #1", "stopped A #1"}, rec.lines())
		})
	})
	t.Run("already cancelled ctx returns the cause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var exits atomic.Int32
			m, rec := start(t, slowDef(t, -1, &exits), fsm.Config[state, event]{JoinTimeout: 10 * time.Second})
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errCause)
			t0 := time.Now()
			if err := m.Stop(ctx); err != errCause {
				t.Errorf("Stop = %v, want the ctx's cause", err)
			}
			if time.Since(t0) != 0 {
				t.Errorf("Stop with a done ctx waited %v", time.Since(t0))
			}
			select {
			case <-m.Done():
				t.Fatal("stopped before the join timeout")
			default:
			}
			<-m.Done() // the stop goes on
			if got := time.Since(t0); got != 10*time.Second {
				t.Errorf("Done after %v, want the 10s join timeout", got)
			}
			if err := m.Fire(context.Background(), Go); !errors.Is(err, fsm.ErrStopped) {
				t.Errorf("Fire = %v, want ErrStopped", err)
			}
			diffLines(t, "records", []string{"started A #1", "straggler A #1 slow", "stopped A #1"}, rec.lines())
			time.Sleep(time.Minute)
		})
	})
	t.Run("ctx deadline bounds the wait for the join", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var exits atomic.Int32
			m, _ := start(t, slowDef(t, time.Minute, &exits), fsm.Config[state, event]{JoinTimeout: -1})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			t0 := time.Now()
			if err := m.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Stop = %v, want DeadlineExceeded", err)
			}
			if got := time.Since(t0); got != 2*time.Second {
				t.Errorf("Stop returned after %v, want at the 2s deadline", got)
			}
			<-m.Done()
			if got := time.Since(t0); got != time.Minute {
				t.Errorf("Done after %v, want 1m, when the task returned", got)
			}
		})
	})
	t.Run("Start ctx ends the machine", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var exits atomic.Int32
			ctx, cancel := context.WithCancel(context.Background())
			rec := &recorder{}
			m := slowDef(t, 0, &exits).Start(ctx, fsm.Config[state, event]{Observer: rec.observe})
			if err := m.Fire(context.Background(), Go); err != nil {
				t.Fatal(err)
			}
			cancel()
			<-m.Done()
			if err := m.Fire(context.Background(), Back); !errors.Is(err, fsm.ErrStopped) {
				t.Errorf("Fire = %v, want ErrStopped", err)
			}
			if err := m.Stop(context.Background()); err != nil {
				t.Errorf("Stop after the ctx ended = %v", err)
			}
			diffLines(t, "records", []string{"started A #1", "transition A -Go-> B #2", "stopped B #2"}, rec.lines())
		})
	})
	t.Run("Start with a done ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var exits atomic.Int32
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			rec := &recorder{}
			m := slowDef(t, 0, &exits).Start(ctx, fsm.Config[state, event]{Observer: rec.observe})
			<-m.Done()
			diffLines(t, "records", []string{"started A #1", "stopped A #1"}, rec.lines())
		})
	})
}

// TestNothingRunsAfterStop: once Stop returns, every task has returned.
func TestNothingRunsAfterStop(t *testing.T) {
	var running atomic.Int32
	task := func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
		running.Add(1)
		defer running.Add(-1)
		<-ctx.Done()
		emit(X, nil) // late: dropped, never applied
		return nil
	}
	d := stdDef(t, func(b *builder) { b.Task(A, "a", task).Task(A, "b", task).Task(B, "c", task) })
	for _, fire := range [][]event{nil, {Go}, {Go, Back}} {
		m := d.Start(context.Background(), fsm.Config[state, event]{})
		for _, e := range fire {
			if err := m.Fire(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := running.Load(); n != 0 {
			t.Errorf("after %v: %d tasks still running after Stop", fire, n)
		}
	}
}

func TestEpochs(t *testing.T) {
	d, err := fsm.NewBuilder[state, event](A).States(A, B).Events(Go, Back).Rules(
		rule{From: A, On: Go, Then: fsm.To(A)}, // a self-loop re-enters
		rule{From: A, On: Back, Then: fsm.To(B)},
		rule{From: B, On: Go, Then: fsm.Ignore[state](), Reason: "no entry"},
		rule{From: B, On: Back, Then: fsm.To(A)},
	).Build()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := start(t, d, fsm.Config[state, event]{})
	var got []string
	for _, e := range []event{Go, Go, Back, Go, Back} {
		m.Fire(context.Background(), e)
		got = append(got, fmt.Sprintf("%v #%d", m.State(), m.Epoch()))
	}
	diffLines(t, "epochs", []string{"A #2", "A #3", "B #4", "B #4", "A #5"}, got)
}

// TestPost: Post queues and returns at once; the step, with its join, runs
// on another goroutine. Like Fire, it refuses unknown events and a stopped
// machine, disposing the payload.
func TestPost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := stdDef(t, func(b *builder) {
			b.Task(A, "slow", func(ctx context.Context, _ fsm.Transition[state, event], emit fsm.Emit[event]) error {
				<-ctx.Done()
				time.Sleep(time.Second) // takes a second to wind down
				return nil
			})
		})
		m, rec := start(t, d, fsm.Config[state, event]{})
		t0 := time.Now()
		if err := m.Post(Go, nil); err != nil {
			t.Fatalf("Post(Go) = %v", err)
		}
		if took := time.Since(t0); took != 0 {
			t.Errorf("Post took %v, want it to return before the join", took)
		}
		synctest.Wait()
		if m.State() != A {
			t.Errorf("State() = %v while A's task winds down, want A", m.State())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		diffLines(t, "records", []string{"started A #1", "transition A -Go-> B #2"}, rec.lines())

		unknown := newResource("unknown")
		if err := m.Post(event(42), unknown); !errors.Is(err, fsm.ErrUnknownEvent) {
			t.Errorf("Post(event(42)) = %v, want ErrUnknownEvent", err)
		}
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		late := newResource("late")
		if err := m.Post(Back, late); !errors.Is(err, fsm.ErrStopped) {
			t.Errorf("Post after Stop = %v, want ErrStopped", err)
		}
		if u, l := unknown.disposed.Load(), late.disposed.Load(); u != 1 || l != 1 {
			t.Errorf("refused payloads disposed %d and %d times, want once each", u, l)
		}
	})
}
