package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/tasks"
)

// row is a Result in comparable form.
type row struct {
	Name      string
	Err       string
	Failed    bool
	Straggler bool
}

func rows(r tasks.Report) []row {
	var out []row
	for _, t := range r.Tasks {
		x := row{Name: t.Name, Failed: t.Failed, Straggler: t.Straggler}
		if t.Err != nil {
			x.Err = t.Err.Error()
		}
		out = append(out, x)
	}
	return out
}

// waitCtx is a well-behaved task: it returns when its context ends and
// hands the cause to got.
func waitCtx(got chan<- error) tasks.Func {
	return func(ctx context.Context) error {
		<-ctx.Done()
		if got != nil {
			got <- context.Cause(ctx)
		}
		return ctx.Err()
	}
}

func TestStopCancelsAndJoins(t *testing.T) {
	errExit := errors.New("state exited")
	tests := []struct {
		name      string
		cause     error
		wantCause error
	}{
		{"with cause", errExit, errExit},
		{"nil cause", nil, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tasks.New(context.Background(), nil)
			causes := make(chan error, 2)
			var returned atomic.Int32
			for _, name := range []string{"reader", "writer"} {
				if err := g.Go(name, func(ctx context.Context) error {
					defer returned.Add(1)
					return waitCtx(causes)(ctx)
				}); err != nil {
					t.Fatalf("Go(%q) = %v", name, err)
				}
			}
			r := g.Stop(tt.cause, 0)
			if n := returned.Load(); n != 2 {
				t.Errorf("Stop returned with %d of 2 tasks returned", n)
			}
			for range 2 {
				if got := <-causes; got != tt.wantCause {
					t.Errorf("context.Cause = %v, want %v", got, tt.wantCause)
				}
			}
			want := []row{{Name: "reader", Err: "context canceled"}, {Name: "writer", Err: "context canceled"}}
			if diff := cmp.Diff(want, rows(r)); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if r.Stragglers() != nil || r.Failures() != nil {
				t.Errorf("Stragglers() = %v, Failures() = %v, want none", r.Stragglers(), r.Failures())
			}
			select {
			case <-g.Done():
			default:
				t.Error("Done not closed after a complete Stop")
			}
		})
	}
}

func TestStopStraggler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := tasks.New(context.Background(), nil)
		start := time.Now()
		var finished atomic.Bool
		g.Go("polite", waitCtx(nil))
		g.Go("stubborn", func(ctx context.Context) error {
			time.Sleep(time.Minute) // ignores ctx
			finished.Store(true)
			return nil
		})
		r := g.Stop(errors.New("bye"), time.Second)
		if got := time.Since(start); got != time.Second {
			t.Errorf("Stop took %v, want the 1s deadline", got)
		}
		if r.Took != time.Second {
			t.Errorf("Report.Took = %v, want 1s", r.Took)
		}
		if diff := cmp.Diff([]string{"stubborn"}, r.Stragglers()); diff != "" {
			t.Errorf("Stragglers (-want +got):\n%s", diff)
		}
		want := []row{{Name: "polite", Err: "context canceled"}, {Name: "stubborn", Straggler: true}}
		if diff := cmp.Diff(want, rows(r)); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
		select {
		case <-g.Done():
			t.Fatal("Done closed while a straggler still runs")
		default:
		}
		<-g.Done()
		if !finished.Load() || time.Since(start) != time.Minute {
			t.Errorf("Done closed at %v (finished=%v), want when the straggler returned at 1m", time.Since(start), finished.Load())
		}
		// A later Stop reports the state at that time.
		want[1] = row{Name: "stubborn"}
		if diff := cmp.Diff(want, rows(g.Stop(nil, time.Second))); diff != "" {
			t.Errorf("second report (-want +got):\n%s", diff)
		}
	})
}

