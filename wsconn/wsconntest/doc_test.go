package wsconntest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDocShowsExampleReconnect keeps the test the package documentation
// shows runnable: its body is TestExampleReconnect's, which go test runs.
func TestDocShowsExampleReconnect(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	// The doc's copy, its comment markers and one level of indent removed.
	var shown []string
	in := false
	for _, l := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(l, "//\tfunc TestReconnect("):
			in = true
		case in && (l == "//" || !strings.HasPrefix(l, "//\t")):
			in = false
		}
		if in {
			shown = append(shown, strings.TrimPrefix(l, "//\t"))
		}
	}
	if len(shown) == 0 {
		t.Fatal("doc.go shows no func TestReconnect")
	}
	_, body, ok := strings.Cut(string(src), "\nfunc TestExampleReconnect(")
	if !ok {
		t.Fatal("example_test.go has no TestExampleReconnect")
	}
	body, _, _ = strings.Cut(body, "\n}\n")
	want := strings.Split("func TestReconnect("+body+"\n}", "\n")
	if diff := cmp.Diff(want, shown); diff != "" {
		t.Errorf("doc.go's test differs from TestExampleReconnect (-test +doc):\n%s", diff)
	}
}
