package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// Settings of the latency benchmarks. Each op runs latencyTrials trials;
// the dead-peer and reconnect trials run in lanes, each with its own server
// and client, since a trial waits out timers most of the time.
const (
	latencyTrials = 200
	lanes         = 8

	deadPing    = 100 * time.Millisecond // heartbeat of the dead-peer trials
	deadTimeout = 100 * time.Millisecond
	retryDelay  = 10 * time.Millisecond // backoff cap after a dead peer
	restartCap  = 50 * time.Millisecond // backoff cap of the reconnect trials
)

// steps records the times of the lifecycle steps the trials wait for. Its
// observer runs inside the lifecycle and never blocks: the channels hold
// more than a lane's trials produce.
type steps struct {
	alive, lost, dialFailed, retry chan time.Time
	onLost                         func() // run inside the lifecycle as Alive is lost
}

func newSteps(onLost func()) *steps {
	const room = 4 * latencyTrials
	return &steps{alive: make(chan time.Time, room), lost: make(chan time.Time, room),
		dialFailed: make(chan time.Time, room), retry: make(chan time.Time, room), onLost: onLost}
}

func (s *steps) observe(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
	if r.Kind != fsm.RecordTransition {
		return
	}
	now := time.Now()
	var ch chan time.Time
	switch {
	case r.Event == connfsm.Connected:
		ch = s.alive
	case r.From.Within(connfsm.Alive) && r.Event == connfsm.Lost:
		if s.onLost != nil {
			s.onLost()
		}
		ch = s.lost
	case r.Event == connfsm.DialFailed:
		ch = s.dialFailed
	case r.Event == connfsm.RetryDue:
		ch = s.retry
	default:
		return
	}
	select {
	case ch <- now:
	default:
	}
}

// next waits for the next step on ch.
func next(ch <-chan time.Time, what string) (time.Time, error) {
	select {
	case t := <-ch:
		return t, nil
	case <-time.After(10 * time.Second):
		return time.Time{}, fmt.Errorf("no %s within 10s", what)
	}
}

// closeRaw times the close handshake of a raw coder/websocket connection
// with a reader goroutine: one close frame out, the peer's back.
func closeRaw(url string) (time.Duration, error) {
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return 0, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	err = c.Close(websocket.StatusNormalClosure, "")
	d := time.Since(start)
	<-done
	return d, err
}

// closeWsconn times Close of an Alive client: until it is Closed and every
// task has returned.
func closeWsconn(url string) (time.Duration, error) {
	ctx := context.Background()
	c, err := wsconn.Dial(ctx, url, wsconn.WithHeartbeat(quiet, quiet))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	err = c.Close(ctx)
	return time.Since(start), err
}

// lane runs trials of one kind against its own echo server.
type lane struct {
	srv   *wsconntest.Server
	c     *wsconn.Client
	steps *steps
}

