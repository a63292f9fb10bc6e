package fsmtest_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
)

type doorTrace = fsmtest.Trace[Door, Action]

func TestExploreVisitsEverySequenceInOrder(t *testing.T) {
	def := doorDefinition()
	for depth, want := range []int{0, 4, 4 + 16, 4 + 16 + 64, 4 + 16 + 64 + 256} {
		n := 0
		err := fsmtest.Explore(def, depth, func(doorTrace) error { n++; return nil })
		if err != nil || n != want {
			t.Errorf("Explore(depth %d) visited %d traces (err %v), want %d", depth, n, err, want)
		}
	}

	var got []string
	err := fsmtest.Explore(def, 2, func(tr doorTrace) error {
		if tr[0].Event == Push { // the Push subtree is enough to see the order
			got = append(got, tr.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Closed --Push--> Open",
		"Closed --Push--> Open, Open --Push--> (ignore)",
		"Closed --Push--> Open, Open --Shut--> Closed",
		"Closed --Push--> Open, Open --Lock--> (reject)",
		"Closed --Push--> Open, Open --Unlock--> (ignore)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("traces (-want +got):\n%s", diff)
	}
}

var errReopened = errors.New("a door that was locked is open")

// neverReopened is the planted violation: the door opens again after having
// been locked (the table allows it, via Unlock).
func neverReopened(tr doorTrace) error {
	if tr.State() != Open {
		return nil
	}
	for _, s := range tr {
		if s.To == Locked {
			return errReopened
		}
	}
	return nil
}

func TestExploreFindsFirstViolation(t *testing.T) {
	tests := []struct {
		depth int
		want  string // the failing trace; empty for none
	}{
		{2, ""},
		{3, "Closed --Lock--> Locked, Locked --Unlock--> Closed, Closed --Push--> Open"},
		// Sequences starting with Push come first in the walk's order.
		{5, "Closed --Push--> Open, Open --Shut--> Closed, Closed --Lock--> Locked, Locked --Unlock--> Closed, Closed --Push--> Open"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("depth ", tt.depth), func(t *testing.T) {
			err := fsmtest.Explore(doorDefinition(), tt.depth, neverReopened)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Explore: %v, want nil", err)
				}
				return
			}
			var xe *fsmtest.ExploreError[Door, Action]
			if !errors.As(err, &xe) {
				t.Fatalf("Explore = %v, want an *ExploreError", err)
			}
			if !errors.Is(err, errReopened) {
				t.Errorf("Explore error %v does not wrap check's error", err)
			}
			if got := xe.Trace.String(); got != tt.want {
				t.Errorf("failing trace:\n got %s\nwant %s", got, tt.want)
			}
			if want := "fsmtest: invariant broken after " + tt.want + ": " + errReopened.Error(); err.Error() != want {
				t.Errorf("Error() =\n%s\nwant\n%s", err, want)
			}
		})
	}
}

func TestExploreTraceIsACopyOnFailure(t *testing.T) {
	var kept doorTrace
	err := fsmtest.Explore(doorDefinition(), 4, func(tr doorTrace) error {
		// Appending must not write into the walk's buffer.
		_ = append(tr, doorStep{From: Locked, Event: Lock, Kind: fsm.KindIgnore, To: Locked})
		if len(tr) == 2 && tr[1].Kind == fsm.KindTransition {
			kept = slices.Clone(tr)
			return errReopened
		}
		return nil
	})
	var xe *fsmtest.ExploreError[Door, Action]
	if !errors.As(err, &xe) {
		t.Fatalf("Explore = %v, want an *ExploreError", err)
	}
	if diff := cmp.Diff(kept, xe.Trace); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	if got, want := xe.Trace.String(), "Closed --Push--> Open, Open --Shut--> Closed"; got != want {
		t.Errorf("trace %s, want %s", got, want)
	}
}

func TestExploreBadArguments(t *testing.T) {
	ok := func(doorTrace) error { return nil }
	for name, err := range map[string]error{
		"nil definition": fsmtest.Explore(nil, 1, ok),
		"nil check":      fsmtest.Explore(doorDefinition(), 1, nil),
		"negative depth": fsmtest.Explore(doorDefinition(), -1, ok),
	} {
		if !errors.Is(err, fsmtest.ErrBadExplore) {
			t.Errorf("%s: Explore = %v, want ErrBadExplore", name, err)
		}
	}
}

func BenchmarkExplore(b *testing.B) {
	def := doorDefinition()
	for b.Loop() {
		n := 0
		if err := fsmtest.Explore(def, 8, func(doorTrace) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n), "traces/op")
	}
}
