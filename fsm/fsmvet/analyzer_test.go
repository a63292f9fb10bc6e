package fsmvet_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/connfsm/connfsm/fsm/fsmvet"
)

// TestAnalyzer checks each testdata package against its "want" comments:
// every diagnostic must be wanted and every want must be met.
func TestAnalyzer(t *testing.T) {
	for _, pkg := range []string{"flat", "builder", "rows", "nested", "nonconst", "imported", "regions", "order", "postpone", "history"} {
		t.Run(pkg, func(t *testing.T) {
			analysistest.Run(t, analysistest.TestData(), fsmvet.Analyzer, pkg)
		})
	}
}
