package fsm_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// TestTimeout: a state timeout fires its event once the state has been
// active for its duration; leaving the state first cancels it; every entry
// arms it anew; a duration computed from the environment is used.
func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type env struct{ wait time.Duration }
		def, err := stdBuilder().
			Timeout(B, 5*time.Second, Back).
			TimeoutFunc(A, "the env's wait", func(in fsm.Transition[state, event]) time.Duration { return in.Env.(*env).wait }, X).
			Build()
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu   sync.Mutex
			recs []string
		)
		start := time.Now()
		m := def.Start(context.Background(), fsm.Config[state, event]{
			Env: &env{wait: 7 * time.Second},
			Observer: func(_ context.Context, r fsm.Record[state, event]) {
				mu.Lock()
				recs = append(recs, fmt.Sprintf("%v %v %v→%v at %v", r.Kind, r.Event, r.From, r.To, time.Since(start)))
				mu.Unlock()
			},
		})
		defer m.Stop(context.Background())
		time.Sleep(3 * time.Second)
		if err := m.Fire(context.Background(), Go); err != nil { // A left before its 7s timeout
			t.Fatal(err)
		}
		time.Sleep(6 * time.Second) // B's 5s timeout fires Back: B → A at 8s
		time.Sleep(8 * time.Second) // A's 7s timeout fires X: A → B at 15s
		synctest.Wait()
		want := []string{
			"started Go A→A at 0s",
			"transition Go A→B at 3s",
			"transition Back B→A at 8s",
			"transition X A→B at 15s",
		}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
	})
}

// TestTimeoutStale: a timeout that fired while its state was being left
// is stale, never applied after it.
func TestTimeoutStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		def, err := stdBuilder().Timeout(B, time.Second, Back).Build()
		if err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		var (
			mu    sync.Mutex
			kinds []string
		)
		m := def.Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) {
			if r.Kind == fsm.RecordIgnored {
				<-release // hold the machine busy across B's deadline
			}
			mu.Lock()
			kinds = append(kinds, fmt.Sprintf("%v %v %v→%v", r.Kind, r.Event, r.From, r.To))
			mu.Unlock()
		}})
		defer m.Stop(context.Background())
		if err := m.Fire(context.Background(), Go); err != nil {
			t.Fatal(err)
		}
		time.Sleep(900 * time.Millisecond)
		go m.Fire(context.Background(), Go) // ignored in B: the observer holds it
		time.Sleep(50 * time.Millisecond)
		go m.Fire(context.Background(), Back) // queued: leaves B
		time.Sleep(time.Second)               // B's timer fires meanwhile, queued behind
		close(release)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		want := []string{"started Go A→A", "transition Go A→B", "ignored Go B→B", "transition Back B→A", "stale Back A→A"}
		if diff := cmp.Diff(want, kinds); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
	})
}

// TestChoice: a choice picks its target from the payload and the
// environment; an undeclared target and a panic are rejected steps.
func TestChoice(t *testing.T) {
	type env struct{ fallback state }
	pick := func(e, payload any) state {
		switch p := payload.(type) {
		case state:
			return p
		case string:
			panic(p)
		}
		return e.(*env).fallback
	}
	def, err := fsm.NewBuilder[state, event](A).States(A, B, C).Events(Go, Back).Rules(
		rule{From: A, On: Go, Then: fsm.Choice(pick, B, C)},
		rule{From: A, On: Back, Then: fsm.Ignore[state](), Reason: "at the start"},
		rule{From: B, On: Go, Then: fsm.Ignore[state](), Reason: "x"},
		rule{From: B, On: Back, Then: fsm.To(A)},
		rule{From: C, On: Go, Then: fsm.Ignore[state](), Reason: "x"},
		rule{From: C, On: Back, Then: fsm.To(A)},
	).Build()
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := def.Cell(A, Go); c.Kind != fsm.KindChoice || !cmp.Equal(c.Targets(), []state{B, C}) || !cmp.Equal(c.Leaves, []state{B, C}) {
		t.Errorf("Cell(A, Go) = %v targets %v leaves %v", c.Kind, c.Targets(), c.Leaves)
	}
	tests := []struct {
		name    string
		payload any
		want    state
		wantErr error
	}{
		{"picks from the payload", C, C, nil},
		{"picks from the environment", nil, B, nil},
		{"an undeclared target is rejected", A, A, fsm.ErrUndeclaredTarget},
		{"a panic is rejected", "lost", A, fsm.ErrUndeclaredTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := def.Start(context.Background(), fsm.Config[state, event]{Env: &env{fallback: B}})
			defer m.Stop(context.Background())
			err := m.FireWith(context.Background(), Go, tt.payload)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr != nil && !errors.Is(err, fsm.ErrRejected)) {
				t.Errorf("FireWith = %v, want %v", err, tt.wantErr)
			}
			if m.State() != tt.want {
				t.Errorf("state = %v, want %v", m.State(), tt.want)
			}
			if m.Err() != nil {
				t.Errorf("Err() = %v: a choice's panic is a rejection, not a fail-stop", m.Err())
			}
		})
	}
}

// TestEnvironment: hooks, actions and tasks reach the machine's
// environment; one definition serves machines with different ones.
func TestEnvironment(t *testing.T) {
	type owner struct {
		mu   sync.Mutex
		name string
		seen []string
	}
	note := func(env any, what string) {
		o := env.(*owner)
		o.mu.Lock()
		o.seen = append(o.seen, what)
		o.mu.Unlock()
	}
	taskRan := make(chan struct{}, 2)
	def, err := stdBuilder().
		OnEnter(B, func(_ context.Context, tr trans) { note(tr.Env, "enter B") }).
		Action(A, Go, func(_ context.Context, tr trans) { note(tr.Env, "action") }).
		Task(B, "worker", func(ctx context.Context, in fsm.Transition[state, event], _ fsm.Emit[event]) error {
			note(in.Env, "task")
			taskRan <- struct{}{}
			<-ctx.Done()
			return nil
		}).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	x, y := &owner{name: "x"}, &owner{name: "y"}
	for _, o := range []*owner{x, y} {
		m := def.Start(context.Background(), fsm.Config[state, event]{Env: o})
		if m.Env() != o {
			t.Errorf("Env() = %v, want %v", m.Env(), o)
		}
		if err := m.Fire(context.Background(), Go); err != nil {
			t.Fatal(err)
		}
		<-taskRan
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []*owner{x, y} {
		if diff := cmp.Diff([]string{"action", "enter B", "task"}, o.seen); diff != "" {
			t.Errorf("owner %s saw (-want +got):\n%s", o.name, diff)
		}
	}
}

// TestTimeoutFuncZeroAndNegative: a computed duration of zero fires the
// event at once, after the step that entered the state; a negative one
// arms nothing.
func TestTimeoutFuncZeroAndNegative(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wait time.Duration
		def, err := stdBuilder().TimeoutFunc(B, "", func(fsm.Transition[state, event]) time.Duration { return wait }, Back).Build()
		if err != nil {
			t.Fatal(err)
		}
		m := def.Start(context.Background(), fsm.Config[state, event]{})
		defer m.Stop(context.Background())
		wait = 0
		if err := m.Fire(context.Background(), Go); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if m.State() != A {
			t.Errorf("a zero timeout left the machine in %v, want A (back at once)", m.State())
		}
		wait = -1
		if err := m.Fire(context.Background(), Go); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if m.State() != B {
			t.Errorf("a negative timeout left the machine in %v, want B (no timer)", m.State())
		}
	})
}