func TestFirstFailureCancelsSiblings(t *testing.T) {
	errBoom := errors.New("boom")
	errSentinel := errors.New("sentinel")
	tests := []struct {
		name    string
		fail    tasks.Func
		wantErr string
		check   func(t *testing.T, err error)
	}{
		{
			name:    "error",
			fail:    func(context.Context) error { return errBoom },
			wantErr: "boom",
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errBoom) {
					t.Errorf("errors.Is(%v, errBoom) = false", err)
				}
			},
		},
		{
			name:    "panic",
			fail:    func(context.Context) error { panic("kaboom") },
			wantErr: `tasks: task "bad" panicked: kaboom`,
			check: func(t *testing.T, err error) {
				var pe *tasks.PanicError
				if !errors.As(err, &pe) {
					t.Fatalf("errors.As(%v, *PanicError) = false", err)
				}
				if pe.Task != "bad" || pe.Value != "kaboom" {
					t.Errorf("PanicError = {Task: %q, Value: %v}, want bad, kaboom", pe.Task, pe.Value)
				}
				if !strings.Contains(string(pe.Stack), "tasks_test.TestFirstFailureCancelsSiblings") {
					t.Errorf("stack does not show the panicking function:\n%s", pe.Stack)
				}
			},
		},
		{
			name:    "panic with an error",
			fail:    func(context.Context) error { panic(fmt.Errorf("wrapped: %w", errSentinel)) },
			wantErr: `tasks: task "bad" panicked: wrapped: sentinel`,
			check: func(t *testing.T, err error) {
				var pe *tasks.PanicError
				if !errors.As(err, &pe) || !errors.Is(err, errSentinel) {
					t.Errorf("%v: want a *PanicError matching the panicked error", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type failure struct {
				name string
				err  error
			}
			var mu sync.Mutex
			var fails []failure
			var g *tasks.Group
			var siblingDone bool
			g = tasks.New(context.Background(), func(name string, err error) {
				mu.Lock()
				defer mu.Unlock()
				// Called after the siblings' context has been cancelled.
				siblingDone = g.Context().Err() != nil
				fails = append(fails, failure{name, err})
			})
			causes := make(chan error, 2)
			release := make(chan struct{})
			g.Go("sibling", waitCtx(causes))
			g.Go("bad", func(ctx context.Context) error {
				<-release
				return tt.fail(ctx)
			})
			g.Go("late", func(ctx context.Context) error {
				<-ctx.Done()
				causes <- context.Cause(ctx)
				return errors.New("late failure") // an answer to the cancellation
			})
			close(release)
			for range 2 {
				cause := <-causes
				var te *tasks.TaskError
				if !errors.As(cause, &te) || te.Task != "bad" {
					t.Fatalf("sibling cause = %v, want a *TaskError for bad", cause)
				}
				tt.check(t, cause)
			}
			r := g.Stop(errors.New("stop"), 0)
			mu.Lock()
			if len(fails) != 1 || fails[0].name != "bad" {
				t.Fatalf("onFail calls = %v, want one for bad", fails)
			}
			if !siblingDone {
				t.Error("onFail ran before the siblings' context was cancelled")
			}
			tt.check(t, fails[0].err)
			mu.Unlock()
			want := []row{
				{Name: "sibling", Err: "context canceled"},
				{Name: "bad", Err: tt.wantErr, Failed: true},
				{Name: "late", Err: "late failure"},
			}
			if diff := cmp.Diff(want, rows(r)); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want[1:2], rows(tasks.Report{Tasks: r.Failures()})); diff != "" {
				t.Errorf("Failures (-want +got):\n%s", diff)
			}
			tt.check(t, r.Failures()[0].Err)
		})
	}
}

