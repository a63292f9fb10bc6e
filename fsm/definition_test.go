package fsm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

func nopHook(context.Context, trans)                                               {}
func nopTask(context.Context, fsm.Transition[state, event], fsm.Emit[event]) error { return nil }

// validBuilder is a complete, valid definition of (A, B) × (Go, Back):
// most build cases add one problem to it.
func validBuilder() *builder {
	return fsm.NewBuilder[state, event](A).States(A, B).Events(Go, Back).Rules(validBuilderRules()...)
}

// buildCases each add one kind of problem to validBuilder.
var buildCases = []struct {
	name  string
	build func() *builder
	want  []string
}{
	{
		name: "undeclared pair",
		build: func() *builder {
			return fsm.NewBuilder[state, event](A).States(A, B).Events(Go, Back).Rules(
				rule{From: A, On: Go, Then: fsm.To(B)},
				rule{From: A, On: Back, Then: fsm.Ignore[state](), Reason: "already in A"},
				rule{From: B, On: Back, Then: fsm.To(A)},
			)
		},
		want: []string{"undeclared: B × Go"},
	},
	{
		name:  "duplicate pair",
		build: func() *builder { return validBuilder().Rules(rule{From: A, On: Go, Then: fsm.To(A)}) },
		want:  []string{"rule A × Go declared twice"},
	},
	{
		name:  "unknown state in From",
		build: func() *builder { return validBuilder().Rules(rule{From: C, On: Go, Then: fsm.To(A)}) },
		want:  []string{"rule C × Go: unknown state C"},
	},
	{
		name: "unknown target",
		build: func() *builder {
			return fsm.NewBuilder[state, event](A).States(A, B).Events(Go, Back).Rules(
				rule{From: A, On: Go, Then: fsm.To(B)},
				rule{From: A, On: Back, Then: fsm.To(C)},
				rule{From: B, On: Go, Then: fsm.Reject[state](), Reason: "cannot happen"},
				rule{From: B, On: Back, Then: fsm.To(A)},
			)
		},
		want: []string{"rule A × Back: unknown target state C"},
	},
	{
		name:  "unknown event",
		build: func() *builder { return validBuilder().Rules(rule{From: A, On: X, Then: fsm.To(B)}) },
		want:  []string{"rule A × X: unknown event X"},
	},
	{
		name: "unreachable state",
		build: func() *builder {
			return validBuilder().States(C).Rules(
				rule{From: C, On: Go, Then: fsm.To(A)},
				rule{From: C, On: Back, Then: fsm.To(B)},
			)
		},
		want: []string{"state C is unreachable from A"},
	},
	{
		name: "ignore without a reason",
		build: func() *builder {
			return fsm.NewBuilder[state, event](A).States(A, B).Events(Go, Back).Rules(
				rule{From: A, On: Go, Then: fsm.To(B)},
				rule{From: A, On: Back, Then: fsm.Ignore[state]()},
				rule{From: B, On: Go, Then: fsm.Reject[state](), Reason: "cannot happen"},
				rule{From: B, On: Back, Then: fsm.To(A)},
			)
		},
		want: []string{"rule A × Back: ignore needs a reason"},
	},
	{
		name: "reject without a reason",
		build: func() *builder {
			return fsm.NewBuilder[state, event](A).States(A, B).Events(Go, Back).Rules(
				rule{From: A, On: Go, Then: fsm.To(B)},
				rule{From: A, On: Back, Then: fsm.Ignore[state](), Reason: "already in A"},
				rule{From: B, On: Go, Then: fsm.Reject[state](), Reason: " \t"},
				rule{From: B, On: Back, Then: fsm.To(A)},
			)
		},
		want: []string{"rule B × Go: reject needs a reason"},
	},
	{
		name: "no outcome",
		build: func() *builder {
			return fsm.NewBuilder[state, event](A).States(A, B).Events(Go, Back).Rules(
				rule{From: A, On: Go, Then: fsm.To(B)},
				rule{From: A, On: Back, Reason: "forgot Then"},
				rule{From: B, On: Go, Then: fsm.Reject[state](), Reason: "cannot happen"},
				rule{From: B, On: Back, Then: fsm.To(A)},
			)
		},
		want: []string{"rule A × Back: no outcome (use To, Internal, Ignore, Reject, Choice or Postpone)"},
	},
	{
		name:  "duplicate state",
		build: func() *builder { return validBuilder().States(A) },
		want:  []string{"state A declared twice"},
	},
	{
		name:  "duplicate event",
		build: func() *builder { return validBuilder().Events(Go) },
		want:  []string{"event Go declared twice"},
	},
	{
		name: "initial state not declared",
		build: func() *builder {
			b := fsm.NewBuilder[state, event](C).States(A, B).Events(Go, Back)
			return b.Rules(validBuilderRules()...)
		},
		want: []string{"initial state C is not declared"},
	},
	{
		name:  "no states and no events",
		build: func() *builder { return fsm.NewBuilder[state, event](A) },
		want:  []string{"no states declared", "no events declared"},
	},
	{
		name:  "enter hook for an unknown state",
		build: func() *builder { return validBuilder().OnEnter(C, nopHook) },
		want:  []string{"enter hook for unknown state C"},
	},
	{
		name:  "exit hook for an unknown state",
		build: func() *builder { return validBuilder().OnExit(C, nopHook) },
		want:  []string{"exit hook for unknown state C"},
	},
	{
		name:  "nil hooks",
		build: func() *builder { return validBuilder().OnEnter(A, nil).OnExit(B, nil) },
		want:  []string{"enter hook for A is nil", "exit hook for B is nil"},
	},
	{
		name:  "task for an unknown state",
		build: func() *builder { return validBuilder().Task(C, "reader", nopTask) },
		want:  []string{`task "reader" for unknown state C`},
	},
	{
		name:  "nil timeout function",
		build: func() *builder { return validBuilder().TimeoutFunc(A, "the wait", nil, Back) },
		want:  []string{"timeout function of A on Back is nil"},
	},
	{
		name:  "nil task",
		build: func() *builder { return validBuilder().Task(A, "reader", nil) },
		want:  []string{`task "reader" of A is nil`},
	},
	{
		name:  "task without a name",
		build: func() *builder { return validBuilder().Task(A, "", nopTask) },
		want:  []string{"task of A has no name"},
	},
	{
		name:  "duplicate task",
		build: func() *builder { return validBuilder().Task(A, "reader", nopTask).Task(A, "reader", nopTask) },
		want:  []string{`task "reader" of A declared twice`},
	},
	{
		name:  "failure event for an unknown state",
		build: func() *builder { return validBuilder().FailureEvent(C, Go) },
		want:  []string{"failure event for unknown state C"},
	},
	{
		name:  "unknown failure event",
		build: func() *builder { return validBuilder().FailureEvent(A, X) },
		want:  []string{"failure event of A: unknown event X"},
	},
	{
		name:  "failure event declared twice",
		build: func() *builder { return validBuilder().FailureEvent(A, Go).FailureEvent(A, Back) },
		want:  []string{"failure event of A declared twice"},
	},
	{
		name:  "action for an unknown pair",
		build: func() *builder { return validBuilder().Action(C, Go, nopHook).Action(A, X, nopHook) },
		want:  []string{"action for C × Go: unknown state or event", "action for A × X: unknown state or event"},
	},
	{
		name:  "nil action",
		build: func() *builder { return validBuilder().Action(A, Go, nil) },
		want:  []string{"action for A × Go is nil"},
	},
	{
		name:  "action on a non-transition",
		build: func() *builder { return validBuilder().Action(A, Back, nopHook).Action(B, Go, nopHook) },
		want:  []string{"action for A × Back: the pair is not a transition", "action for B × Go: the pair is not a transition"},
	},
	{
		name:  "action declared twice",
		build: func() *builder { return validBuilder().Action(A, Go, nopHook).Action(A, Go, nopHook) },
		want:  []string{"action for A × Go declared twice"},
	},
}

