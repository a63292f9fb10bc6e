package subscription

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
)

// policy is an environment whose Retries is fixed.
type policy bool

func (p policy) Retries() bool { return bool(p) }

var (
	specTo     = fsm.To[State]
	specIgnore = fsm.Ignore[State]()
	specReject = fsm.Reject[State]()
)

// hardRows are the cases a hand-written registry gets wrong, each one row
// here: the outcome a machine without a retry policy shows.
var hardRows = []fsmtest.Row[State, Event]{
	// A late ack after Unsubscribe is stale: ignored, not a resubscribe.
	{From: Unsubscribing, Event: Ack, Want: specIgnore},
	// Unsubscribe of a subscription sent but not acked (the connection
	// syncs): the unsubscribe is sent after it.
	{From: Subscribing, Event: Unsubscribe, Want: specTo(Unsubscribing)},
	// Never sent twice on one connection.
	{From: Subscribing, Event: Send, Want: specReject},
	{From: Active, Event: Send, Want: specReject},
	// A second holder sends nothing.
	{From: Active, Event: Subscribe, Want: specIgnore},
	{From: Subscribing, Event: Subscribe, Want: specIgnore},
	// Subscribed again while unsubscribing: sent after the unsubscribe.
	{From: Unsubscribing, Event: Subscribe, Want: specTo(Pending)},
	// The connection lost in each state.
	{From: Pending, Event: Lost, Want: specIgnore},
	{From: Subscribing, Event: Lost, Want: specTo(Pending)},
	{From: Active, Event: Lost, Want: specTo(Pending)},
	{From: Resyncing, Event: Lost, Want: specTo(Pending)},
	{From: Unsubscribing, Event: Lost, Want: specTo(Removed)},
	{From: Failed, Event: Lost, Want: specTo(Failed)},
	// A refusal, a timeout, a gap.
	{From: Subscribing, Event: Nack, Want: specTo(Failed)},
	{From: Subscribing, Event: AckTimeout, Want: specTo(Failed)},
	{From: Active, Event: Gap, Want: specTo(Resyncing)},
	{From: Resyncing, Event: Gap, Want: specIgnore},
	{From: Resyncing, Event: Resynced, Want: specTo(Active)},
	{From: Pending, Event: Unsubscribe, Want: specTo(Removed)},
}

// TestTable checks the hard rows on real machines, and that every
// (state, event) pair of every live state is declared with a reason.
func TestTable(t *testing.T) {
	fsmtest.Check(t, Definition(), hardRows)
	def := Definition()
	for _, s := range States() {
		if def.IsFinal(s) {
			continue
		}
		for _, e := range Events() {
			c, ok := def.Cell(s, e)
			if !ok {
				t.Errorf("%v × %v is not declared", s, e)
				continue
			}
			if c.Reason == "" {
				t.Errorf("%v × %v has no reason", s, e)
			}
		}
	}
	if !def.IsFinal(Removed) {
		t.Error("Removed is not final")
	}
}

// TestRetryPolicy: with a policy that retries, a timeout and a lost
// connection of a failed subscription lead back to Pending.
func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name   string
		retry  bool
		events []Event
		want   State
	}{
		{"timeout, no retry", false, []Event{Send, AckTimeout}, Failed},
		{"timeout, retry", true, []Event{Send, AckTimeout}, Pending},
		{"nack, then the connection lost, no retry", false, []Event{Send, Nack, Lost}, Failed},
		{"nack, then the connection lost, retry", true, []Event{Send, Nack, Lost}, Pending},
		{"failed, subscribed again", false, []Event{Send, Nack, Subscribe}, Pending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := Definition().Start(ctx, fsm.Config[State, Event]{Env: policy(tt.retry)})
			defer m.Stop(ctx)
			for _, e := range tt.events {
				if err := m.Fire(ctx, e); err != nil {
					t.Fatalf("Fire(%v): %v", e, err)
				}
			}
			if got := m.State(); got != tt.want {
				t.Errorf("after %v: %v, want %v", tt.events, got, tt.want)
			}
		})
	}
}

// TestPaths: the coverage paths take every transition, and a real machine
// follows each.
func TestPaths(t *testing.T) {
	def := Definition()
	paths := fsmtest.Paths(def)
	if missing := fsmtest.Uncovered(def, paths); missing != nil {
		t.Errorf("transitions no path takes: %v", missing)
	}
	if len(paths) == 0 {
		t.Fatal("no paths")
	}
	// A choice's branch depends on the policy: one of the two follows the
	// path.
	for _, p := range paths {
		var diffs []string
		for _, retries := range []bool{false, true} {
			ctx := context.Background()
			m := def.Start(ctx, fsm.Config[State, Event]{Env: policy(retries)})
			got := []State{m.State()}
			for _, e := range p.Events {
				if err := m.Fire(ctx, e); err != nil {
					t.Errorf("%v: Fire(%v): %v", p, e, err)
				}
				got = append(got, m.State())
			}
			_ = m.Stop(ctx)
			diffs = append(diffs, cmp.Diff(p.States, got))
		}
		if diffs[0] != "" && diffs[1] != "" {
			t.Errorf("%v: no policy follows it (-want +got):\n%s", p, diffs[0])
		}
	}
}

func TestNames(t *testing.T) {
	var got []string
	for _, s := range States() {
		got = append(got, s.String())
	}
	for _, e := range Events() {
		got = append(got, e.String())
	}
	got = append(got, State(99).String(), Event(99).String(), (&SequenceGap{Want: 7, Got: 9}).String())
	want := []string{"Pending", "Subscribing", "Active", "Resyncing", "Unsubscribing", "Failed", "Removed",
		"Send", "Ack", "Nack", "AckTimeout", "Unsubscribe", "Unsubscribed", "Subscribe", "Lost", "Gap", "Resynced",
		"State(99)", "Event(99)", "expected 7, got 9"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}
