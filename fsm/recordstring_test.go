package fsm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/tasks"
)

// pstate names itself with its parent, as the lifecycle's states do.
type pstate int

const (
	pConnecting pstate = iota
	pAlive
	pSyncing
	pReconnecting
)

func (s pstate) String() string {
	return [...]string{"Connecting", "Alive", "Syncing", "Reconnecting"}[s]
}

func (s pstate) Path() string {
	if s == pSyncing {
		return "Alive/Syncing"
	}
	return s.String()
}

// TestRecordString: every kind prints as the timeline prints it; a
// started or stopped record shows no event, though its Event field holds
// the zero value (a real event of the enum).
func TestRecordString(t *testing.T) {
	type rec = fsm.Record[pstate, string]
	tests := []struct {
		r    rec
		want string
	}{
		{rec{Kind: fsm.RecordStarted, From: pConnecting, To: pConnecting, State: pConnecting, Epoch: 1, Event: "Connected"}, "started in Connecting"},
		{rec{Kind: fsm.RecordTransition, From: pConnecting, Event: "Connected", To: pSyncing, Epoch: 3}, "Connecting --Connected--> Alive/Syncing (epoch 3)"},
		{rec{Kind: fsm.RecordIgnored, From: pReconnecting, Event: "Lost", To: pReconnecting, Reason: "a second loss from another task"},
			"ignored Lost in Reconnecting: a second loss from another task"},
		{rec{Kind: fsm.RecordRejected, From: pSyncing, Event: "Dial", Reason: "one connection at a time"}, "rejected Dial in Alive/Syncing: one connection at a time"},
		{rec{Kind: fsm.RecordRejected, From: pSyncing, Event: "Send", Err: fsm.ErrPostponeLimit}, "rejected Send in Alive/Syncing: fsm: postpone limit reached"},
		{rec{Kind: fsm.RecordPostponed, From: pSyncing, Event: "Send", State: pAlive}, "postponed Send in Alive/Syncing"},
		{rec{Kind: fsm.RecordStale, From: pReconnecting, State: pAlive, Event: "Lost", Epoch: 2}, "stale Lost of Alive (epoch 2) in Reconnecting"},
		{rec{Kind: fsm.RecordStraggler, From: pAlive, State: pAlive, Task: "reader", Epoch: 2, Event: "Connected"}, "straggler reader of Alive (epoch 2) did not return in time"},
		{rec{Kind: fsm.RecordTaskFailed, From: pAlive, State: pAlive, Task: "reader", Epoch: 2, Err: errors.New("read: EOF")}, "task reader of Alive (epoch 2) failed: read: EOF"},
		{rec{Kind: fsm.RecordDropped, From: pAlive, Event: "Lost", Err: fsm.ErrStopped}, "dropped Lost: fsm: machine stopped"},
		{rec{Kind: fsm.RecordStopped, From: pReconnecting, Event: "Connected"}, "stopped in Reconnecting"},
		{rec{Kind: fsm.RecordStragglerReturned, State: pAlive, Task: "reader", Epoch: 2}, "straggler reader of Alive (epoch 2) returned"},
		{rec{Kind: fsm.RecordOwner, From: pAlive, Payload: ownerNote("subscription trades: Pending --Sent--> Subscribing")}, "subscription trades: Pending --Sent--> Subscribing"},
		{rec{Kind: fsm.RecordOwner + 1, From: pAlive, Payload: 42}, "RecordKind(65) in Alive"},
	}
	for _, tt := range tests {
		t.Run(tt.r.Kind.String(), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.r.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestStartRecordHasNoEvent: the record a machine reports for its start
// prints no event, whatever the zero value of its event type is.
func TestStartRecordHasNoEvent(t *testing.T) {
	var (
		mu   sync.Mutex
		recs []string
	)
	m := stdDef(t, nil).Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) {
		mu.Lock()
		defer mu.Unlock()
		recs = append(recs, r.String())
	}})
	_ = m.Fire(context.Background(), Go)
	_ = m.Fire(context.Background(), Go)
	_ = m.Stop(context.Background())
	mu.Lock()
	defer mu.Unlock()
	want := []string{"started in A", "A --Go--> B (epoch 2)", "ignored Go in B: already in B", "stopped in B"}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if strings.Contains(recs[0], Go.String()) {
		t.Errorf("the start record names the zero event: %q", recs[0])
	}
}

// TestOnePanicType: a task's panic and a hook's are the same type,
// matched by fsm.ErrPanicked and tasks.ErrPanicked alike.
func TestOnePanicType(t *testing.T) {
	taskPanic := fmt.Errorf("wrapped: %w", &tasks.PanicError{Task: "reader", Value: "bad frame"})
	var hookPanic error = &fsm.PanicError{Where: "enter hook of A", Value: "boom"}
	for _, err := range []error{taskPanic, hookPanic} {
		var pe *fsm.PanicError
		if !errors.As(err, &pe) {
			t.Errorf("errors.As(%v, *fsm.PanicError) = false", err)
		}
		var te *tasks.PanicError
		if !errors.As(err, &te) || te != pe {
			t.Errorf("errors.As(%v, *tasks.PanicError) does not find the same value", err)
		}
		if !errors.Is(err, fsm.ErrPanicked) || !errors.Is(err, tasks.ErrPanicked) {
			t.Errorf("%v does not match ErrPanicked", err)
		}
	}
	if got, want := hookPanic.Error(), "fsm: panic in enter hook of A: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// ownerNote is an owner's record payload that prints itself.
type ownerNote string

func (n ownerNote) String() string { return string(n) }