func validBuilderRules() []rule {
	return []rule{
		{From: A, On: Go, Then: fsm.To(B)},
		{From: A, On: Back, Then: fsm.Ignore[state](), Reason: "already in A"},
		{From: B, On: Go, Then: fsm.Reject[state](), Reason: "cannot happen"},
		{From: B, On: Back, Then: fsm.To(A)},
	}
}

func buildProblems(t *testing.T, b *builder) []string {
	t.Helper()
	d, err := b.Build()
	if err == nil {
		t.Fatal("Build succeeded, want a *BuildError")
	}
	if d != nil {
		t.Error("Build returned a definition along with its error")
	}
	var be *fsm.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build error %T is not a *BuildError: %v", err, err)
	}
	for _, p := range be.Problems {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("Error() does not list %q:\n%s", p, err)
		}
	}
	return be.Problems
}

func TestBuildValid(t *testing.T) {
	if _, err := validBuilder().Build(); err != nil {
		t.Fatalf("the base of the build cases does not build: %v", err)
	}
}

// TestMustBuild: MustBuild returns what Build returns, and panics with
// the *BuildError Build would return.
func TestMustBuild(t *testing.T) {
	if d := validBuilder().MustBuild(); d == nil {
		t.Fatal("MustBuild of a valid definition returned nil")
	}
	bad := func() *fsm.Builder[state, event] { return validBuilder().States(A) }
	_, want := bad().Build()
	if want == nil {
		t.Fatal("the bad definition builds")
	}
	defer func() {
		got, _ := recover().(error)
		var be *fsm.BuildError
		if !errors.As(got, &be) {
			t.Fatalf("MustBuild panicked with %v, want a *BuildError", got)
		}
		if diff := cmp.Diff(want.Error(), got.Error()); diff != "" {
			t.Errorf("panic (-want +got):\n%s", diff)
		}
	}()
	bad().MustBuild()
}

