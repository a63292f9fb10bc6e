package fsm_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// TestPanicFailStops: a panic in a hook, an action, the observer or a
// payload's Dispose fail-stops the machine, whichever goroutine processes
// the step: tasks joined, exit hooks of the states entered run, Done
// closed, Err the panic, the firer told; no later call hangs.
func TestPanicFailStops(t *testing.T) {
	type where int
	const (
		inEnter where = iota
		inExit
		inAction
		inObserver
		inDispose
	)
	tests := []struct {
		name      string
		where     where
		post      bool // fire with Post: the step runs on another goroutine
		wantWhere string
		wantExits []string // exit hooks run by the stop
	}{
		{"enter hook", inEnter, false, "enter hook of B", []string{"exit B"}},
		{"exit hook", inExit, false, "exit hook of A", nil},
		{"action", inAction, false, "action of A × Go", nil},
		// The observer hears of a step before B is entered: B's enter hooks
		// never ran, so neither do its exit hooks.
		{"observer", inObserver, false, "observer", nil},
		{"dispose", inDispose, false, "Dispose of a payload", []string{"exit A"}},
		{"enter hook, posted", inEnter, true, "enter hook of B", []string{"exit B"}},
		{"observer, posted", inObserver, true, "observer", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				exits []string
			)
			boom := func(where where) {
				if tt.where == where {
					panic("boom")
				}
			}
			var taskStopped atomic.Bool
			b := stdBuilder().
				OnEnter(B, func(context.Context, trans) { boom(inEnter) }).
				OnExit(A, func(context.Context, trans) {
					mu.Lock()
					exits = append(exits, "exit A")
					mu.Unlock()
					boom(inExit)
				}).
				OnExit(B, func(context.Context, trans) {
					mu.Lock()
					exits = append(exits, "exit B")
					mu.Unlock()
				}).
				Action(A, Go, func(context.Context, trans) { boom(inAction) }).
				Task(A, "worker", func(ctx context.Context, _ fsm.Transition[state, event], _ fsm.Emit[event]) error {
					<-ctx.Done()
					taskStopped.Store(true)
					return nil
				})
			def, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			var observed atomic.Int32
			m := def.Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) {
				observed.Add(1)
				if r.Kind == fsm.RecordTransition {
					boom(inObserver)
				}
			}})
			ev, payload := Go, any(nil)
			if tt.where == inDispose {
				ev, payload = Back, panicky{} // rejected in A: the payload is disposed
			}
			var fireErr error
			if tt.post {
				fireErr = m.Post(ev, payload)
			} else {
				fireErr = m.FireWith(context.Background(), ev, payload)
			}
			select {
			case <-m.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the machine is wedged: Done not closed")
			}
			var pe *fsm.PanicError
			if !errors.As(m.Err(), &pe) || pe.Where != tt.wantWhere || pe.Value != "boom" || !errors.Is(m.Err(), fsm.ErrPanicked) {
				t.Fatalf("Err() = %v, want a *PanicError in %s", m.Err(), tt.wantWhere)
			}
			if !strings.Contains(string(pe.Stack), "boom") && len(pe.Stack) == 0 {
				t.Error("the panic's stack is empty")
			}
			if tt.post {
				if fireErr != nil {
					t.Errorf("Post = %v, want nil", fireErr)
				}
			} else if !errors.Is(fireErr, fsm.ErrPanicked) {
				t.Errorf("FireWith = %v, want the *PanicError", fireErr)
			}
			if !taskStopped.Load() {
				t.Error("A's task was not joined")
			}
			mu.Lock()
			got := append([]string(nil), exits...)
			mu.Unlock()
			want := tt.wantExits
			if tt.where == inExit || tt.where == inAction {
				want = []string{"exit A"} // run once, by the step; the stop does not run it again
			}
			if tt.where == inEnter || tt.where == inObserver {
				want = append([]string{"exit A"}, want...)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("exit hooks (-want +got):\n%s", diff)
			}
			if err := m.Fire(context.Background(), Go); !errors.Is(err, fsm.ErrStopped) {
				t.Errorf("Fire after the fail-stop = %v, want ErrStopped", err)
			}
			if err := m.Stop(context.Background()); err != nil {
				t.Errorf("Stop after the fail-stop = %v", err)
			}
			if tt.where == inObserver {
				n := observed.Load()
				_ = m.Post(Back, nil)
				if observed.Load() != n {
					t.Error("the observer was called again after it panicked")
				}
			}
		})
	}
}

type panicky struct{}

func (panicky) Dispose() { panic("boom") }

