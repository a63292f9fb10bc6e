package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	looplab "github.com/looplab/fsm"
	"pgregory.net/rapid"

	"github.com/connfsm/connfsm/fsm"
)

// TestDifferentialLooplab drives random definitions and devent sequences
// through this engine and through github.com/looplab/fsm, the oracle for
// plain transitions, and compares the dstate after every devent and whether
// the devent was refused. Ignore and Reject cells are absent from looplab's
// table, where firing them fails with InvalidEventError (or
// UnknownEventError when no dstate handles the devent) and leaves the dstate.
func TestDifferentialLooplab(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nS := rapid.IntRange(1, 5).Draw(t, "states")
		nE := rapid.IntRange(1, 4).Draw(t, "events")
		states := make([]dstate, nS)
		for i := range states {
			states[i] = dstate(i)
		}
		events := make([]devent, nE)
		for i := range events {
			events[i] = devent(i)
		}
		kinds := make([][]fsm.Kind, nS)
		targets := make([][]dstate, nS)
		for _, s := range states {
			kinds[s], targets[s] = make([]fsm.Kind, nE), make([]dstate, nE)
			for _, e := range events {
				kinds[s][e] = rapid.SampledFrom([]fsm.Kind{fsm.KindTransition, fsm.KindTransition, fsm.KindIgnore, fsm.KindReject}).
					Draw(t, fmt.Sprintf("%v×%v", s, e))
				targets[s][e] = dstate(rapid.IntRange(0, nS-1).Draw(t, fmt.Sprintf("%v×%v target", s, e)))
			}
		}
		// Mostly, redirect cells until every dstate is reachable; otherwise
		// the build must fail exactly for the unreachable ones.
		if rapid.IntRange(0, 3).Draw(t, "repair") > 0 {
			for range 2 * nS {
				unreachable := reachCheck(rulesOf(kinds, targets), nS)
				if len(unreachable) == 0 {
					break
				}
				reachable := slices.DeleteFunc(slices.Clone(states), func(s dstate) bool { return slices.Contains(unreachable, s) })
				from := rapid.SampledFrom(reachable).Draw(t, "repair from")
				on := rapid.SampledFrom(events).Draw(t, "repair on")
				kinds[from][on], targets[from][on] = fsm.KindTransition, unreachable[0]
			}
		}
		rules := rulesOf(kinds, targets)
		var desc looplab.Events
		for _, r := range rules {
			if r.Then.Kind == fsm.KindTransition {
				desc = append(desc, looplab.EventDesc{Name: r.On.String(), Src: []string{r.From.String()}, Dst: r.Then.To.String()})
			}
		}
		d, err := fsm.NewBuilder[dstate, devent](dA).States(states...).Events(events...).Rules(rules...).Build()
		if unreachable := reachCheck(rules, nS); len(unreachable) > 0 {
			// The build must fail for exactly these states, and only them.
			var be *fsm.BuildError
			if !errors.As(err, &be) {
				t.Fatalf("Build = %v, want a *BuildError for unreachable %v", err, unreachable)
			}
			var want []string
			for _, s := range unreachable {
				want = append(want, fmt.Sprintf("state %v is unreachable from %v", s, dA))
			}
			if diff := cmp.Diff(want, be.Problems); diff != "" {
				t.Fatalf("problems (-want +got):\n%s", diff)
			}
			return
		}
		if err != nil {
			t.Fatalf("Build: %v", err)
		}

		var last fsm.Record[dstate, devent]
		m := d.Start(context.Background(), fsm.Config[dstate, devent]{Observer: func(_ context.Context, r fsm.Record[dstate, devent]) { last = r }})
		defer m.Stop(context.Background())
		oracle := looplab.NewFSM(dA.String(), desc, nil)
		ctx := context.Background()
		epoch := uint64(1)
		for i, e := range rapid.SliceOfN(rapid.SampledFrom(events), 1, 40).Draw(t, "fired") {
			from := m.State()
			err := m.Fire(ctx, e)
			lerr := oracle.Event(ctx, e.String())

			var invalid looplab.InvalidEventError
			var unknown looplab.UnknownEventError
			var same looplab.NoTransitionError
			oracleRefused := errors.As(lerr, &invalid) || errors.As(lerr, &unknown)
			if lerr != nil && !oracleRefused && !errors.As(lerr, &same) {
				t.Fatalf("step %d: looplab: %v", i, lerr)
			}
			refused := last.Kind == fsm.RecordIgnored || last.Kind == fsm.RecordRejected
			if refused != oracleRefused {
				t.Fatalf("step %d: %v in %v: refused=%v (record %v), looplab refused=%v (%v)", i, e, from, refused, last.Kind, oracleRefused, lerr)
			}
			if got, want := m.State().String(), oracle.Current(); got != want {
				t.Fatalf("step %d: %v in %v: dstate %s, looplab %s", i, e, from, got, want)
			}
			rejected := errors.Is(err, fsm.ErrRejected)
			if wantRejected := kinds[from][e] == fsm.KindReject; rejected != wantRejected || (err != nil && !rejected) {
				t.Fatalf("step %d: Fire(%v) in %v = %v, want rejected=%v", i, e, from, err, wantRejected)
			}
			if !refused {
				epoch++ // every transition, a self-loop too, is a new entry
			}
			if m.Epoch() != epoch {
				t.Fatalf("step %d: epoch %d, want %d", i, m.Epoch(), epoch)
			}
		}
	})
}

// rulesOf turns a table of kinds and targets into rules.
func rulesOf(kinds [][]fsm.Kind, targets [][]dstate) []drule {
	var rules []drule
	for s := range kinds {
		for e, k := range kinds[s] {
			r := drule{From: dstate(s), On: devent(e), Reason: "random"}
			switch k {
			case fsm.KindTransition:
				r.Then, r.Reason = fsm.To(targets[s][e]), ""
			case fsm.KindIgnore:
				r.Then = fsm.Ignore[dstate]()
			default:
				r.Then = fsm.Reject[dstate]()
			}
			rules = append(rules, r)
		}
	}
	return rules
}

// reachCheck returns, in order, the states no transition path leads to from
// dA: computed here independently of the engine.
func reachCheck(rules []drule, nS int) []dstate {
	seen := map[dstate]bool{dA: true}
	for changed := true; changed; {
		changed = false
		for _, r := range rules {
			if r.Then.Kind == fsm.KindTransition && seen[r.From] && !seen[r.Then.To] {
				seen[r.Then.To], changed = true, true
			}
		}
	}
	var out []dstate
	for s := range nS {
		if !seen[dstate(s)] {
			out = append(out, dstate(s))
		}
	}
	return slices.Clip(out)
}

// The differential test's own states and events: integers named S0, S1...
// and E0, E1... in diagrams, errors and looplab's string keys.
type (
	dstate int
	devent int
	drule  = fsm.Rule[dstate, devent]
)

// dA is the initial state.
const dA dstate = 0

func (s dstate) String() string { return fmt.Sprintf("S%d", int(s)) }
func (e devent) String() string { return fmt.Sprintf("E%d", int(e)) }
