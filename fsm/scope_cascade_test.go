package fsm_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/tasks"
)

// TestChildScopeEndsWithItsParent: the tasks of a child state end when
// the scope of its parent ends by a failure of the parent's own task, with
// that failure as their cause, whether the child was active then or is
// entered afterwards (while the parent, whose failure fires no event, is
// still active).
func TestChildScopeEndsWithItsParent(t *testing.T) {
	type s int
	type e int
	const (
		p s = iota
		a
		b
		q
	)
	const (
		toB e = iota
		leave
	)
	tests := []struct {
		name      string
		failFirst bool // the parent's task fails before the child is entered
	}{
		{"child active when the parent's task fails", false},
		{"child entered after the parent's task failed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fail := make(chan struct{})
				started := make(chan error, 1) // the child task's ctx.Err() as it starts
				ended := make(chan error, 1)   // its cause once its context ends
				failed := make(chan struct{}, 1)
				def, err := fsm.NewBuilder[s, e](p).States(p, a, b, q).Events(toB, leave).
					Children(p, a, b).
					Rules(
						fsm.Rule[s, e]{From: p, On: toB, Then: fsm.Ignore[s](), Reason: "already in b"},
						fsm.Rule[s, e]{From: a, On: toB, Then: fsm.To(b)},
						fsm.Rule[s, e]{From: p, On: leave, Then: fsm.To(q)},
						fsm.Rule[s, e]{From: q, On: toB, Then: fsm.Ignore[s](), Reason: "left"},
						fsm.Rule[s, e]{From: q, On: leave, Then: fsm.Ignore[s](), Reason: "left"},
					).
					Task(p, "parent", func(ctx context.Context, _ fsm.Transition[s, e], _ fsm.Emit[e]) error {
						select {
						case <-fail:
							return errors.New("boom")
						case <-ctx.Done():
							return nil
						}
					}).
					Task(b, "child", func(ctx context.Context, _ fsm.Transition[s, e], _ fsm.Emit[e]) error {
						started <- ctx.Err()
						<-ctx.Done()
						ended <- context.Cause(ctx)
						return nil
					}).
					Build()
				if err != nil {
					t.Fatal(err)
				}
				obs := func(_ context.Context, r fsm.Record[s, e]) {
					if r.Kind == fsm.RecordTaskFailed {
						failed <- struct{}{}
					}
				}
				ctx := context.Background()
				m := def.Start(ctx, fsm.Config[s, e]{Observer: obs})
				defer m.Stop(ctx)
				if tt.failFirst {
					close(fail)
					<-failed
				}
				if err := m.Fire(ctx, toB); err != nil {
					t.Fatal(err)
				}
				wantLive := !tt.failFirst
				if got := <-started; (got == nil) != wantLive {
					t.Errorf("the child's context as it starts: err %v, want live %v", got, wantLive)
				}
				if !tt.failFirst {
					close(fail)
				}
				cause := <-ended
				var te *tasks.TaskError
				if !errors.As(cause, &te) {
					t.Fatalf("the child's cause = %v, want the parent's *tasks.TaskError", cause)
				}
				if diff := cmp.Diff("parent", te.Task); diff != "" {
					t.Errorf("the failed task the child's cause names (-want +got):\n%s", diff)
				}
			})
		})
	}
}
