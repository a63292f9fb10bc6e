package fsm_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

type nmachine = fsm.Machine[ns, nev]

func inState(s ns) func(*nmachine) bool { return func(m *nmachine) bool { return m.In(s) } }

// TestAwait: Await returns nil once the predicate holds (at once if it
// does already, even with ctx done), the context's cause when it ends
// first, an error matching ErrStopped when the machine stops first (and
// the panic that fail-stopped it), and an error, not a panic, for a nil
// context or predicate.
func TestAwait(t *testing.T) {
	errBye := errors.New("bye")
	tests := []struct {
		name   string
		ctx    func() context.Context // nil: a nil context
		pred   func(*nmachine) bool
		then   func(m *nmachine) // run on another goroutine once Await waits
		panics bool              // the machine's enter hook of C panics
		want   []error           // errors.Is targets; nil: want nil
	}{
		{name: "true at once", ctx: context.Background, pred: inState(nA1a)},
		{name: "true at once, ctx done", ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, pred: inState(nA)},
		{name: "after a transition", ctx: context.Background, pred: inState(nC),
			then: func(m *nmachine) { _ = m.Fire(context.Background(), ToC) }},
		{name: "after two transitions", ctx: context.Background, pred: inState(nB1a),
			then: func(m *nmachine) { _ = m.Fire(context.Background(), ToC); _ = m.Fire(context.Background(), Down) }},
		{name: "final state satisfies", ctx: context.Background, pred: inState(nDone),
			then: func(m *nmachine) { _ = m.Fire(context.Background(), Finish) }},
		{name: "ctx ends", ctx: func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errBye)
			return ctx
		}, pred: inState(nC), want: []error{errBye}},
		{name: "machine stops", ctx: context.Background, pred: inState(nC),
			then: func(m *nmachine) { _ = m.Stop(context.Background()) }, want: []error{fsm.ErrStopped}},
		{name: "machine fail-stops", ctx: context.Background, pred: inState(nB), panics: true,
			then: func(m *nmachine) { _ = m.Fire(context.Background(), ToC) }, want: []error{fsm.ErrStopped, fsm.ErrPanicked}},
		{name: "nil ctx", pred: inState(nA), want: []error{fsm.ErrNilArgument}},
		{name: "nil pred", ctx: context.Background, want: []error{fsm.ErrNilArgument}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := nestedBuilder()
				if tt.panics {
					b.OnEnter(nC, func(context.Context, fsm.Transition[ns, nev]) { panic("boom") })
				}
				def, err := b.Build()
				if err != nil {
					t.Fatal(err)
				}
				m := def.Start(context.Background(), fsm.Config[ns, nev]{})
				defer m.Stop(context.Background())
				if tt.then != nil {
					go func() {
						synctest.Wait() // Await is blocked
						tt.then(m)
					}()
				}
				var ctx context.Context
				if tt.ctx != nil {
					ctx = tt.ctx()
				}
				err = m.Await(ctx, tt.pred)
				if len(tt.want) == 0 && err != nil {
					t.Fatalf("Await = %v, want nil", err)
				}
				for _, w := range tt.want {
					if !errors.Is(err, w) {
						t.Errorf("Await = %v, want an error matching %v", err, w)
					}
				}
				synctest.Wait()
			})
		})
	}
}

