package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
)

// PoolMode is the pool mode of a run (Config.Pool): one wsconn.Pool of
// Subs subscriptions, at most PerConn per connection, on at most Conns
// connections, whose dials share Budget, against an embedded venue that
// acknowledges subscriptions, keeps which are active, and refuses a
// handshake beyond VenueBudget with 429 and Retry-After.
type PoolMode struct {
	Subs        int
	PerConn     int
	Conns       int
	Budget      Budget // the pool's dial budget; zero: none
	VenueBudget Budget // the venue's; zero: none
}

// Budget is a number of dials per window.
type Budget struct {
	Dials  int
	Window time.Duration
}

// String returns "300/5m0s", or "none".
func (b Budget) String() string {
	if b.Dials == 0 {
		return "none"
	}
	return fmt.Sprintf("%d/%v", b.Dials, b.Window)
}

// windows returns how many windows of b dialling n connections takes at
// the least: 0 without a budget.
func (b Budget) windows(n int) time.Duration {
	if b.Dials == 0 {
		return 0
	}
	return time.Duration((n+b.Dials-1)/b.Dials-1) * b.Window
}

// runPool is Run in pool mode: it starts the venue and the pool, waits for
// every subscription to be active at the venue, runs the steady run (with
// a restart if asked), and fills r.
func runPool(ctx context.Context, cfg Config, progress io.Writer) (Report, error) {
	mode := *cfg.Pool
	conns := (mode.Subs + mode.PerConn - 1) / mode.PerConn
	r := Report{Kind: "summary", N: conns, Server: "embedded", GOGC: cfg.GOGC,
		Pool: &PoolReport{Subscriptions: mode.Subs, PerConn: mode.PerConn, MaxConns: mode.Conns,
			DialBudget: mode.Budget.String(), VenueBudget: mode.VenueBudget.String()}}
	v, err := startPoolVenue(mode.VenueBudget)
	if err != nil {
		return r, err
	}
	defer v.srv.Close()
	r.URL = v.srv.URL + "/"
	err = runPoolClients(ctx, cfg, mode, v, &r, &lockedWriter{w: progress})
	r.T = time.Now().Format(time.RFC3339Nano)
	return r, err
}

