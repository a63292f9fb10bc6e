package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn"
)

// waitUntil polls cond every 5ms until it holds, failing the test after
// bound.
func waitUntil(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("not within %v: %s", bound, what)
		}
	}
}

// TestRawClientLost: a raw client whose connection fails is lost for
// good, counted by cause, and never dials again.
func TestRawClientLost(t *testing.T) {
	tests := []struct {
		name  string
		fault func(srvFaults)
		want  map[string]uint64
	}{
		{"the venue resets it", func(s srvFaults) { s.ResetAll() }, map[string]uint64{causeRead: 1}},
		{"the venue stops answering", func(s srvFaults) { s.Blackhole(true) }, map[string]uint64{causePongTimeout: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := NewVenue("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var cnt counters
			f := newRawFleet(Config{N: 1, Ping: 20 * time.Millisecond, Pong: 50 * time.Millisecond}, &cnt)
			if err := f.start(srv.URL + "/"); err != nil {
				t.Fatal(err)
			}
			defer f.close()
			waitUntil(t, 10*time.Second, "Alive", func() bool { return cnt.alive.Load() == 1 })
			waitUntil(t, 10*time.Second, "a ping answered", func() bool { return cnt.pings.Load() >= 2 })
			tt.fault(srv)
			waitUntil(t, 10*time.Second, "lost", func() bool { return cnt.ended.Load() == 1 })
			<-f.clients[0].done // its goroutine ends with its connection
			if diff := cmp.Diff(tt.want, cnt.lostCauses()); diff != "" {
				t.Errorf("lost causes (-want +got):\n%s", diff)
			}
			var r Report
			f.tally(&r)
			if r.Alive != 0 || cnt.alive.Load() != 0 || cnt.dials.Load() != 1 {
				t.Errorf("alive %d (counted %d), dials %d; want 0, 0 and the one dial", r.Alive, cnt.alive.Load(), cnt.dials.Load())
			}
			if c := f.close(); c != 1 {
				t.Errorf("close = %d, want 1", c)
			}
			if diff := cmp.Diff(tt.want, cnt.lostCauses()); diff != "" {
				t.Errorf("closing counted as lost too (-want +got):\n%s", diff)
			}
		})
	}
}

// srvFaults are the venue's faults the tests apply.
type srvFaults interface {
	ResetAll()
	Blackhole(bool)
}

// TestRunRaw runs raw clients against the embedded venue: all Alive,
// heartbeats and echoes counted, every goroutine ended after closing.
func TestRunRaw(t *testing.T) {
	cfg := Config{N: 5, Raw: true, Duration: 300 * time.Millisecond, Ping: 20 * time.Millisecond, Pong: time.Second,
		SendEvery: 50 * time.Millisecond, Sample: time.Hour, DownFor: time.Second, DialRate: 1000, GOGC: DefaultGOGC}
	var progress bytes.Buffer
	r, err := Run(t.Context(), cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Raw                          bool
		Alive, RampAlive, Closed     int
		GoroutinesLeft               int
		Reconnects                   uint64
		Lost                         map[string]uint64
		FileLimit                    *FileLimit
		Pinged, Echoed, CostMeasured bool
	}{r.Raw, r.Alive, r.RampAlive, r.Closed, r.GoroutinesLeft, r.Reconnects, r.LostCauses, r.FileLimit,
		r.Pings >= r.SteadyPings && r.SteadyPings > 0, r.Echoes > 0 && r.MessagesPerSec > 0,
		r.SteadyCPUSeconds > 0 && r.CPUPerMessageMicros > 0 && r.CPUPerPingMicros > 0}
	want := got
	want.Raw, want.Alive, want.RampAlive, want.Closed, want.GoroutinesLeft, want.Reconnects = true, 5, 5, 5, 0, 0
	want.Lost, want.FileLimit, want.Pinged, want.Echoed, want.CostMeasured = nil, nil, true, true, true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s\n%+v", diff, r)
	}
	var out bytes.Buffer
	Print(&out, r)
	for _, s := range []string{"load report: 5 raw coder/websocket clients, embedded server", "ramp               ", "from the first dial to all 5 Alive", "cpu/message", "cpu/heartbeat"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report text lacks %q:\n%s", s, out.String())
		}
	}
}

