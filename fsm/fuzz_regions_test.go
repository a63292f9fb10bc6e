package fsm

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// fuzzRegions builds a definition with a parallel state named by the fuzz
// input: P holds the regions A{a1, a2} and B{b1, b2}, with a deep history
// of P, an internal rule on B, a postponing leaf, tasks in a region and a
// state Out beside P.
func fuzzRegions(t *testing.T, s0, s1, s2, e0, e1, task, reason string) *Definition[fuzzName, fuzzName] {
	t.Helper()
	names := fuzzDistinct(s0, s1, s2, s0+"a1", s0+"a2", s1+"b1", s1+"b2", s2+"out", s2+"h")
	st := make([]fuzzName, len(names))
	for i, n := range names {
		st[i] = fuzzName{i, n}
	}
	p, ra, rb, a1, a2, b1, b2, out, h := st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7], st[8]
	events := fuzzDistinct(e0, e1)
	x, y := fuzzName{0, events[0]}, fuzzName{1, events[1]}
	if strings.TrimSpace(reason) == "" {
		reason += "why"
	}
	if task == "" {
		task = "task"
	}
	wait := func(ctx context.Context, _ Transition[fuzzName, fuzzName], _ Emit[fuzzName]) error {
		<-ctx.Done()
		return nil
	}
	type r = Rule[fuzzName, fuzzName]
	d, err := NewBuilder[fuzzName, fuzzName](p).
		States(p, ra, a1, a2, rb, b1, b2, out).
		Events(x, y).
		Parallel(p, ra, rb).
		Children(ra, a1, a2).
		Children(rb, b1, b2).
		History(p, Deep, h).
		Rules(
			r{a1, x, To(a2), reason},
			r{a2, x, Postpone[fuzzName](), reason},
			r{rb, x, Internal(b2), reason},
			r{b2, x, Ignore[fuzzName](), reason},
			r{p, y, To(out), reason},
			r{out, x, Ignore[fuzzName](), reason},
			r{out, y, To(h), reason},
		).
		Task(ra, task, wait).
		Task(b1, task+"2", wait).
		Build()
	if err != nil {
		t.Fatalf("building the regions fuzz definition: %v", err)
	}
	return d
}

// Every line of WriteMermaid's output for fuzzRegions has one of these
// forms: the nested ones, a region separator and a history node.
var mermaidRegionLine = append([]*regexp.Regexp{
	regexp.MustCompile(`^(?: {4})+--$`),
	regexp.MustCompile(`^(?: {4})+state "(#91;H\*?#93;)" as h\d+$`),
	regexp.MustCompile(`^ {4}s\d+ --> h\d+(?: : (.+))?$`),
}, mermaidNestedLine...)

// FuzzRegionDiagrams checks the three formats of a definition with
// parallel regions, a history, an internal rule and a postpone, named
// arbitrarily: as FuzzNestedDiagrams does for a nested one.
func FuzzRegionDiagrams(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, s0, s1, s2, e0, e1, task, reason string) {
		d := fuzzRegions(t, s0, s1, s2, e0, e1, task, reason)
		// Rows: a1, a2, b1, b2, out. Parts: the matrix, the parallel
		// states, the task table.
		checkFuzzDiagrams(t, d, mermaidRegionLine, 5, 3)
	})
}