func runPoolClients(ctx context.Context, cfg Config, mode PoolMode, v *poolVenue, r *Report, progress io.Writer) error {
	var cnt counters
	pr := r.Pool
	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	sampler := newSampler(&server{kind: "embedded"}, &cnt)
	first := sampler.take(time.Now())

	subs := make([]wsconn.Subscription, mode.Subs)
	for i := range subs {
		key := fmt.Sprint("s", i)
		subs[i] = wsconn.Subscription{
			Key:         key,
			Message:     []byte("sub:" + key),
			Unsubscribe: []byte("unsub:" + key),
			Ack:         func(m wsconn.Message) bool { return string(m.Data) == "ack:"+key },
		}
	}
	var gateWaits atomic.Int64
	// Each connection its own observer: clientOptions keeps per-client
	// state.
	pcfg := wsconn.PoolConfig{MaxPerConn: mode.PerConn, MaxConns: mode.Conns,
		ConnOptions: func(int) []wsconn.Option { return clientOptions(cfg, &cnt) }}
	if b := mode.Budget; b.Dials > 0 {
		var err error
		if pcfg.DialBudget, err = wsconn.NewDialBudget(b.Dials, b.Window); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	opts := append([]wsconn.Option{wsconn.NoWait()},
		wsconn.WithSubscriptions(subs...),
		wsconn.OnRecord(func(_ context.Context, rec record) {
			if rec.Kind != fsm.RecordTransition {
				return
			}
			if w, ok := rec.Payload.(*wsconn.Wait); ok && w.Reason == wsconn.WaitDialGate {
				gateWaits.Add(1)
			}
		}))
	start := time.Now()
	p, err := wsconn.NewPool(ctx, r.URL, pcfg, opts...)
	if err != nil {
		if errors.Is(err, wsconn.ErrInvalidConfig) {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return err
	}
	n := len(p.Conns())
	r.N = n
	prog := startProgress(progress, n, &cnt)

	// Every connection opened: wait until every subscription is active at
	// the venue, which the budget may take windows to allow.
	all := func() bool {
		active, _ := v.subscriptions()
		return p.Stats().Ready == n && active == mode.Subs
	}
	interrupted := false
	deadline := start.Add(aliveWait + mode.Budget.windows(n))
	for !interrupted && !all() && time.Now().Before(deadline) {
		if !sleepCtx(ctx, 20*time.Millisecond) {
			interrupted = true
		}
	}
	if all() {
		pr.StartSeconds = time.Since(start).Seconds()
	}
	r.RampSeconds = time.Since(start).Seconds()
	r.RampAlive = p.Stats().Ready
	senders := startSenders(wsTargets(p.Conns()), cfg.SendEvery, &cnt)
	steady := time.Now()
	echoes0, pings0, cpu0 := cnt.echoes.Load(), poolPings(p), processCPU()

	var restarted chan *PoolRestart
	if cfg.RestartAt > 0 && !interrupted {
		restarted = make(chan *PoolRestart, 1)
		go func() {
			// The budget may have to let every connection through twice
			// within its window: at the start, and after the restart.
			rs := runPoolRestart(ctx, v, all, steady, cfg.RestartAt, cfg.DownFor, recoverWait+mode.Budget.windows(2*n))
			active, dups := v.subscriptions()
			rs.Missing = mode.Subs - active
			rs.Duplicated = dups + v.resubscribes()
			restarted <- rs
		}()
	}
	interrupted = interrupted || !steadyRun(ctx, r, sampler, steady, cfg.Duration, cfg.Sample, progress)
	r.Echoes = cnt.echoes.Load() - echoes0
	if r.SteadySeconds > 0 {
		r.MessagesPerSec = float64(r.Echoes) / r.SteadySeconds
	}
	r.SteadyPings = poolPings(p) - pings0
	r.costs(cpu0, processCPU())
	if restarted != nil {
		pr.Restart = <-restarted // bounded: it gives up waiting after its bound
	}
	last := sampler.take(time.Now())
	r.CPUSeconds, r.GCCPUSeconds = -1, last.gcCPU-first.gcCPU
	if first.cpu >= 0 && last.cpu >= 0 {
		r.CPUSeconds = last.cpu - first.cpu
	}
	senders.stop()
	prog.stop()
	r.counted(&cnt, interrupted)
	for _, c := range p.Conns() {
		if c.State() == connfsm.Alive {
			r.Alive++
		}
	}
	st := p.Stats()
	r.Reconnects = st.Reconnects
	pr.Conns, pr.Ready = st.Conns, st.Ready
	pr.VenueSubscriptions, pr.VenueDuplicates = v.subscriptions()
	hs := v.handshakeTimes()
	pr.Handshakes, pr.Refused = len(hs), v.refusals()
	pr.DialAttempts = n + int(cnt.dials.Load()) // the first dials are no transition into Connecting
	pr.GateWaits = int(gateWaits.Load())
	if w := mode.Budget.Window; w > 0 {
		pr.Window = w.String()
		pr.MaxHandshakesPerWindow = maxInWindow(hs, w)
	} else if w := mode.VenueBudget.Window; w > 0 {
		pr.Window = w.String()
		pr.MaxHandshakesPerWindow = maxInWindow(hs, w)
	}
	if b := pcfg.DialBudget; b != nil {
		pr.BudgetAdmitted = b.Stats().Admitted
	}

	r.perConn(n, baseGoroutines, base)

	closeStart := time.Now()
	closeCtx, cancel := context.WithTimeout(context.Background(), closeBound)
	_ = p.Close(closeCtx)
	cancel()
	r.CloseSeconds = time.Since(closeStart).Seconds()
	for _, c := range p.Conns() {
		if c.State() == connfsm.Closed {
			r.Closed++
		}
	}
	r.GoroutinesLeft = goroutinesLeft(baseGoroutines)
	return nil
}

// runPoolRestart takes the venue down at steady+at, brings it up after
// downFor, and measures how long until recovered says every connection is
// Ready and every subscription active at the venue again, giving up bound
// after up. It always leaves the venue up.
func runPoolRestart(ctx context.Context, v *poolVenue, recovered func() bool, steady time.Time, at, downFor, bound time.Duration) *PoolRestart {
	rs := &PoolRestart{}
	if !sleepCtx(ctx, time.Until(steady.Add(at))) {
		rs.Err = "interrupted before the restart"
		return rs
	}
	h0 := len(v.handshakeTimes())
	down := time.Now()
	rs.At = down.Sub(steady).Seconds()
	v.srv.Down()
	interrupted := !sleepCtx(ctx, downFor)
	if err := v.srv.Up(); err != nil {
		rs.Err = err.Error()
		return rs
	}
	upAt := time.Now()
	rs.DownSeconds = upAt.Sub(down).Seconds()
	for !interrupted {
		if recovered() {
			now := time.Now()
			rs.Recovered = true
			rs.RecoverSeconds = now.Sub(upAt).Seconds()
			rs.OutageSeconds = now.Sub(down).Seconds()
			break
		}
		if time.Since(upAt) > bound {
			rs.Err = fmt.Sprintf("not recovered within %v of up", bound)
			break
		}
		interrupted = !sleepCtx(ctx, 20*time.Millisecond)
	}
	if interrupted {
		rs.Err = "interrupted"
	}
	rs.Handshakes = len(v.handshakeTimes()) - h0
	return rs
}

// poolPings returns the heartbeats p's connections have sent so far.
func poolPings(p *wsconn.Pool) uint64 {
	var n uint64
	for _, c := range p.Conns() {
		n += c.Stats().Pings
	}
	return n
}
