package session

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/tasks"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// dialLog timestamps every dial to the venue's address, refused ones
// included unless reachedOnly.
type dialLog struct {
	reachedOnly bool

	mu sync.Mutex
	at []time.Time
}

// client returns an HTTP client for srv that logs its dials in l.
func (l *dialLog) client(t *testing.T, srv *wsconntest.Server) *http.Client {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		at := time.Now()
		c, err := dial(ctx, network, addr)
		if err == nil || !l.reachedOnly {
			l.mu.Lock()
			l.at = append(l.at, at)
			l.mu.Unlock()
		}
		return c, err
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (l *dialLog) times() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.at...)
}

// since returns the dials' times since start.
func (l *dialLog) since(start time.Time) []time.Duration {
	var out []time.Duration
	for _, at := range l.times() {
		out = append(out, at.Sub(start))
	}
	return out
}

// testGate holds its n-th call (from 0) for holds[n], fails it with
// fails[n] if set, and counts its admissions and their ends.
type testGate struct {
	holds  []time.Duration
	fails  []error
	onCall func(ctx context.Context, n int)

	mu               sync.Mutex
	calls, admitted  int
	ended            int
	endedBeforeDials int
	reached          []bool // what each end said
	log              *dialLog
}

func (g *testGate) gate(ctx context.Context) (func(bool), error) {
	g.mu.Lock()
	n := g.calls
	g.calls++
	g.mu.Unlock()
	if g.onCall != nil {
		g.onCall(ctx, n)
	}
	if n < len(g.fails) && g.fails[n] != nil {
		if g.fails[n].Error() == "panic" {
			panic("the gate broke")
		}
		return nil, g.fails[n]
	}
	if n < len(g.holds) && g.holds[n] > 0 {
		t := time.NewTimer(g.holds[n])
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	g.mu.Lock()
	g.admitted++
	dials := 0
	if g.log != nil {
		dials = len(g.log.times())
	}
	g.mu.Unlock()
	return func(reached bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.ended++
		g.reached = append(g.reached, reached)
		if g.log != nil && len(g.log.times()) == dials {
			g.endedBeforeDials++ // ended without a dial: fine only if none was made
		}
	}, nil
}

func (g *testGate) counts() (calls, admitted, ended int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls, g.admitted, g.ended
}

// TestDialGateHoldsEveryDial: the gate holds the first dial in Connecting,
// past the handshake timeout, and each redial at the end of Reconnecting,
// where the Wait says how long it held it and, if that was the longer
// part, that the gate was why; every admission ends once its dial has.
func TestDialGateHoldsEveryDial(t *testing.T) {
	type wait struct {
		Reason      retry.WaitReason
		Delay, Gate time.Duration
	}
	tests := []struct {
		name  string
		holds []time.Duration
		dials []time.Duration // when the venue saw them
		waits []wait
	}{
		{"no hold", nil,
			[]time.Duration{0, time.Minute + 500*time.Millisecond},
			[]wait{{retry.WaitBackoff, 500 * time.Millisecond, 0}}},
		{"first dial held past the handshake timeout", []time.Duration{30 * time.Second},
			[]time.Duration{30 * time.Second, 90*time.Second + 500*time.Millisecond},
			[]wait{{retry.WaitBackoff, 500 * time.Millisecond, 0}}},
		{"redial held", []time.Duration{0, 45 * time.Second},
			[]time.Duration{0, 105*time.Second + 500*time.Millisecond},
			[]wait{{retry.WaitDialGate, 45*time.Second + 500*time.Millisecond, 45 * time.Second}}},
		{"redial held less than the backoff", []time.Duration{0, 200 * time.Millisecond},
			[]time.Duration{0, time.Minute + 700*time.Millisecond},
			[]wait{{retry.WaitBackoff, 700 * time.Millisecond, 200 * time.Millisecond}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Script(wsconntest.Plan{wsconntest.Echo(), wsconntest.After(time.Minute, wsconntest.Reset())}))
				var (
					rec   recorder
					waits waitLog
					log   dialLog
				)
				g := &testGate{holds: tt.holds, log: &log}
				start := time.Now()
				c := dialTest(t, srv, &rec, WithHTTPClient(log.client(t, srv)), WithDialGate(g.gate), waits.option(),
					WithHandshakeTimeout(10*time.Second), withRand(fixedRnd(0.5)),
					WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1, Mode: retry.FullJitter}))
				synctest.Wait()
				if len(tt.holds) > 0 && tt.holds[0] > 0 && c.State() != connfsm.Connecting {
					t.Errorf("state while the first dial is held = %v, want Connecting", c.State())
				}
				time.Sleep(tt.dials[len(tt.dials)-1] + time.Second)
				if diff := cmp.Diff(tt.dials, log.since(start)); diff != "" {
					t.Errorf("dials (-want +got):\n%s", diff)
				}
				var got []wait
				for _, w := range waits.list() {
					got = append(got, wait{w.Reason, w.Delay, w.Gate})
				}
				if diff := cmp.Diff(tt.waits, got); diff != "" {
					t.Errorf("waits (-want +got):\n%s", diff)
				}
				if n := rec.Count("Connecting-DialFailed->Reconnecting"); n != 0 {
					t.Errorf("%d failed dials; the hold is not the handshake's", n)
				}
				if slices.Contains(g.reached, false) {
					t.Errorf("reached %v, want every dial to have reached the venue", g.reached)
				}
				if calls, admitted, ended := g.counts(); calls != len(tt.dials) || admitted != calls || ended != calls || g.endedBeforeDials != 0 {
					t.Errorf("gate: %d calls, %d admitted, %d ended (%d before their dial); want %d of each, none before",
						calls, admitted, ended, g.endedBeforeDials, len(tt.dials))
				}
			})
		})
	}
	w := Wait{Reason: retry.WaitDialGate, Delay: 45500 * time.Millisecond, Gate: 45 * time.Second}
	if got := w.String(); got != "45.5s for the dial gate" {
		t.Errorf("String = %q", got)
	}
	if got := retry.WaitDialGate.String(); got != "dial_gate" {
		t.Errorf("WaitDialGate = %q", got)
	}
}

