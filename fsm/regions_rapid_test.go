package fsm

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestRegionsRandom builds random definitions with parallel states,
// histories, internal transitions and tasks, and walks each with random
// events on a machine and on a Position side by side: they must agree
// after every event, and every configuration must be one (a composite with
// one active child, a parallel state with all its regions).
func TestRegionsRandom(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// Many random definitions leave a leaf unreachable (Build refuses
		// them): draw again, up to a bound, for one with parallel states.
		var d *Definition[int, int]
		for i := 0; i < 20 && (d == nil || !d.parallel); i++ {
			d = genRegionDef(t)
		}
		if d == nil {
			return
		}
		walkAgainstMachine(t, d, rapid.Uint64().Draw(t, "seed"), 25)
	})
}

const rHistory = 100 // the history of composite c is rHistory + c

func genRegionDef(t *rapid.T) *Definition[int, int] {
	const maxStates = 14
	b := NewBuilder[int, int](0)
	n := 0
	var composites, all []int
	parallel := map[int]bool{}
	kids := map[int][]int{}
	var gen func(depth int, compound bool) int
	gen = func(depth int, compound bool) int {
		s := n
		n++
		all = append(all, s)
		kind := 0 // leaf
		if compound {
			kind = 1
		} else if depth > 0 && n < maxStates {
			kind = rapid.IntRange(0, 4).Draw(t, fmt.Sprintf("kind %d", s))
		}
		switch {
		case kind == 0:
			return s
		case kind >= 3 && n+4 < maxStates: // parallel: two or three regions
			parallel[s] = true
			for range rapid.IntRange(2, 3).Draw(t, fmt.Sprintf("regions of %d", s)) {
				kids[s] = append(kids[s], gen(depth-1, true))
			}
			b.Parallel(s, kids[s]...)
		default:
			for range rapid.IntRange(1, 3).Draw(t, fmt.Sprintf("children of %d", s)) {
				kids[s] = append(kids[s], gen(max(depth-1, 0), false))
			}
			b.Children(s, kids[s]...)
		}
		composites = append(composites, s)
		return s
	}
	for range rapid.IntRange(1, 2).Draw(t, "top") {
		gen(3, false)
	}
	b.States(all...)
	const nE = 3
	b.Events(0, 1, 2)
	var hists []int
	for _, c := range composites {
		if rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("history of %d", c)) == 0 {
			kind := rapid.SampledFrom([]HistoryKind{Shallow, Deep}).Draw(t, fmt.Sprintf("history kind %d", c))
			b.History(c, kind, rHistory+c)
			hists = append(hists, rHistory+c)
		}
	}
	below := func(c int) []int { // c's proper descendants and its histories' below it
		var out []int
		var walk func(s int)
		walk = func(s int) {
			for _, k := range kids[s] {
				out = append(out, k)
				walk(k)
			}
		}
		walk(c)
		for _, h := range hists {
			for _, x := range append([]int{c}, out...) {
				if h == rHistory+x {
					out = append(out, h)
				}
			}
		}
		return out
	}
	declared := map[[2]int]bool{}
	type r = Rule[int, int]
	for _, s := range all {
		for e := range nE {
			name := fmt.Sprintf("rule %d %d", s, e)
			var rule *r
			switch rapid.IntRange(0, 8).Draw(t, name) {
			case 0, 1, 8:
				rule = &r{s, e, To(rapid.SampledFrom(all).Draw(t, name+" to")), ""}
			case 2:
				if len(hists) > 0 {
					rule = &r{s, e, To(rapid.SampledFrom(hists).Draw(t, name+" history")), ""}
				}
			case 3:
				if d := below(s); len(d) > 0 && !parallel[s] {
					rule = &r{s, e, Internal(rapid.SampledFrom(d).Draw(t, name+" internal")), ""}
				}
			case 4:
				rule = &r{s, e, Ignore[int](), "i"}
			case 5:
				if rapid.IntRange(0, 3).Draw(t, name+" reject") == 0 {
					rule = &r{s, e, Reject[int](), "r"}
				}
			}
			if rule != nil {
				b.Rules(*rule)
				declared[[2]int{s, e}] = true
			}
		}
	}
	parentOf := map[int]int{}
	for p, ks := range kids {
		for _, k := range ks {
			parentOf[k] = p
		}
	}
	for _, s := range all {
		if len(kids[s]) > 0 {
			continue
		}
		for e := range nE {
			covered := false
			for x, ok := s, true; ok; x, ok = parentOf[x] {
				covered = covered || declared[[2]int{x, e}]
			}
			if !covered {
				b.Rules(r{s, e, Ignore[int](), "filler"})
			}
		}
	}
	for _, s := range all {
		if rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("task %d", s)) == 0 {
			b.Task(s, "t", func(ctx context.Context, _ Transition[int, int], _ Emit[int]) error {
				<-ctx.Done()
				return nil
			})
		}
	}
	d, err := b.Build()
	if err != nil {
		for _, p := range err.(*BuildError).Problems {
			if !strings.Contains(p, "unreachable") {
				t.Fatalf("Build: %v", err)
			}
		}
		return nil
	}
	return d
}
