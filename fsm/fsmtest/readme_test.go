package fsmtest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestREADMEMatchesExample keeps the README's fsmtest snippet honest: its
// rows are ExampleCheck's rows, which `go test` runs.
func TestREADMEMatchesExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	rows := func(src string) []string {
		_, body, ok := strings.Cut(src, "fsmtest.Check(t, doorDefinition(), []fsmtest.Row[Door, Action]{\n")
		if !ok {
			return nil
		}
		body, _, _ = strings.Cut(body, "\n\t})")
		var out []string
		for _, line := range strings.Split(body, "\n") {
			out = append(out, strings.TrimSpace(line))
		}
		return out
	}
	want := rows(string(example))
	if len(want) == 0 {
		t.Fatal("no Check call with rows in example_test.go")
	}
	if diff := cmp.Diff(want, rows(string(readme))); diff != "" {
		t.Errorf("README rows differ from ExampleCheck's (-example +README):\n%s", diff)
	}
}
