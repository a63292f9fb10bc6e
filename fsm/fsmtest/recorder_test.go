package fsmtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
)

// TestRecorder drives the door through a transition, an ignored event and
// a rejected one, with an error payload and one that is not.
func TestRecorder(t *testing.T) {
	var rec fsmtest.Recorder[Door, Action]
	m := doorDefinition().Start(context.Background(), fsm.Config[Door, Action]{Observer: rec.Observe})
	ctx := context.Background()
	cause := errors.New("a shove")
	steps := []struct {
		event   Action
		payload any
	}{{Push, cause}, {Push, nil}, {Shut, "not an error"}, {Lock, nil}, {Push, nil}}
	for _, s := range steps {
		_ = m.FireWith(ctx, s.event, s.payload)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	want := []string{"Closed-Push->Open", "Open-Shut->Closed", "Closed-Lock->Locked"}
	if diff := cmp.Diff(want, rec.Transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	if n := rec.Count("Closed-Push->Open"); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
	first, ok := rec.Nth("Closed-Push->Open", 1)
	if !ok || first.Payload != cause {
		t.Errorf("Nth = %+v, %v; want the push with its error payload", first, ok)
	}
	if shut, _ := rec.Nth("Open-Shut->Closed", 1); shut.Payload != nil {
		t.Errorf("a payload that is not an error was kept: %v", shut.Payload)
	}
	if _, ok := rec.Nth("Closed-Push->Open", 2); ok {
		t.Error("Nth found a second push")
	}
	var kinds []string
	for _, r := range rec.Records() {
		kinds = append(kinds, r.Kind.String())
	}
	wantKinds := []string{"started", "transition", "ignored", "transition", "transition", "rejected", "stopped"}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("record kinds (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"rejected: Push in Locked: " + rejectedErr(t, rec.Records())}, rec.Problems()); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func rejectedErr(t *testing.T, recs []fsm.Record[Door, Action]) string {
	t.Helper()
	for _, r := range recs {
		if r.Kind == fsm.RecordRejected {
			return fmt.Sprint(r.Err)
		}
	}
	t.Fatal("no rejected record")
	return ""
}

// TestRecorderWait: Wait returns once the records satisfy it, woken by the
// observer on another goroutine, and returns ctx's cause when they never do.
func TestRecorderWait(t *testing.T) {
	var rec fsmtest.Recorder[Door, Action]
	m := doorDefinition().Start(context.Background(), fsm.Config[Door, Action]{Observer: rec.Observe})
	defer m.Stop(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, e := range []Action{Push, Shut, Lock} {
			_ = m.Fire(context.Background(), e)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := rec.Wait(ctx, func(recs []fsm.Record[Door, Action]) bool {
		return len(recs) > 0 && recs[len(recs)-1].To == Locked
	})
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	wg.Wait()

	short, cancel2 := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel2()
	if err := rec.Wait(short, func([]fsm.Record[Door, Action]) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait that never holds = %v, want the deadline", err)
	}
}

// A test keeps what a machine reports and asserts on it.
func ExampleRecorder() {
	var rec fsmtest.Recorder[Door, Action]
	m := doorDefinition().Start(context.Background(), fsm.Config[Door, Action]{Observer: rec.Observe})
	_ = m.Fire(context.Background(), Push)
	_ = m.Fire(context.Background(), Shut)
	_ = m.Stop(context.Background())
	fmt.Println(rec.Transitions(), rec.Problems())
	// Output: [Closed-Push->Open Open-Shut->Closed] []
}

// Wait with a nil done is an error, not a panic.
func TestRecorderWaitNilDone(t *testing.T) {
	var rec fsmtest.Recorder[Door, Action]
	if err := rec.Wait(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "nil done") {
		t.Errorf("Wait(ctx, nil) = %v, want an error naming the nil done", err)
	}
}
