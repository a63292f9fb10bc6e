package fsm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

type pst int

const (
	pConn pst = iota
	pReady
	pBusy
)

func (s pst) String() string { return [...]string{"Conn", "Ready", "Busy"}[s] }

type pev int

const (
	pSend pev = iota
	pConnected
	pLost
	pTick
)

func (e pev) String() string { return [...]string{"Send", "Connected", "Lost", "Tick"}[e] }

// owned is a payload that counts its disposals.
type owned struct {
	name     string
	disposed *int
}

func (o owned) Dispose()       { *o.disposed++ }
func (o owned) String() string { return o.name }

// postponeDef: Conn postpones Send until connected, Busy until done
// (Connected again); Tick re-enters Conn (a self-transition).
func postponeDef(t *testing.T, configure func(b *fsm.Builder[pst, pev])) *fsm.Definition[pst, pev] {
	t.Helper()
	type r = fsm.Rule[pst, pev]
	b := fsm.NewBuilder[pst, pev](pConn).States(pConn, pReady, pBusy).Events(pSend, pConnected, pLost, pTick).Rules(
		r{From: pConn, On: pSend, Then: fsm.Postpone[pst](), Reason: "not connected yet"},
		r{From: pConn, On: pConnected, Then: fsm.To(pReady)},
		r{From: pConn, On: pLost, Then: fsm.Ignore[pst](), Reason: "no connection"},
		r{From: pConn, On: pTick, Then: fsm.To(pConn)},
		r{From: pReady, On: pSend, Then: fsm.To(pBusy)},
		r{From: pReady, On: pConnected, Then: fsm.Ignore[pst](), Reason: "connected"},
		r{From: pReady, On: pLost, Then: fsm.To(pConn)},
		r{From: pReady, On: pTick, Then: fsm.Ignore[pst](), Reason: "idle"},
		r{From: pBusy, On: pSend, Then: fsm.Postpone[pst]()},
		r{From: pBusy, On: pConnected, Then: fsm.To(pReady)},
		r{From: pBusy, On: pLost, Then: fsm.To(pConn)},
		r{From: pBusy, On: pTick, Then: fsm.Ignore[pst](), Reason: "busy"},
	)
	if configure != nil {
		configure(b)
	}
	def, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return def
}

type fired struct {
	ev      pev
	payload any
}

// TestPostpone: postponed events are offered again, in order and ahead of
// the queue, after the next step that changes the configuration (not
// after a self-transition); beyond the limit an event is rejected; at the
// stop the held ones are disposed.
func TestPostpone(t *testing.T) {
	tests := []struct {
		name         string
		limit        int // 0: the default
		queueOnEnter bool
		fire         []fired
		stop         bool
		want         []string
		wantErrs     []error // per fire, errors.Is targets (nil: no error)
		wantDisposed int
	}{
		{
			name: "replayed in order after a change, not after a self-transition",
			fire: []fired{{pSend, "m1"}, {pSend, "m2"}, {pTick, nil}, {pConnected, nil}, {pConnected, nil}},
			want: []string{
				"started in Conn",
				"postponed Send in Conn: not connected yet m1",
				"postponed Send in Conn: not connected yet m2",
				"Conn --Tick--> Conn (epoch 2)",
				"Conn --Connected--> Ready (epoch 3)",
				"Ready --Send--> Busy (epoch 4) m1",
				"postponed Send in Busy m2",
				"Busy --Connected--> Ready (epoch 5)",
				"Ready --Send--> Busy (epoch 6) m2",
			},
		},
		{
			name:         "ahead of the queue",
			queueOnEnter: true, // Ready's enter hook posts Tick
			fire:         []fired{{pSend, "m1"}, {pConnected, nil}},
			want: []string{
				"started in Conn",
				"postponed Send in Conn: not connected yet m1",
				"Conn --Connected--> Ready (epoch 2)",
				"Ready --Send--> Busy (epoch 3) m1",
				"ignored Tick in Busy: busy",
			},
		},
		{
			name:     "limit",
			limit:    1,
			fire:     []fired{{pSend, owned{"m1", nil}}, {pSend, owned{"m2", nil}}},
			wantErrs: []error{nil, fsm.ErrPostponeLimit},
			stop:     true,
			want: []string{
				"started in Conn",
				"postponed Send in Conn: not connected yet m1",
				"rejected Send in Conn: 1 events postponed already m2", // disposed
				"stopped in Conn",
				"dropped Send: fsm: machine stopped m1", // disposed
			},
			wantDisposed: 2,
		},
		{
			name: "disposed at the stop",
			fire: []fired{{pSend, owned{"m1", nil}}, {pSend, owned{"m2", nil}}},
			stop: true,
			want: []string{
				"started in Conn",
				"postponed Send in Conn: not connected yet m1",
				"postponed Send in Conn: not connected yet m2",
				"stopped in Conn",
				"dropped Send: fsm: machine stopped m1",
				"dropped Send: fsm: machine stopped m2",
			},
			wantDisposed: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m *fsm.Machine[pst, pev]
			def := postponeDef(t, func(b *fsm.Builder[pst, pev]) {
				if tt.limit > 0 {
					b.PostponeLimit(tt.limit)
				}
				if tt.queueOnEnter {
					b.OnEnter(pReady, func(ctx context.Context, tr fsm.Transition[pst, pev]) {
						if tr.From == pConn {
							_ = m.Fire(ctx, pTick) // from inside: queued behind the step
						}
					})
				}
			})
			var (
				mu   sync.Mutex
				recs []string
			)
			m = def.New(fsm.Config[pst, pev]{Observer: func(_ context.Context, r fsm.Record[pst, pev]) {
				line := r.String()
				if r.Payload != nil {
					line += fmt.Sprint(" ", r.Payload)
				}
				mu.Lock()
				recs = append(recs, line)
				mu.Unlock()
			}})
			m.Start(context.Background())
			disposed := 0
			for i, f := range tt.fire {
				p := f.payload
				if o, ok := p.(owned); ok {
					o.disposed = &disposed
					p = o
				}
				err := m.FireWith(context.Background(), f.ev, p)
				var want error
				if i < len(tt.wantErrs) {
					want = tt.wantErrs[i]
				}
				if want == nil && err != nil || want != nil && !errors.Is(err, want) {
					t.Errorf("fire %d (%v): %v, want %v", i, f.ev, err, want)
				}
			}
			if tt.stop {
				_ = m.Stop(context.Background())
			}
			_ = m.Stop(context.Background()) // waits for Post's processing too
			mu.Lock()
			got := recs
			mu.Unlock()
			if !tt.stop { // the final stop's record is no part of the case
				got = got[:len(got)-1]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if disposed != tt.wantDisposed {
				t.Errorf("%d payloads disposed, want %d", disposed, tt.wantDisposed)
			}
		})
	}
}

