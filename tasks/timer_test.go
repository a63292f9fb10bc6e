package tasks_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/tasks"
)

// stepper is a Stepper from a func.
type stepper func(ctx context.Context, t *tasks.Timer) error

func (f stepper) Step(ctx context.Context, t *tasks.Timer) error { return f(ctx, t) }

// stepLog records when each step ran (time since the start of the bubble)
// and whether its context was done.
type stepLog struct {
	mu    sync.Mutex
	start time.Time
	steps []string
}

func (l *stepLog) add(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := time.Since(l.start).String()
	if ctx.Err() != nil {
		s += " done"
	}
	l.steps = append(l.steps, s)
}

func (l *stepLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.steps...)
}

// TestTimerSteps: a timer task is stepped at its start and each time the
// timer it re-arms fires; between steps it holds no goroutine; a step that
// does not re-arm ends it, and the group's join sees it returned.
func TestTimerSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &stepLog{start: time.Now()}
		g := tasks.New(context.Background(), nil)
		n := 0
		_, err := g.GoTimer("beat", stepper(func(ctx context.Context, tm *tasks.Timer) error {
			log.add(ctx)
			if n++; n < 3 {
				tm.Reset(time.Second)
			}
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if stepping() {
			t.Error("a goroutine runs the task while its timer is armed")
		}
		time.Sleep(5 * time.Second)
		want := []string{"0s", "1s", "2s"}
		if diff := cmp.Diff(want, log.get()); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
		r := g.Wait()
		if diff := cmp.Diff([]row{{Name: "beat"}}, rows(r)); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
	})
}

// TestTimerStopStepsAtOnce: stopping the group steps an armed timer task
// at once, with its context done, instead of leaving it to its timer; the
// join waits for that step, and no step runs after the join.
func TestTimerStopStepsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &stepLog{start: time.Now()}
		g := tasks.New(context.Background(), nil)
		_, _ = g.GoTimer("beat", stepper(func(ctx context.Context, tm *tasks.Timer) error {
			log.add(ctx)
			if ctx.Err() == nil {
				tm.Reset(time.Hour)
			}
			return nil
		}))
		time.Sleep(time.Second)
		r := g.Stop(errors.New("left"), time.Minute)
		if diff := cmp.Diff([]row{{Name: "beat"}}, rows(r)); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
		time.Sleep(2 * time.Hour)
		want := []string{"0s", "1s done"}
		if diff := cmp.Diff(want, log.get()); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
	})
}

// TestTimerJoinWaitsForStep: a step under way when the group is stopped
// is joined: Stop returns only after it has returned, and the last step,
// which sees the context done, runs before Stop returns too. A timer
// whose callbacks were not joined would let Stop return while the step
// still ran.
func TestTimerJoinWaitsForStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		var events []string
		note := func(s string) {
			mu.Lock()
			events = append(events, s)
			mu.Unlock()
		}
		g := tasks.New(context.Background(), nil)
		_, _ = g.GoTimer("beat", stepper(func(ctx context.Context, tm *tasks.Timer) error {
			if ctx.Err() != nil {
				note("last step")
				return nil
			}
			note("step")
			tm.Reset(time.Second)
			<-release // ignores ctx: a ping on its way
			note("step returns")
			return nil
		}))
		synctest.Wait() // the first step waits for release
		time.AfterFunc(3*time.Second, func() { close(release) })
		r := g.Stop(nil, time.Minute)
		note("Stop returned")
		if diff := cmp.Diff([]row{{Name: "beat"}}, rows(r)); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
		want := []string{"step", "step returns", "last step", "Stop returned"}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, events); diff != "" {
			t.Errorf("order (-want +got):\n%s", diff)
		}
	})
}

// TestTimerStraggler: a step that ignores its context past the join's
// deadline is reported as a straggler under the task's name.
func TestTimerStraggler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		g := tasks.New(context.Background(), nil)
		_, _ = g.GoTimer("beat", stepper(func(ctx context.Context, tm *tasks.Timer) error {
			if ctx.Err() != nil {
				return nil
			}
			<-release
			return nil
		}))
		synctest.Wait()
		r := g.Stop(nil, time.Second)
		if diff := cmp.Diff([]row{{Name: "beat", Straggler: true}}, rows(r)); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
		close(release)
		<-g.Done()
	})
}

// TestTimerFailure: a step's error fails the task as a task's would: the
// siblings' context is cancelled with a *TaskError and the owner told; a
// panic is a *PanicError.
func TestTimerFailure(t *testing.T) {
	errDead := errors.New("dead")
	tests := []struct {
		name    string
		step    func(n int) error
		wantErr string
	}{
		{"error", func(n int) error {
			if n == 2 {
				return errDead
			}
			return nil
		}, "dead"},
		{"panic", func(n int) error {
			if n == 2 {
				panic("boom")
			}
			return nil
		}, `tasks: task "beat" panicked: boom`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var failed []string
				g := tasks.New(context.Background(), func(name string, err error) { failed = append(failed, name) })
				sibling := make(chan error, 1)
				_ = g.Go("reader", waitCtx(sibling))
				n := 0
				_, _ = g.GoTimer("beat", stepper(func(ctx context.Context, tm *tasks.Timer) error {
					n++
					if ctx.Err() == nil {
						tm.Reset(time.Second)
					}
					return tt.step(n)
				}))
				var te *tasks.TaskError
				if err := <-sibling; !errors.As(err, &te) || te.Task != "beat" {
					t.Errorf("sibling's cause = %v, want a *TaskError of beat", err)
				}
				r := g.Wait()
				want := []row{{Name: "reader", Err: "context canceled"}, {Name: "beat", Err: tt.wantErr, Failed: true}}
				if diff := cmp.Diff(want, rows(r)); diff != "" {
					t.Errorf("report (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]string{"beat"}, failed); diff != "" {
					t.Errorf("onFail (-want +got):\n%s", diff)
				}
				if n != 2 {
					t.Errorf("%d steps, want 2: none after the failure", n)
				}
			})
		})
	}
}