func TestOnlyFirstFailurePassedToOnFail(t *testing.T) {
	var calls atomic.Int32
	var first atomic.Value
	g := tasks.New(context.Background(), func(name string, err error) {
		calls.Add(1)
		first.Store(name)
	})
	start := make(chan struct{})
	for _, name := range []string{"a", "b", "c", "d"} {
		g.Go(name, func(context.Context) error {
			<-start
			return errors.New(name + " failed")
		})
	}
	close(start)
	g.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("onFail called %d times, want 1", n)
	}
	var te *tasks.TaskError
	if !errors.As(context.Cause(g.Context()), &te) || te.Task != first.Load() {
		t.Errorf("cause = %v, want the TaskError of %v, the task passed to onFail", context.Cause(g.Context()), first.Load())
	}
	if errors.Unwrap(te).Error() != te.Task+" failed" {
		t.Errorf("TaskError.Unwrap = %v, want the task's own error", errors.Unwrap(te))
	}
}

func TestGoAfterStop(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  func(*tasks.Group)
	}{
		{"after Stop", func(g *tasks.Group) { g.Stop(nil, 0) }},
		{"after Wait", func(g *tasks.Group) { g.Wait() }},
		{"after Halt", func(g *tasks.Group) { g.Halt(new(tasks.Joiner), nil, 0) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := tasks.New(context.Background(), nil)
			tt.end(g)
			var ran atomic.Bool
			err := g.Go("late", func(context.Context) error { ran.Store(true); return nil })
			if !errors.Is(err, tasks.ErrStopped) || !strings.Contains(err.Error(), `"late"`) {
				t.Errorf("Go = %v, want ErrStopped naming the task", err)
			}
			var c counted
			if err := g.GoTask("late value", &c); !errors.Is(err, tasks.ErrStopped) {
				t.Errorf("GoTask = %v, want ErrStopped", err)
			}
			if r := g.Wait(); len(r.Tasks) != 0 || ran.Load() || c.runs.Load() != 0 {
				t.Errorf("rejected task ran or was recorded: ran=%v, %d runs, report=%v", ran.Load(), c.runs.Load(), r.Tasks)
			}
		})
	}
}

func TestWaitDoesNotCancel(t *testing.T) {
	g := tasks.New(context.Background(), nil)
	release := make(chan struct{})
	g.Go("worker", func(ctx context.Context) error {
		<-release
		return ctx.Err() // nil: Wait must not cancel
	})
	select {
	case <-g.Done():
		t.Fatal("Done closed before Stop or Wait")
	default:
	}
	go close(release)
	r := g.Wait()
	if diff := cmp.Diff([]row{{Name: "worker"}}, rows(r)); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	<-g.Done()
}

func TestCancelAndParent(t *testing.T) {
	t.Run("first cause wins", func(t *testing.T) {
		g := tasks.New(context.Background(), nil)
		first, second := errors.New("first"), errors.New("second")
		g.Cancel(first)
		g.Cancel(second)
		g.Stop(errors.New("third"), 0)
		if got := context.Cause(g.Context()); got != first {
			t.Errorf("cause = %v, want first", got)
		}
	})
	t.Run("parent cancellation reaches tasks", func(t *testing.T) {
		parent, cancel := context.WithCancelCause(context.Background())
		causes := make(chan error, 1)
		var fails atomic.Int32
		g := tasks.New(parent, func(string, error) { fails.Add(1) })
		g.Go("t", waitCtx(causes))
		errParent := errors.New("parent gone")
		cancel(errParent)
		if got := <-causes; got != errParent {
			t.Errorf("cause = %v, want the parent's", got)
		}
		r := g.Wait()
		if r.Failures() != nil || fails.Load() != 0 {
			t.Errorf("a task answering its cancellation counted as failed: %v", r.Failures())
		}
	})
}

func TestNoTasks(t *testing.T) {
	g := tasks.New(context.Background(), nil)
	r := g.Stop(nil, time.Second)
	if len(r.Tasks) != 0 || r.Stragglers() != nil || r.Failures() != nil {
		t.Errorf("empty group report = %+v", r)
	}
	<-g.Done()
}

