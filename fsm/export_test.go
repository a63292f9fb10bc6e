package fsm

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Golden files are rewritten with -update. Another test file of the package
// may declare the same flag: it is registered here only if it is not yet
// (init runs after every package-level flag.Bool), and shared otherwise.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func exportUpdating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// exportState and exportEvent have names that are hard on every output
// format: quotes, pipes, colons, semicolons, newlines, backslashes,
// ampersands, angle brackets, Mermaid keywords and non-ASCII text.
type exportState int

const (
	exIdle exportState = iota
	exBusy
	exPipe
	exDone
)

func (s exportState) String() string {
	return [...]string{"Idle", `Busy "quoted"`, "pipe | colon: semi;\nnext line", "Done ✓ 終"}[s]
}

type exportEvent int

const (
	exGo exportEvent = iota
	exStop
	exTurn
)

func (e exportEvent) String() string {
	return [...]string{"go", "stop & <halt> [[fork]]", `direction LR \ #quot; 50%%`}[e]
}

func exportDefinition(t testing.TB) *Definition[exportState, exportEvent] {
	t.Helper()
	nop := func(context.Context, Transition[exportState, exportEvent]) {}
	wait := func(ctx context.Context, _ Transition[exportState, exportEvent], _ Emit[exportEvent]) error {
		<-ctx.Done()
		return nil
	}
	d, err := NewBuilder[exportState, exportEvent](exIdle).
		States(exIdle, exBusy, exPipe, exDone).
		Events(exGo, exStop, exTurn).
		Rules(
			Rule[exportState, exportEvent]{exIdle, exGo, To(exBusy), "start working"},
			Rule[exportState, exportEvent]{exIdle, exStop, To(exDone), ""},
			Rule[exportState, exportEvent]{exIdle, exTurn, Ignore[exportState](), `nothing "to" turn | ever`},
			Rule[exportState, exportEvent]{exBusy, exGo, Ignore[exportState](), "already busy"},
			Rule[exportState, exportEvent]{exBusy, exStop, To(exPipe), "wind down: carefully"},
			Rule[exportState, exportEvent]{exBusy, exTurn, Reject[exportState](), "cannot turn while busy\nsecond *line*"},
			Rule[exportState, exportEvent]{exPipe, exGo, To(exBusy), "again"},
			Rule[exportState, exportEvent]{exPipe, exStop, To(exDone), "done"},
			Rule[exportState, exportEvent]{exPipe, exTurn, To(exPipe), `a\b`},
			Rule[exportState, exportEvent]{exDone, exGo, Ignore[exportState](), "terminal"},
			Rule[exportState, exportEvent]{exDone, exStop, Ignore[exportState](), "terminal"},
			Rule[exportState, exportEvent]{exDone, exTurn, Ignore[exportState](), "terminal"},
		).
		OnEnter(exBusy, nop).
		OnExit(exBusy, nop).
		Action(exIdle, exGo, nop).
		Task(exBusy, "reader", wait).
		Task(exBusy, "heart|beat: 1", wait).
		Task(exPipe, `say "x"`, wait).
		FailureEvent(exBusy, exStop).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestExportGolden(t *testing.T) {
	d := exportDefinition(t)
	tests := []struct {
		golden string
		write  func(io.Writer) error
	}{
		{"mermaid.golden", d.WriteMermaid},
		{"dot.golden", d.WriteDOT},
		{"matrix.golden", d.WriteMatrix},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var got bytes.Buffer
			if err := tt.write(&got); err != nil {
				t.Fatal(err)
			}
			exportCheckGolden(t, filepath.Join("testdata", tt.golden), got.Bytes())
		})
	}
}