// TestWatchStates: WhileIn's context ends when the entry of its state
// active at the call is over (a self-transition or an ancestor's re-entry
// included, a move between its children not), UntilIn's when its state
// becomes active; each ends at once when its condition holds at the call,
// at the stop, and for an unknown state.
func TestWatchStates(t *testing.T) {
	tests := []struct {
		name   string
		until  bool
		state  ns
		before []nev // fired before the call
		after  []nev // fired after it
		stop   bool
		want   error // the cause; nil: the context is still live
		is     error // for a cause compared with errors.Is
	}{
		{name: "while: a move below it", state: nA1, after: []nev{Sib, Sib}},
		{name: "while: left", state: nA1, after: []nev{Sib, ToC}, want: &fsm.ExitError{State: "A1", Event: "ToC"}},
		{name: "while: self-transition", state: nA1, after: []nev{SelfComp}, want: &fsm.ExitError{State: "A1", Event: "SelfComp"}},
		{name: "while: ancestor re-entered", state: nA1, after: []nev{Up}, want: &fsm.ExitError{State: "A1", Event: "Up"}},
		{name: "while: re-entered before the call", state: nA1, before: []nev{SelfComp}, after: []nev{Sib}},
		{name: "while: not active", state: nA1, before: []nev{ToC}, want: &fsm.ExitError{State: "A1", Inactive: true}},
		{name: "while: stop", state: nA, stop: true, want: &fsm.ExitError{State: "A"}},
		{name: "while: final state", state: nA, after: []nev{Finish}, want: &fsm.ExitError{State: "A", Event: "Finish"}},
		{name: "while: unknown state", state: ns(99), is: fsm.ErrUnknownState},
		{name: "until: not yet", until: true, state: nC, after: []nev{Sib, Cousin}},
		{name: "until: entered", until: true, state: nC, after: []nev{Sib, ToC}, want: &fsm.EnterError{State: "C", Event: "ToC"}},
		{name: "until: a composite", until: true, state: nB1, after: []nev{ToB}, want: &fsm.EnterError{State: "B1", Event: "ToB"}},
		{name: "until: active at the call", until: true, state: nA1, want: &fsm.EnterError{State: "A1"}},
		{name: "until: stop", until: true, state: nC, stop: true, is: fsm.ErrStopped},
		{name: "until: unknown state", until: true, state: ns(99), is: fsm.ErrUnknownState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, err := nestedBuilder().Build()
			if err != nil {
				t.Fatal(err)
			}
			m := def.Start(context.Background(), fsm.Config[ns, nev]{})
			defer m.Stop(context.Background())
			for _, e := range tt.before {
				_ = m.Fire(context.Background(), e)
			}
			watch := m.WhileIn
			if tt.until {
				watch = m.UntilIn
			}
			ctx, cancel := watch(context.Background(), tt.state)
			defer cancel()
			for _, e := range tt.after {
				_ = m.Fire(context.Background(), e)
			}
			if tt.stop {
				_ = m.Stop(context.Background())
			}
			got := context.Cause(ctx)
			switch {
			case tt.is != nil:
				if !errors.Is(got, tt.is) {
					t.Errorf("cause %v, want one matching %v", got, tt.is)
				}
			case tt.want == nil:
				if got != nil {
					t.Errorf("cause %v, want a live context", got)
				}
			default:
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("cause (-want +got):\n%s", diff)
				}
				if ctx.Err() == nil {
					t.Error("Err() nil with a cause")
				}
			}
		})
	}
}

// TestWatchCancelAndParent: the cancel function and the parent's end end
// a WhileIn context with their own cause, and the machine lets go of it:
// a later exit does not touch it.
func TestWatchCancelAndParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		def, err := nestedBuilder().Build()
		if err != nil {
			t.Fatal(err)
		}
		m := def.Start(context.Background(), fsm.Config[ns, nev]{})
		defer m.Stop(context.Background())
		ctx1, cancel1 := m.WhileIn(context.Background(), nA)
		cancel1()
		errParent := errors.New("parent gone")
		parent, cancelParent := context.WithCancelCause(context.Background())
		ctx2, cancel2 := m.UntilIn(parent, nC)
		defer cancel2()
		cancelParent(errParent)
		synctest.Wait() // the parent's end is seen on another goroutine
		_ = m.Fire(context.Background(), ToC)
		if got := context.Cause(ctx1); got != context.Canceled {
			t.Errorf("cancelled: cause %v, want context.Canceled", got)
		}
		if got := context.Cause(ctx2); got != errParent {
			t.Errorf("parent ended: cause %v, want %v", got, errParent)
		}
	})
}

// TestWaitingRacesTransitions: Await, WhileIn and UntilIn called while
// another goroutine takes the transition they wait for never miss it: a
// missed one leaves a goroutine blocked for good, which synctest reports
// as a deadlock, or a context live after its state was left.
func TestWaitingRacesTransitions(t *testing.T) {
	def, err := nestedBuilder().Build()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		synctest.Test(t, func(t *testing.T) {
			m := def.Start(context.Background(), fsm.Config[ns, nev]{})
			defer m.Stop(context.Background())
			fired := make(chan struct{})
			go func() {
				defer close(fired)
				_ = m.Fire(context.Background(), ToC)
			}()
			whileA, c1 := m.WhileIn(context.Background(), nA)
			defer c1()
			untilC, c2 := m.UntilIn(context.Background(), nC)
			defer c2()
			if err := m.Await(context.Background(), inState(nC)); err != nil {
				t.Fatalf("run %d: Await: %v", i, err)
			}
			<-fired
			synctest.Wait()
			if whileA.Err() == nil || untilC.Err() == nil {
				t.Fatalf("run %d: WhileIn(A) ended %v, UntilIn(C) ended %v after A → C", i, whileA.Err() != nil, untilC.Err() != nil)
			}
		})
	}
}
