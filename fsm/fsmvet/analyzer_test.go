package fsmvet_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/connfsm/connfsm/fsm/fsmvet"
)

// TestAnalyzer checks each testdata package against its "want" comments:
// every diagnostic must be wanted and every want must be met. One run
// loads them all, so what they import is loaded and checked once (a run
// per package took 2-3 s each).
func TestAnalyzer(t *testing.T) {
	pkgs := []string{"flat", "builder", "rows", "nested", "nonconst", "imported", "regions", "order", "postpone", "history"}
	results := analysistest.Run(t, analysistest.TestData(), fsmvet.Analyzer, pkgs...)
	var got []string
	for _, r := range results {
		got = append(got, r.Action.Package.PkgPath)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(pkgs))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages analysed (-want +got):\n%s", diff)
	}
}