func TestGoNilFunc(t *testing.T) {
	g := tasks.New(context.Background(), nil)
	err := g.Go("empty", nil)
	if err == nil || err.Error() != `tasks: Go("empty"): nil func` {
		t.Errorf("Go with a nil func = %v, want an error naming the task", err)
	}
	if r := g.Stop(nil, 0); len(r.Tasks) != 0 {
		t.Errorf("a nil func was recorded as a task: %v", r.Tasks)
	}
}

// TestGoexitIsAFailure: a task that ends with runtime.Goexit neither
// returned nor panicked; it must fail like one that did, cancelling its
// siblings, not pass for a clean return.
func TestGoexitIsAFailure(t *testing.T) {
	var failed atomic.Value
	g := tasks.New(context.Background(), func(name string, err error) { failed.Store(name) })
	sibling := make(chan error, 1)
	g.Go("sibling", func(ctx context.Context) error {
		<-ctx.Done()
		sibling <- context.Cause(ctx)
		return nil
	})
	g.Go("quitter", func(context.Context) error {
		runtime.Goexit()
		return nil
	})
	r := g.Wait()
	if got := failed.Load(); got != "quitter" {
		t.Errorf("onFail got %v, want quitter", got)
	}
	if err := <-sibling; !errors.Is(err, tasks.ErrGoexit) {
		t.Errorf("sibling's cause = %v, want one matching ErrGoexit", err)
	}
	got := r.Tasks[1]
	if !got.Failed || !errors.Is(got.Err, tasks.ErrGoexit) || !strings.Contains(got.Err.Error(), `"quitter"`) {
		t.Errorf("quitter's result = %+v, want a failure matching ErrGoexit naming it", got)
	}
}

// owner records the failures NewOwned passes it.
type owner struct {
	mu    sync.Mutex
	names []string
}

func (o *owner) TaskFailed(name string, _ error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.names = append(o.names, name)
}

// counted is a task given as a value: it waits for its context and counts
// its runs.
type counted struct{ runs atomic.Int32 }

func (c *counted) Run(ctx context.Context) error {
	c.runs.Add(1)
	<-ctx.Done()
	return nil
}

// TestOwnedGroupWithTaskValues: NewOwned passes the first failure to its
// owner as New's onFail would, and GoTask runs a Task value as Go runs a
// Func; a nil Task starts nothing.
func TestOwnedGroupWithTaskValues(t *testing.T) {
	o := new(owner)
	g := tasks.NewOwned(context.Background(), o)
	var c counted
	if err := g.GoTask("counted", &c); err != nil {
		t.Fatal(err)
	}
	if err := g.GoTask("nil", nil); err == nil || !strings.Contains(err.Error(), `"nil"`) {
		t.Errorf("GoTask with a nil task = %v, want an error naming it", err)
	}
	if err := g.GoTask("nil func", tasks.Func(nil)); err == nil || !strings.Contains(err.Error(), `"nil func"`) {
		t.Errorf("GoTask with a nil Func = %v, want an error naming it", err)
	}
	g.Go("fails", func(context.Context) error { return errors.New("boom") })
	g.Go("fails too", func(ctx context.Context) error { <-ctx.Done(); return errors.New("late") })
	r := g.Wait()
	if diff := cmp.Diff([]string{"fails"}, o.names); diff != "" {
		t.Errorf("failures passed to the owner (-want +got):\n%s", diff)
	}
	want := []row{{Name: "counted"}, {Name: "fails", Err: "boom", Failed: true}, {Name: "fails too", Err: "late"}}
	if diff := cmp.Diff(want, rows(r)); diff != "" || c.runs.Load() != 1 {
		t.Errorf("report (-want +got):\n%s (runs %d)", diff, c.runs.Load())
	}
}