func newLane(opts ...wsconn.Option) (*lane, error) {
	srv, err := wsconntest.NewTCPServer("", wsconntest.WithoutRecording())
	if err != nil {
		return nil, err
	}
	l := &lane{srv: srv}
	l.steps = newSteps(func() { srv.Blackhole(false) })
	opts = append(opts, wsconn.WithStormGuard(wsconn.StormGuard{}), wsconn.OnRecord(l.steps.observe))
	l.c, err = wsconn.Dial(context.Background(), srv.URL+"/", opts...)
	if err != nil {
		srv.Close()
		return nil, err
	}
	if _, err := next(l.steps.alive, "first Alive"); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func (l *lane) close() error {
	err := l.c.Close(context.Background())
	l.srv.Close()
	return err
}

// deadPeer times one detection: the peer goes silent (a black hole: nothing
// is answered, nothing is closed) right as the connection becomes Alive,
// the worst phase of the heartbeat, and the time until the client declares
// the connection Lost is returned. The black hole ends as Alive is left, and
// the client reconnects before deadPeer returns.
func (l *lane) deadPeer() (time.Duration, error) {
	start := time.Now()
	l.srv.Blackhole(true)
	lost, err := next(l.steps.lost, "Lost")
	if err != nil {
		return 0, err
	}
	if _, err := next(l.steps.alive, "Alive after the dead peer"); err != nil {
		return 0, err
	}
	return lost.Sub(start), nil
}

// restart times one reconnect: the server goes down (every connection
// reset, dials refused); once the client has failed a dial, the server
// comes back up on the same address. The time from Up to Alive is returned,
// with the part of it after the backoff (dial and lifecycle) and the
// duration of a raw dial to the restarted server.
func (l *lane) restart() (restartTimes, error) {
	l.srv.Down()
	if _, err := next(l.steps.lost, "Lost"); err != nil {
		return restartTimes{}, err
	}
	if _, err := next(l.steps.dialFailed, "DialFailed"); err != nil {
		return restartTimes{}, err
	}
	start := time.Now()
	if err := l.srv.Up(); err != nil {
		return restartTimes{}, err
	}
	alive, err := next(l.steps.alive, "Alive after Up")
	if err != nil {
		return restartTimes{}, err
	}
	// The last retry before Alive started the dial that succeeded; failed
	// dials and retries that raced with Up are not counted by the next
	// trial.
	var retry time.Time
	for len(l.steps.retry) > 0 {
		retry = <-l.steps.retry
	}
	for len(l.steps.dialFailed) > 0 {
		<-l.steps.dialFailed
	}
	raw, err := rawDial(l.srv.URL + "/")
	return restartTimes{reconnect: alive.Sub(start), dial: alive.Sub(retry), raw: raw}, err
}

// restartTimes are the durations of one restart trial.
type restartTimes struct {
	reconnect time.Duration // from Up to Alive
	dial      time.Duration // from the retry that succeeded (the end of the backoff) to Alive
	raw       time.Duration // a raw coder/websocket dial to the restarted server
}

// rawDial times a coder/websocket dial, TCP connect and upgrade: two round
// trips.
func rawDial(url string) (time.Duration, error) {
	start := time.Now()
	c, _, err := websocket.Dial(context.Background(), url, nil)
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	return d, c.CloseNow()
}

// inLanes runs trials trials spread over n lanes made by open, in parallel,
// and returns the durations each trial reported.
func inLanes(n, trials int, open func() (*lane, error), trial func(*lane) ([]time.Duration, error)) ([][]time.Duration, error) {
	var (
		mu   sync.Mutex
		out  [][]time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			l, err := open()
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			for j := i; j < trials; j += n {
				ds, err := trial(l)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					out = append(out, ds)
				}
				mu.Unlock()
				if err != nil {
					break
				}
			}
			if err := l.close(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func deadPeerLane() (*lane, error) {
	return newLane(wsconn.WithHeartbeat(deadPing, deadTimeout),
		wsconn.WithBackoff(wsconn.Backoff{Initial: retryDelay, Max: retryDelay, Multiplier: 1}),
		wsconn.WithHandshakeTimeout(2*time.Second))
}

func restartLane() (*lane, error) {
	return newLane(wsconn.WithHeartbeat(quiet, quiet),
		wsconn.WithBackoff(wsconn.Backoff{Initial: restartCap, Max: restartCap, Multiplier: 1}))
}

// percentile returns the p-th percentile (nearest rank) of ds, in ms.
func percentile(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i]) / float64(time.Millisecond)
}

// column returns the i-th duration of every trial.
func column(trials [][]time.Duration, i int) []time.Duration {
	out := make([]time.Duration, len(trials))
	for j, t := range trials {
		out[j] = t[i]
	}
	return out
}

// TestLatencyTrials runs a few trials of each latency benchmark with short
// settings and checks that they measure what they claim: both closes
// succeed, a dead peer is declared Lost no sooner than the pong timeout and
// the client then reconnects, and a restarted server is reached again.
func TestLatencyTrials(t *testing.T) {
	srv, err := wsconntest.NewTCPServer("", wsconntest.WithoutRecording())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	for range 2 {
		if _, err := closeRaw(srv.URL + "/"); err != nil {
			t.Errorf("raw close: %v", err)
		}
		if _, err := closeWsconn(srv.URL + "/"); err != nil {
			t.Errorf("wsconn close: %v", err)
		}
	}

	const ping, timeout = 40 * time.Millisecond, 20 * time.Millisecond
	dead, err := inLanes(2, 2, func() (*lane, error) {
		return newLane(wsconn.WithHeartbeat(ping, timeout),
			wsconn.WithBackoff(wsconn.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
	}, func(l *lane) ([]time.Duration, error) {
		d, err := l.deadPeer()
		return []time.Duration{d}, err
	})
	if err != nil {
		t.Fatalf("dead-peer trials: %v", err)
	}
	if len(dead) != 2 {
		t.Errorf("dead-peer trials: %d, want 2", len(dead))
	}
	for _, d := range column(dead, 0) {
		if d < timeout {
			t.Errorf("dead peer declared Lost after %v, sooner than the pong timeout %v", d, timeout)
		}
	}

	restarts, err := inLanes(1, 2, func() (*lane, error) {
		return newLane(wsconn.WithHeartbeat(quiet, quiet),
			wsconn.WithBackoff(wsconn.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
	}, func(l *lane) ([]time.Duration, error) {
		r, err := l.restart()
		if err == nil && l.c.State() != connfsm.Alive {
			err = fmt.Errorf("state %v after the reconnect, want Alive", l.c.State())
		}
		return []time.Duration{r.reconnect, r.dial}, err
	})
	if err != nil {
		t.Fatalf("restart trials: %v", err)
	}
	if len(restarts) != 2 {
		t.Errorf("restart trials: %d, want 2", len(restarts))
	}
	for _, r := range restarts {
		if r[1] <= 0 || r[1] > r[0] {
			t.Errorf("dial part %v of a reconnect of %v: want within it", r[1], r[0])
		}
	}
}

// BenchmarkClose times Close against a responsive peer, alternating with
// the close handshake of a raw coder/websocket connection: raw-p50-ms and
// raw-p99-ms are the raw figures, p50-ms and p99-ms wsconn's.
func BenchmarkClose(b *testing.B) {
	srv, err := wsconntest.NewTCPServer("", wsconntest.WithoutRecording())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	var raw, ws []time.Duration
	for range b.N {
		for range latencyTrials {
			d, err := closeRaw(srv.URL + "/")
			if err != nil {
				b.Fatal(err)
			}
			raw = append(raw, d)
			if d, err = closeWsconn(srv.URL + "/"); err != nil {
				b.Fatal(err)
			}
			ws = append(ws, d)
		}
	}
	b.ReportMetric(percentile(raw, 50), "raw-p50-ms")
	b.ReportMetric(percentile(raw, 99), "raw-p99-ms")
	b.ReportMetric(percentile(ws, 50), "p50-ms")
	b.ReportMetric(percentile(ws, 99), "p99-ms")
}

// BenchmarkDeadPeer times the detection of a blackholed peer with a
// heartbeat of deadPing and deadTimeout, from the moment the peer goes
// silent, in the heartbeat's worst phase (see lane.deadPeer): bound-ms is
// interval + timeout.
func BenchmarkDeadPeer(b *testing.B) {
	var all []time.Duration
	for range b.N {
		trials, err := inLanes(lanes, latencyTrials, deadPeerLane, func(l *lane) ([]time.Duration, error) {
			d, err := l.deadPeer()
			return []time.Duration{d}, err
		})
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, column(trials, 0)...)
	}
	b.ReportMetric(percentile(all, 50), "p50-ms")
	b.ReportMetric(percentile(all, 99), "p99-ms")
	b.ReportMetric(float64(deadPing+deadTimeout)/float64(time.Millisecond), "bound-ms")
}

// BenchmarkReconnect times the reconnect after a server restart, from Up to
// Alive (p50-ms, p99-ms), with a constant backoff cap of restartCap.
// dial-p50-ms and dial-p99-ms are the part after the backoff, from the
// retry to Alive; raw-dial-p50-ms and raw-dial-p99-ms a raw coder/websocket
// dial to the same server (TCP connect and upgrade: two round trips).
// bound-ms is restartCap + raw-dial-p50-ms.
func BenchmarkReconnect(b *testing.B) {
	var all [][]time.Duration
	for range b.N {
		trials, err := inLanes(lanes, latencyTrials, restartLane, func(l *lane) ([]time.Duration, error) {
			r, err := l.restart()
			return []time.Duration{r.reconnect, r.dial, r.raw}, err
		})
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, trials...)
	}
	b.ReportMetric(percentile(column(all, 0), 50), "p50-ms")
	b.ReportMetric(percentile(column(all, 0), 99), "p99-ms")
	b.ReportMetric(percentile(column(all, 1), 50), "dial-p50-ms")
	b.ReportMetric(percentile(column(all, 1), 99), "dial-p99-ms")
	b.ReportMetric(percentile(column(all, 2), 50), "raw-dial-p50-ms")
	b.ReportMetric(percentile(column(all, 2), 99), "raw-dial-p99-ms")
	b.ReportMetric(float64(restartCap)/float64(time.Millisecond)+percentile(column(all, 2), 50), "bound-ms")
}
