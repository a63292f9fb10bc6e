package fsmvet_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rowRE matches a row of the lifecycle table in transitions.go.
var rowRE = regexp.MustCompile(`^\s*\{(\w+), (\w+), `)

// TestLifecycle runs the fsmvet command through go vet on the project's
// root package, as committed and with transitions.go edited through an
// overlay: its last row removed, then repeated.
func TestLifecycle(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	transitions := filepath.Join(root, "transitions.go")
	src, err := os.ReadFile(transitions)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	last := -1
	for i, l := range lines {
		if rowRE.MatchString(l) {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("found no row in transitions.go")
	}
	m := rowRE.FindStringSubmatch(lines[last])
	state, event := m[1], m[2]
	removed := strings.Join(append(append([]string(nil), lines[:last]...), lines[last+1:]...), "")
	repeated := strings.Join(append(append(append([]string(nil), lines[:last+1]...), lines[last]), lines[last+1:]...), "")

	vettool := buildFsmvet(t)
	tests := []struct {
		name string
		src  string // transitions.go; empty: as committed
		want []string
	}{
		{name: "as committed"},
		{
			name: "last row removed",
			src:  removed,
			want: []string{fmt.Sprintf("transitions.go: rule table misses %s × %s", state, event)},
		},
		{
			name: "last row repeated",
			src:  repeated,
			want: []string{fmt.Sprintf("transitions.go: duplicate rule %s × %s (first at line %d)", state, event, last+1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each go vet has its own overlay
			args := []string{"vet", "-vettool=" + vettool}
			if tt.src != "" {
				args = append(args, "-overlay="+overlay(t, transitions, tt.src))
			}
			cmd := exec.Command("go", append(args, ".")...)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("go vet: %v", err)
			}
			got := diagnostics(string(out))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("go vet diagnostics (-want +got):\n%s\noutput:\n%s", diff, out)
			}
			if (err != nil) != (len(tt.want) > 0) {
				t.Errorf("go vet: err = %v, want failure only with diagnostics; output:\n%s", err, out)
			}
		})
	}
}

// buildFsmvet builds the command into a temporary directory and returns
// its path.
func buildFsmvet(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fsmvet")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/fsmvet").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/fsmvet: %v\n%s", err, out)
	}
	return bin
}

// overlay writes src as the replacement of file and returns the overlay
// file for go's -overlay flag.
func overlay(t *testing.T, file, src string) string {
	t.Helper()
	dir := t.TempDir()
	replacement := filepath.Join(dir, filepath.Base(file))
	if err := os.WriteFile(replacement, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(map[string]map[string]string{"Replace": {file: replacement}})
	if err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return ov
}

// diagRE matches a diagnostic line of go vet: file:line:col: message.
var diagRE = regexp.MustCompile(`^(.+?):\d+:\d+: (.*)$`)

// diagnostics returns go vet's diagnostics as "file: message", with the
// file's base name, dropping the "# package" headers.
func diagnostics(out string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if m := diagRE.FindStringSubmatch(l); m != nil {
			got = append(got, filepath.Base(m[1])+": "+m[2])
		}
	}
	return got
}

// TestDocsExample keeps the example of docs/fsmvet.md, which README.md and
// the package documentation quote, true: it makes the edits the example
// describes to transitions.go (the Alive × Lost row removed, the
// Closing × GaveUp row repeated) and compares go vet's output, positions
// included, with the lines the example shows.
func TestDocsExample(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "fsmvet.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, shown, ok := strings.Cut(string(doc), "$ go vet -vettool=$(command -v fsmvet) .\n")
	shown, _, ok2 := strings.Cut(shown, "$ echo $?")
	if !ok || !ok2 {
		t.Fatal("docs/fsmvet.md: no go vet example between \"$ go vet\" and \"$ echo $?\"")
	}
	want := strings.Split(strings.TrimSpace(shown), "\n")

	transitions := filepath.Join(root, "transitions.go")
	src, err := os.ReadFile(transitions)
	if err != nil {
		t.Fatal(err)
	}
	var edited []string
	var removed, repeated bool
	for _, l := range strings.SplitAfter(string(src), "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), "{Alive, Lost, "):
			removed = true
			continue
		case strings.HasPrefix(strings.TrimSpace(l), "{Closing, GaveUp, "):
			repeated = true
			edited = append(edited, l)
		}
		edited = append(edited, l)
	}
	if !removed || !repeated {
		t.Fatalf("transitions.go: found Alive × Lost %v, Closing × GaveUp %v; want both", removed, repeated)
	}

	cmd := exec.Command("go", "vet", "-vettool="+buildFsmvet(t), "-overlay="+overlay(t, transitions, strings.Join(edited, "")), ".")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("go vet: err = %v, want a non-zero exit; output:\n%s", err, out)
	}
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if m := diagRE.FindStringSubmatch(l); m != nil {
			got = append(got, filepath.Base(m[1])+strings.TrimPrefix(l, m[1]))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("docs/fsmvet.md's example (-want +got):\n%s\noutput:\n%s", diff, out)
	}

	// README.md and the package documentation quote lines of it.
	for _, quoting := range []string{filepath.Join(root, "README.md"), "doc.go"} {
		text, err := os.ReadFile(quoting)
		if err != nil {
			t.Fatal(err)
		}
		var quoted int
		for _, l := range strings.Split(string(text), "\n") {
			l = strings.TrimSpace(strings.TrimPrefix(l, "//"))
			if !strings.HasPrefix(l, "transitions.go:") {
				continue
			}
			quoted++
			if !slices.Contains(got, l) {
				t.Errorf("%s quotes %q, which go vet does not say: %q", quoting, l, got)
			}
		}
		if quoted == 0 {
			t.Errorf("%s quotes no line of the example", quoting)
		}
	}
}
