package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"runtime"
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
	// loadCloseBound bounds closing every client at the end.
	loadCloseBound = 20 * time.Second
	// loadSenders is the number of goroutines sending the clients'
	// periodic messages: a fixed few, so the goroutines counted per
	// connection are the client's own.
	loadSenders = 8
)

// loadReport is load's result; -json prints it as one JSON object.
type loadReport struct {
	T                 string  `json:"t"`
	Kind              string  `json:"kind"` // "summary"
	N                 int     `json:"n"`
	Server            string  `json:"server"` // embedded, child or external
	URL               string  `json:"url"`
	Alive             int     `json:"alive"`
	Reconnects        uint64  `json:"reconnects"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`
	HeapPerConn       float64 `json:"heap_bytes_per_conn"`
	MessagesPerSec    float64 `json:"messages_per_sec"`
	Echoes            uint64  `json:"echoes"`
	SendErrors        uint64  `json:"send_errors"`
	RampSeconds       float64 `json:"ramp_seconds"`
	SteadySeconds     float64 `json:"steady_seconds"`
	Closed            int     `json:"closed"`
	CloseSeconds      float64 `json:"close_seconds"`
	// GoroutinesLeft is NumGoroutine after closing, minus the baseline
	// taken before the first client: 0 when nothing outlived its client.
	GoroutinesLeft int  `json:"goroutines_left"`
	Interrupted    bool `json:"interrupted,omitempty"`
}

// loadFlags are load's settings.
type loadFlags struct {
	n         int
	url       string
	duration  time.Duration
	ping      time.Duration
	pong      time.Duration
	sendEvery time.Duration
	dialRate  int
	json      bool
}

// runLoad runs N concurrent clients with heartbeats against an echo server
// and reports what each connection costs. It exits 1 if not all N clients
// were Alive at the end.
func runLoad(c command, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	var f loadFlags
	fs.IntVar(&f.n, "n", 0, "number of concurrent clients (required)")
	fs.StringVar(&f.url, "url", "", "server `URL` (default: an embedded echo server; a child `connfsm serve` above 2000 clients)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to run once every client is started")
	fs.DurationVar(&f.ping, "ping", time.Second, "ping `interval` of each client")
	fs.DurationVar(&f.pong, "pong-timeout", time.Second, "pong timeout of each client (at most -ping)")
	fs.DurationVar(&f.sendEvery, "send-every", time.Second, "each client sends a small message this often and counts the echoes")
	fs.IntVar(&f.dialRate, "dial-rate", 1000, "clients started per second, so a large ramp does not flood the server")
	fs.BoolVar(&f.json, "json", false, "print the report as one JSON object")
	if code, done := parseFlags(fs, c, args, stdout, stderr); done {
		return code
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(stderr, "connfsm load: %v\n", err)
		printUsage(fs, c, stderr)
		return exitUsage
	}
	if limit, err := raiseFileLimit(); err != nil {
		fmt.Fprintf(stderr, "connfsm load: %v\n", err)
	} else if need := uint64(f.n) + 64; limit > 0 && limit < need {
		fmt.Fprintf(stderr, "connfsm load: warning: the open-file limit %d is below the %d clients need\n", limit, need)
	}

	ctx, stop := interruptContext()
	defer stop()
	r := loadReport{Kind: "summary", N: f.n, URL: f.url, Server: "external"}
	if f.url == "" {
		url, shutdown, kind, err := startLoadServer(f.n, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "connfsm load: %v\n", err)
			return exitFail
		}
		defer shutdown()
		r.URL, r.Server = url, kind
	}
	code := runLoadClients(ctx, f, &r, stderr)
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
	return exitOK
}

func (f *loadFlags) check() error {
	var p []error
	if f.n <= 0 {
		p = append(p, fmt.Errorf("-n must be positive, got %d", f.n))
	}
	if f.dialRate <= 0 {
		p = append(p, fmt.Errorf("-dial-rate must be positive, got %d", f.dialRate))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"duration", f.duration}, {"ping", f.ping}, {"pong-timeout", f.pong}, {"send-every", f.sendEvery}} {
		if d.d <= 0 {
			p = append(p, fmt.Errorf("-%s must be positive, got %v", d.name, d.d))
		}
	}
	if f.pong > f.ping && f.ping > 0 {
		p = append(p, fmt.Errorf("-pong-timeout (%v) must not exceed -ping (%v)", f.pong, f.ping))
	}
	if f.url != "" {
		if u, err := url.Parse(f.url); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			p = append(p, fmt.Errorf("-url %q: want a ws:// or wss:// URL with a host", f.url))
		}
	}
	return errors.Join(p...)
}

