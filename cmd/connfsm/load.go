package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/echoserver"
	"github.com/connfsm/connfsm/wsconn"
)

const (
	// loadEmbeddedMax is the largest -n served by an in-process server.
	// Above it the server runs as a child process (connfsm serve): in one
	// process every connection costs two open files, and the open-file
	// limit is often 20,000 or less.
	loadEmbeddedMax = 2000
	// loadAliveWait bounds the wait for every client to be Alive once all
	// are started.
	loadAliveWait = 30 * time.Second
	// loadRecoverWait bounds the wait for every client to be Alive again
	// after the server came back up (-restart-at).
	loadRecoverWait = 60 * time.Second
	// loadCloseBound bounds closing every client at the end.
	loadCloseBound = 20 * time.Second
	// loadSenders is the number of goroutines sending the clients'
	// periodic messages: a fixed few, so the goroutines counted per
	// connection are the client's own.
	loadSenders = 8
	// loadSendSlots is the number of slices each sender spreads a round
	// over: N messages sent in one burst at the start of every period
	// queue every ping behind them, which no real workload does.
	loadSendSlots = 100
	// loadSendTimeout bounds one Send. It is not -send-every: a write
	// whose context ends mid-way closes the connection, and a load
	// generator must not cut its own connections because its machine was
	// busy for a second; liveness is the heartbeat's job.
	loadSendTimeout = 10 * time.Second
	// loadControlTimeout bounds a down or up request to the child server.
	loadControlTimeout = 30 * time.Second
	// loadBucket is the width of the dial-rate buckets during a restart.
	loadBucket = 100 * time.Millisecond
	// loadGOGC is the default -gogc. With the Go default of 100 the
	// collector of a 10,000-client run starts a cycle every few seconds,
	// and each takes one of two cores for a second or more; memory is
	// cheaper than that here.
	loadGOGC = 400
	// clockTicks is USER_HZ, the unit of /proc/<pid>/stat CPU times: 100
	// on every Linux architecture Go supports.
	clockTicks = 100
)

// loadReport is load's result; -json prints it as one JSON object.
type loadReport struct {
	T                 string  `json:"t"`
	Kind              string  `json:"kind"` // "summary"
	N                 int     `json:"n"`
	Server            string  `json:"server"` // embedded, child or external
	URL               string  `json:"url"`
	GOGC              int     `json:"gogc"`
	Alive             int     `json:"alive"`
	Reconnects        uint64  `json:"reconnects"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`
	HeapPerConn       float64 `json:"heap_bytes_per_conn"`
	MessagesPerSec    float64 `json:"messages_per_sec"`
	Echoes            uint64  `json:"echoes"`
	SendErrors        uint64  `json:"send_errors"`
	RampSeconds       float64 `json:"ramp_seconds"`
	SteadySeconds     float64 `json:"steady_seconds"`
	// CPUSeconds is the load process's user and system CPU time from the
	// first client to the end of the steady run; ServerCPUSeconds the
	// child server's over the same span. -1: not measurable here (no
	// /proc).
	CPUSeconds       float64 `json:"cpu_seconds"`
	ServerCPUSeconds float64 `json:"server_cpu_seconds,omitempty"`
	// GCCPUSeconds is the load process's CPU time spent in the garbage
	// collector over the same span, as the Go runtime estimates it.
	GCCPUSeconds float64 `json:"gc_cpu_seconds"`
	// Lost connections over the whole run by cause: "pong timeout",
	// "read", "ping" (the ping write failed) or "other".
	PongTimeouts uint64            `json:"pong_timeouts"`
	LostCauses   map[string]uint64 `json:"lost_causes,omitempty"`
	Samples      []loadSample      `json:"samples,omitempty"`
	Growth       *loadGrowth       `json:"growth,omitempty"`
	Restart      *loadRestart      `json:"restart,omitempty"`
	Chaos        []chaosEvent      `json:"chaos,omitempty"`
	Closed       int               `json:"closed"`
	CloseSeconds float64           `json:"close_seconds"`
	// GoroutinesLeft is NumGoroutine after closing, minus the baseline
	// taken before the first client: 0 when nothing outlived its client.
	GoroutinesLeft int  `json:"goroutines_left"`
	Interrupted    bool `json:"interrupted,omitempty"`
}

// loadSample is the state of the run every -sample. Percentages are of
// one core, over the span since the previous sample (the first: since
// the steady run began).
type loadSample struct {
	T            float64 `json:"t"` // seconds since the steady run began
	Alive        int64   `json:"alive"`
	Reconnects   int64   `json:"reconnects"`
	PongTimeouts int64   `json:"pong_timeouts"`
	Goroutines   int     `json:"goroutines"`
	// HeapLive is the heap marked live by the last GC: what the run
	// holds, without the garbage HeapInuse also counts.
	HeapLive  uint64  `json:"heap_live_bytes"`
	HeapInuse uint64  `json:"heap_inuse_bytes"`
	CPUPct    float64 `json:"cpu_pct"`
	ServerPct float64 `json:"server_cpu_pct,omitempty"`
	GCPct     float64 `json:"gc_cpu_pct"`
	// SchedP99 and SchedMax are the 99th percentile and the largest time
	// a goroutine of the load process waited to run once runnable, in
	// milliseconds (bucket lower bounds of the runtime's histogram).
	SchedP99 float64 `json:"sched_latency_p99_ms"`
	SchedMax float64 `json:"sched_latency_max_ms"`
	// MachinePct is the whole machine's busy CPU (every process, the
	// kernel, steal), of one core: 200 is two cores busy. Other
	// processes compete for the same cores; Load1 is the one-minute load
	// average.
	MachinePct float64 `json:"machine_cpu_pct,omitempty"`
	Load1      float64 `json:"loadavg_1m,omitempty"`

	cpu, serverCPU, gcCPU float64
	machineBusy           float64 // seconds, from /proc/stat; -1 unknown
	sched                 []uint64
	at                    time.Time
}

