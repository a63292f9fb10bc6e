package demo

import (
	"context"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/timeline"
	"github.com/connfsm/connfsm/wsconn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun plays the demo: every check passes, and the lifecycle goes
// through each scene's failure and back.
func TestRun(t *testing.T) {
	tl := timeline.New(io.Discard, true, true)
	ok, err := Run(t.Context(), tl)
	if err != nil || !ok {
		t.Fatalf("Run = %v, %v; want ok", ok, err)
	}
	count := map[string]int{}
	subs := map[string]int{}
	for _, r := range tl.Records() {
		if r.Kind == fsm.RecordTransition {
			count[r.From.Path()+"-"+r.Event.String()+"->"+r.To.Path()]++
		}
		if sr, ok := r.Payload.(*wsconn.SubscriptionRecord); ok && sr.Kind == fsm.RecordTransition {
			subs[sr.String()]++
		}
	}
	// The subscription scene: two acked on both connections, the third
	// refused on the first and not sent again.
	wantSubs := map[string]int{
		"BTC: Pending -Send-> Subscribing": 2, "BTC: Subscribing -Ack-> Active": 2, "BTC: Active -Lost-> Pending": 2,
		"ETH: Pending -Send-> Subscribing": 2, "ETH: Subscribing -Ack-> Active": 2, "ETH: Active -Lost-> Pending": 2,
		"BAD: Pending -Send-> Subscribing": 1, "BAD: Subscribing -Nack-> Failed": 1, "BAD: Failed -Lost-> Failed": 1,
	}
	if diff := cmp.Diff(wantSubs, subs); diff != "" {
		t.Errorf("subscription transitions (-want +got):\n%s", diff)
	}
	// Three losses come back (reset, black hole, restart); the fourth is
	// closed while reconnecting. The restart's failed dials vary in number.
	failed := count["Connecting-DialFailed->Reconnecting"]
	delete(count, "Connecting-DialFailed->Reconnecting")
	// Every connection syncs, then is Ready when it is lost.
	want := map[string]int{
		"Connecting-Connected->Alive/Syncing": 5,
		"Alive/Syncing-Synced->Alive/Ready":   5,
		"Alive/Ready-Lost->Reconnecting":      4,
		"Reconnecting-RetryDue->Connecting":   3 + failed,
		"Reconnecting-Close->Closed":          1,
		// The slow consumer's client, closed by the user.
		"Alive/Ready-Close->Closing": 1,
		"Closing-CloseDone->Closed":  1,
	}
	if diff := cmp.Diff(want, count); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	if failed < 2 {
		t.Errorf("%d failed dials while down, want at least 2", failed)
	}
}

// TestRunInterrupted: an interrupt ends the scenes; the client is still
// closed and nothing is left running (goleak).
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tl := timeline.New(io.Discard, true, true)
	if _, err := Run(ctx, tl); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, r := range tl.Records() {
		if r.Kind == fsm.RecordTransition && r.From.Top() == connfsm.Alive && r.Event == connfsm.Lost {
			t.Errorf("a scene was played after the interrupt: %v", r)
		}
	}
}