// startLoadServer starts the echo server: in process for up to
// loadEmbeddedMax clients, else as a child `connfsm serve` whose first
// stdout line is its URL. shutdown stops it.
func startLoadServer(n int, stderr io.Writer) (url string, shutdown func(), kind string, err error) {
	if n <= loadEmbeddedMax {
		srv, err := echoserver.Start("127.0.0.1:0")
		if err != nil {
			return "", nil, "", err
		}
		return srv.URL(), srv.Close, "embedded", nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", nil, "", fmt.Errorf("start server: %w", err)
	}
	cmd := exec.Command(exe, "serve", "-addr", "127.0.0.1:0", "-control", "", "-until-stdin-eof")
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, "", fmt.Errorf("start server: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, "", fmt.Errorf("start server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", nil, "", fmt.Errorf("start server %s serve: %w", exe, err)
	}
	line := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, out) // until the child exits
	}()
	// Closing its stdin stops it; if it hangs, it is killed. Wait comes
	// after the last read of its stdout, as os/exec requires.
	shutdown = func() {
		_ = in.Close()
		t := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
		<-drained
		_ = cmd.Wait()
		t.Stop()
	}
	select {
	case s := <-line:
		if !strings.HasPrefix(s, "ws://") {
			shutdown()
			return "", nil, "", fmt.Errorf("server %s serve printed %q, not its URL", exe, s)
		}
		return s, shutdown, "child", nil
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		shutdown()
		return "", nil, "", fmt.Errorf("server %s serve printed no URL within 10s", exe)
	}
}

// loadCounters are updated by every client.
type loadCounters struct {
	alive, reconnects    atomic.Int64
	ended                atomic.Int64 // clients that reached Closed (gave up)
	echoes, sendFailures atomic.Uint64
}

// runLoadClients starts the clients, runs them, fills r and closes them.
func runLoadClients(ctx context.Context, f loadFlags, r *loadReport, stderr io.Writer) int {
	var cnt loadCounters
	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

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
		cl, err := wsconn.Dial(context.Background(), r.URL, loadOptions(f, &cnt)...)
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
	if !interrupted && !sleepCtx(ctx, f.duration) {
		interrupted = true
	}
	r.SteadySeconds = time.Since(steady).Seconds()
	r.Echoes = cnt.echoes.Load() - echoes0
	if r.SteadySeconds > 0 {
		r.MessagesPerSec = float64(r.Echoes) / r.SteadySeconds
	}
	senders.stop()
	prog.stop()
	r.Interrupted = interrupted
	r.SendErrors = cnt.sendFailures.Load()
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

func loadOptions(f loadFlags, cnt *loadCounters) []wsconn.Option {
	connected := false // touched only inside this client's lifecycle
	return []wsconn.Option{
		wsconn.NoWait(),
		wsconn.WithHeartbeat(f.ping, f.pong),
		wsconn.OnTransition(func(rec fsm.Record[connfsm.State, connfsm.Event]) {
			switch {
			case rec.To == connfsm.Alive:
				cnt.alive.Add(1)
				if connected {
					cnt.reconnects.Add(1)
				}
				connected = true
			case rec.From == connfsm.Alive:
				cnt.alive.Add(-1)
			}
			if rec.To == connfsm.Closed {
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

// startSenders makes every client send a small message each period while
// Alive, from loadSenders goroutines.
func startSenders(clients []*wsconn.Client, every time.Duration, cnt *loadCounters) *stopper {
	s := &stopper{quit: make(chan struct{})}
	msg := []byte("load")
	for w := range min(loadSenders, len(clients)) {
		s.done.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			// A round at once, then one per tick: a run of d has d/every
			// rounds, not one fewer.
			for first := true; ; first = false {
				if !first {
					select {
					case <-s.quit:
						return
					case <-t.C:
					}
				}
				for i := w; i < len(clients); i += loadSenders {
					if clients[i].State() != connfsm.Alive {
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), every)
					if err := clients[i].Send(ctx, wsconn.Text, msg); err != nil {
						cnt.sendFailures.Add(1)
					}
					cancel()
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
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func printLoadReport(w io.Writer, r loadReport) {
	fmt.Fprintf(w, "load report: %d clients, %s server %s\n", r.N, r.Server, r.URL)
	fmt.Fprintf(w, "  alive at end       %d/%d\n", r.Alive, r.N)
	fmt.Fprintf(w, "  reconnects         %d\n", r.Reconnects)
	fmt.Fprintf(w, "  goroutines/conn    %.2f\n", r.GoroutinesPerConn)
	fmt.Fprintf(w, "  heap/conn          %.1f KiB\n", r.HeapPerConn/1024)
	fmt.Fprintf(w, "  messages/s         %.1f (%d echoes in %.1fs, %d send errors)\n", r.MessagesPerSec, r.Echoes, r.SteadySeconds, r.SendErrors)
	fmt.Fprintf(w, "  ramp               %.1fs\n", r.RampSeconds)
	fmt.Fprintf(w, "  close              %d/%d closed in %.1fs, %d goroutines left\n", r.Closed, r.N, r.CloseSeconds, r.GoroutinesLeft)
	if r.Interrupted {
		fmt.Fprintln(w, "  interrupted")
	}
}
