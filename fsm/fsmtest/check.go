// Package fsmtest tests state machines built with package fsm, as
// net/http/httptest does for net/http.
//
// Check runs a table of {From, Event, Want} rows on real machines and
// reports go-cmp diffs. Paths lists the shortest event sequences that
// together take every declared transition: model-based coverage.
// Uncovered tells which transitions a set of paths misses. Explore walks
// every event sequence up to a depth over the definition's table. It
// checks an invariant after each step.
//
// A definition with parallel states or histories is walked over its
// configurations rather than its leaves: fsm.Position, stepped with
// Definition.Next. A path or trace may then reach a leaf only through what
// its machine remembers. One event may move several regions. Paths still
// take every declared transition, from every region's leaves. A Path's
// States name the first active leaf (State) after each event. An Explore
// step's From and To are its first transition's, and its Moves list every
// transition it took.
package fsmtest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// Row is one line of a transition table test: in state From (a leaf),
// Event should have the outcome Want (fsm.To, fsm.Ignore, fsm.Reject or
// fsm.Postpone). A transition's Want names the leaf the machine ends in:
// the target's initial leaf when the target is composite, the branch
// taken for a choice.
type Row[S, E comparable] struct {
	From  S
	Event E
	Want  fsm.Outcome[S]
}

// Check runs every row on a fresh machine of def and reports, with
// t.Errorf, each row whose outcome differs from Want, named "From × Event"
// with a go-cmp diff (-want +got). It reports all failing rows, not only the
// first.
//
// For each row, Check starts a machine with def.Start, drives it to From
// along the shortest path of declared transitions (see PathTo), fires Event,
// and reads what happened from the machine's observer: a transition (and its
// target), an ignore, a rejection or a postponement. Every machine is stopped before Check
// returns.
//
// The machines are real: enter and exit hooks, actions and state tasks run.
// Use a definition whose tasks wait for their context (as placeholders do),
// or whose hooks and tasks are fakes: a task that emits events on its own
// moves the machine under the check, and such a row is reported as an error
// rather than compared.
func Check[S, E comparable](t testing.TB, def *fsm.Definition[S, E], rows []Row[S, E]) {
	t.Helper()
	if def == nil {
		t.Errorf("fsmtest.Check: nil definition")
		return
	}
	for _, r := range rows {
		got, err := runRow(def, r)
		if err != nil {
			t.Errorf("%v × %v: %v", r.From, r.Event, err)
			continue
		}
		if got != r.Want {
			t.Errorf("%v × %v (-want +got):\n%s", r.From, r.Event, cmp.Diff(r.Want, got, exportAll))
		}
	}
}

// exportAll lets the diff show states that are structs with unexported
// fields instead of panicking on them.
var exportAll = cmp.Exporter(func(reflect.Type) bool { return true })

// runRow drives a fresh machine to r.From, fires r.Event and returns the
// outcome the observer saw.
func runRow[S, E comparable](def *fsm.Definition[S, E], r Row[S, E]) (fsm.Outcome[S], error) {
	var none fsm.Outcome[S]
	path, ok := PathTo(def, r.From)
	if !ok {
		return none, noPath(def, r.From)
	}
	var (
		mu   sync.Mutex
		recs []fsm.Record[S, E]
	)
	ctx := context.Background()
	m := def.Start(ctx, fsm.Config[S, E]{Observer: func(_ context.Context, rec fsm.Record[S, E]) {
		mu.Lock()
		recs = append(recs, rec)
		mu.Unlock()
	}})
	defer func() { _ = m.Stop(ctx) }()

	for i, e := range path.Events {
		if err := m.Fire(ctx, e); err != nil {
			return none, fmt.Errorf("driving to %v along %v: %w", r.From, path, err)
		}
		if s := m.State(); s != path.States[i+1] {
			return none, fmt.Errorf("driving to %v along %v: after %v the machine is in %v, not %v (do its tasks emit events?)",
				r.From, path, e, s, path.States[i+1])
		}
	}
	mu.Lock()
	seen := len(recs)
	mu.Unlock()
	fireErr := m.Fire(ctx, r.Event)
	mu.Lock()
	after := append([]fsm.Record[S, E](nil), recs[seen:]...)
	mu.Unlock()
	regions := positional(def) // several leaves: records name the first
	for _, rec := range after {
		if rec.Event != r.Event || (rec.From != r.From && !regions) {
			continue
		}
		switch rec.Kind {
		case fsm.RecordTransition:
			for _, mv := range rec.Moves { // the row's region's transition
				if mv.From == r.From {
					return fsm.To(mv.To), nil
				}
			}
			for _, l := range rec.Exited { // left by a rule of an ancestor
				if l.State == r.From {
					return fsm.To(rec.To), nil
				}
			}
			if rec.From != r.From {
				return fsm.Ignore[S](), nil // another region moved, not the row's
			}
			return fsm.To(rec.To), nil
		case fsm.RecordIgnored:
			return fsm.Ignore[S](), nil
		case fsm.RecordRejected:
			return fsm.Reject[S](), nil
		case fsm.RecordPostponed:
			return fsm.Postpone[S](), nil
		}
	}
	if fireErr != nil {
		return none, fmt.Errorf("firing %v: %w", r.Event, fireErr)
	}
	return none, fmt.Errorf("%v was not processed in %v by the time Fire returned (%d other records: do the definition's tasks emit events?)",
		r.Event, r.From, len(after))
}

// noPath says why PathTo found no path to state: it is composite, not a
// state of def, or cannot be reached.
func noPath[S, E comparable](def *fsm.Definition[S, E], state S) error {
	if leaves := def.Children(state); len(leaves) > 0 {
		var names []string
		for _, l := range def.Leaves() {
			for p, ok := def.Parent(l); ok; p, ok = def.Parent(p) {
				if p == state {
					names = append(names, fmt.Sprint(l))
					break
				}
			}
		}
		return fmt.Errorf("state %v is composite: a row starts in one of its leaves (%s)", state, strings.Join(names, ", "))
	}
	if !slices.Contains(def.States(), state) {
		return fmt.Errorf("state %v is not a state of the definition", state)
	}
	return fmt.Errorf("state %v cannot be reached from the initial state %v", state, def.Initial())
}
