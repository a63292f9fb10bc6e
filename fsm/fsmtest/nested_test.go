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

// A media player: Playing has two children, Normal and Fast; Ejected is
// final. Tap picks Fast or Stopped by its payload.
type Player int

const (
	Stopped Player = iota
	Playing
	Normal
	Fast
	Ejected
)

func (p Player) String() string {
	return [...]string{"Stopped", "Playing", "Normal", "Fast", "Ejected"}[p]
}

type Button int

const (
	Play Button = iota
	Speed
	Stop
	Eject
	Tap
)

func (b Button) String() string { return [...]string{"Play", "Speed", "Stop", "Eject", "Tap"}[b] }

func playerDefinition(t testing.TB) *fsm.Definition[Player, Button] {
	t.Helper()
	type r = fsm.Rule[Player, Button]
	tap := func(_, payload any) Player {
		if payload == "hold" {
			return Stopped
		}
		return Fast
	}
	def, err := fsm.NewBuilder[Player, Button](Stopped).
		States(Stopped, Playing, Normal, Fast, Ejected).
		Events(Play, Speed, Stop, Eject, Tap).
		Children(Playing, Normal, Fast).
		Final(Ejected).
		Rules(
			r{From: Stopped, On: Play, Then: fsm.To(Playing), Reason: ""},
			r{From: Stopped, On: Speed, Then: fsm.Ignore[Player](), Reason: "not playing"},
			r{From: Stopped, On: Stop, Then: fsm.Ignore[Player](), Reason: "already stopped"},
			r{From: Stopped, On: Eject, Then: fsm.To(Ejected), Reason: ""},
			r{From: Stopped, On: Tap, Then: fsm.Ignore[Player](), Reason: "nothing to tap"},
			r{From: Playing, On: Play, Then: fsm.Ignore[Player](), Reason: "already playing"},
			r{From: Normal, On: Speed, Then: fsm.To(Fast), Reason: ""},
			r{From: Fast, On: Speed, Then: fsm.To(Normal), Reason: ""},
			r{From: Playing, On: Stop, Then: fsm.To(Stopped), Reason: ""},
			r{From: Playing, On: Eject, Then: fsm.Reject[Player](), Reason: "stop first"},
			r{From: Playing, On: Tap, Then: fsm.Choice(tap, Fast, Stopped), Reason: ""},
		).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// TestNestedPaths: paths run over leaves, reach every leaf, take every
// transition of every leaf (inherited ones for each leaf they apply to,
// and every branch of a choice), and drive real machines.
func TestNestedPaths(t *testing.T) {
	def := playerDefinition(t)
	paths := fsmtest.Paths(def)
	if u := fsmtest.Uncovered(def, paths); u != nil {
		t.Errorf("Paths leave uncovered: %v", u)
	}
	reached := map[Player]bool{}
	for _, p := range paths {
		for _, s := range p.States {
			reached[s] = true
		}
	}
	for _, l := range def.Leaves() {
		if !reached[l] {
			t.Errorf("no path reaches leaf %v", l)
		}
	}
	if reached[Playing] {
		t.Error("a path names the composite Playing; paths run over leaves")
	}
	// Without the paths through Tap's branches, they are uncovered.
	var noTap []fsmtest.Path[Player, Button]
	for _, p := range paths {
		if !slices.Contains(p.Events, Tap) {
			noTap = append(noTap, p)
		}
	}
	want := []string{"Normal --Tap--> Fast (choice)", "Normal --Tap--> Stopped (choice)", "Fast --Tap--> Fast (choice)", "Fast --Tap--> Stopped (choice)"}
	var got []string
	for _, st := range fsmtest.Uncovered(def, noTap) {
		got = append(got, st.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Uncovered without Tap (-want +got):\n%s", diff)
	}
	p, ok := fsmtest.PathTo(def, Fast)
	if !ok || fmt.Sprint(p) != "Stopped --Play--> Normal --Speed--> Fast" {
		t.Errorf("PathTo(Fast) = %v, %v", p, ok)
	}
	if _, ok := fsmtest.PathTo(def, Playing); ok {
		t.Error("PathTo a composite state found a path")
	}
}

// TestNestedCheck: rows name leaves, and a transition's Want is the leaf
// the machine ends in.
func TestNestedCheck(t *testing.T) {
	def := playerDefinition(t)
	fsmtest.Check(t, def, []fsmtest.Row[Player, Button]{
		{From: Stopped, Event: Play, Want: fsm.To(Normal)},
		{From: Normal, Event: Speed, Want: fsm.To(Fast)},
		{From: Fast, Event: Stop, Want: fsm.To(Stopped)}, // inherited from Playing
		{From: Fast, Event: Eject, Want: fsm.Reject[Player]()},
		{From: Stopped, Event: Eject, Want: fsm.To(Ejected)},
	})
}

// TestNestedExplore: exploration follows every branch of a choice and ends
// a sequence at a final state.
func TestNestedExplore(t *testing.T) {
	def := playerDefinition(t)
	var sawBranches = map[Player]bool{}
	afterFinal := errors.New("a step after the final state")
	err := fsmtest.Explore(def, 4, func(tr fsmtest.Trace[Player, Button]) error {
		for i, st := range tr {
			if st.From == Ejected || (i > 0 && tr[i-1].To == Ejected) {
				return afterFinal
			}
			if st.Kind == fsm.KindChoice {
				sawBranches[st.To] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawBranches[Fast] || !sawBranches[Stopped] {
		t.Errorf("branches explored: %v, want Fast and Stopped", sawBranches)
	}
	// The walk must be able to fail: an invariant Tap breaks is found.
	err = fsmtest.Explore(def, 3, func(tr fsmtest.Trace[Player, Button]) error {
		if tr.State() == Stopped && len(tr) > 0 && tr[len(tr)-1].Kind == fsm.KindChoice {
			return errors.New("tapped into Stopped")
		}
		return nil
	})
	var ee *fsmtest.ExploreError[Player, Button]
	if !errors.As(err, &ee) || ee.Trace.String() != "Stopped --Play--> Normal, Normal --Play--> (ignore), Normal --Tap--> Stopped (choice)" {
		t.Errorf("Explore = %v, want the first trace in lexicographic order", err)
	}
}