// exportCheckGolden compares got with the golden file at path, or rewrites the
// file with -update.
func exportCheckGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if exportUpdating() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// TestExportDeterministic guards against map iteration or other hidden
// order: two renderings of two separately built definitions are identical.
func TestExportDeterministic(t *testing.T) {
	for _, format := range []string{"mermaid", "dot", "matrix"} {
		t.Run(format, func(t *testing.T) {
			render := func() string {
				d := exportDefinition(t)
				var b bytes.Buffer
				var err error
				switch format {
				case "mermaid":
					err = d.WriteMermaid(&b)
				case "dot":
					err = d.WriteDOT(&b)
				default:
					err = d.WriteMatrix(&b)
				}
				if err != nil {
					t.Fatal(err)
				}
				return b.String()
			}
			first := render()
			for range 5 {
				if diff := cmp.Diff(first, render()); diff != "" {
					t.Fatalf("rendering changed between runs (-want +got):\n%s", diff)
				}
			}
		})
	}
}

type exportFailWriter struct{ err error }

func (w exportFailWriter) Write([]byte) (int, error) { return 0, w.err }

// TestExportWriteError checks that a failing writer's error is returned,
// not swallowed.
func TestExportWriteError(t *testing.T) {
	d := exportDefinition(t)
	sentinel := io.ErrClosedPipe
	for name, write := range map[string]func(io.Writer) error{
		"mermaid": d.WriteMermaid, "dot": d.WriteDOT, "matrix": d.WriteMatrix,
	} {
		if err := write(exportFailWriter{sentinel}); err != sentinel {
			t.Errorf("%s: got error %v, want %v", name, err, sentinel)
		}
	}
}

func TestExportEscape(t *testing.T) {
	tests := []struct {
		name, in                  string
		mermaid, dot, markdownOut string
	}{
		{"plain", "Alive", "Alive", "Alive", "Alive"},
		{"quote", `say "hi"`, "say #quot;hi#quot;", `say \"hi\"`, `say "hi"`},
		{"newline", "a\nb\r\nc", "a b  c", `a\nb\nc`, "a b  c"},
		{"colon semicolon", "a: b; c", "a#58; b#59; c", "a: b; c", "a: b; c"},
		{"pipe", "a|b", "a#124;b", "a|b", `a\|b`},
		{"backslash", `a\b`, "a#92;b", `a\\b`, `a\\b`},
		{"trailing backslash", `a\`, "a#92;", `a\\`, `a\\`},
		{"entity lookalike", "#quot;", "#35;quot#59;", "#quot;", "#quot;"},
		{"ampersand", "&amp;", "#38;amp#59;", "&amp;amp;", `\&amp;`},
		{"fork", "x<<fork>>[[join]]", "x#60;#60;fork#62;#62;#91;#91;join#93;#93;", "x<<fork>>[[join]]", `x\<\<fork\>\>\[\[join\]\]`},
		{"comment", "50%% #c", "50#37;#37; #35;c", "50%% #c", "50%% #c"},
		{"direction", "Direction LR", "Directio#110; LR", "Direction LR", "Direction LR"},
		{"markup", "*b* _i_ `c` ~s~ $m$", "*b* _i_ #96;c#96; #126;s#126; #36;m#36;", "*b* _i_ `c` ~s~ $m$", "\\*b\\* \\_i\\_ \\`c\\` \\~s\\~ \\$m\\$"},
		{"unicode", "Ünï ✓ 終 →", "Ünï ✓ 終 →", "Ünï ✓ 終 →", "Ünï ✓ 終 →"},
		{"unicode space", "a\u00a0b\u2028c", "a#160;b#8232;c", "a\u00a0b\u2028c", "a\u00a0b\u2028c"},
		{"control", "a\x00b\tc\x7f", "a b c ", "a b c ", "a b c "},
		{"invalid utf-8", "a\xffb\uFFFE", "a\uFFFDb\uFFFD", "a\uFFFDb\uFFFD", "a\uFFFDb\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []string{mermaidLabel(tt.in), dotString(tt.in), markdownCell(tt.in)}
			want := []string{tt.mermaid, tt.dot, tt.markdownOut}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("escape(%q) [mermaid, dot, markdown] (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