// TestDialGateRefuses: a gate's error, or its panic, fails the attempt as
// a dial does, without dialling: the policy sees KindDial and the cause.
func TestDialGateRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		halted := errors.New("trading halted")
		var (
			rec   recorder
			waits waitLog
			log   dialLog
		)
		g := &testGate{fails: []error{halted, errors.New("panic")}, log: &log}
		c := dialTest(t, srv, &rec, WithHTTPClient(log.client(t, srv)), WithDialGate(g.gate), waits.option(),
			withRand(fixedRnd(0.5)), WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1, Mode: retry.FullJitter}))
		time.Sleep(5 * time.Second)
		if c.State() != connfsm.Alive || len(log.times()) != 1 {
			t.Fatalf("state %v after %d dials, want Alive after 1", c.State(), len(log.times()))
		}
		ws := waits.list()
		if len(ws) != 2 {
			t.Fatalf("%d waits, want 2", len(ws))
		}
		var pe *tasks.PanicError
		if f := ws[0].Failure; f.Kind != retry.KindDial || !errors.Is(f.Err, halted) || f.Attempt != 1 {
			t.Errorf("first failure %v %v (attempt %d), want a dial failure wrapping the gate's", f.Kind, f.Err, f.Attempt)
		}
		if f := ws[1].Failure; f.Kind != retry.KindDial || !errors.As(f.Err, &pe) || f.Attempt != 2 {
			t.Errorf("second failure %v %v (attempt %d), want a dial failure wrapping a *tasks.PanicError", f.Kind, f.Err, f.Attempt)
		}
		if calls, admitted, ended := g.counts(); calls != 3 || admitted != 1 || ended != 1 {
			t.Errorf("gate: %d calls, %d admitted, %d ended; want 3, 1, 1", calls, admitted, ended)
		}
	})
	if _, err := dialWS(context.Background(), "ws://feed.test/", WithDialGate(nil)); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("WithDialGate(nil) = %v, want a configuration error", err)
	}
}

// TestDialGateReleasedWhenClosed: whatever a Close interrupts (a hold, a
// wait whose dial will never come, a dial), the gate's admissions all end.
func TestDialGateReleasedWhenClosed(t *testing.T) {
	var clientOf atomic.Pointer[Client]
	tests := []struct {
		name    string
		down    bool
		holds   []time.Duration
		onCall  func(ctx context.Context, n int)
		dials   int
		reached []bool // what each admission's end said
	}{
		{"closed during the first dial's hold", false, []time.Duration{time.Hour}, nil, 0, nil},
		{"closed during a redial's hold", false, []time.Duration{0, time.Hour}, nil, 1, []bool{true}},
		{"closed as the gate lets a redial through", false, nil, func(ctx context.Context, n int) {
			if n == 1 {
				_ = clientOf.Load().Close(ctx) // from inside: starts the close
			}
		}, 1, []bool{true, false}},
		{"closed during the handshake", false, nil, nil, 2, []bool{true, true}},
		{"venue down: nothing reached it", true, nil, nil, 10, slices.Repeat([]bool{false}, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Script(wsconntest.Plan{wsconntest.Reset()}, wsconntest.Plan{wsconntest.Stall()}))
				var (
					rec recorder
					log dialLog
				)
				if tt.down {
					srv.Down()
				}
				g := &testGate{holds: tt.holds, onCall: tt.onCall, log: &log}
				c := dialTest(t, srv, &rec, WithHTTPClient(log.client(t, srv)), WithDialGate(g.gate),
					withRand(fixedRnd(0.5)), WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1, Mode: retry.FullJitter}))
				clientOf.Store(c)
				time.Sleep(5 * time.Second)
				if err := c.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if got := len(log.times()); got != tt.dials {
					t.Errorf("%d dials, want %d", got, tt.dials)
				}
				if _, admitted, ended := g.counts(); admitted != ended {
					t.Errorf("gate: %d admitted, %d ended", admitted, ended)
				}
				if diff := cmp.Diff(tt.reached, g.reached); diff != "" {
					t.Errorf("reached (-want +got):\n%s", diff)
				}
			})
		})
	}
}