func TestBuildProblems(t *testing.T) {
	for _, tt := range buildCases {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, buildProblems(t, tt.build())); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildAllProblems: one *BuildError lists every problem of a
// definition that has all of them, each by name.
func TestBuildAllProblems(t *testing.T) {
	b := fsm.NewBuilder[state, event](A).
		States(A, B, A, C).
		Events(Go, Back, Go).
		Rules(
			rule{From: A, On: Go, Then: fsm.To(B)},
			rule{From: A, On: Go, Then: fsm.To(A)},                     // duplicate pair
			rule{From: A, On: Back, Then: fsm.Ignore[state]()},         // no reason
			rule{From: B, On: Back, Then: fsm.To(state(7))},            // unknown target
			rule{From: state(9), On: Go, Then: fsm.To(A)},              // unknown state
			rule{From: C, On: X, Then: fsm.To(A)},                      // unknown event
			rule{From: C, On: Go, Then: fsm.Reject[state]()},           // no reason; C unreachable
			rule{From: C, On: Back, Then: fsm.To(A), Reason: "from C"}, // (B × Go undeclared)
		).
		OnEnter(state(8), nopHook).
		OnExit(A, nil).
		Task(state(8), "reader", nopTask).
		Task(B, "writer", nil).
		FailureEvent(A, X).
		Action(A, Back, nopHook)
	want := []string{
		"state A declared twice",
		"event Go declared twice",
		"rule A × Go declared twice",
		"rule A × Back: ignore needs a reason",
		"rule B × Back: unknown target state state(7)",
		"rule state(9) × Go: unknown state state(9)",
		"rule C × X: unknown event X",
		"rule C × Go: reject needs a reason",
		"undeclared: B × Go",
		"enter hook for unknown state state(8)",
		"exit hook for A is nil",
		`task "reader" for unknown state state(8)`,
		`task "writer" of B is nil`,
		"failure event of A: unknown event X",
		"action for A × Back: the pair is not a transition",
		"state C is unreachable from A",
	}
	if diff := cmp.Diff(want, buildProblems(t, b)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestBuildDuplicateNames: two distinct values with the same name would be
// indistinguishable in errors and diagrams.
func TestBuildDuplicateNames(t *testing.T) {
	// sameName names every value "same".
	sb := fsm.NewBuilder[sameName, sameName](0).States(0, 1).Events(0, 1).Rules(
		fsm.Rule[sameName, sameName]{From: 0, On: 0, Then: fsm.To[sameName](1)},
		fsm.Rule[sameName, sameName]{From: 0, On: 1, Then: fsm.To[sameName](1)},
		fsm.Rule[sameName, sameName]{From: 1, On: 0, Then: fsm.To[sameName](0)},
		fsm.Rule[sameName, sameName]{From: 1, On: 1, Then: fsm.To[sameName](0)},
	)
	_, err := sb.Build()
	var be *fsm.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build = %v, want a *BuildError", err)
	}
	if diff := cmp.Diff([]string{"two states are named same", "two events are named same"}, be.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

type sameName int

func (sameName) String() string { return "same" }

func TestBuildErrorMessage(t *testing.T) {
	tests := []struct {
		problems []string
		want     string
	}{
		{[]string{"undeclared: B × Go"}, "fsm: invalid definition (1 problem):\n\tundeclared: B × Go"},
		{[]string{"p1", "p2"}, "fsm: invalid definition (2 problems):\n\tp1\n\tp2"},
	}
	for _, tt := range tests {
		if got := (&fsm.BuildError{Problems: tt.problems}).Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestDefinitionAccessors(t *testing.T) {
	d, err := validBuilder().
		Task(A, "reader", nopTask).Task(A, "writer", nopTask).
		FailureEvent(A, Back).
		Action(B, Back, nopHook).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	if d.Initial() != A {
		t.Errorf("Initial() = %v, want A", d.Initial())
	}
	if diff := cmp.Diff([]state{A, B}, d.States()); diff != "" {
		t.Errorf("States (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]event{Go, Back}, d.Events()); diff != "" {
		t.Errorf("Events (-want +got):\n%s", diff)
	}
	d.States()[0] = B // a copy: the definition is immutable
	if d.States()[0] != A {
		t.Error("States() exposes the definition's slice")
	}
	type cellRow struct {
		From state
		On   event
		Cell fsm.Cell[state]
		OK   bool
	}
	var got []cellRow
	for _, s := range []state{A, B, C} {
		for _, e := range []event{Go, Back} {
			c, ok := d.Cell(s, e)
			got = append(got, cellRow{s, e, c, ok})
		}
	}
	want := []cellRow{
		{A, Go, fsm.Cell[state]{Outcome: fsm.To(B), At: A, Leaf: B}, true},
		{A, Back, fsm.Cell[state]{Outcome: fsm.Ignore[state](), Reason: "already in A", At: A}, true},
		{B, Go, fsm.Cell[state]{Outcome: fsm.Reject[state](), Reason: "cannot happen", At: B}, true},
		{B, Back, fsm.Cell[state]{Outcome: fsm.To(A), HasAction: true, At: B, Leaf: A}, true},
		{C, Go, fsm.Cell[state]{}, false},
		{C, Back, fsm.Cell[state]{}, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cells (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"reader", "writer"}, d.Tasks(A)); diff != "" {
		t.Errorf("Tasks(A) (-want +got):\n%s", diff)
	}
	if got := d.Tasks(B); got != nil {
		t.Errorf("Tasks(B) = %v, want nil", got)
	}
	if e, ok := d.FailureEvent(A); !ok || e != Back {
		t.Errorf("FailureEvent(A) = %v, %v; want Back, true", e, ok)
	}
	if _, ok := d.FailureEvent(B); ok {
		t.Error("FailureEvent(B) reported one")
	}
}
