package fsm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// walkT is what walkAgainstMachine needs of a *testing.T or *rapid.T.
type walkT interface {
	Helper()
	Fatalf(format string, args ...any)
}

// walkAgainstMachine fires random events at a machine of d and steps a
// Position alongside: after every event both must agree on the
// configuration, and the successor on what the record says.
func walkAgainstMachine[S, E comparable](t walkT, d *Definition[S, E], seed uint64, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var mu sync.Mutex
	var recs []Record[S, E]
	m := d.Start(context.Background(), Config[S, E]{Observer: func(_ context.Context, r Record[S, E]) {
		mu.Lock()
		recs = append(recs, r)
		mu.Unlock()
	}})
	defer m.Stop(context.Background())
	pos := d.StartPosition()
	events := d.Events()
	var trail []E
	for range n {
		if pos.Final() {
			<-m.Done()
			break
		}
		e := events[rng.IntN(len(events))]
		trail = append(trail, e)
		mu.Lock()
		recs = recs[:0]
		mu.Unlock()
		_ = m.Fire(context.Background(), e)
		next := d.Next(pos, e)
		if len(next) != 1 {
			t.Fatalf("after %v: %d successors, want 1 (no choices)", trail, len(next))
		}
		pos = next[0].To
		if diff := cmp.Diff(m.Configuration(), pos.Configuration()); diff != "" {
			t.Fatalf("after %v: configuration (machine -, position +):\n%s", trail, diff)
		}
		mu.Lock()
		r := recs[0]
		mu.Unlock()
		wantKind := map[RecordKind]Kind{RecordTransition: KindTransition, RecordIgnored: KindIgnore, RecordRejected: KindReject}[r.Kind]
		if next[0].Kind != wantKind {
			t.Fatalf("after %v: successor %v, record %v", trail, next[0].Kind, r.Kind)
		}
		if diff := cmp.Diff(r.Moves, next[0].Moves); diff != "" {
			t.Fatalf("after %v: moves (record -, successor +):\n%s", trail, diff)
		}
		if m.State() != pos.State() {
			t.Fatalf("after %v: State %v, position's %v", trail, m.State(), pos.State())
		}
		if bad := d.invalidConfiguration(pos.active); bad != "" {
			t.Fatalf("after %v: configuration %v: %s", trail, pos.Configuration(), bad)
		}
	}
}

// TestPositionFollowsMachine: Next steps a Position as a machine steps,
// with internal transitions, histories and regions.
func TestPositionFollowsMachine(t *testing.T) {
	for seed := range uint64(20) {
		walkAgainstMachine(t, orderDef(t, orderOpts{pause: true, history: Shallow}, nil, nil), seed, 40)
		walkAgainstMachine(t, orderDef(t, orderOpts{pause: true, history: Deep, fill: To[orderState]}, nil, nil), seed, 40)
		walkAgainstMachine(t, mediaPlayer(t, nil, nil), seed, 60)
	}
}

// TestPositionChoice: a choice gives one successor per declared branch.
func TestPositionChoice(t *testing.T) {
	type r = Rule[orderState, orderEvent]
	d, err := NewBuilder[orderState, orderEvent](oNew).
		States(oNew, oFilled, oCancelled).
		Events(oAccept).
		Final(oFilled, oCancelled).
		Rules(r{oNew, oAccept, Choice(func(env, payload any) orderState { return oFilled }, oFilled, oCancelled), "either"}).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	next := d.Next(d.StartPosition(), oAccept)
	var got [][]orderState
	for _, s := range next {
		if s.Kind != KindChoice || !s.To.Final() {
			t.Errorf("successor %+v: want a choice to a final position", s)
		}
		got = append(got, s.To.Leaves())
	}
	if diff := cmp.Diff([][]orderState{{oFilled}, {oCancelled}}, got); diff != "" {
		t.Errorf("leaves (-want +got):\n%s", diff)
	}
	if d.Next(next[0].To, oAccept) != nil {
		t.Errorf("Next at a final position is not nil")
	}
}

// invalidConfiguration says what is wrong with active as a configuration,
// if anything: a composite without exactly one active child, a parallel
// state without all its regions, a state without its parent, or states out
// of document order.
func (d *Definition[S, E]) invalidConfiguration(active []int32) string {
	in := make([]bool, len(d.states))
	for i, s := range active {
		in[s] = true
		if i > 0 && d.doc[active[i-1]] >= d.doc[s] {
			return "not in document order"
		}
	}
	for _, s := range active {
		if p := d.tree[s].parent; p >= 0 && !in[p] {
			return d.stateNames[s] + " is active without its parent"
		}
		kids := d.tree[s].children
		if len(kids) == 0 {
			continue
		}
		n := 0
		for _, k := range kids {
			if in[k] {
				n++
			}
		}
		switch {
		case d.tree[s].parallel && n != len(kids):
			return "parallel " + d.stateNames[s] + " lacks a region"
		case !d.tree[s].parallel && n != 1:
			return d.stateNames[s] + " has " + fmt.Sprint(n) + " active children"
		}
	}
	return ""
}