// TestPostponeLimitBuild: a negative limit is a *BuildError naming it; 0
// is legal (every postpone is then rejected).
func TestPostponeLimitBuild(t *testing.T) {
	b := fsm.NewBuilder[pst, pev](pConn).States(pConn).Events(pSend).
		Rules(fsm.Rule[pst, pev]{From: pConn, On: pSend, Then: fsm.Postpone[pst]()}).PostponeLimit(-1)
	_, err := b.Build()
	var be *fsm.BuildError
	if !errors.As(err, &be) || len(be.Problems) != 1 || !strings.Contains(be.Problems[0], "postpone limit -1 is negative") {
		t.Fatalf("Build = %v, want one problem naming the limit -1", err)
	}
	def, err := b.PostponeLimit(0).Build()
	if err != nil {
		t.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[pst, pev]{})
	defer m.Stop(context.Background())
	if err := m.Fire(context.Background(), pSend); !errors.Is(err, fsm.ErrPostponeLimit) {
		t.Errorf("Fire with limit 0 = %v, want ErrPostponeLimit", err)
	}
}

type rst int

const (
	rP rst = iota
	rR1
	rA1
	rA2
	rR2
	rB1
	rB2
)

func (s rst) String() string { return [...]string{"P", "R1", "a1", "a2", "R2", "b1", "b2"}[s] }

// TestPostponeRegions: a rule of one region that postpones an event
// postpones it whole, so the other region does not take it either; it is
// offered again, to both, once the configuration changes.
func TestPostponeRegions(t *testing.T) {
	type r = fsm.Rule[rst, string]
	def, err := fsm.NewBuilder[rst, string](rP).States(rP, rR1, rA1, rA2, rR2, rB1, rB2).Events("E", "G").
		Parallel(rP, rR1, rR2).Children(rR1, rA1, rA2).Children(rR2, rB1, rB2).
		Rules(
			r{From: rA1, On: "E", Then: fsm.To(rA2)},
			r{From: rA2, On: "E", Then: fsm.Ignore[rst](), Reason: "done"},
			r{From: rB1, On: "E", Then: fsm.Postpone[rst](), Reason: "b1 first"},
			r{From: rB2, On: "E", Then: fsm.Ignore[rst](), Reason: "R1's"},
			r{From: rR1, On: "G", Then: fsm.Ignore[rst](), Reason: "R2's"},
			r{From: rB1, On: "G", Then: fsm.To(rB2)},
			r{From: rB2, On: "G", Then: fsm.Ignore[rst](), Reason: "done"},
		).Build()
	if err != nil {
		t.Fatal(err)
	}
	m := def.Start(context.Background(), fsm.Config[rst, string]{})
	defer m.Stop(context.Background())
	conf := func() []rst { return m.Configuration() }
	if err := m.Fire(context.Background(), "E"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]rst{rP, rR1, rA1, rR2, rB1}, conf()); diff != "" {
		t.Fatalf("after E, postponed by R2 (-want +got):\n%s", diff)
	}
	if err := m.Fire(context.Background(), "G"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]rst{rP, rR1, rA2, rR2, rB2}, conf()); diff != "" {
		t.Errorf("after G and E's replay (-want +got):\n%s", diff)
	}
}
