// Package loadgen is the load and chaos generator behind `connfsm load`.
// It runs N resilient clients (wsconn) with heartbeats against a venue.
// The venue is an embedded wsconntest server, a child `connfsm serve`, or
// an external URL. A run shows a live progress line and samples what the
// process costs. It may restart the server or inject random faults, and it
// ends with a report. With Config.Raw, it runs bare coder/websocket
// clients instead, as the baseline.
//
// The files split it by concern:
//
//   - server.go: the venue and the child process;
//   - control.go: the child's control endpoint;
//   - serve.go: the venue as `connfsm serve` runs it;
//   - counters.go: what every client counts, lost causes by type;
//   - senders.go: the periodic messages and the progress line;
//   - sample.go: goroutines, heap, CPU, scheduling latency, profiles;
//   - restart.go: a restart, and how fast the clients came back;
//   - chaos.go: random faults;
//   - report.go: the report, its text and what fails a run;
//   - raw.go: the bare clients;
//   - files.go, filelimit.go, limits_*.go and rlimit_*.go: the open-file
//     limit;
//   - pool.go, pool_venue.go and pool_report.go: the pool mode, with one
//     wsconn.Pool, its subscriptions and its dial budget.
package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
)

// record is what a client's OnRecord observer receives.
type record = fsm.Record[connfsm.State, connfsm.Event]

const (
	// EmbeddedMax is the largest N served by an in-process venue. Above
	// it the venue runs as a child process (connfsm serve): in one process
	// every connection costs two open files, and the open-file limit is
	// often 20,000 or less.
	EmbeddedMax = 2000
	// DefaultGOGC is the default Config.GOGC. With the Go default of 100
	// the collector of a 10,000-client run starts a cycle every few
	// seconds, and each takes one of two cores for a second or more;
	// memory is cheaper than that here.
	DefaultGOGC = 400
	// ChaosRecovery is how long before the end of a run the last fault of
	// the chaos ends, so the run can check that every client came back.
	ChaosRecovery = 30 * time.Second

	// aliveWait bounds the wait for every client to be Alive once all are
	// started.
	aliveWait = 30 * time.Second
	// recoverWait bounds the wait for every client to be Alive again
	// after the server came back up (Config.RestartAt).
	recoverWait = 60 * time.Second
	// closeBound bounds closing every client at the end.
	closeBound = 20 * time.Second
)

// Config is a load run. Durations must be positive except RestartAt and
// Chaos (0: never); the command checks them.
type Config struct {
	N         int           // concurrent clients
	URL       string        // the venue; "" starts one (embedded, or a child above EmbeddedMax)
	Duration  time.Duration // the steady run, once every client is started
	Ping      time.Duration // each client's ping interval
	Pong      time.Duration // and pong timeout
	SendEvery time.Duration // each client sends a small message this often
	Sample    time.Duration // a sample this often during the steady run
	RestartAt time.Duration // take the venue down this long into the run
	DownFor   time.Duration // for this long
	Chaos     time.Duration // a random fault about this often
	DialRate  int           // clients started per second
	GOGC      int           // of the load process's child venue
	// Exe is the program to run as the child venue (`Exe serve ...`);
	// "" is this program (os.Executable).
	Exe string
	// Pool, if not nil, runs one wsconn.Pool instead of N clients, against
	// an embedded venue (N and URL are not used).
	Pool *PoolMode
	// Options are added to every client's (a metrics probe).
	Options []wsconn.Option
	// Backoff is the clients' backoff mode; BackoffModeDefault keeps
	// wsconn's default (DefaultBackoff).
	Backoff wsconn.BackoffMode
	// Raw runs N bare coder/websocket clients in place of wsconn clients,
	// each as a user of the library alone would write it (raw.go): the
	// figures to compare wsconn's with. Raw clients do not reconnect, so
	// Pool, RestartAt, Chaos and Options do not apply.
	Raw bool
	// HTTPClient, if not nil, makes the clients' handshakes, in place of
	// each mode's default.
	HTTPClient *http.Client
	// RampWait bounds the wait for every client to be Alive or to have
	// given up once all are started; 0 is 30 s.
	RampWait time.Duration
	// ChaosRecovery is how long before the end of the run the last fault
	// of the chaos ends; 0 is ChaosRecovery, which a fleet of thousands needs (a short
	// run of a few clients with a quick backoff needs far less).
	ChaosRecovery time.Duration
	// Profiles are the pprof profiles to write; none by default.
	Profiles Profiles
}

