package fsm

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzNested builds a nested definition named by the fuzz input: a
// composite with two children and tasks, a leaf with a timeout and a
// choice, and a final state.
func fuzzNested(t *testing.T, s0, s1, s2, e0, e1, task, reason string) *Definition[fuzzName, fuzzName] {
	t.Helper()
	states := fuzzDistinct(s0, s1, s2, s0+"q", s1+"f")
	events := fuzzDistinct(e0, e1)
	p, c1, c2, q, f := fuzzName{0, states[0]}, fuzzName{1, states[1]}, fuzzName{2, states[2]}, fuzzName{3, states[3]}, fuzzName{4, states[4]}
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
	pick := func(env, payload any) fuzzName { return f }
	type r = Rule[fuzzName, fuzzName]
	d, err := NewBuilder[fuzzName, fuzzName](p).
		States(p, c1, c2, q, f).
		Events(x, y).
		Children(p, c1, c2).
		Final(f).
		Rules(
			r{c1, x, To(c2), reason},
			r{c2, x, Ignore[fuzzName](), reason},
			r{p, y, To(q), reason},
			r{q, x, To(p), ""},
			r{q, y, Choice(pick, p, f), reason},
		).
		Task(p, task, wait).
		Task(c1, task+"2", wait).
		FailureEvent(p, y).
		Timeout(q, time.Second, x).
		Build()
	if err != nil {
		t.Fatalf("building the nested fuzz definition: %v", err)
	}
	return d
}

// Every line of a nested WriteMermaid's output has one of these forms.
var mermaidNestedLine = []*regexp.Regexp{
	regexp.MustCompile(`^stateDiagram-v2$`),
	regexp.MustCompile(`^(?: {4})+state "([^"]*)" as s\d+(?: \{)?$`),
	regexp.MustCompile(`^(?: {4})+\}$`),
	regexp.MustCompile(`^(?: {4})+s\d+ : (.+)$`), // descriptions of leaves only
	regexp.MustCompile(`^(?: {4})+\[\*\] --> s\d+$`),
	// Edges only at the top level: Mermaid moves a state into the last
	// block that names it.
	regexp.MustCompile(`^ {4}s\d+ --> s\d+(?: : (.+))?$`),
	regexp.MustCompile(`^ {4}s\d+ --> \[\*\]$`),
	regexp.MustCompile(`^ {4}state c\d+_\d+ <<choice>>$`),
	regexp.MustCompile(`^ {4}s\d+ --> c\d+_\d+(?: : (.+))?$`),
	regexp.MustCompile(`^ {4}c\d+_\d+ --> s\d+$`),
}

// FuzzNestedDiagrams checks the three formats of a nested definition with
// arbitrary names: Mermaid statements of known forms whose labels hold no
// structure and whose blocks balance, DOT that balances and renders, and
// Markdown rows with the right number of cells.
func FuzzNestedDiagrams(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, s0, s1, s2, e0, e1, task, reason string) {
		d := fuzzNested(t, s0, s1, s2, e0, e1, task, reason)
		checkFuzzDiagrams(t, d, mermaidNestedLine, 3, 3) // leaves c1, c2, q
	})
}

// checkFuzzDiagrams checks the three formats of d: Mermaid statements of
// the forms lines allows, whose labels hold no structure and whose blocks
// balance; DOT that balances and renders; Markdown whose first part has a
// row per leaf (rows) and which has parts parts.
func checkFuzzDiagrams(t *testing.T, d *Definition[fuzzName, fuzzName], lines []*regexp.Regexp, rows, parts int) {
	t.Helper()
	var mer bytes.Buffer
	if err := d.WriteMermaid(&mer); err != nil {
		t.Fatal(err)
	}
	text := strings.TrimSuffix(mer.String(), "\n")
	open := 0
	for _, line := range strings.Split(text, "\n") {
		var label string
		matched := false
		for _, re := range lines {
			if m := re.FindStringSubmatch(line); m != nil {
				matched = true
				if len(m) > 1 {
					label = m[1]
				}
				break
			}
		}
		if !matched {
			t.Fatalf("line %q is no Mermaid statement WriteMermaid makes:\n%s", line, text)
		}
		if strings.HasSuffix(line, " {") {
			open++
		} else if strings.TrimSpace(line) == "}" {
			open--
		}
		// A composite's label holds its lines joined by <br>.
		for _, part := range strings.Split(label, "<br>") {
			bare := mermaidEntity.ReplaceAllString(part, "\u00b6")
			if i := strings.IndexAny(bare, "\"\r\n:;#%<>[]{}\\|`"); i >= 0 {
				t.Fatalf("label %q holds a raw %q:\n%s", label, bare[i], text)
			}
		}
	}
	if open != 0 {
		t.Fatalf("composite blocks do not balance:\n%s", text)
	}

	var dot bytes.Buffer
	if err := d.WriteDOT(&dot); err != nil {
		t.Fatal(err)
	}
	if err := dotBalanced(dot.String()); err != "" {
		t.Fatalf("%s:\n%s", err, dot.String())
	}
	if dotPath, _ := exec.LookPath("dot"); dotPath != "" {
		cmd := exec.Command(dotPath, "-Tsvg")
		cmd.Stdin = bytes.NewReader(dot.Bytes())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("dot -Tsvg: %v: %s\ninput:\n%s", err, stderr.String(), dot.String())
		}
	}

	var md bytes.Buffer
	if err := d.WriteMatrix(&md); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(md.String(), "\n"), "\n\n")
	if len(got) != parts {
		t.Fatalf("%d parts, want %d:\n%s", len(got), parts, md.String())
	}
	matrix := strings.Split(got[0], "\n")
	if want := 2 + rows; len(matrix) != want { // header, rule, a row per leaf
		t.Fatalf("%d matrix rows, want %d:\n%s", len(matrix), want, md.String())
	}
	for _, row := range matrix {
		checkMatrixRow(t, row, len(d.Events())+1, md.String())
	}
	if !utf8.ValidString(md.String()) {
		t.Fatal("matrix is not valid UTF-8")
	}
}
