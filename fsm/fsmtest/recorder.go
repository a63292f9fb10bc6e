package fsmtest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/connfsm/connfsm/fsm"
)

// Recorder is an observer that keeps what a machine reports, for a test's
// assertions: pass its Observe as fsm.Config.Observer (or to any API that
// takes an observer, such as wsconn.OnRecord). The zero Recorder is ready
// to use, and its methods are safe for concurrent use: the machine reports
// from its own goroutines while the test reads.
//
// It keeps each record whole, but for its payload: the machine owns a
// payload (a connection, say) and observers must not retain it, so a
// record's Payload is kept only when it is an error (the cause of a
// failure, which assertions want); otherwise it is nil.
type Recorder[S, E comparable] struct {
	mu      sync.Mutex
	recs    []fsm.Record[S, E]
	changed chan struct{} // closed and replaced on every record; nil until waited on
}

// Observe records rec. It never blocks.
func (r *Recorder[S, E]) Observe(_ context.Context, rec fsm.Record[S, E]) {
	if _, ok := rec.Payload.(error); !ok {
		rec.Payload = nil
	}
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	r.mu.Unlock()
}

// Records returns a copy of every record so far, in the order reported.
func (r *Recorder[S, E]) Records() []fsm.Record[S, E] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fsm.Record[S, E](nil), r.recs...)
}

// TransitionName names a transition record "From-Event->To", the form the
// Recorder's methods take and return.
func TransitionName[S, E comparable](rec fsm.Record[S, E]) string {
	return fmt.Sprintf("%v-%v->%v", rec.From, rec.Event, rec.To)
}

// NameFunc names a transition record for a test's assertions, for the
// Recorder's By methods; ok false leaves the record out. It lets a test
// name transitions at the level it cares about: a nested machine's leaves
// by their parent, say.
type NameFunc[S, E comparable] func(rec fsm.Record[S, E]) (name string, ok bool)

func transitionName[S, E comparable](rec fsm.Record[S, E]) (string, bool) {
	return TransitionName(rec), true
}

// Transitions returns the transitions so far, in order, each named by
// TransitionName.
func (r *Recorder[S, E]) Transitions() []string { return r.TransitionsBy(transitionName[S, E]) }

// Count returns how many transitions named name were recorded.
func (r *Recorder[S, E]) Count(name string) int { return r.CountBy(transitionName[S, E], name) }

// Nth returns the n-th (from 1) transition named name, if there was one.
func (r *Recorder[S, E]) Nth(name string, n int) (fsm.Record[S, E], bool) {
	return r.NthBy(transitionName[S, E], name, n)
}

// TransitionsBy returns the transitions so far, in order, each named by
// by, leaving out those it leaves out.
func (r *Recorder[S, E]) TransitionsBy(by NameFunc[S, E]) []string {
	var out []string
	for _, rec := range r.Records() {
		if rec.Kind != fsm.RecordTransition {
			continue
		}
		if name, ok := by(rec); ok {
			out = append(out, name)
		}
	}
	return out
}

// CountBy returns how many transitions by names name.
func (r *Recorder[S, E]) CountBy(by NameFunc[S, E], name string) int {
	n := 0
	for _, t := range r.TransitionsBy(by) {
		if t == name {
			n++
		}
	}
	return n
}

// NthBy returns the n-th (from 1) transition by names name, if there was
// one.
func (r *Recorder[S, E]) NthBy(by NameFunc[S, E], name string, n int) (fsm.Record[S, E], bool) {
	for _, rec := range r.Records() {
		if rec.Kind != fsm.RecordTransition {
			continue
		}
		if got, ok := by(rec); ok && got == name {
			if n--; n == 0 {
				return rec, true
			}
		}
	}
	return fsm.Record[S, E]{}, false
}

// Problems describes every record no correct machine reports: a task that
// outlived its state's join (straggler) and a rejected event. A test of a
// machine that should have none asserts Problems is empty.
func (r *Recorder[S, E]) Problems() []string {
	var out []string
	for _, rec := range r.Records() {
		switch rec.Kind {
		case fsm.RecordStraggler:
			out = append(out, fmt.Sprintf("straggler: task %s of %v (epoch %d)", rec.Task, rec.From, rec.Epoch))
		case fsm.RecordRejected:
			out = append(out, fmt.Sprintf("rejected: %v in %v: %v", rec.Event, rec.From, rec.Err))
		}
	}
	return out
}

// Wait waits until done returns true for the records so far, checking
// now and after every record, and returns nil, or ctx's cause if ctx ends
// first. done must not call the Recorder's methods; it gets the records.
// A nil done is an error.
func (r *Recorder[S, E]) Wait(ctx context.Context, done func(recs []fsm.Record[S, E]) bool) error {
	if done == nil {
		return errors.New("fsmtest: Recorder.Wait: nil done")
	}
	for {
		r.mu.Lock()
		recs := append([]fsm.Record[S, E](nil), r.recs...)
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		if done(recs) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}
