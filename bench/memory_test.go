package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/wsconn"
)

// serverEnv set to 1 makes TestServerProcess be the echo server of
// startServerProcess: the test binary runs itself as a child process, so
// the server's heap and goroutines stay out of the client's measurements.
const serverEnv = "CONNFSM_BENCH_SERVER"

// serverURLEnv names a server already running (the URL such a server
// prints) for startServerProcess to use instead of starting one: so that
// a profiler that follows no child process (callgrind, which also stops on
// the child's exit signal) measures the client alone.
const serverURLEnv = "CONNFSM_BENCH_SERVER_URL"

// TestServerProcess checks the child-process server the benchmarks dial: it
// prints its URL, echoes at /echo, reads at /discard (a ping is answered
// only while the server reads), and exits cleanly when its stdin ends. Run
// with serverEnv=1, it is that server.
func TestServerProcess(t *testing.T) {
	if os.Getenv(serverEnv) == "1" {
		serveUntilEOF(t)
		return
	}
	p := startServerProcess(t)
	ctx := context.Background()
	c := dialRaw(t, p.url+"echo")
	if err := c.send(ctx, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("ping", string(receive(t, c.recv))); diff != "" {
		t.Errorf("echo from the server process (-want +got):\n%s", diff)
	}
	d, _, err := websocket.Dial(ctx, p.url+"discard", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.CloseNow()
	d.CloseRead(ctx) // handles the pong
	if err := d.Write(ctx, websocket.MessageText, []byte("dropped")); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.Ping(pctx); err != nil {
		t.Errorf("ping after a message to /discard: %v", err)
	}
}

// serveUntilEOF is the child's side: a wsServer on loopback whose base URL
// is the first line of stdout, stopped when stdin ends (the parent closed
// it, or died).
func serveUntilEOF(t *testing.T) {
	srv, err := benchVenue(false)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(srv.URL + "/")
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

type serverProcess struct {
	url string
}

// startServerProcess runs a wsServer in a child process (this test
// binary, running TestServerProcess with serverEnv=1), stopped by tb's
// cleanup; or returns the one serverURLEnv names.
func startServerProcess(tb testing.TB) *serverProcess {
	tb.Helper()
	if url := os.Getenv(serverURLEnv); url != "" {
		return &serverProcess{url: url}
	}
	return startChild(tb, "TestServerProcess", serverEnv, "ws://")
}

// startChild runs this test binary's test named test as a server in a
// child process, with env=1, and returns the URL it prints first, which
// must start with scheme; tb's cleanup stops it.
func startChild(tb testing.TB, test, env, scheme string) *serverProcess {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.count=1")
	// Under -race the child would otherwise sleep a second on exit.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), env+"=1", "GORACE="+gorace)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	lines := make(chan string, 1)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	go func() {
		sc := bufio.NewScanner(pr)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		close(lines)
		_, _ = io.Copy(io.Discard, pr)
	}()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			tb.Errorf("server process: %v", err)
		}
		_ = pw.Close() // ends the stdout reader
	})
	select {
	case url, ok := <-lines:
		if !ok || !strings.HasPrefix(url, scheme) {
			tb.Fatalf("server process printed %q, want its %s URL", url, scheme)
		}
		return &serverProcess{url: url}
	case <-time.After(30 * time.Second):
		tb.Fatal("server process: no URL within 30s")
		return nil
	}
}

// idleConn opens one idle connection to url; its close function closes it.
type idleConn func(url string) (close func() error, err error)

// idleRaw is the baseline: a coder/websocket connection and the one reader
// goroutine that must be reading for pings, pongs and close frames to be
// handled.
func idleRaw(url string) (func() error, error) {
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(wsconn.DefaultReadLimit)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	return func() error {
		err := c.Close(websocket.StatusNormalClosure, "")
		<-done
		return err
	}, nil
}

// idleWsconn is a client with the default heartbeat, Alive.
func idleWsconn(url string) (func() error, error) {
	c, err := wsconn.Dial(context.Background(), url)
	if err != nil {
		return nil, err
	}
	if s := c.State(); s != connfsm.Alive {
		_ = c.Close(context.Background())
		return nil, fmt.Errorf("state %v after Dial, want Alive", s)
	}
	return func() error { return c.Close(context.Background()) }, nil
}

// idleCost is what n idle connections cost the client process, per
// connection.
type idleCost struct {
	Heap       float64 // HeapInuse bytes
	Live       float64 // HeapAlloc bytes: the live objects alone
	Stack      float64 // StackInuse bytes
	Goroutines float64
}

// idleProfile, when set, makes BenchmarkIdle record every allocation and
// write the heap profile of each kind of connection, while they are open,
// to the file named after it and the kind: -idleprofile=/tmp/idle.pprof
// writes /tmp/idle.pprof.raw, /tmp/idle.pprof.wsconn... Read them with
// go tool pprof -sample_index=inuse_space.
var idleProfile = flag.String("idleprofile", "", "BenchmarkIdle: write each kind's heap profile, with its connections open, to this file name + \".\" + kind")