// TestTimerWake: Wake steps an armed task at once, and a task under way
// once more right after; Reset and Wake report false once the task has
// ended, and Reset once the context is done.
func TestTimerWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &stepLog{start: time.Now()}
		g := tasks.New(context.Background(), nil)
		inStep := make(chan struct{})
		release := make(chan struct{})
		n := 0
		tm, _ := g.GoTimer("beat", stepper(func(ctx context.Context, tm *tasks.Timer) error {
			log.add(ctx)
			n++
			if n == 2 {
				inStep <- struct{}{}
				<-release
			}
			if ctx.Err() == nil && n < 4 {
				tm.Reset(time.Hour)
			}
			return nil
		}))
		time.Sleep(time.Second)
		tm.Wake() // armed: step 2 now
		<-inStep
		tm.Wake() // stepping: step 3 right after
		close(release)
		synctest.Wait()
		want := []string{"0s", "1s", "1s"}
		if diff := cmp.Diff(want, log.get()); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
		g.Cancel(nil)
		synctest.Wait()
		if tm.Reset(time.Second) {
			t.Error("Reset after the task ended = true")
		}
		if tm.Wake() {
			t.Error("Wake after the task ended = true")
		}
		want = append(want, "1s done")
		if diff := cmp.Diff(want, log.get()); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
		g.Wait()
	})
}

// TestTimerParentEnds: a timer task armed when the parent's context ends
// is stepped at the join, not left to its timer.
func TestTimerParentEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &stepLog{start: time.Now()}
		parent, cancel := context.WithCancel(context.Background())
		g := tasks.New(parent, nil)
		_, _ = g.GoTimer("beat", stepper(func(ctx context.Context, tm *tasks.Timer) error {
			log.add(ctx)
			if ctx.Err() == nil {
				tm.Reset(time.Hour)
			}
			return nil
		}))
		time.Sleep(time.Second)
		cancel()
		g.Wait()
		want := []string{"0s", "1s done"}
		if diff := cmp.Diff(want, log.get()); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
	})
}

// TestGoTimerRefused: GoTimer starts nothing on a stopped group, nor with
// a nil Stepper.
func TestGoTimerRefused(t *testing.T) {
	g := tasks.New(context.Background(), nil)
	if _, err := g.GoTimer("nil", nil); err == nil {
		t.Error("GoTimer(nil) = nil error")
	}
	g.Stop(nil, 0)
	if _, err := g.GoTimer("late", stepper(func(context.Context, *tasks.Timer) error { return nil })); !errors.Is(err, tasks.ErrStopped) {
		t.Errorf("GoTimer after Stop = %v, want ErrStopped", err)
	}
}

// TestTimerPark: a parked task is stepped only by Wake, or by the group's
// cancellation, however long it waits.
func TestTimerPark(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &stepLog{start: time.Now()}
		g := tasks.New(context.Background(), nil)
		tm, _ := g.GoTimer("reader", stepper(func(ctx context.Context, tm *tasks.Timer) error {
			log.add(ctx)
			if ctx.Err() == nil {
				tm.Park()
			}
			return nil
		}))
		time.Sleep(time.Hour)
		tm.Wake()
		time.Sleep(time.Hour)
		g.Stop(nil, time.Minute)
		want := []string{"0s", "1h0m0s", "2h0m0s done"}
		if diff := cmp.Diff(want, log.get()); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
	})
}

// stepping reports whether a goroutine runs a timer task's steps.
func stepping() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Contains(string(buf), "tasks.(*Timer).run")
}

// TestTimerCancelDuringArmingStep: a group cancelled while a step runs
// that has armed the timer steps the task once more, at once, and that
// step ends it: the arm made before the cancellation must not keep the
// task waiting for its firing, or Stop reports a straggler that runs after
// the join.
func TestTimerCancelDuringArmingStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := tasks.New(context.Background(), nil)
		inStep := make(chan struct{})
		release := make(chan struct{})
		steps := 0
		_, err := g.GoTimer("beat", stepper(func(ctx context.Context, tm *tasks.Timer) error {
			steps++
			if ctx.Err() != nil {
				return nil // the last step: nothing armed, the task ends
			}
			tm.Reset(time.Hour)
			inStep <- struct{}{}
			<-release
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		<-inStep // the first step has armed the timer and is still running
		stopped := make(chan tasks.Report)
		go func() { stopped <- g.Stop(nil, time.Second) }()
		synctest.Wait() // Stop has cancelled the group and waits
		close(release)
		r := <-stopped
		if diff := cmp.Diff([]string(nil), r.Stragglers()); diff != "" {
			t.Errorf("stragglers (-want +got):\n%s", diff)
		}
		if steps != 2 {
			t.Errorf("steps = %d, want 2: the armed one and the cancellation's", steps)
		}
	})
}
