package fsm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The order machine: an order is accepted, worked on (acknowledged, partly
// filled, waiting for a cancel to be confirmed) while Working polls the
// venue, and ends filled or cancelled.
type orderState int

const (
	oNew orderState = iota
	oWorking
	oAcked
	oPartFilled
	oPendingCancel
	oPaused
	oFilled
	oCancelled
	oWorkingH // Working's history: not a state
)

func (s orderState) String() string {
	return [...]string{"New", "Working", "Acked", "PartFilled", "PendingCancel", "Paused", "Filled", "Cancelled", "Working.H"}[s]
}

type orderEvent int

const (
	oAccept orderEvent = iota
	oPartFill
	oFill
	oCancel
	oCancelAck
	oPause
	oResume
)

func (e orderEvent) String() string {
	return [...]string{"Accept", "PartFill", "Fill", "Cancel", "CancelAck", "Pause", "Resume"}[e]
}

// orderOpts varies the order machine: how a partial fill moves, and
// whether an order may be paused (and how it resumes).
type orderOpts struct {
	fill    func(orderState) Outcome[orderState] // Internal or To
	pause   bool
	history HistoryKind // with pause: resume into Working's history; 0 resumes into Working
}

// orderDef builds the order machine; polls counts the starts of Working's
// poll task, and the returned contexts are the poll tasks' (one per start).
func orderDef(t testing.TB, o orderOpts, polls *atomic.Int32, ctxs chan<- context.Context) *Definition[orderState, orderEvent] {
	t.Helper()
	type r = Rule[orderState, orderEvent]
	if o.fill == nil {
		o.fill = Internal[orderState]
	}
	states := []orderState{oNew, oWorking, oAcked, oPartFilled, oPendingCancel, oFilled, oCancelled}
	rules := []r{
		{oNew, oAccept, To(oWorking), ""},
		{oNew, oPartFill, Reject[orderState](), "not accepted yet"},
		{oNew, oFill, Reject[orderState](), "not accepted yet"},
		{oNew, oCancel, To(oCancelled), ""},
		{oNew, oCancelAck, Ignore[orderState](), "nothing to cancel"},
		{oWorking, oAccept, Ignore[orderState](), "a duplicate ack"},
		{oWorking, oPartFill, o.fill(oPartFilled), "more filled"},
		{oWorking, oFill, To(oFilled), ""},
		{oWorking, oCancel, Internal(oPendingCancel), "asked the venue"},
		{oWorking, oCancelAck, To(oCancelled), ""},
		{oPendingCancel, oCancel, Ignore[orderState](), "already asked"},
	}
	resume := Outcome[orderState](To(oWorking))
	if o.history != 0 {
		resume = To(oWorkingH)
	}
	if o.pause {
		states = append(states, oPaused)
		rules = append(rules,
			r{oWorking, oPause, To(oPaused), "the venue halted trading"},
			r{oPaused, oResume, resume, "trading again"},
			r{oPaused, oAccept, Ignore[orderState](), "a duplicate ack"},
			r{oPaused, oPartFill, Reject[orderState](), "no fill while halted"},
			r{oPaused, oFill, Reject[orderState](), "no fill while halted"},
			r{oPaused, oCancel, To(oCancelled), "cancelled while halted"},
			r{oPaused, oCancelAck, Ignore[orderState](), "nothing asked"},
			r{oPaused, oPause, Ignore[orderState](), "already halted"},
			r{oNew, oPause, To(oPaused), "halted before it was worked"},
			r{oNew, oResume, Ignore[orderState](), "nothing halted"},
			r{oWorking, oResume, Ignore[orderState](), "not halted"},
		)
	}
	events := []orderEvent{oAccept, oPartFill, oFill, oCancel, oCancelAck}
	if o.pause {
		events = append(events, oPause, oResume)
	}
	b := NewBuilder[orderState, orderEvent](oNew).
		States(states...).
		Events(events...).
		Children(oWorking, oAcked, oPartFilled, oPendingCancel).
		Final(oFilled, oCancelled).
		Rules(rules...).
		Task(oWorking, "poll", func(ctx context.Context, _ Transition[orderState, orderEvent], _ Emit[orderEvent]) error {
			if polls != nil {
				polls.Add(1)
			}
			if ctxs != nil {
				ctxs <- ctx
			}
			<-ctx.Done()
			return nil
		})
	if o.history != 0 {
		b.History(oWorking, o.history, oWorkingH)
	}
	d, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// levelNames names the states of a record's Exited.
func levelNames(ls []Level[orderState]) []orderState {
	var out []orderState
	for _, l := range ls {
		out = append(out, l.State)
	}
	return out
}

// TestInternalTransition: a partial fill declared Internal on Working
// moves between Working's children without exiting Working, so its poll
// task keeps running; declared To, it exits and re-enters Working, and the
// poll restarts.
func TestInternalTransition(t *testing.T) {
	for _, tt := range []struct {
		name        string
		fill        func(orderState) Outcome[orderState]
		wantPolls   int32
		wantExited  []orderState
		wantEntered []orderState
		pollAlive   bool // the first poll's context is live after the fill
	}{
		{"internal", Internal[orderState], 1, []orderState{oAcked}, []orderState{oPartFilled}, true},
		{"external", To[orderState], 2, []orderState{oAcked, oWorking}, []orderState{oWorking, oPartFilled}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var polls atomic.Int32
			ctxs := make(chan context.Context, 4)
			d := orderDef(t, orderOpts{fill: tt.fill}, &polls, ctxs)
			var mu sync.Mutex
			var recs []Record[orderState, orderEvent]
			m := d.Start(context.Background(), Config[orderState, orderEvent]{Observer: func(_ context.Context, r Record[orderState, orderEvent]) {
				mu.Lock()
				recs = append(recs, r)
				mu.Unlock()
			}})
			defer m.Stop(context.Background())
			if err := m.Fire(context.Background(), oAccept); err != nil {
				t.Fatal(err)
			}
			first := <-ctxs
			workingEpoch := m.Epoch() - 1 // Working was entered just before Acked
			if err := m.Fire(context.Background(), oPartFill); err != nil {
				t.Fatal(err)
			}
			if tt.wantPolls == 2 {
				<-ctxs
			}
			if got := polls.Load(); got != tt.wantPolls {
				t.Errorf("poll started %d times, want %d", got, tt.wantPolls)
			}
			if alive := first.Err() == nil; alive != tt.pollAlive {
				t.Errorf("first poll's context live = %v, want %v", alive, tt.pollAlive)
			}
			if diff := cmp.Diff([]orderState{oWorking, oPartFilled}, m.Path()); diff != "" {
				t.Errorf("Path (-want +got):\n%s", diff)
			}
			mu.Lock()
			last := recs[len(recs)-1]
			mu.Unlock()
			if diff := cmp.Diff(tt.wantExited, levelNames(last.Exited)); diff != "" {
				t.Errorf("Exited (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEntered, last.Entered); diff != "" {
				t.Errorf("Entered (-want +got):\n%s", diff)
			}
			// Working's entry is the same one after an internal fill: a
			// Cancel then goes on from it.
			if tt.pollAlive && !m.current(int(oWorking), workingEpoch) {
				t.Errorf("Working's entry %d is no longer current", workingEpoch)
			}
			if err := m.Fire(context.Background(), oCancel); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]orderState{oWorking, oPendingCancel}, m.Path()); diff != "" {
				t.Errorf("Path after Cancel (-want +got):\n%s", diff)
			}
			if err := m.Fire(context.Background(), oCancelAck); err != nil {
				t.Fatal(err)
			}
			<-m.Done()
			if got := m.State(); got != oCancelled {
				t.Errorf("State = %v, want Cancelled", got)
			}
		})
	}
}