// measureIdle opens n connections with open, measures the client process's
// heap in use, live objects, stacks and goroutines against the same
// figures before, and closes them; profile, if not "", is where the heap
// profile is written while they are open. The server is another process:
// nothing of it is counted.
func measureIdle(url string, n int, open idleConn, profile string) (idleCost, error) {
	closers := make([]func() error, 0, n)
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	before, g0 := settle()
	for range n {
		c, err := open(url)
		if err != nil {
			return idleCost{}, err
		}
		closers = append(closers, c)
	}
	after, g1 := settle()
	cost := idleCost{
		Heap:       (float64(after.HeapInuse) - float64(before.HeapInuse)) / float64(n),
		Live:       (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n),
		Stack:      (float64(after.StackInuse) - float64(before.StackInuse)) / float64(n),
		Goroutines: float64(g1-g0) / float64(n),
	}
	if profile != "" {
		if err := writeHeapProfile(profile); err != nil {
			return cost, err
		}
	}
	var errs []error
	for _, c := range closers {
		if err := c(); err != nil {
			errs = append(errs, err)
		}
	}
	closers = nil
	if len(errs) > 0 {
		return cost, fmt.Errorf("%d of %d closes failed, first: %w", len(errs), n, errs[0])
	}
	return cost, nil
}

func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// settle collects garbage twice (sync.Pool contents survive one cycle) and
// returns the memory statistics and the number of goroutines.
func settle() (runtime.MemStats, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms, runtime.NumGoroutine()
}

// sharedHTTP is one HTTP client for every wsconn-shared connection. It
// keeps no idle sockets: a handshake's connection is either upgraded
// (then no longer the transport's) or closed.
var sharedHTTP = &http.Client{Transport: func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableKeepAlives = true
	return t
}()}

// idleWsconnShared is idleWsconn with one *http.Client shared by all
// clients (WithHTTPClient), instead of the transport of its own each client
// makes by default.
func idleWsconnShared(url string) (func() error, error) {
	c, err := wsconn.Dial(context.Background(), url, wsconn.WithHTTPClient(sharedHTTP))
	if err != nil {
		return nil, err
	}
	return func() error { return c.Close(context.Background()) }, nil
}

var idlers = []struct {
	name string
	open idleConn
}{{"raw", idleRaw}, {"wsconn", idleWsconn}, {"wsconn-shared", idleWsconnShared}}

// TestIdleCost checks what BenchmarkIdle measures, with a few connections:
// each raw connection costs one goroutine, and so does each Alive wsconn
// client (the connection's pump, which reads and calls the handler; the
// reader task, which runs the heartbeat, is a timer while idle), and both
// cost heap.
func TestIdleCost(t *testing.T) {
	p := startServerProcess(t)
	want := map[string]float64{"raw": 1, "wsconn": 1, "wsconn-shared": 1}
	for _, id := range idlers {
		t.Run(id.name, func(t *testing.T) {
			cost, err := measureIdle(p.url+"echo", 8, id.open, "")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want[id.name], cost.Goroutines); diff != "" {
				t.Errorf("goroutines per connection (-want +got):\n%s", diff)
			}
			if cost.Heap <= 0 || cost.Live <= 0 {
				t.Errorf("heap per connection = %v bytes in use, %v live, want both > 0", cost.Heap, cost.Live)
			}
		})
	}
}

// BenchmarkIdle opens idleConns idle connections to an echo server running
// in a child process (startServerProcess) and reports what each costs the client process:
// heap-B/conn (HeapInuse), live-B/conn (HeapAlloc: the live objects
// alone, without the room the heap's spans hold free, which depends on
// where the last collection fell and varies by hundreds of bytes from run
// to run), stack-B/conn (StackInuse) and goroutines/conn. One op opens,
// measures and closes them all. With -idleprofile, each kind's heap
// profile is written too.
func BenchmarkIdle(b *testing.B) {
	const idleConns = 1000
	if *idleProfile != "" {
		runtime.MemProfileRate = 1
		defer func() { runtime.MemProfileRate = 512 * 1024 }()
	}
	p := startServerProcess(b)
	for _, id := range idlers {
		b.Run(id.name, func(b *testing.B) {
			var sum idleCost
			profile := ""
			if *idleProfile != "" {
				profile = *idleProfile + "." + id.name
			}
			for range b.N {
				cost, err := measureIdle(p.url+"echo", idleConns, id.open, profile)
				if err != nil {
					b.Fatal(err)
				}
				sum.Heap += cost.Heap
				sum.Live += cost.Live
				sum.Stack += cost.Stack
				sum.Goroutines += cost.Goroutines
			}
			n := float64(b.N)
			b.ReportMetric(sum.Heap/n, "heap-B/conn")
			b.ReportMetric(sum.Live/n, "live-B/conn")
			b.ReportMetric(sum.Stack/n, "stack-B/conn")
			b.ReportMetric(sum.Goroutines/n, "goroutines/conn")
		})
	}
}