// ErrConfig is returned by Run when a client's options are refused
// (wrapping the *wsconn.ConfigError), or when Raw is combined with what
// needs wsconn clients: a usage error.
var ErrConfig = errors.New("loadgen: invalid client configuration")

// Run runs cfg: it starts the venue if cfg.URL is empty, starts the
// clients, runs them, and closes them and the venue. Progress lines and
// samples go to progress. When ctx ends the run stops early and the
// report says Interrupted. The error is set only when the run could not
// be made (the venue did not start, a client's options were refused, a
// profile could not be created) or a profile could not be written (then
// with the report); a run whose clients did not all stay Alive is a Report
// for the caller to judge.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Report, error) {
	if cfg.Raw && (cfg.Pool != nil || cfg.RestartAt > 0 || cfg.Chaos > 0 || len(cfg.Options) > 0) {
		return Report{}, fmt.Errorf("%w: raw clients do not reconnect and take no wsconn options: no pool, restart, chaos or options", ErrConfig)
	}
	prof, err := startProfiles(cfg.Profiles)
	if err != nil {
		return Report{}, err
	}
	if cfg.Pool != nil {
		r, err := runPool(ctx, cfg, progress, prof)
		return r, errors.Join(err, prof.close())
	}
	r := Report{Kind: "summary", N: cfg.N, URL: cfg.URL, Server: "external", GOGC: cfg.GOGC, Raw: cfg.Raw}
	if !cfg.Raw {
		r.Backoff = cmp.Or(cfg.Backoff, wsconn.DefaultBackoff.Mode).String()
	}
	srv := &server{url: cfg.URL, kind: "external"}
	if cfg.URL == "" {
		if srv, err = startServer(cfg, progress); err != nil {
			return r, errors.Join(err, prof.close())
		}
		defer srv.shutdown()
		r.URL, r.Server = srv.url, srv.kind
	}
	err = runClients(ctx, cfg, srv, &r, &lockedWriter{w: progress}, prof)
	r.T = time.Now().Format(time.RFC3339Nano)
	return r, errors.Join(err, prof.close())
}

// fleet is a run's clients: wsconn clients, or raw ones (Config.Raw).
type fleet interface {
	// start starts one more client against url; an error ends the run.
	start(url string) error
	// targets returns the clients, for the senders.
	targets() []sendTarget
	// pings returns the heartbeats the clients have sent so far.
	pings() uint64
	// tally counts into r what the clients say at the end of the run.
	tally(r *Report)
	// close closes every client, bounded by closeBound, and returns how
	// many ended.
	close() int
}