// loadGrowth compares the last sample with the first.
type loadGrowth struct {
	FromT          float64 `json:"from_t"`
	ToT            float64 `json:"to_t"`
	HeapLiveBytes  int64   `json:"heap_live_bytes"`
	HeapLivePct    float64 `json:"heap_live_pct"`
	HeapInuseBytes int64   `json:"heap_inuse_bytes"`
	Goroutines     int     `json:"goroutines"`
}

// loadRestart is what -restart-at measured.
type loadRestart struct {
	At          float64 `json:"at"`           // seconds into the steady run the server went down
	DownSeconds float64 `json:"down_seconds"` // from down to up, measured
	Recovered   bool    `json:"recovered"`    // all N Alive again within loadRecoverWait of up
	// RecoverSeconds runs from up until all N were Alive again;
	// OutageSeconds from down.
	RecoverSeconds float64 `json:"recover_seconds"`
	OutageSeconds  float64 `json:"outage_seconds"`
	// Dials are the clients' dial attempts (entries into Connecting) per
	// 100 ms from down until recovered, by the time each started; UpBucket
	// is the index of the first whole bucket after up. Accepts are the
	// server's newly accepted TCP connections at each read of its counter
	// (every 100 ms, or slower when the server is slow to answer), and
	// AcceptsAt the time of each read in seconds since down; the peak
	// accept rate is over the shortest spans of reads at least 1 s long.
	PeakDialsPer100ms   int       `json:"peak_dials_per_100ms"`
	PeakDialsPerSec     int       `json:"peak_dials_per_sec"` // the most in any 1 s (10 buckets)
	PeakUpDialsPer100ms int       `json:"peak_up_dials_per_100ms"`
	PeakUpDialsPerSec   int       `json:"peak_up_dials_per_sec"`
	PeakAcceptsPerSec   int       `json:"peak_accepts_per_sec"`
	UpBucket            int       `json:"up_bucket"`
	Dials               []int     `json:"dials_per_100ms"`
	Accepts             []int     `json:"accepts,omitempty"`
	AcceptsAt           []float64 `json:"accepts_at,omitempty"`
	Err                 string    `json:"error,omitempty"`
}

// loadFlags are load's settings.
type loadFlags struct {
	n         int
	url       string
	duration  time.Duration
	ping      time.Duration
	pong      time.Duration
	sendEvery time.Duration
	sample    time.Duration
	restartAt time.Duration
	downFor   time.Duration
	chaos     time.Duration
	dialRate  int
	gogc      int
	json      bool
}

// runLoad runs N concurrent clients with heartbeats against an echo server
// and reports what each connection costs. It exits 1 if not all N clients
// were Alive at the end, or if a restart was asked for and not all came
// back.
func runLoad(c command, args []string, stdout, stderr io.Writer) int {
	f, err := parseLoadFlags(args)
	if code, done := reportUsage(loadFlagSet(new(loadFlags)), c, err, stdout, stderr); done {
		return code
	}
	if limit, err := raiseFileLimit(); err != nil {
		fmt.Fprintf(stderr, "connfsm load: %v\n", err)
	} else if need := uint64(f.n) + 64; limit > 0 && limit < need {
		fmt.Fprintf(stderr, "connfsm load: warning: the open-file limit %d is below the %d clients need\n", limit, need)
	}

	defer debug.SetGCPercent(debug.SetGCPercent(f.gogc))

	ctx, stop := interruptContext()
	defer stop()
	r := loadReport{Kind: "summary", N: f.n, URL: f.url, Server: "external", GOGC: f.gogc}
	srv := &loadServer{url: f.url, kind: "external"}
	if f.url == "" {
		var err error
		if srv, err = startLoadServer(f.n, f.gogc, stderr); err != nil {
			fmt.Fprintf(stderr, "connfsm load: %v\n", err)
			return exitFail
		}
		defer srv.shutdown()
		r.URL, r.Server = srv.url, srv.kind
	}
	code := runLoadClients(ctx, f, srv, &r, stderr)
	if code != exitOK {
		return code
	}
	r.T = time.Now().Format(time.RFC3339Nano)
	if f.json {
		if err := (&lineWriter{w: stdout}).object(r); err != nil {
			fmt.Fprintf(stderr, "connfsm load: %v\n", err)
			return exitFail
		}
	} else {
		printLoadReport(stdout, r)
	}
	if r.Alive != r.N {
		fmt.Fprintf(stderr, "connfsm load: %d of %d clients were Alive at the end\n", r.Alive, r.N)
		return exitFail
	}
	if r.Restart != nil && !r.Restart.Recovered {
		fmt.Fprintf(stderr, "connfsm load: not every client was Alive again after the restart\n")
		return exitFail
	}
	return exitOK
}