// TestRawRefusesWsconnSettings: what needs reconnecting wsconn clients is
// a usage error with Raw.
func TestRawRefusesWsconnSettings(t *testing.T) {
	base := Config{N: 1, Raw: true, Duration: time.Second, Ping: time.Second, Pong: time.Second, SendEvery: time.Second,
		Sample: time.Second, DownFor: time.Second, DialRate: 1, GOGC: DefaultGOGC}
	tests := []struct {
		name string
		set  func(*Config)
	}{
		{"a pool", func(c *Config) { c.Pool = &PoolMode{Subs: 1, PerConn: 1, Conns: 1} }},
		{"a restart", func(c *Config) { c.RestartAt = time.Millisecond }},
		{"chaos", func(c *Config) { c.Chaos = time.Millisecond }},
		{"wsconn options", func(c *Config) { c.Options = []wsconn.Option{wsconn.NoWait()} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.set(&cfg)
			if _, err := Run(t.Context(), cfg, &bytes.Buffer{}); !errors.Is(err, ErrConfig) {
				t.Errorf("Run = %v, want ErrConfig", err)
			}
		})
	}
}

// failingClient returns an HTTP client whose dials fail as socket(2) does
// with errno when fail says so (given the dial's index), and dial the
// loopback otherwise.
func failingClient(errno syscall.Errno, fail func(i int64) bool) *http.Client {
	var n atomic.Int64
	var d net.Dialer
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if fail(n.Add(1) - 1) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("socket", errno)}
		}
		return d.DialContext(ctx, network, addr)
	}}
	return &http.Client{Transport: tr}
}

// TestRunFileLimit: dials that fail for want of a file descriptor make
// the report name the limit, in both modes; a refused dial of any other
// kind does not.
func TestRunFileLimit(t *testing.T) {
	odd := func(i int64) bool { return i%2 == 1 }
	all := func(int64) bool { return true }
	tests := []struct {
		name      string
		raw       bool
		errno     syscall.Errno
		fail      func(int64) bool
		want      *FileLimit // ProcessDials, SystemDials checked as at least 1 when wsconn retries
		wantAlive int
		text      string
	}{
		{"raw, half the dials out of descriptors", true, syscall.EMFILE, odd,
			&FileLimit{Limit: openFileLimit(), ProcessDials: 3, Clients: 3}, 3, "stopped 3 dials (EMFILE), of 3 clients"},
		{"raw, the system's table full", true, syscall.ENFILE, all,
			&FileLimit{Limit: openFileLimit(), SystemDials: 6, Clients: 6}, 0, "the system's table of open files stopped 6 dials (ENFILE), of 6 clients"},
		{"raw, refused for another reason", true, syscall.ECONNREFUSED, all, nil, 0, ""},
		{"wsconn, every dial out of descriptors", false, syscall.EMFILE, all,
			&FileLimit{Limit: openFileLimit(), ProcessDials: 1, Clients: 6}, 0, "dials (EMFILE), of 6 clients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{N: 6, Raw: tt.raw, HTTPClient: failingClient(tt.errno, tt.fail), Duration: 50 * time.Millisecond,
				Ping: time.Second, Pong: time.Second, SendEvery: time.Second, Sample: time.Hour, DownFor: time.Second,
				DialRate: 1000, GOGC: DefaultGOGC, RampWait: 300 * time.Millisecond}
			r, err := Run(t.Context(), cfg, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			got := r.FileLimit
			if !tt.raw && got != nil && got.ProcessDials >= 1 {
				// A wsconn client dials again after each failure: as many
				// as its backoff allowed.
				g := *got
				g.ProcessDials = 1
				got = &g
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("file limit (-want +got):\n%s", diff)
			}
			if r.Alive != tt.wantAlive {
				t.Errorf("alive %d, want %d", r.Alive, tt.wantAlive)
			}
			var out bytes.Buffer
			Print(&out, r)
			if has := strings.Contains(out.String(), "  limit  "); has != (tt.want != nil) || !strings.Contains(out.String(), tt.text) {
				t.Errorf("report text, want a limit line %v with %q:\n%s", tt.want != nil, tt.text, out.String())
			}
		})
	}
}

