package fsm

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWatchRegions: in a parallel state, a WhileIn context on one region's
// leaf outlives the steps of the other region (whose entries are newer
// than the leaf State reports), and ends when its own leaf is left.
func TestWatchRegions(t *testing.T) {
	m := mediaPlayer(t, nil, nil).Start(context.Background(), Config[mpState, mpEvent]{})
	defer m.Stop(context.Background())
	audible, cancel := m.WhileIn(context.Background(), mAudible)
	defer cancel()
	muted, cancelMuted := m.UntilIn(context.Background(), mMuted)
	defer cancelMuted()
	for _, e := range []mpEvent{mToggle, mToggle} { // the playback region's steps
		if err := m.Fire(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := context.Cause(audible); err != nil {
		t.Fatalf("WhileIn(Audible) ended by the other region's steps: %v", err)
	}
	if err := context.Cause(muted); err != nil {
		t.Fatalf("UntilIn(Muted) ended early: %v", err)
	}
	if err := m.Fire(context.Background(), mMute); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(error(&ExitError{State: "Audible", Event: "Mute"}), context.Cause(audible)); diff != "" {
		t.Errorf("WhileIn cause (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(error(&EnterError{State: "Muted", Event: "Mute"}), context.Cause(muted)); diff != "" {
		t.Errorf("UntilIn cause (-want +got):\n%s", diff)
	}
}
