package fsm_test

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

// TestDifferentialLooplab drives random definitions and event sequences
// through this engine and through github.com/looplab/fsm, the oracle for
// plain transitions, and compares the state after every event and whether
// the event was refused. Ignore and Reject cells are absent from looplab's
// table, where firing them fails with InvalidEventError (or
// UnknownEventError when no state handles the event) and leaves the state.
func TestDifferentialLooplab(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nS := rapid.IntRange(1, 5).Draw(t, "states")
		nE := rapid.IntRange(1, 4).Draw(t, "events")
		states := make([]state, nS)
		for i := range states {
			states[i] = state(i)
		}
		events := make([]event, nE)
		for i := range events {
			events[i] = event(i)
		}
		kinds := make([][]fsm.Kind, nS)
		targets := make([][]state, nS)
		for _, s := range states {
			kinds[s], targets[s] = make([]fsm.Kind, nE), make([]state, nE)
			for _, e := range events {
				kinds[s][e] = rapid.SampledFrom([]fsm.Kind{fsm.KindTransition, fsm.KindTransition, fsm.KindIgnore, fsm.KindReject}).
					Draw(t, fmt.Sprintf("%v×%v", s, e))
				targets[s][e] = state(rapid.IntRange(0, nS-1).Draw(t, fmt.Sprintf("%v×%v target", s, e)))
			}
		}
		// Mostly, redirect cells until every state is reachable; otherwise
		// the build must fail exactly for the unreachable ones.
		if rapid.IntRange(0, 3).Draw(t, "repair") > 0 {
			for range 2 * nS {
				unreachable := reachCheck(rulesOf(kinds, targets), nS)
				if len(unreachable) == 0 {
					break
				}
				reachable := slices.DeleteFunc(slices.Clone(states), func(s state) bool { return slices.Contains(unreachable, s) })
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
		d, err := fsm.NewBuilder[state, event](A).States(states...).Events(events...).Rules(rules...).Build()
		if unreachable := reachCheck(rules, nS); len(unreachable) > 0 {
			// The build must fail for exactly these states, and only them.
			var be *fsm.BuildError
			if !errors.As(err, &be) {
				t.Fatalf("Build = %v, want a *BuildError for unreachable %v", err, unreachable)
			}
			var want []string
			for _, s := range unreachable {
				want = append(want, fmt.Sprintf("state %v is unreachable from A", s))
			}
			if diff := cmp.Diff(want, be.Problems); diff != "" {
				t.Fatalf("problems (-want +got):\n%s", diff)
			}
			return
		}
		if err != nil {
			t.Fatalf("Build: %v", err)
		}

		var last fsm.Record[state, event]
		m := d.Start(context.Background(), fsm.Config[state, event]{Observer: func(_ context.Context, r fsm.Record[state, event]) { last = r }})
		defer m.Stop(context.Background())
		oracle := looplab.NewFSM(A.String(), desc, nil)
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
				t.Fatalf("step %d: %v in %v: state %s, looplab %s", i, e, from, got, want)
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
func rulesOf(kinds [][]fsm.Kind, targets [][]state) []rule {
	var rules []rule
	for s := range kinds {
		for e, k := range kinds[s] {
			r := rule{From: state(s), On: event(e), Reason: "random"}
			switch k {
			case fsm.KindTransition:
				r.Then, r.Reason = fsm.To(targets[s][e]), ""
			case fsm.KindIgnore:
				r.Then = fsm.Ignore[state]()
			default:
				r.Then = fsm.Reject[state]()
			}
			rules = append(rules, r)
		}
	}
	return rules
}

// reachCheck returns, in order, the states no transition path leads to from
// A: computed here independently of the engine.
func reachCheck(rules []rule, nS int) []state {
	seen := map[state]bool{A: true}
	for changed := true; changed; {
		changed = false
		for _, r := range rules {
			if r.Then.Kind == fsm.KindTransition && seen[r.From] && !seen[r.Then.To] {
				seen[r.Then.To], changed = true, true
			}
		}
	}
	var out []state
	for s := range nS {
		if !seen[state(s)] {
			out = append(out, state(s))
		}
	}
	return slices.Clip(out)
}