// runClients starts the clients, runs them, fills r and closes them; prof
// profiles the steady run and writes the heap profile before the close.
func runClients(ctx context.Context, cfg Config, srv *server, r *Report, progress io.Writer, prof *profiler) error {
	var cnt counters
	if cfg.RestartAt > 0 {
		cnt.dialBuckets = make([]atomic.Int64, (cfg.DownFor+recoverWait+time.Second)/bucket)
	}
	base := takeBaseline()
	sampler := newSampler(srv, &cnt)
	first := sampler.take(time.Now())

	var fl fleet = &wsFleet{cfg: cfg, cnt: &cnt, clients: make([]*wsconn.Client, 0, cfg.N)}
	if cfg.Raw {
		fl = newRawFleet(cfg, &cnt)
	}
	prog := startProgress(progress, cfg.N, &cnt)

	start := time.Now()
	interrupted := false
	for i := range cfg.N {
		if !sleepCtx(ctx, time.Until(start.Add(time.Duration(i)*time.Second/time.Duration(cfg.DialRate)))) {
			interrupted = true
			break
		}
		if err := fl.start(srv.url); err != nil {
			prog.stop()
			fl.close()
			return err
		}
	}

	// Every client started: wait for each to be Alive or to have given
	// up, then the steady run.
	wait := cfg.RampWait
	if wait <= 0 {
		wait = aliveWait
	}
	deadline := time.Now().Add(wait)
	for !interrupted && cnt.alive.Load()+cnt.ended.Load() < int64(cfg.N) && time.Now().Before(deadline) {
		if !sleepCtx(ctx, 20*time.Millisecond) {
			interrupted = true
		}
	}
	r.RampSeconds = time.Since(start).Seconds()
	r.RampAlive = int(cnt.alive.Load())
	senders := startSenders(fl.targets(), cfg.SendEvery, &cnt)
	steady := time.Now()
	echoes0, pings0, cpu0 := cnt.echoes.Load(), fl.pings(), processCPU()
	perr := prof.startCPU()

	var restarted chan *Restart
	if cfg.RestartAt > 0 && !interrupted {
		restarted = make(chan *Restart, 1)
		go func() { restarted <- runRestart(ctx, srv, &cnt, cfg.N, steady, cfg.RestartAt, cfg.DownFor) }()
	}
	var chaos chan []ChaosEvent
	if cfg.Chaos > 0 && !interrupted {
		chaos = make(chan []ChaosEvent, 1)
		go func() { chaos <- runChaos(ctx, srv, cfg, steady) }()
	}
	// The steady run, with a sample every cfg.Sample.
	interrupted = interrupted || !steadyRun(ctx, r, sampler, steady, cfg.Duration, cfg.Sample, progress)
	last := r.endSteady(sampler, prof, cnt.echoes.Load()-echoes0, fl.pings()-pings0, cpu0)
	if restarted != nil {
		r.Restart = <-restarted // bounded: runRestart gives up after recoverWait
	}
	if chaos != nil {
		r.Chaos = <-chaos // ends ChaosRecovery before the end of the run
	}
	r.spent(first, last)
	r.Growth = growth(r.Samples)
	senders.stop()
	prog.stop()
	r.counted(&cnt, interrupted)
	r.FileLimit = cnt.fileLimit()
	fl.tally(r)

	r.perConn(cfg.N, base)
	perr = errors.Join(perr, prof.heap())

	closeStart := time.Now()
	r.Closed = fl.close()
	r.CloseSeconds = time.Since(closeStart).Seconds()
	r.GoroutinesLeft = goroutinesLeft(base.goroutines)
	return perr
}

// wsFleet is a run's wsconn clients.
type wsFleet struct {
	cfg     Config
	cnt     *counters
	clients []*wsconn.Client
}

