package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/connfsm/connfsm"
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
	// Batch, if positive, has each connection's sync send its
	// subscriptions in messages of up to Batch keys (wsconn.WithBatch):
	// "subs:K1,K2,...".
	Batch int
	// Rate, if positive, paces each connection's messages to Rate a second
	// (wsconn.WithRateLimit), as venues limit the messages a connection
	// sends: Binance 5 a second on spot, 10 on futures.
	Rate int
}

// interval is a Limiter that lets one message through every every, the
// first at once: the pace of a venue's per-connection message limit.
type interval struct {
	every time.Duration
	mu    sync.Mutex
	next  time.Time
}

// Wait waits for the next slot, or for ctx to end.
func (l *interval) Wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.every)
	l.mu.Unlock()
	if !sleepCtx(ctx, at.Sub(now)) {
		return context.Cause(ctx)
	}
	return nil
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

// subscribeWait is what the waits for every subscription to be active add
// for mode: 100 µs a subscription, 100 s for a million, about three times
// what subscribing them took on two shared cores (a subscribe and its ack
// each way, client and venue in one process), and with a Rate, the time
// its pace takes to send a connection's subscribe messages.
func subscribeWait(mode PoolMode) time.Duration {
	d := time.Duration(mode.Subs) * 100 * time.Microsecond
	if mode.Rate > 0 {
		msgs := (mode.PerConn + max(mode.Batch, 1) - 1) / max(mode.Batch, 1)
		d += time.Duration(msgs) * time.Second / time.Duration(mode.Rate)
	}
	return d
}

// runPool is Run in pool mode: it starts the venue and the pool, waits for
// every subscription to be active at the venue, runs the steady run (with
// a restart if asked), and fills r.
func runPool(ctx context.Context, cfg Config, progress io.Writer, prof *profiler) (Report, error) {
	mode := *cfg.Pool
	conns := (mode.Subs + mode.PerConn - 1) / mode.PerConn
	r := Report{Kind: "summary", N: conns, Server: "embedded", GOGC: cfg.GOGC,
		Pool: &PoolReport{Subscriptions: mode.Subs, PerConn: mode.PerConn, MaxConns: mode.Conns,
			DialBudget: mode.Budget.String(), VenueBudget: mode.VenueBudget.String(), Batch: mode.Batch, Rate: mode.Rate}}
	v, err := startPoolVenue(mode.VenueBudget)
	if err != nil {
		return r, err
	}
	defer v.srv.Close()
	r.URL = v.srv.URL + "/"
	err = runPoolClients(ctx, cfg, mode, v, &r, &lockedWriter{w: progress}, prof)
	r.T = time.Now().Format(time.RFC3339Nano)
	return r, err
}

func runPoolClients(ctx context.Context, cfg Config, mode PoolMode, v *poolVenue, r *Report, progress io.Writer, prof *profiler) error {
	var cnt counters
	pr := r.Pool
	base := takeBaseline()
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
	// Each connection its own observer: clientOptions keeps per-client
	// state.
	pcfg := wsconn.PoolConfig{MaxPerConn: mode.PerConn, MaxConns: mode.Conns,
		ConnOptions: func(int) []wsconn.Option {
			opts := clientOptions(cfg, &cnt)
			if mode.Rate > 0 {
				opts = append(opts, wsconn.WithRateLimit(&interval{every: time.Second / time.Duration(mode.Rate)}))
			}
			return opts
		}}
	if b := mode.Budget; b.Dials > 0 {
		var err error
		if pcfg.DialBudget, err = wsconn.NewDialBudget(b.Dials, b.Window); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	opts := []wsconn.Option{wsconn.NoWait()}
	if mode.Batch > 0 {
		opts = append(opts, wsconn.WithBatch(wsconn.Batch{Max: mode.Batch,
			Subscribe: func(keys []string) []byte { return []byte("subs:" + strings.Join(keys, ",")) }}))
	}
	opts = append(opts, wsconn.WithSubscriptions(subs...))
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
	deadline := start.Add(aliveWait + mode.Budget.windows(n) + subscribeWait(mode))
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
	perr := prof.startCPU()

	var restarted chan *PoolRestart
	if cfg.RestartAt > 0 && !interrupted {
		restarted = make(chan *PoolRestart, 1)
		go func() {
			// The budget may have to let every connection through twice
			// within its window: at the start, and after the restart.
			rs := runPoolRestart(ctx, v, all, steady, cfg.RestartAt, cfg.DownFor, recoverWait+mode.Budget.windows(2*n)+subscribeWait(mode))
			active, dups := v.subscriptions()
			rs.Missing = mode.Subs - active
			rs.Duplicated = dups + v.resubscribes()
			restarted <- rs
		}()
	}
	interrupted = interrupted || !steadyRun(ctx, r, sampler, steady, cfg.Duration, cfg.Sample, progress)
	last := r.endSteady(sampler, prof, cnt.echoes.Load()-echoes0, poolPings(p)-pings0, cpu0)
	if restarted != nil {
		pr.Restart = <-restarted // bounded: it gives up waiting after its bound
	}
	r.spent(first, last)
	senders.stop()
	prog.stop()
	r.counted(&cnt, interrupted)
	(&wsFleet{clients: p.Conns()}).tally(r) // Alive, reconnects and the heartbeat's counters
	st := p.Stats()
	pr.Conns, pr.Ready = st.Conns, st.Ready
	pr.VenueSubscriptions, pr.VenueDuplicates = v.subscriptions()
	hs := v.handshakeTimes()
	pr.Handshakes, pr.Refused = len(hs), v.refusals()
	pr.DialAttempts = n + int(cnt.dials.Load()) // the first dials are no transition into Connecting
	pr.GateWaits = int(cnt.gateWaits.Load())
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

	r.perConn(n, base)
	perr = errors.Join(perr, prof.heap())
	pr.HeapPerSub = r.HeapPerConn * float64(n) / float64(mode.Subs)

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
	r.GoroutinesLeft = goroutinesLeft(base.goroutines)
	return perr
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
	v.mark() // the subscribes from here on are the resubscribe's
	down := time.Now()
	rs.At = down.Sub(steady).Seconds()
	v.srv.Down()
	interrupted := !sleepCtx(ctx, downFor)
	if err := v.srv.Up(); err != nil {
		rs.Err = err.Error()
		return rs
	}
	upAt, cpu0 := time.Now(), processCPU()
	rs.DownSeconds = upAt.Sub(down).Seconds()
	for !interrupted {
		if recovered() {
			now := time.Now()
			rs.Recovered = true
			rs.RecoverSeconds = now.Sub(upAt).Seconds()
			rs.OutageSeconds = now.Sub(down).Seconds()
			if cpu0 >= 0 {
				rs.CPUSeconds = processCPU() - cpu0
			}
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
	rs.SubscribeMessages, rs.SubscribeKeys = v.mark()
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
