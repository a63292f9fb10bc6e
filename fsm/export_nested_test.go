package fsm

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// exportNested is a three-level definition with names hard on every
// format, tasks at two levels, a failure scope, an inherited rule, an
// override, a choice, a timeout and a final state.
func exportNested(t testing.TB) *Definition[fuzzName, fuzzName] {
	t.Helper()
	var (
		top   = fuzzName{0, `Alive "up"`}
		mid   = fuzzName{1, "Syncing | login"}
		leafA = fuzzName{2, "wait: ack;"}
		leafB = fuzzName{3, "replay\nnext"}
		ready = fuzzName{4, "Ready ✓"}
		down  = fuzzName{5, "Down & <out>"}
		done  = fuzzName{6, "Closed"}
		ack   = fuzzName{0, "Ack"}
		lost  = fuzzName{1, "Lost [x]"}
		retry = fuzzName{2, `direction LR \ 50%%`}
		fin   = fuzzName{3, "Close"}
	)
	wait := func(ctx context.Context, _ Transition[fuzzName, fuzzName], _ Emit[fuzzName]) error {
		<-ctx.Done()
		return nil
	}
	type r = Rule[fuzzName, fuzzName]
	d, err := NewBuilder[fuzzName, fuzzName](down).
		States(top, mid, leafA, leafB, ready, down, done).
		Events(ack, lost, retry, fin).
		Children(top, mid, ready).
		Children(mid, leafA, leafB).
		Final(done).
		Rules(
			r{leafA, ack, To(leafB), "acked"},
			r{leafB, ack, To(ready), "replayed"},
			r{ready, ack, Ignore[fuzzName](), "late *ack*"},
			r{top, lost, To(down), "the connection | failed"},
			r{ready, lost, Reject[fuzzName](), "an override: never lost once ready"},
			r{top, retry, Ignore[fuzzName](), "connected"},
			r{top, fin, To(done), ""},
			r{down, ack, Ignore[fuzzName](), "nothing to ack"},
			r{down, lost, Ignore[fuzzName](), "already down"},
			r{down, retry, Choice(func(env, payload any) fuzzName { return top }, top, done), "retry or give up"},
			r{down, fin, To(done), ""},
		).
		Task(top, "reader", wait).
		Task(top, `heart"beat`, wait).
		Task(mid, "sync", wait).
		FailureEvent(top, lost).
		Timeout(down, 2*time.Second, retry).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestExportNestedGolden(t *testing.T) {
	d := exportNested(t)
	for _, tt := range []struct {
		golden string
		write  func(io.Writer) error
	}{
		{"nested.mermaid.golden", d.WriteMermaid},
		{"nested.dot.golden", d.WriteDOT},
		{"nested.matrix.golden", d.WriteMatrix},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			var got bytes.Buffer
			if err := tt.write(&got); err != nil {
				t.Fatal(err)
			}
			exportCheckGolden(t, filepath.Join("testdata", tt.golden), got.Bytes())
		})
	}
}