// loadFlagSet returns load's flags, which set f.
func loadFlagSet(f *loadFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.IntVar(&f.n, "n", 0, "number of concurrent clients (required)")
	fs.StringVar(&f.url, "url", "", "server `URL` (default: an embedded echo server; a child `connfsm serve` above 2000 clients)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to run once every client is started")
	fs.DurationVar(&f.ping, "ping", time.Second, "ping `interval` of each client")
	fs.DurationVar(&f.pong, "pong-timeout", time.Second, "pong timeout of each client (at most -ping)")
	fs.DurationVar(&f.sendEvery, "send-every", 10*time.Second, "each client sends a small message this often and counts the echoes")
	fs.DurationVar(&f.sample, "sample", 10*time.Second, "print a sample (goroutines, heap, CPU, alive) this often during the run")
	fs.DurationVar(&f.restartAt, "restart-at", 0, "take the server down this long into the run (0: never); needs the embedded or child server")
	fs.DurationVar(&f.downFor, "down-for", 3*time.Second, "with -restart-at, how long the server stays down")
	fs.DurationVar(&f.chaos, "chaos", 0, "apply a random fault (reset, blackhole, restart) about this often, until 30s before the end (0: never); needs the embedded or child server")
	fs.IntVar(&f.dialRate, "dial-rate", 1000, "clients started per second, so a large ramp does not flood the server")
	fs.IntVar(&f.gogc, "gogc", loadGOGC, "garbage collector target percentage (GOGC) of load and of its child server; 100 is Go's default")
	fs.BoolVar(&f.json, "json", false, "print the report as one JSON object")
	return fs
}

// parseLoadFlags parses load's arguments and checks the values; it prints
// nothing.
func parseLoadFlags(args []string) (loadFlags, error) {
	var f loadFlags
	if err := parseArgs(loadFlagSet(&f), args); err != nil {
		return f, err
	}
	return f, f.check()
}

func (f *loadFlags) check() error {
	var p []error
	if f.n <= 0 {
		p = append(p, fmt.Errorf("-n must be positive, got %d", f.n))
	}
	if f.dialRate <= 0 {
		p = append(p, fmt.Errorf("-dial-rate must be positive, got %d", f.dialRate))
	}
	if f.gogc <= 0 {
		p = append(p, fmt.Errorf("-gogc must be positive, got %d", f.gogc))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"duration", f.duration}, {"ping", f.ping}, {"pong-timeout", f.pong}, {"send-every", f.sendEvery}, {"sample", f.sample}, {"down-for", f.downFor}} {
		if d.d <= 0 {
			p = append(p, fmt.Errorf("-%s must be positive, got %v", d.name, d.d))
		}
	}
	if f.pong > f.ping && f.ping > 0 {
		p = append(p, fmt.Errorf("-pong-timeout (%v) must not exceed -ping (%v)", f.pong, f.ping))
	}
	switch {
	case f.restartAt < 0:
		p = append(p, fmt.Errorf("-restart-at must not be negative, got %v", f.restartAt))
	case f.restartAt > 0 && f.url != "":
		p = append(p, errors.New("-restart-at needs the embedded or child server: an external server (-url) cannot be restarted"))
	case f.chaos < 0:
		p = append(p, fmt.Errorf("-chaos must not be negative, got %v", f.chaos))
	case f.chaos > 0 && f.url != "":
		p = append(p, fmt.Errorf("-chaos needs the embedded or child server, not -url %q", f.url))
	case f.chaos > 0 && f.restartAt > 0:
		p = append(p, fmt.Errorf("-chaos and -restart-at cannot be combined"))
	case f.chaos > 0 && f.duration <= chaosRecovery:
		p = append(p, fmt.Errorf("-chaos needs -duration above %v (the recovery time at the end), got %v", chaosRecovery, f.duration))
	case f.restartAt > 0 && f.restartAt+f.downFor >= f.duration:
		p = append(p, fmt.Errorf("-restart-at (%v) plus -down-for (%v) must end before -duration (%v)", f.restartAt, f.downFor, f.duration))
	}
	if f.url != "" {
		if u, err := url.Parse(f.url); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			p = append(p, fmt.Errorf("-url %q: want a ws:// or wss:// URL with a host", f.url))
		}
	}
	return errors.Join(p...)
}

// loadServer is the server under load: embedded, a child process, or
// external (which load can neither restart nor ask for counters).
type loadServer struct {
	url, kind string
	embedded  *echoserver.Server
	control   string // the child's control endpoint, "http://host:port/"
	pid       int    // the child's
	http      *http.Client
	shutdown  func()
}

// down takes the server down: dials are refused and every connection is
// reset.
func (s *loadServer) down() error {
	if s.embedded != nil {
		s.embedded.Down()
		return nil
	}
	return s.post("down")
}

// up brings it back on the same address.
func (s *loadServer) up() error {
	if s.embedded != nil {
		return s.embedded.Up()
	}
	return s.post("up")
}