// TestHaltWithJoiner: Halt with one Joiner, group after group, waits for
// each group's tasks, returns how many still run at its timeout, and the
// Report it leaves for later says which; a deadline armed for an earlier
// join neither cuts a later one short nor leaves it waiting past its own.
func TestHaltWithJoiner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j tasks.Joiner
		type result struct {
			Left  int
			Took  time.Duration // measured around Halt; the Report's Took is the same
			Tasks []row
		}
		halt := func(stubborn time.Duration, timeout time.Duration) result {
			g := tasks.New(context.Background(), nil)
			g.Go("polite", waitCtx(nil))
			if stubborn > 0 {
				g.Go("stubborn", func(context.Context) error { time.Sleep(stubborn); return nil })
			}
			start := time.Now()
			left := g.Halt(&j, nil, timeout)
			took := time.Since(start)
			r := g.Report()
			if r.Took != took {
				t.Errorf("Report.Took = %v, want the %v Halt waited", r.Took, took)
			}
			return result{Left: left, Took: took, Tasks: rows(r)}
		}
		polite := row{Name: "polite", Err: "context canceled"}
		steps := []struct {
			name              string
			stubborn, timeout time.Duration
			want              result
		}{
			{"all return", 0, 5 * time.Second, result{Tasks: []row{polite}}},
			// The timer is still armed for the first join's 5s: it fires
			// early for this one, and is armed again for its deadline.
			{"a later deadline than the timer's", time.Minute, 10 * time.Second,
				result{Left: 1, Took: 10 * time.Second, Tasks: []row{polite, {Name: "stubborn", Straggler: true}}}},
			{"all return, again", 0, time.Second, result{Tasks: []row{polite}}},
			{"one straggles", time.Minute, time.Second,
				result{Left: 1, Took: time.Second, Tasks: []row{polite, {Name: "stubborn", Straggler: true}}}},
			{"a longer timeout after a short one", 3 * time.Second, 5 * time.Second,
				result{Took: 3 * time.Second, Tasks: []row{polite, {Name: "stubborn"}}}},
			{"a shorter timeout after a long one", time.Minute, 500 * time.Millisecond,
				result{Left: 1, Took: 500 * time.Millisecond, Tasks: []row{polite, {Name: "stubborn", Straggler: true}}}},
			{"no timeout", 2 * time.Second, 0, result{Took: 2 * time.Second, Tasks: []row{polite, {Name: "stubborn"}}}},
		}
		for _, s := range steps {
			if diff := cmp.Diff(s.want, halt(s.stubborn, s.timeout)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", s.name, diff)
			}
		}
		time.Sleep(time.Minute) // the stragglers return
	})
}

// TestStopAgain: every Stop reports its own wait, the Report the first
// join's; Done is closed once the straggler returns; a Wait beside a
// Halt under way waits for the straggler while the Halt returns at its
// timeout.
func TestStopAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type took struct{ First, Second, Beside, Report time.Duration }
		var got took
		g := tasks.New(context.Background(), nil)
		g.Go("stubborn", func(context.Context) error { time.Sleep(3 * time.Second); return nil })
		start := time.Now()
		beside := make(chan time.Duration)
		go func() {
			time.Sleep(500 * time.Millisecond) // the Halt waits already
			g.Wait()
			beside <- time.Since(start)
		}()
		if left := g.Halt(new(tasks.Joiner), nil, time.Second); left != 1 {
			t.Errorf("Halt left %d tasks running, want 1", left)
		}
		got.First = time.Since(start)
		select {
		case <-g.Done():
			t.Error("Done closed while a task runs")
		default:
		}
		r := g.Stop(nil, 5*time.Second)
		got.Second, got.Report = r.Took, g.Report().Took
		got.Beside = <-beside
		<-g.Done()
		want := took{First: time.Second, Second: 2 * time.Second, Beside: 3 * time.Second, Report: time.Second}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]row{{Name: "stubborn"}}, rows(r)); diff != "" {
			t.Errorf("second Stop's report (-want +got):\n%s", diff)
		}
	})
}
