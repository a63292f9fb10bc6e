package bench

import (
	"context"
	"errors"
	"flag"
	"sync/atomic"
	"testing"

	"github.com/connfsm/connfsm/fsm"
	"github.com/google/go-cmp/cmp"
	looplab "github.com/looplab/fsm"
	"github.com/qmuntal/stateless"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"
)

// TestMain: unless -parallel is given, the five floods of
// TestSlowConsumerFlood (the package's parallel tests) run at once.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "5")
	}
	goleak.VerifyTestMain(m)
}

// The toggle: two states, one event that flips between them. Every peer is
// given exactly this definition; connfsm uses typed integer enums, looplab
// strings (its only option) and stateless the same enums as any.
type state int

const (
	Off state = iota
	On
)

func (s state) String() string { return [...]string{"Off", "On"}[s] }

type event int

const Toggle event = 0

func (e event) String() string { return "Toggle" }

// hooks counts hook calls; a nil *hooks means the peer gets no hooks.
type hooks struct{ Enter, Exit int }

func newConnfsm(tb testing.TB, h *hooks) *fsm.Machine[state, event] {
	tb.Helper()
	b := fsm.NewBuilder[state, event](Off).States(Off, On).Events(Toggle).Rules(
		fsm.Rule[state, event]{From: Off, On: Toggle, Then: fsm.To(On)},
		fsm.Rule[state, event]{From: On, On: Toggle, Then: fsm.To(Off)},
	)
	if h != nil {
		enter := func(context.Context, fsm.Transition[state, event]) { h.Enter++ }
		exit := func(context.Context, fsm.Transition[state, event]) { h.Exit++ }
		b.OnEnter(Off, enter).OnExit(Off, exit).OnEnter(On, enter).OnExit(On, exit)
	}
	return start(tb, b)
}

func start(tb testing.TB, b *fsm.Builder[state, event]) *fsm.Machine[state, event] {
	tb.Helper()
	def, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[state, event]{})
	tb.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return m
}

func newLooplab(h *hooks) *looplab.FSM {
	var cb looplab.Callbacks
	if h != nil {
		enter := func(context.Context, *looplab.Event) { h.Enter++ }
		exit := func(context.Context, *looplab.Event) { h.Exit++ }
		cb = looplab.Callbacks{"enter_off": enter, "leave_off": exit, "enter_on": enter, "leave_on": exit}
	}
	return looplab.NewFSM("off", looplab.Events{
		{Name: "toggle", Src: []string{"off"}, Dst: "on"},
		{Name: "toggle", Src: []string{"on"}, Dst: "off"},
	}, cb)
}

func newStateless(h *hooks) *stateless.StateMachine {
	sm := stateless.NewStateMachineWithMode(Off, stateless.FiringImmediate)
	off := sm.Configure(Off).Permit(Toggle, On)
	on := sm.Configure(On).Permit(Toggle, Off)
	if h != nil {
		enter := func(context.Context, ...any) error { h.Enter++; return nil }
		exit := func(context.Context, ...any) error { h.Exit++; return nil }
		off.OnEntry(enter).OnExit(exit)
		on.OnEntry(enter).OnExit(exit)
	}
	return sm
}

// peer is one library's toggle as the tests drive it.
type peer struct {
	name string
	new  func(testing.TB, *hooks) (toggle func() error, current func() state)
}

var peers = []peer{
	{name: "connfsm", new: func(tb testing.TB, h *hooks) (func() error, func() state) {
		m := newConnfsm(tb, h)
		ctx := context.Background()
		return func() error { return m.Fire(ctx, Toggle) }, m.State
	}},
	{name: "looplab", new: func(_ testing.TB, h *hooks) (func() error, func() state) {
		f := newLooplab(h)
		ctx := context.Background()
		return func() error { return f.Event(ctx, "toggle") },
			func() state { return map[string]state{"off": Off, "on": On}[f.Current()] }
	}},
	{name: "stateless", new: func(_ testing.TB, h *hooks) (func() error, func() state) {
		sm := newStateless(h)
		return func() error { return sm.Fire(Toggle) }, func() state { return sm.MustState().(state) }
	}},
}

// trace is what a peer did over a few toggles: the state it started in, the
// state after each toggle, and the hooks the toggles ran.
type trace struct {
	States []state
	Hooks  hooks
}

// TestToggle checks that every peer's toggle, with and without hooks, does
// what the benchmarks assume: each event flips the state and, with hooks,
// runs exactly one exit and one enter hook.
func TestToggle(t *testing.T) {
	type row struct {
		name   string
		peer   peer
		hooked bool
		want   trace
	}
	var rows []row
	for _, p := range peers {
		rows = append(rows,
			row{name: p.name, peer: p, want: trace{States: []state{Off, On, Off, On}}},
			row{name: p.name + "/hooks", peer: p, hooked: true,
				want: trace{States: []state{Off, On, Off, On}, Hooks: hooks{Enter: 3, Exit: 3}}},
		)
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			var h *hooks
			if r.hooked {
				h = &hooks{}
			}
			toggle, current := r.peer.new(t, h)
			// connfsm runs the initial state's enter hooks when it starts;
			// only the toggles' hooks are counted.
			var before hooks
			if h != nil {
				before = *h
			}
			got := trace{States: []state{current()}}
			for range len(r.want.States) - 1 {
				if err := toggle(); err != nil {
					t.Fatalf("toggle %d: %v", len(got.States), err)
				}
				got.States = append(got.States, current())
			}
			if h != nil {
				got.Hooks = hooks{Enter: h.Enter - before.Enter, Exit: h.Exit - before.Exit}
			}
			if diff := cmp.Diff(r.want, got); diff != "" {
				t.Errorf("%s toggles (-want +got):\n%s", r.name, diff)
			}
		})
	}
}