// TestInternalCell: Cell reports an internal rule as such, for the
// composite declaring it and the children inheriting it.
func TestInternalCell(t *testing.T) {
	d := orderDef(t, orderOpts{}, nil, nil)
	for _, s := range []orderState{oWorking, oAcked, oPartFilled} {
		c, ok := d.Cell(s, oPartFill)
		if !ok || !c.Internal || c.To != oPartFilled || c.At != oWorking {
			t.Errorf("Cell(%v, PartFill) = %+v, %v; want internal to PartFilled at Working", s, c, ok)
		}
	}
	if c, _ := d.Cell(oAcked, oFill); c.Internal {
		t.Errorf("Cell(Acked, Fill) is internal; want external")
	}
}

// TestInternalBuildErrors: an internal transition whose target is not a
// proper descendant of the declaring state is a *BuildError naming both,
// every such rule listed at once.
func TestInternalBuildErrors(t *testing.T) {
	type r = Rule[orderState, orderEvent]
	_, err := NewBuilder[orderState, orderEvent](oNew).
		States(oNew, oWorking, oAcked, oPartFilled).
		Events(oAccept, oFill).
		Children(oWorking, oAcked, oPartFilled).
		Rules(
			r{oNew, oAccept, Internal(oWorking), ""},       // New has no children
			r{oNew, oFill, To(oWorking), ""},               //
			r{oWorking, oAccept, Internal(oWorking), ""},   // itself
			r{oAcked, oFill, Internal(oPartFilled), ""},    // a sibling
			r{oPartFilled, oFill, Internal(oAcked), ""},    // a sibling
			r{oWorking, oFill, Internal(oPartFilled), "x"}, // fine
		).Build()
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build = %v, want a *BuildError", err)
	}
	want := []string{
		"rule New × Accept: internal transition to Working: Working is not a proper descendant of New",
		"rule Working × Accept: internal transition to Working: Working is not a proper descendant of Working",
		"rule Acked × Fill: internal transition to PartFilled: PartFilled is not a proper descendant of Acked",
		"rule PartFilled × Fill: internal transition to Acked: Acked is not a proper descendant of PartFilled",
	}
	var got []string
	for _, p := range be.Problems {
		if strings.Contains(p, "internal") {
			got = append(got, p)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\nall: %v", diff, be.Problems)
	}
}

// TestOrderGolden draws the order machine: internal rules are marked in
// every format.
func TestOrderGolden(t *testing.T) {
	d := orderDef(t, orderOpts{pause: true, history: Shallow}, nil, nil)
	for _, tt := range []struct {
		golden string
		write  func(io.Writer) error
	}{
		{"order.mermaid.golden", d.WriteMermaid},
		{"order.dot.golden", d.WriteDOT},
		{"order.matrix.golden", d.WriteMatrix},
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
