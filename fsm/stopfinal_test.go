package fsm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/connfsm/connfsm/fsm"
)

// TestStopIsFinal: once Stop has returned to a caller outside the machine,
// everything the machine shows is final: Done and the channel Changed
// handed out before the stop are closed, Changed returns a closed channel,
// and Fire fails with ErrStopped. The stop runs on another goroutine than
// the caller's, so the check repeats to catch an order that lets the
// caller in early.
func TestStopIsFinal(t *testing.T) {
	def, err := nestedBuilder().Build()
	if err != nil {
		t.Fatal(err)
	}
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	for i := range 2000 {
		m := def.Start(context.Background(), fsm.Config[ns, nev]{})
		ch := m.Changed()
		if err := m.Stop(context.Background()); err != nil {
			t.Fatalf("run %d: Stop: %v", i, err)
		}
		switch {
		case !closed(m.Done()):
			t.Fatalf("run %d: Done open after Stop", i)
		case !closed(ch):
			t.Fatalf("run %d: the channel Changed handed out before the stop is open after Stop", i)
		case !closed(m.Changed()):
			t.Fatalf("run %d: Changed returns an open channel after Stop", i)
		}
		if err := m.Fire(context.Background(), ToC); !errors.Is(err, fsm.ErrStopped) {
			t.Fatalf("run %d: Fire after Stop = %v, want ErrStopped", i, err)
		}
	}
}