// TestPanicInStopCompletes: a panic in an exit hook run by Stop is kept as
// the machine's error and the stop completes.
func TestPanicInStopCompletes(t *testing.T) {
	var later atomic.Bool
	def, err := stdBuilder().
		OnExit(A, func(context.Context, trans) { panic("in stop") }).
		OnExit(A, func(context.Context, trans) { later.Store(true) }). // runs first: reverse order
		Build()
	if err != nil {
		t.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[state, event]{})
	if err := m.Stop(context.Background()); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	var pe *fsm.PanicError
	if !errors.As(m.Err(), &pe) || pe.Where != "exit hook of A" {
		t.Errorf("Err() = %v, want the exit hook's panic", m.Err())
	}
	if !later.Load() {
		t.Error("an exit hook was skipped")
	}
}

// TestPanicInStart: a panic in the initial state's enter hook fail-stops
// the machine before Start returns.
func TestPanicInStart(t *testing.T) {
	def, err := stdBuilder().
		OnEnter(A, func(context.Context, trans) { panic("at start") }).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[state, event]{})
	select {
	case <-m.Done():
	default:
		t.Fatal("the machine runs after its start panicked")
	}
	if !errors.Is(m.Err(), fsm.ErrPanicked) {
		t.Errorf("Err() = %v", m.Err())
	}
}

// TestFireWithUnderContention: a firer that ends up processing its own
// event gets that event's outcome. Under contention, a rejected event
// processed on the firer's goroutine used to return nil, which is neither
// of FireWith's documented results; the interleaving is rare, so
// TestFireWithOwnOutcomeBehindQueue pins it down deterministically.
func TestFireWithUnderContention(t *testing.T) {
	def, err := stdBuilder().Build()
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, fires = 8, 2000
	var processedBy sync.Map // tag → goroutine id of the processor
	m := def.Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) {
		if r.Kind == fsm.RecordRejected {
			processedBy.Store(r.Payload.(tag), goid())
		}
	}})
	defer m.Stop(context.Background())
	var wg sync.WaitGroup
	var bad, own, queued atomic.Int64
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := goid()
			for i := range fires {
				tg := tag{g, i}
				if i%2 == 0 {
					runtime.Gosched() // interleave the firers
				}
				err := m.FireWith(context.Background(), Back, tg) // rejected in A
				by, ok := processedBy.Load(tg)
				switch {
				case errors.Is(err, fsm.ErrRejected):
					own.Add(1)
					if !ok || by != me {
						bad.Add(1) // the outcome of an event someone else processed
					}
				case err == nil:
					queued.Add(1)
					if ok && by == me {
						bad.Add(1) // processed here, yet nil
					}
				default:
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Errorf("%d of %d fires returned an outcome that was not theirs (%d rejected, %d queued)", n, goroutines*fires, own.Load(), queued.Load())
	}
	if own.Load() == 0 {
		t.Error("no fire processed its own event: the test exercised nothing")
	}
}

// goid returns the calling goroutine's id, from its stack header.
func goid() int64 {
	var buf [64]byte
	s := strings.TrimPrefix(string(buf[:runtime.Stack(buf[:], false)]), "goroutine ")
	id, _ := strconv.ParseInt(s[:strings.IndexByte(s, ' ')], 10, 64)
	return id
}

func stdBuilder() *builder {
	return fsm.NewBuilder[state, event](A).States(A, B).Events(Go, Back, X, Fail).Rules(stdRules()...)
}

// TestDisposePanicReachesTheCaller: a payload refused by FireWith or Post
// (its event unknown, or the machine stopped) is disposed on the caller's
// goroutine before the call returns, outside any step: a panic in its
// Dispose reaches the caller, as a Dispose it called itself would, and a
// running machine goes on.
func TestDisposePanicReachesTheCaller(t *testing.T) {
	def, err := stdBuilder().Build()
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	tests := []struct {
		name    string
		stopped bool
		fire    func(m *machine) error
	}{
		{"FireWith, unknown event", false, func(m *machine) error { return m.FireWith(bg, event(99), panicky{}) }},
		{"Post, unknown event", false, func(m *machine) error { return m.Post(event(99), panicky{}) }},
		{"FireWith, stopped", true, func(m *machine) error { return m.FireWith(bg, Go, panicky{}) }},
		{"Post, stopped", true, func(m *machine) error { return m.Post(Go, panicky{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := def.Start(bg, fsm.Config[state, event]{})
			defer m.Stop(bg)
			if tt.stopped {
				if err := m.Stop(bg); err != nil {
					t.Fatal(err)
				}
			}
			got := func() (r any) {
				defer func() { r = recover() }()
				_ = tt.fire(m)
				return nil
			}()
			if got != "boom" {
				t.Errorf("the caller recovered %v, want Dispose's panic", got)
			}
			if m.Err() != nil {
				t.Errorf("Err() = %v, want nil: no step panicked", m.Err())
			}
			if !tt.stopped {
				if err := m.Fire(bg, Go); err != nil || m.State() != B {
					t.Errorf("Fire(Go) after = %v in %v, want the machine running", err, m.State())
				}
			}
		})
	}
}