func (f *wsFleet) start(url string) error {
	cl, err := wsconn.Dial(context.Background(), url, clientOptions(f.cfg, f.cnt)...)
	if err != nil {
		if errors.Is(err, wsconn.ErrInvalidConfig) {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return err
	}
	f.clients = append(f.clients, cl)
	return nil
}

func (f *wsFleet) targets() []sendTarget { return wsTargets(f.clients) }

func (f *wsFleet) pings() uint64 {
	var n uint64
	for _, cl := range f.clients {
		n += cl.Stats().Pings
	}
	return n
}

func (f *wsFleet) tally(r *Report) {
	for _, cl := range f.clients {
		if cl.State() == connfsm.Alive {
			r.Alive++
		}
		st := cl.Stats()
		r.Reconnects += st.Reconnects
		r.Pings += st.Pings
		r.PingsSkipped += st.PingsSkipped
		r.PongWaitsExtended += st.PongWaitsExtended
		r.LateReads += st.LateReads
	}
}

func (f *wsFleet) close() int { return closeClients(f.clients) }

// clientOptions are each client's options: the heartbeat, and an observer
// that feeds cnt.
func clientOptions(cfg Config, cnt *counters) []wsconn.Option {
	// Touched only inside this client's lifecycle.
	connected, limited := false, false // limited: a file limit stopped a dial
	opts := slices.Clone(cfg.Options)
	if cfg.HTTPClient != nil {
		opts = append(opts, wsconn.WithHTTPClient(cfg.HTTPClient))
	}
	if cfg.Backoff != wsconn.BackoffModeDefault {
		opts = append(opts, wsconn.WithBackoff(wsconn.Backoff{Mode: cfg.Backoff}))
	}
	return append(opts,
		wsconn.NoWait(),
		wsconn.WithHeartbeat(cfg.Ping, cfg.Pong),
		wsconn.OnRecord(func(_ context.Context, rec record) {
			if rec.Kind != fsm.RecordTransition {
				return
			}
			switch {
			case rec.Event == connfsm.DialFailed:
				if err, ok := rec.Payload.(error); ok && cnt.dialFailed(err, !limited) {
					limited = true
				}
			case rec.Event == connfsm.Connected:
				cnt.alive.Add(1)
				if connected {
					cnt.reconnects.Add(1)
				}
				connected = true
			case rec.From.Within(connfsm.Alive) && !rec.To.Within(connfsm.Alive):
				cnt.alive.Add(-1)
				if err, ok := rec.Payload.(error); ok && rec.To == connfsm.Reconnecting {
					cnt.lost(err)
				}
			}
			switch rec.To {
			case connfsm.Connecting:
				cnt.dialed(rec.When)
			case connfsm.Closed:
				cnt.ended.Add(1)
			}
			if w, ok := rec.Payload.(*wsconn.Wait); ok && w.Reason == wsconn.WaitDialGate {
				cnt.gateWaits.Add(1)
			}
		}),
		wsconn.OnMessage(func(context.Context, wsconn.Message) { cnt.echoes.Add(1) }),
	)
}

// closeClients closes every client, a few at a time, bounded by
// closeBound, and returns how many reached Closed.
func closeClients(clients []*wsconn.Client) int {
	ctx, cancel := context.WithTimeout(context.Background(), closeBound)
	defer cancel()
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range min(64, len(clients)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(clients) {
					return
				}
				_ = clients[i].Close(ctx) // after ctx, Close aborts and still waits for Closed
			}
		})
	}
	wg.Wait()
	closed := 0
	for _, cl := range clients {
		if cl.State() == connfsm.Closed {
			closed++
		}
	}
	return closed
}

// sleepCtx sleeps d and reports false if ctx ended first (at once if it
// has already).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(max(d, 0)):
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

// lockedWriter serialises writes from several goroutines (the progress
// line and the samples).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// goroutinesLeft returns how many goroutines are running beyond base, once
// those that are ending have had up to 3 s to end: the embedded venue's
// handlers end as their peers close.
func goroutinesLeft(base int) int {
	left := runtime.NumGoroutine() - base
	for wait := time.Now().Add(3 * time.Second); left > 0 && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
		left = runtime.NumGoroutine() - base
	}
	return max(left, 0)
}

// baseline is what the process holds before the clients start: the
// per-connection costs and the goroutines left are measured against it.
type baseline struct {
	goroutines int
	heapInuse  uint64
}

// takeBaseline collects garbage first, so that the heap is what is live.
func takeBaseline() baseline {
	runtime.GC()
	n := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return baseline{goroutines: n, heapInuse: ms.HeapInuse}
}

// perConn sets the goroutines and heap per connection of n connections,
// measured against base, taken before they started.
func (r *Report) perConn(n int, base baseline) {
	now := takeBaseline()
	r.GoroutinesPerConn = float64(now.goroutines-base.goroutines) / float64(n)
	r.HeapPerConn = (float64(now.heapInuse) - float64(base.heapInuse)) / float64(n)
}

// counted sets what the clients counted during the run.
func (r *Report) counted(cnt *counters, interrupted bool) {
	r.Interrupted = interrupted
	r.SendErrors = cnt.sendFailures.Load()
	r.PongTimeouts = uint64(cnt.pongTimeouts.Load())
	r.LostCauses = cnt.lostCauses()
}