func (s *loadServer) post(what string) error {
	if s.control == "" {
		return fmt.Errorf("server %s: no control endpoint", s.kind)
	}
	// Down resets every connection, which takes seconds with 10,000 on a
	// busy machine: the request's bound is generous, and short of the
	// default client's none.
	ctx, cancel := context.WithTimeout(context.Background(), loadControlTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.control+what, nil)
	if err != nil {
		return fmt.Errorf("server %s: %w", what, err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("server %s: %w", what, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("server %s: %s: %s", what, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// accepted returns the server's count of accepted TCP connections, if it
// can be asked.
func (s *loadServer) accepted() (uint64, bool) {
	if s.embedded != nil {
		return s.embedded.Stats().Accepted, true
	}
	if s.control == "" {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.control+"stats", nil)
	if err != nil {
		return 0, false
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var st struct {
		Accepted uint64 `json:"accepted"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&st) != nil {
		return 0, false
	}
	return st.Accepted, true
}

// cpuSeconds returns the child server's CPU time, if there is a child.
func (s *loadServer) cpuSeconds() (float64, bool) {
	if s.pid == 0 {
		return 0, false
	}
	return procCPUSeconds(strconv.Itoa(s.pid))
}

// startLoadServer starts the echo server: in process for up to
// loadEmbeddedMax clients, else as a child `connfsm serve` whose first
// stdout lines are its URL and its control endpoint. shutdown stops it.
func startLoadServer(n, gogc int, stderr io.Writer) (*loadServer, error) {
	if n <= loadEmbeddedMax {
		srv, err := echoserver.Start("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		return &loadServer{url: srv.URL(), kind: "embedded", embedded: srv, shutdown: srv.Close}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	cmd := exec.Command(exe, "serve", "-addr", "127.0.0.1:0", "-control", "127.0.0.1:0", "-until-stdin-eof")
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(), "GOGC="+strconv.Itoa(gogc))
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server %s serve: %w", exe, err)
	}
	lines := make(chan [2]string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		br := bufio.NewReader(out)
		u, _ := br.ReadString('\n')
		ctl, _ := br.ReadString('\n')
		lines <- [2]string{strings.TrimSpace(u), strings.TrimSpace(ctl)}
		_, _ = io.Copy(io.Discard, br) // until the child exits
	}()
	// No keep-alive: an idle connection's goroutines would count as left
	// over when the clients are gone.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	// Closing its stdin stops it; if it hangs, it is killed. Wait comes
	// after the last read of its stdout, as os/exec requires.
	shutdown := func() {
		hc.CloseIdleConnections()
		_ = in.Close()
		t := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
		<-drained
		_ = cmd.Wait()
		t.Stop()
	}
	select {
	case l := <-lines:
		ctl, ok := strings.CutPrefix(l[1], "control: ")
		if !strings.HasPrefix(l[0], "ws://") || !ok || !strings.HasPrefix(ctl, "http://") {
			shutdown()
			return nil, fmt.Errorf("server %s serve printed %q, not its URL and control endpoint", exe, l[0]+"\n"+l[1])
		}
		return &loadServer{url: l[0], kind: "child", control: ctl, pid: cmd.Process.Pid, http: hc, shutdown: shutdown}, nil
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		shutdown()
		return nil, fmt.Errorf("server %s serve printed no URL within 10s", exe)
	}
}

// loadCounters are updated by every client.
type loadCounters struct {
	alive, reconnects    atomic.Int64
	dials                atomic.Int64 // entries into Connecting
	pongTimeouts         atomic.Int64
	ended                atomic.Int64 // clients that reached Closed (gave up)
	echoes, sendFailures atomic.Uint64

	lostMu sync.Mutex
	lost   map[string]uint64 // by cause

	// During a restart, dials are counted by the time they happened, in
	// loadBucket-wide buckets from dialOrigin (unix nanoseconds; 0: not
	// counting): a sampler that polls a counter would put every dial of
	// a moment it was itself delayed into one bucket. dialBuckets is set
	// before the first client starts.
	dialOrigin  atomic.Int64
	dialBuckets []atomic.Int64
}

// dialed counts a dial attempt that started at t.
func (cnt *loadCounters) dialed(t time.Time) {
	cnt.dials.Add(1)
	o := cnt.dialOrigin.Load()
	if o == 0 {
		return
	}
	if i := (t.UnixNano() - o) / int64(loadBucket); i >= 0 && i < int64(len(cnt.dialBuckets)) {
		cnt.dialBuckets[i].Add(1)
	}
}

// lostCause counts a connection lost with err, by cause.
func (cnt *loadCounters) lostCause(err error) {
	cause := "other"
	switch msg := fmt.Sprint(err); {
	case errors.Is(err, wsconn.ErrPongTimeout):
		cause = "pong timeout"
		cnt.pongTimeouts.Add(1)
	case strings.HasPrefix(msg, "wsconn: read:"):
		cause = "read"
	case strings.HasPrefix(msg, "wsconn: ping:"):
		cause = "ping"
	}
	cnt.lostMu.Lock()
	if cnt.lost == nil {
		cnt.lost = map[string]uint64{}
	}
	cnt.lost[cause]++
	cnt.lostMu.Unlock()
}

// runLoadClients starts the clients, runs them, fills r and closes them.
func runLoadClients(ctx context.Context, f loadFlags, srv *loadServer, r *loadReport, stderr io.Writer) int {
	// The progress line and the samples are written from two goroutines.
	stderr = &lockedWriter{w: stderr}
	var cnt loadCounters
	if f.restartAt > 0 {
		cnt.dialBuckets = make([]atomic.Int64, (f.downFor+loadRecoverWait+time.Second)/loadBucket)
	}
	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	sampler := newLoadSampler(srv, &cnt)
	first := sampler.take(time.Now())

	clients := make([]*wsconn.Client, 0, f.n)
	var clientsMu sync.Mutex // clients grows while progress reads it
	prog := startProgress(stderr, f.n, &cnt)

	start := time.Now()
	interrupted := false
	for i := range f.n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(f.dialRate))); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		cl, err := wsconn.Dial(context.Background(), srv.url, loadOptions(f, &cnt)...)
		if err != nil {
			prog.stop()
			closeLoadClients(clients)
			fmt.Fprintf(stderr, "connfsm load: %v\n", err)
			if errors.Is(err, wsconn.ErrInvalidConfig) {
				return exitUsage
			}
			return exitFail
		}
		clientsMu.Lock()
		clients = append(clients, cl)
		clientsMu.Unlock()
	}

	// Every client started: wait for each to be Alive or to have given
	// up, then the steady run.
	deadline := time.Now().Add(loadAliveWait)
	for !interrupted && cnt.alive.Load()+cnt.ended.Load() < int64(f.n) && time.Now().Before(deadline) {
		if !sleepCtx(ctx, 20*time.Millisecond) {
			interrupted = true
		}
	}
	r.RampSeconds = time.Since(start).Seconds()
	senders := startSenders(clients, f.sendEvery, &cnt)
	steady := time.Now()
	echoes0 := cnt.echoes.Load()

	var restarted chan *loadRestart
	if f.restartAt > 0 && !interrupted {
		restarted = make(chan *loadRestart, 1)
		go func() { restarted <- runRestart(ctx, srv, &cnt, f.n, steady, f.restartAt, f.downFor) }()
	}
	var chaos chan []chaosEvent
	if f.chaos > 0 && !interrupted {
		chaos = make(chan []chaosEvent, 1)
		go func() { chaos <- runChaos(ctx, srv, f, steady) }()
	}
	// The steady run, with a sample every f.sample.
	prev := sampler.take(steady)
	end := steady.Add(f.duration)
	for next := steady.Add(f.sample); !interrupted; next = next.Add(f.sample) {
		wake := next
		if wake.After(end) {
			wake = end
		}
		if !sleepCtx(ctx, time.Until(wake)) {
			interrupted = true
			break
		}
		if next.After(end) {
			break
		}
		s := sampler.take(time.Now())
		s.fill(prev, steady)
		r.Samples = append(r.Samples, s)
		fmt.Fprintln(stderr, s.line())
		prev = s
	}
	r.SteadySeconds = time.Since(steady).Seconds()
	r.Echoes = cnt.echoes.Load() - echoes0
	if r.SteadySeconds > 0 {
		r.MessagesPerSec = float64(r.Echoes) / r.SteadySeconds
	}
	if restarted != nil {
		r.Restart = <-restarted // bounded: runRestart gives up after loadRecoverWait
	}
	if chaos != nil {
		r.Chaos = <-chaos // ends chaosRecovery before the end of the run
	}
	last := sampler.take(time.Now())
	r.CPUSeconds, r.ServerCPUSeconds, r.GCCPUSeconds = -1, 0, last.gcCPU-first.gcCPU
	if first.cpu >= 0 && last.cpu >= 0 {
		r.CPUSeconds = last.cpu - first.cpu
	}
	if first.serverCPU >= 0 && last.serverCPU >= 0 {
		r.ServerCPUSeconds = last.serverCPU - first.serverCPU
	}
	r.Growth = growth(r.Samples)
	senders.stop()
	prog.stop()
	r.Interrupted = interrupted
	r.SendErrors = cnt.sendFailures.Load()
	r.PongTimeouts = uint64(cnt.pongTimeouts.Load())
	cnt.lostMu.Lock()
	r.LostCauses = cnt.lost
	cnt.lostMu.Unlock()
	for _, cl := range clients {
		if cl.State() == connfsm.Alive {
			r.Alive++
		}
		r.Reconnects += cl.Stats().Reconnects
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.GoroutinesPerConn = float64(runtime.NumGoroutine()-baseGoroutines) / float64(f.n)
	r.HeapPerConn = (float64(ms.HeapInuse) - float64(base.HeapInuse)) / float64(f.n)

	closeStart := time.Now()
	r.Closed = closeLoadClients(clients)
	r.CloseSeconds = time.Since(closeStart).Seconds()
	// The embedded server's handlers end as their peers close: give them
	// a moment, then count what is left.
	left := runtime.NumGoroutine() - baseGoroutines
	for wait := time.Now().Add(3 * time.Second); left > 0 && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
		left = runtime.NumGoroutine() - baseGoroutines
	}
	r.GoroutinesLeft = max(left, 0)
	return exitOK
}

// runRestart takes the server down at steady+at, brings it up after downFor, and
// measures how long until all n clients are Alive again and how fast they
// dialled, in 100 ms buckets from down until then. It gives up waiting
// loadRecoverWait after up, and always leaves the server up.
func runRestart(ctx context.Context, srv *loadServer, cnt *loadCounters, n int, steady time.Time, at, downFor time.Duration) *loadRestart {
	rs := &loadRestart{}
	if !sleepCtx(ctx, time.Until(steady.Add(at))) {
		rs.Err = "interrupted before the restart"
		return rs
	}
	acc0, canAccept := srv.accepted()
	down := time.Now()
	cnt.dialOrigin.Store(down.UnixNano())
	defer cnt.dialOrigin.Store(0)
	rs.At = down.Sub(steady).Seconds()
	if err := srv.down(); err != nil {
		// It may have gone down all the same: bring it back, or every
		// client would be left dialling nothing.
		rs.Err = err.Error()
		if err := srv.up(); err != nil {
			rs.Err += "; " + err.Error()
		}
		return rs
	}
	var upAt time.Time
	t := time.NewTicker(loadBucket)
	defer t.Stop()
	for {
		interrupted := false
		select {
		case <-ctx.Done():
			interrupted = true
		case <-t.C:
		}
		if canAccept {
			if a, ok := srv.accepted(); ok {
				rs.Accepts = append(rs.Accepts, int(a-acc0))
				rs.AcceptsAt = append(rs.AcceptsAt, time.Since(down).Seconds())
				acc0 = a
			}
		}
		now := time.Now()
		if upAt.IsZero() && (interrupted || now.Sub(down) >= downFor) {
			if err := srv.up(); err != nil {
				rs.Err = err.Error()
				return rs
			}
			upAt = time.Now()
			rs.DownSeconds = upAt.Sub(down).Seconds()
			rs.UpBucket = int((upAt.Sub(down) + loadBucket - 1) / loadBucket)
		}
		if interrupted {
			rs.Err = "interrupted"
			break
		}
		if !upAt.IsZero() && cnt.alive.Load() == int64(n) {
			rs.Recovered = true
			rs.RecoverSeconds = now.Sub(upAt).Seconds()
			rs.OutageSeconds = now.Sub(down).Seconds()
			break
		}
		if !upAt.IsZero() && now.Sub(upAt) > loadRecoverWait {
			break
		}
	}
	// The buckets up to now, the last one partial.
	for i := range min(int(time.Since(down)/loadBucket)+1, len(cnt.dialBuckets)) {
		rs.Dials = append(rs.Dials, int(cnt.dialBuckets[i].Load()))
	}
	rs.PeakDialsPer100ms, rs.PeakDialsPerSec = peaks(rs.Dials)
	rs.PeakUpDialsPer100ms, rs.PeakUpDialsPerSec = peaks(rs.Dials[min(rs.UpBucket, len(rs.Dials)):])
	rs.PeakAcceptsPerSec = peakRate(rs.Accepts, rs.AcceptsAt)
	return rs
}

// peaks returns the largest bucket and the largest sum of 10 consecutive
// buckets (one second).
func peaks(buckets []int) (per100ms, perSec int) {
	sum := 0
	for i, b := range buckets {
		per100ms = max(per100ms, b)
		sum += b
		if i >= 10 {
			sum -= buckets[i-10]
		}
		perSec = max(perSec, sum)
	}
	return per100ms, perSec
}

// peakRate returns the highest rate of counts over spans of reads at least
// 1 s long: counts[i] arrived by at[i] (seconds), after at[i-1].
func peakRate(counts []int, at []float64) int {
	best := 0.0
	for i := range at {
		sum := 0
		for j := i + 1; j < len(at); j++ {
			sum += counts[j]
			if span := at[j] - at[i]; span >= 1 {
				best = max(best, float64(sum)/span)
				break
			}
		}
	}
	return int(best)
}

// growth compares the last sample with the first, once there are two.
func growth(s []loadSample) *loadGrowth {
	if len(s) < 2 {
		return nil
	}
	a, b := s[0], s[len(s)-1]
	g := &loadGrowth{
		FromT: a.T, ToT: b.T,
		HeapLiveBytes:  int64(b.HeapLive) - int64(a.HeapLive),
		HeapInuseBytes: int64(b.HeapInuse) - int64(a.HeapInuse),
		Goroutines:     b.Goroutines - a.Goroutines,
	}
	if a.HeapLive > 0 {
		g.HeapLivePct = 100 * float64(g.HeapLiveBytes) / float64(a.HeapLive)
	}
	return g
}

// loadSampler reads the process's and the server's figures.
type loadSampler struct {
	srv     *loadServer
	cnt     *loadCounters
	metrics []metrics.Sample
}

func newLoadSampler(srv *loadServer, cnt *loadCounters) *loadSampler {
	return &loadSampler{srv: srv, cnt: cnt, metrics: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/sched/latencies:seconds"},
	}}
}

// take reads the cumulative figures; fill turns them into the interval's.
func (ls *loadSampler) take(now time.Time) loadSample {
	metrics.Read(ls.metrics)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := loadSample{
		at:           now,
		Alive:        ls.cnt.alive.Load(),
		Reconnects:   ls.cnt.reconnects.Load(),
		PongTimeouts: ls.cnt.pongTimeouts.Load(),
		Goroutines:   runtime.NumGoroutine(),
		HeapInuse:    ms.HeapInuse,
		cpu:          -1,
		serverCPU:    -1,
	}
	if m := ls.metrics[0].Value; m.Kind() == metrics.KindUint64 {
		s.HeapLive = m.Uint64()
	}
	if m := ls.metrics[1].Value; m.Kind() == metrics.KindFloat64 {
		s.gcCPU = m.Float64()
	}
	if m := ls.metrics[2].Value; m.Kind() == metrics.KindFloat64Histogram {
		s.sched = append([]uint64(nil), m.Float64Histogram().Counts...)
	}
	if v, ok := procCPUSeconds("self"); ok {
		s.cpu = v
	}
	if v, ok := ls.srv.cpuSeconds(); ok {
		s.serverCPU = v
	}
	s.Load1 = loadAverage()
	s.machineBusy = machineBusySeconds()
	return s
}

// fill computes s's interval figures from prev.
func (s *loadSample) fill(prev loadSample, steady time.Time) {
	s.T = s.at.Sub(steady).Seconds()
	span := s.at.Sub(prev.at).Seconds()
	if span <= 0 {
		return
	}
	pct := func(a, b float64) float64 {
		if a < 0 || b < 0 {
			return 0
		}
		return 100 * (b - a) / span
	}
	s.CPUPct = pct(prev.cpu, s.cpu)
	s.ServerPct = pct(prev.serverCPU, s.serverCPU)
	s.GCPct = pct(prev.gcCPU, s.gcCPU)
	s.MachinePct = pct(prev.machineBusy, s.machineBusy)
	bounds := schedBuckets()
	if len(bounds) != len(s.sched)+1 || len(prev.sched) != len(s.sched) {
		return
	}
	delta := make([]uint64, len(s.sched))
	var total uint64
	for i := range delta {
		delta[i] = s.sched[i] - prev.sched[i]
		total += delta[i]
	}
	if total == 0 {
		return
	}
	// The lower bound of the bucket holding the 99th percentile and of
	// the highest bucket used.
	var seen uint64
	p99 := -1.0
	for i, c := range delta {
		seen += c
		if p99 < 0 && seen*100 >= total*99 {
			p99 = max(bounds[i], 0)
		}
		if c > 0 {
			s.SchedMax = max(bounds[i], 0) * 1000
		}
	}
	s.SchedP99 = p99 * 1000
}

// schedBuckets returns the bucket bounds of the scheduling latency
// histogram, which do not change while the process runs.
var schedBuckets = sync.OnceValue(func() []float64 {
	m := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return m[0].Value.Float64Histogram().Buckets
})

func (s loadSample) line() string {
	l := fmt.Sprintf("sample %5.1fs: alive %d, reconnects %d, pong timeouts %d, goroutines %d, heap live %.1f MiB, heap in use %.1f MiB, cpu %.0f%%",
		s.T, s.Alive, s.Reconnects, s.PongTimeouts, s.Goroutines, float64(s.HeapLive)/(1<<20), float64(s.HeapInuse)/(1<<20), s.CPUPct)
	if s.ServerPct > 0 {
		l += fmt.Sprintf(", server cpu %.0f%%", s.ServerPct)
	}
	l += fmt.Sprintf(", gc cpu %.0f%%, sched latency p99 %.2fms max %.1fms", s.GCPct, s.SchedP99, s.SchedMax)
	if s.MachinePct > 0 {
		l += fmt.Sprintf(", machine cpu %.0f%%", s.MachinePct)
	}
	if s.Load1 > 0 {
		l += fmt.Sprintf(", load average %.2f", s.Load1)
	}
	return l
}

// procCPUSeconds returns the user and system CPU time of process pid
// ("self" for this one) from /proc/<pid>/stat: false where there is none.
func procCPUSeconds(pid string) (float64, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// fields are counted after its closing one. utime and stime are
	// fields 14 and 15, so 11 and 12 after it (state is field 3).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return float64(utime+stime) / clockTicks, true
}

// machineBusySeconds returns the CPU time all cores spent not idle, from
// the first line of /proc/stat, or -1 where there is none.
func machineBusySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return -1
	}
	// user nice system idle iowait irq softirq steal: all but idle and
	// iowait are busy (guest time is already inside user).
	var busy uint64
	for i, v := range f[1:9] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return -1
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return float64(busy) / clockTicks
}

// loadAverage returns the one-minute load average, or 0 where there is
// no /proc/loadavg.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func loadOptions(f loadFlags, cnt *loadCounters) []wsconn.Option {
	connected := false // touched only inside this client's lifecycle
	return []wsconn.Option{
		wsconn.NoWait(),
		wsconn.WithHeartbeat(f.ping, f.pong),
		wsconn.OnTransition(func(_ context.Context, rec fsm.Record[connfsm.State, connfsm.Event]) {
			switch {
			case rec.To == connfsm.Alive:
				cnt.alive.Add(1)
				if connected {
					cnt.reconnects.Add(1)
				}
				connected = true
			case rec.From == connfsm.Alive:
				cnt.alive.Add(-1)
				if err, ok := rec.Payload.(error); ok && rec.To == connfsm.Reconnecting {
					cnt.lostCause(err)
				}
			}
			switch rec.To {
			case connfsm.Connecting:
				cnt.dialed(rec.When)
			case connfsm.Closed:
				cnt.ended.Add(1)
			}
		}),
		wsconn.OnMessage(func(context.Context, wsconn.Message) { cnt.echoes.Add(1) }),
	}
}

// sleepCtx sleeps d and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// closeLoadClients closes every client, a few at a time, bounded by
// loadCloseBound, and returns how many reached Closed.
func closeLoadClients(clients []*wsconn.Client) int {
	ctx, cancel := context.WithTimeout(context.Background(), loadCloseBound)
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

// stopper stops a background loop and waits for it.
type stopper struct {
	quit chan struct{}
	done sync.WaitGroup
	once sync.Once
}

func (s *stopper) stop() {
	s.once.Do(func() { close(s.quit) })
	s.done.Wait()
}

// wait waits until t and reports false if stopped first.
func (s *stopper) wait(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		select {
		case <-s.quit:
			return false
		default:
			return true
		}
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-s.quit:
		return false
	case <-tm.C:
		return true
	}
}

// startSenders makes every client send a small message each period while
// Alive, from loadSenders goroutines. Each sender spreads its clients'
// sends evenly over the period, in loadSendSlots slices: the same rate as
// one burst per period, without the burst.
func startSenders(clients []*wsconn.Client, every time.Duration, cnt *loadCounters) *stopper {
	s := &stopper{quit: make(chan struct{})}
	msg := []byte("load")
	for w := range min(loadSenders, len(clients)) {
		s.done.Go(func() {
			var mine []*wsconn.Client
			for i := w; i < len(clients); i += loadSenders {
				mine = append(mine, clients[i])
			}
			// A round at once, then one per period: a run of d has
			// d/every rounds, not one fewer.
			for round := time.Now(); ; round = round.Add(every) {
				if late := time.Since(round); late > every {
					round = time.Now() // skip rounds rather than burst to catch up
				}
				for slot := range loadSendSlots {
					if !s.wait(round.Add(time.Duration(slot) * every / loadSendSlots)) {
						return
					}
					for _, cl := range mine[slot*len(mine)/loadSendSlots : (slot+1)*len(mine)/loadSendSlots] {
						if cl.State() != connfsm.Alive {
							continue
						}
						ctx, cancel := context.WithTimeout(context.Background(), loadSendTimeout)
						if err := cl.Send(ctx, wsconn.Text, msg); err != nil {
							cnt.sendFailures.Add(1)
						}
						cancel()
					}
				}
				if !s.wait(round.Add(every)) {
					return
				}
			}
		})
	}
	return s
}

// startProgress prints a progress line every second: rewritten in place
// on a terminal, one line each time otherwise.
func startProgress(w io.Writer, n int, cnt *loadCounters) *stopper {
	s := &stopper{quit: make(chan struct{})}
	tty := isCharDevice(w)
	start := time.Now()
	s.done.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		lastEchoes := cnt.echoes.Load()
		for {
			select {
			case <-s.quit:
				if tty {
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			e := cnt.echoes.Load()
			line := fmt.Sprintf("load %5.1fs: alive %d/%d, reconnects %d, echoes/s %d, goroutines %d, heap %.1f MiB",
				time.Since(start).Seconds(), cnt.alive.Load(), n, cnt.reconnects.Load(), e-lastEchoes,
				runtime.NumGoroutine(), float64(ms.HeapInuse)/(1<<20))
			lastEchoes = e
			if tty {
				fmt.Fprintf(w, "\r%s\x1b[K", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	})
	return s
}

// isCharDevice reports whether w is a terminal (whatever NO_COLOR says:
// this is about rewriting a line, not colour).
func isCharDevice(w io.Writer) bool {
	if lw, ok := w.(*lockedWriter); ok {
		w = lw.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func printLoadReport(w io.Writer, r loadReport) {
	fmt.Fprintf(w, "load report: %d clients, %s server %s, GOGC %d\n", r.N, r.Server, r.URL, r.GOGC)
	fmt.Fprintf(w, "  alive at end       %d/%d\n", r.Alive, r.N)
	fmt.Fprintf(w, "  reconnects         %d\n", r.Reconnects)
	fmt.Fprintf(w, "  lost               %d pong timeouts%s\n", r.PongTimeouts, formatCauses(r.LostCauses))
	fmt.Fprintf(w, "  goroutines/conn    %.2f\n", r.GoroutinesPerConn)
	fmt.Fprintf(w, "  heap/conn          %.1f KiB\n", r.HeapPerConn/1024)
	fmt.Fprintf(w, "  messages/s         %.1f (%d echoes in %.1fs, %d send errors)\n", r.MessagesPerSec, r.Echoes, r.SteadySeconds, r.SendErrors)
	fmt.Fprintf(w, "  ramp               %.1fs\n", r.RampSeconds)
	if r.CPUSeconds >= 0 {
		span := r.RampSeconds + r.SteadySeconds
		fmt.Fprintf(w, "  cpu                load %.1fs (%.0f%% of a core over %.0fs), gc %.1fs", r.CPUSeconds, 100*r.CPUSeconds/span, span, r.GCCPUSeconds)
		if r.ServerCPUSeconds > 0 {
			fmt.Fprintf(w, "; server %.1fs (%.0f%%)", r.ServerCPUSeconds, 100*r.ServerCPUSeconds/span)
		}
		fmt.Fprintln(w)
	}
	for _, s := range r.Samples {
		fmt.Fprintf(w, "  %s\n", s.line())
	}
	if g := r.Growth; g != nil {
		fmt.Fprintf(w, "  growth %.0fs→%.0fs  heap live %+.1f MiB (%+.1f%%), heap in use %+.1f MiB, goroutines %+d\n",
			g.FromT, g.ToT, float64(g.HeapLiveBytes)/(1<<20), g.HeapLivePct, float64(g.HeapInuseBytes)/(1<<20), g.Goroutines)
	}
	if len(r.Chaos) > 0 {
		count := map[string]int{}
		for _, ev := range r.Chaos {
			count[ev.Fault]++
		}
		fmt.Fprintf(w, "  chaos              %d faults: %d reset, %d blackhole, %d restart\n",
			len(r.Chaos), count["reset"], count["blackhole"], count["restart"])
	}
	if rs := r.Restart; rs != nil {
		fmt.Fprintf(w, "  restart            down at %.1fs for %.1fs", rs.At, rs.DownSeconds)
		if rs.Recovered {
			fmt.Fprintf(w, "; all %d Alive %.1fs after up (%.1fs after down)\n", r.N, rs.RecoverSeconds, rs.OutageSeconds)
		} else {
			why := ""
			if rs.Err != "" {
				why = ": " + rs.Err
			}
			fmt.Fprintf(w, "; NOT all Alive again%s\n", why)
		}
		fmt.Fprintf(w, "  dials              peak %d/100ms, %d/s (after up: %d/100ms, %d/s)\n",
			rs.PeakDialsPer100ms, rs.PeakDialsPerSec, rs.PeakUpDialsPer100ms, rs.PeakUpDialsPerSec)
		if rs.Accepts != nil {
			fmt.Fprintf(w, "  server accepts     peak %d/s\n", rs.PeakAcceptsPerSec)
		}
	}
	fmt.Fprintf(w, "  close              %d/%d closed in %.1fs, %d goroutines left\n", r.Closed, r.N, r.CloseSeconds, r.GoroutinesLeft)
	if r.Interrupted {
		fmt.Fprintln(w, "  interrupted")
	}
}

// formatCauses lists the other causes of lost connections, by count.
func formatCauses(m map[string]uint64) string {
	var keys []string
	for k := range m {
		if k != "pong timeout" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, ", %d %s", m[k], k)
	}
	return b.String()
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
