package bench

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// Parallel regions: Both is a parallel state with two regions, Flow
// {Flowing, Backlogged} and Phase {Syncing, Ready}. Flip moves the Flow
// region only; FlipBoth moves both regions in one step. No peer here has
// parallel regions, so connfsm is measured alone.
type rstate int

const (
	Both rstate = iota
	Flow
	Flowing
	Backlogged
	Phase
	Syncing
	Ready
)

func (s rstate) String() string {
	return [...]string{"Both", "Flow", "Flowing", "Backlogged", "Phase", "Syncing", "Ready"}[s]
}

type revent int

const (
	Flip revent = iota
	FlipBoth
)

func (e revent) String() string { return [...]string{"Flip", "FlipBoth"}[e] }

func newRegions(tb testing.TB) *fsm.Machine[rstate, revent] {
	tb.Helper()
	type r = fsm.Rule[rstate, revent]
	def, err := fsm.NewBuilder[rstate, revent](Both).
		States(Both, Flow, Flowing, Backlogged, Phase, Syncing, Ready).
		Events(Flip, FlipBoth).
		Parallel(Both, Flow, Phase).
		Children(Flow, Flowing, Backlogged).
		Children(Phase, Syncing, Ready).
		Rules(
			r{From: Flowing, On: Flip, Then: fsm.To(Backlogged)},
			r{From: Backlogged, On: Flip, Then: fsm.To(Flowing)},
			r{From: Phase, On: Flip, Then: fsm.Ignore[rstate](), Reason: "the flow's"},
			r{From: Flowing, On: FlipBoth, Then: fsm.To(Backlogged)},
			r{From: Backlogged, On: FlipBoth, Then: fsm.To(Flowing)},
			r{From: Syncing, On: FlipBoth, Then: fsm.To(Ready)},
			r{From: Ready, On: FlipBoth, Then: fsm.To(Syncing)},
		).
		Build()
	if err != nil {
		tb.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[rstate, revent]{})
	tb.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return m
}

func TestRegions(t *testing.T) {
	m := newRegions(t)
	ctx := context.Background()
	for _, tt := range []struct {
		event revent
		want  []rstate
	}{
		{Flip, []rstate{Both, Flow, Backlogged, Phase, Syncing}},
		{FlipBoth, []rstate{Both, Flow, Flowing, Phase, Ready}},
		{Flip, []rstate{Both, Flow, Backlogged, Phase, Ready}},
	} {
		if err := m.Fire(ctx, tt.event); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, m.Configuration()); diff != "" {
			t.Errorf("after %v (-want +got):\n%s", tt.event, diff)
		}
	}
}

// BenchmarkRegions fires an event that moves one region, and one that
// moves both, at a machine with two parallel regions.
func BenchmarkRegions(b *testing.B) {
	for _, bb := range []struct {
		name  string
		event revent
	}{{"one-region", Flip}, {"both-regions", FlipBoth}} {
		b.Run(bb.name, func(b *testing.B) {
			m := newRegions(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Fire(ctx, bb.event); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
