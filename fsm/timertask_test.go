package fsm_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/tasks"
)

// eventLog is an ordered log shared by hooks, steps and the test.
type eventLog struct {
	mu    sync.Mutex
	start time.Time
	lines []string
}

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%v ", time.Since(l.start))+fmt.Sprintf(format, args...))
}

func (l *eventLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// TestTimerTaskJoined: a timer task of A steps every second while A is
// active, holding no goroutine between steps. A step under way when A is
// left (it ignores its context, as a ping being written would) is joined:
// the last step, with its context done, and then A's exit hook and B's
// enter hook run after it has returned, and no step runs once B is
// entered. A timer whose callback were not joined would step after B's
// entry, or the hooks would run while it still ran.
func TestTimerTaskJoined(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &eventLog{start: time.Now()}
		release := make(chan struct{})
		def := stdDef(t, func(b *builder) {
			b.TimerTask(A, "beat", func(ctx context.Context, in trans, _ fsm.Emit[event], tm *tasks.Timer) error {
				if ctx.Err() != nil {
					log.add("last step of epoch %d", in.Epoch)
					return nil
				}
				log.add("step of epoch %d", in.Epoch)
				tm.Reset(time.Second)
				if time.Since(log.start) >= 2*time.Second {
					<-release // ignores ctx
					log.add("step returns")
				}
				return nil
			})
			b.OnExit(A, func(context.Context, trans) { log.add("exit A") })
			b.OnEnter(B, func(context.Context, trans) { log.add("enter B") })
		})
		m := def.Start(context.Background(), fsm.Config[state, event]{JoinTimeout: time.Minute})
		defer m.Stop(context.Background())
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		base := runtime.NumGoroutine()
		time.Sleep(400 * time.Millisecond) // armed, between steps
		synctest.Wait()
		if got := runtime.NumGoroutine(); got != base {
			t.Errorf("goroutines between steps: %d, want %d", got, base)
		}
		time.Sleep(600 * time.Millisecond) // the step at 2s blocks
		synctest.Wait()
		time.AfterFunc(3*time.Second, func() { close(release) })
		if err := m.Fire(context.Background(), Go); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		want := []string{
			"0s step of epoch 1",
			"1s step of epoch 1",
			"2s step of epoch 1",
			"5.5s step returns",
			"5.5s last step of epoch 1",
			"5.5s exit A",
			"5.5s enter B",
		}
		if diff := cmp.Diff(want, log.get()); diff != "" {
			t.Errorf("log (-want +got):\n%s", diff)
		}
	})
}

// TestTimerTaskFails: a step's error fires the state's failure event, as a
// task's would, with the error as payload; the task is reported by name.
func TestTimerTaskFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errDead := errors.New("no pong")
		start := time.Now()
		def, err := stdBuilder().FailureEvent(A, Fail).
			TimerTask(A, "beat", func(ctx context.Context, _ trans, _ fsm.Emit[event], tm *tasks.Timer) error {
				if ctx.Err() != nil {
					return nil
				}
				if !tm.Reset(time.Second) {
					t.Error("Reset refused while A is active")
				}
				return nil
			}).
			TimerTask(A, "dies", func(ctx context.Context, _ trans, _ fsm.Emit[event], tm *tasks.Timer) error {
				if ctx.Err() != nil {
					return nil
				}
				if time.Since(start) == 0 {
					tm.Reset(3 * time.Second)
					return nil
				}
				return errDead
			}).Build()
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var recs []string
		m := def.Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) {
			mu.Lock()
			defer mu.Unlock()
			switch r.Kind {
			case fsm.RecordTaskFailed:
				recs = append(recs, fmt.Sprintf("%v failed: %v at %v", r.Task, r.Err, time.Since(start)))
			case fsm.RecordTransition:
				recs = append(recs, fmt.Sprintf("%v %v→%v (%v) at %v", r.Event, r.From, r.To, r.Payload, time.Since(start)))
			}
		}})
		defer m.Stop(context.Background())
		time.Sleep(10 * time.Second)
		synctest.Wait()
		want := []string{"dies failed: no pong at 3s", "Fail A→B (no pong) at 3s"}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
	})
}