// TestFileLimitKind tells the limits apart by the error's chain, never by
// its text.
func TestFileLimitKind(t *testing.T) {
	sock := func(e syscall.Errno) error {
		return &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", e)}}
	}
	tests := []struct {
		err  error
		want string
	}{
		{sock(syscall.EMFILE), limitProcess},
		{fmt.Errorf("wsconn: dial: %w", sock(syscall.EMFILE)), limitProcess},
		{sock(syscall.ENFILE), limitSystem},
		{sock(syscall.ECONNREFUSED), ""},
		{errors.New("dial tcp: socket: too many open files"), ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := fileLimitKind(tt.err); got != tt.want {
			t.Errorf("fileLimitKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestFileLimitString(t *testing.T) {
	tests := []struct {
		l    FileLimit
		want string
	}{
		{FileLimit{Limit: 20000, ProcessDials: 10012, Clients: 10012}, "open files (20000 per process) stopped 10012 dials (EMFILE), of 10012 clients"},
		{FileLimit{ProcessDials: 2, Clients: 1}, "open files (unknown per process) stopped 2 dials (EMFILE), of 1 clients"},
		{FileLimit{Limit: 64, ProcessDials: 3, SystemDials: 4, Clients: 5},
			"open files (64 per process) stopped 3 dials (EMFILE); the system's table of open files stopped 4 dials (ENFILE), of 5 clients"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.l.String()); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", tt.l, diff)
		}
	}
}

// TestCosts divides the steady run's CPU by its messages and its pings.
func TestCosts(t *testing.T) {
	type costs struct{ CPU, PerMessage, PerPing float64 }
	tests := []struct {
		name          string
		cpu0, cpu1    float64
		echoes, pings uint64
		want          costs
	}{
		{"both", 1, 3, 1000, 4000, costs{2, 2000, 500}},
		{"no messages", 1, 1.5, 0, 100, costs{0.5, 0, 5000}},
		{"no pings", 0, 1, 10, 0, costs{1, 1e5, 0}},
		{"CPU unknown at the start", -1, 3, 10, 10, costs{-1, 0, 0}},
		{"CPU unknown at the end", 1, -1, 10, 10, costs{-1, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Report{Echoes: tt.echoes, SteadyPings: tt.pings}
			r.costs(tt.cpu0, tt.cpu1)
			if diff := cmp.Diff(tt.want, costs{r.SteadyCPUSeconds, r.CPUPerMessageMicros, r.CPUPerPingMicros}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestPrintNewLines: the ramp, the costs and the file limit as the text
// report prints them.
func TestPrintNewLines(t *testing.T) {
	tests := []struct {
		name string
		r    Report
		want []string
	}{
		{"all Alive", Report{N: 4, RampAlive: 4, RampSeconds: 1.234, SteadyCPUSeconds: 0.5, Echoes: 100, SteadyPings: 50,
			CPUPerMessageMicros: 5000, CPUPerPingMicros: 10000}, []string{
			"  ramp               1.23s from the first dial to all 4 Alive",
			"  cpu/message        5000.0 µs (0.50s of CPU over 100 echoes in the steady run)",
			"  cpu/heartbeat      10000.0 µs (the same over 50 pings)",
		}},
		{"limited", Report{N: 30000, Alive: 19988, RampAlive: 19988, RampSeconds: 60, SteadyCPUSeconds: -1,
			FileLimit: &FileLimit{Limit: 20000, ProcessDials: 10012, Clients: 10012}}, []string{
			"  alive at end       19988/30000\n  limit              open files (20000 per process) stopped 10012 dials (EMFILE), of 10012 clients",
			"  ramp               60.00s from the first dial, then NOT all Alive: 19988/30000",
		}},
		{"nothing of a kind", Report{N: 1, RampAlive: 1, SteadyCPUSeconds: 0.1}, []string{
			"  cpu/message        - (0.10s of CPU over 0 echoes in the steady run)",
			"  cpu/heartbeat      - (the same over 0 pings)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			Print(&out, tt.r)
			for _, s := range tt.want {
				if !strings.Contains(out.String(), s+"\n") {
					t.Errorf("report lacks %q:\n%s", s, out.String())
				}
			}
			if tt.r.SteadyCPUSeconds < 0 && strings.Contains(out.String(), "cpu/message") {
				t.Errorf("CPU unknown, yet a cost printed:\n%s", out.String())
			}
		})
	}
}

// TestFileLimitJSON: -json carries the limit as an object, and nothing
// when no limit was met.
func TestFileLimitJSON(t *testing.T) {
	tests := []struct {
		name string
		l    *FileLimit
		want string
	}{
		{"met", &FileLimit{Limit: 20000, ProcessDials: 3, Clients: 3}, `"file_limit":{"limit":20000,"process_dials":3,"system_dials":0,"clients":3}`},
		{"not met", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(Report{FileLimit: tt.l})
			if err != nil {
				t.Fatal(err)
			}
			i := strings.Index(string(b), `"file_limit"`)
			got := ""
			if i >= 0 {
				got = string(b[i:])
				got = got[:strings.IndexByte(got, '}')+1]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\nin %s", diff, b)
			}
		})
	}
}
