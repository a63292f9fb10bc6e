package fsmtest_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
)

type doorPath = fsmtest.Path[Door, Action]
type doorStep = fsmtest.Step[Door, Action]

func TestPathsDoor(t *testing.T) {
	// Closed × Push and Closed × Lock are prefixes of the two paths, so they
	// are left out.
	want := []doorPath{
		{Events: []Action{Push, Shut}, States: []Door{Closed, Open, Closed}},
		{Events: []Action{Lock, Unlock}, States: []Door{Closed, Locked, Closed}},
	}
	if diff := cmp.Diff(want, fsmtest.Paths(doorDefinition())); diff != "" {
		t.Errorf("Paths (-want +got):\n%s", diff)
	}
}

func TestPathsDriveRealMachines(t *testing.T) {
	def := doorDefinition()
	paths := fsmtest.Paths(def)
	visited := map[Door]bool{}
	for _, p := range paths {
		ctx := context.Background()
		m := def.Start(ctx, fsm.Config[Door, Action]{})
		got := []Door{m.State()}
		for _, e := range p.Events {
			if err := m.Fire(ctx, e); err != nil {
				t.Errorf("%v: Fire(%v): %v", p, e, err)
			}
			got = append(got, m.State())
		}
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p.States, got); diff != "" {
			t.Errorf("states visited along %v (-want +got):\n%s", p, diff)
		}
		for _, s := range got {
			visited[s] = true
		}
	}
	for _, s := range def.States() {
		if !visited[s] {
			t.Errorf("no path visits %v", s)
		}
	}
}

func TestUncovered(t *testing.T) {
	def := doorDefinition()
	paths := fsmtest.Paths(def)
	lockUnlock := []doorStep{
		{From: Closed, Event: Lock, Kind: fsm.KindTransition, To: Locked},
		{From: Locked, Event: Unlock, Kind: fsm.KindTransition, To: Closed},
	}
	tests := []struct {
		name  string
		paths []doorPath
		want  []doorStep
	}{
		{"Paths", paths, nil},
		{"first path only", paths[:1], lockUnlock},
		{"ignored and rejected events keep the state", []doorPath{
			{Events: []Action{Push, Lock, Push, Shut, Shut, Lock, Push, Unlock, Push}},
		}, nil},
		{"unknown event ends the replay", []doorPath{
			{Events: []Action{Push, Shut}}, {Events: []Action{Action(9), Lock, Unlock}},
		}, lockUnlock},
		{"none", nil, []doorStep{
			{From: Open, Event: Shut, Kind: fsm.KindTransition, To: Closed},
			{From: Closed, Event: Push, Kind: fsm.KindTransition, To: Open},
			lockUnlock[0], lockUnlock[1],
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, fsmtest.Uncovered(def, tt.paths)); diff != "" {
				t.Errorf("Uncovered (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPathTo(t *testing.T) {
	def := doorDefinition()
	tests := []struct {
		to     Door
		want   doorPath
		wantOK bool
	}{
		{Closed, doorPath{States: []Door{Closed}}, true},
		{Open, doorPath{Events: []Action{Push}, States: []Door{Closed, Open}}, true},
		{Locked, doorPath{Events: []Action{Lock}, States: []Door{Closed, Locked}}, true},
		{Door(7), doorPath{}, false},
	}
	for _, tt := range tests {
		got, ok := fsmtest.PathTo(def, tt.to)
		if ok != tt.wantOK {
			t.Errorf("PathTo(%d) ok = %v, want %v", int(tt.to), ok, tt.wantOK)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("PathTo(%d) (-want +got):\n%s", int(tt.to), diff)
		}
	}
}

func TestPathsWithoutTransitions(t *testing.T) {
	def, err := fsm.NewBuilder[Door, Action](Closed).States(Closed).Events(Push).
		Rules(fsm.Rule[Door, Action]{From: Closed, On: Push, Then: fsm.Reject[Door](), Reason: "painted on the wall"}).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	want := []doorPath{{States: []Door{Closed}}}
	if diff := cmp.Diff(want, fsmtest.Paths(def)); diff != "" {
		t.Errorf("Paths (-want +got):\n%s", diff)
	}
	if got := fsmtest.Uncovered(def, nil); got != nil {
		t.Errorf("Uncovered = %v, want nil", got)
	}
}

func TestPathString(t *testing.T) {
	p := doorPath{Events: []Action{Lock, Unlock}, States: []Door{Closed, Locked, Closed}}
	if got, want := p.String(), "Closed --Lock--> Locked --Unlock--> Closed"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