// newTasked returns a toggle whose states each run two tasks that block
// until their state is left; done counts the tasks that returned because
// their state exited.
func newTasked(tb testing.TB, done *atomic.Int64) *fsm.Machine[state, event] {
	task := func(ctx context.Context, _ fsm.Transition[state, event], _ fsm.Emit[event]) error {
		<-ctx.Done()
		if errors.Is(context.Cause(ctx), fsm.ErrStateExited) {
			done.Add(1)
		}
		return nil
	}
	return start(tb, fsm.NewBuilder[state, event](Off).States(Off, On).Events(Toggle).Rules(
		fsm.Rule[state, event]{From: Off, On: Toggle, Then: fsm.To(On)},
		fsm.Rule[state, event]{From: On, On: Toggle, Then: fsm.To(Off)},
	).Task(Off, "a", task).Task(Off, "b", task).Task(On, "a", task).Task(On, "b", task))
}

// handTasked is the cycle of newTasked written by hand with errgroup: each
// toggle cancels the two goroutines of the state left, waits for them,
// and starts two in a new context. It is the floor a state machine that
// joins its tasks is measured against.
type handTasked struct {
	cancel context.CancelFunc
	g      *errgroup.Group
	done   *atomic.Int64
}

func newHandTasked(done *atomic.Int64) *handTasked {
	h := &handTasked{done: done}
	h.enter()
	return h
}

// enter starts the two tasks of a state.
func (h *handTasked) enter() {
	ctx, cancel := context.WithCancel(context.Background())
	g := new(errgroup.Group)
	for range 2 {
		g.Go(func() error {
			<-ctx.Done()
			if errors.Is(context.Cause(ctx), context.Canceled) { // as newTasked's tasks check why
				h.done.Add(1)
			}
			return nil
		})
	}
	h.cancel, h.g = cancel, g
}

// toggle leaves the state (cancel, Wait) and enters the other.
func (h *handTasked) toggle() error {
	h.cancel()
	if err := h.g.Wait(); err != nil {
		return err
	}
	h.enter()
	return nil
}

func (h *handTasked) close() {
	h.cancel()
	_ = h.g.Wait()
}

// TestTransitionWithTasks checks what BenchmarkTransitionWithTasks measures,
// on both sides: a toggle returns only after the two tasks of the state
// left have been joined.
func TestTransitionWithTasks(t *testing.T) {
	ctx := context.Background()
	var done atomic.Int64
	peers := []struct {
		name   string
		toggle func() error
	}{
		{"connfsm", func() func() error {
			m := newTasked(t, &done)
			return func() error { return m.Fire(ctx, Toggle) }
		}()},
		{"errgroup", func() func() error {
			h := newHandTasked(&done)
			t.Cleanup(h.close)
			return h.toggle
		}()},
	}
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			done.Store(0)
			var got []int64
			for i := range 4 {
				if err := p.toggle(); err != nil {
					t.Fatalf("toggle %d: %v", i+1, err)
				}
				got = append(got, done.Load())
			}
			if diff := cmp.Diff([]int64{2, 4, 6, 8}, got); diff != "" {
				t.Errorf("tasks joined after each toggle (-want +got):\n%s", diff)
			}
		})
	}
}

func BenchmarkToggle(b *testing.B) {
	b.Run("connfsm", func(b *testing.B) { benchConnfsm(b, nil) })
	b.Run("connfsm+metrics", func(b *testing.B) {
		m := newConnfsmMetrics(b)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Fire(ctx, Toggle); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("looplab", func(b *testing.B) { benchLooplab(b, nil) })
	b.Run("stateless", func(b *testing.B) { benchStateless(b, nil) })
}

// BenchmarkToggleWithHooks gives each state an enter and an exit hook.
func BenchmarkToggleWithHooks(b *testing.B) {
	b.Run("connfsm", func(b *testing.B) { benchConnfsm(b, &hooks{}) })
	b.Run("looplab", func(b *testing.B) { benchLooplab(b, &hooks{}) })
	b.Run("stateless", func(b *testing.B) { benchStateless(b, &hooks{}) })
}

// BenchmarkTransitionWithTasks measures one transition between states that
// each run two tasks: cancel and join the two tasks of the state left, then
// enter the other state and start its two tasks. ns/op is per transition.
// errgroup is the same cycle by hand (a context, two goroutines, cancel,
// Wait), without a state machine.
func BenchmarkTransitionWithTasks(b *testing.B) {
	b.Run("connfsm", func(b *testing.B) {
		var done atomic.Int64
		m := newTasked(b, &done)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Fire(ctx, Toggle); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("errgroup", func(b *testing.B) {
		var done atomic.Int64
		h := newHandTasked(&done)
		defer h.close()
		b.ReportAllocs()
		for b.Loop() {
			if err := h.toggle(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchConnfsm(b *testing.B, h *hooks) {
	m := newConnfsm(b, h)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Fire(ctx, Toggle); err != nil {
			b.Fatal(err)
		}
	}
}

func benchLooplab(b *testing.B, h *hooks) {
	f := newLooplab(h)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Event(ctx, "toggle"); err != nil {
			b.Fatal(err)
		}
	}
}

func benchStateless(b *testing.B, h *hooks) {
	sm := newStateless(h)
	b.ReportAllocs()
	for b.Loop() {
		if err := sm.Fire(Toggle); err != nil {
			b.Fatal(err)
		}
	}
}
