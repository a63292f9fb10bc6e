package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/internal/loadgen"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

func TestLoad200(t *testing.T) {
	t.Parallel() // load runs in a process of its own
	var stdout, stderr syncBuffer
	wait, _ := runProcess(t, []string{"load", "-n", "200", "-duration", "1s", "-ping", "500ms", "-pong-timeout", "2s", "-json"}, noStdin, &stdout, &stderr)
	code := wait()
	if code != exitOK {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	var r loadgen.Report
	if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"kind is summary", r.Kind == "summary"},
		{"the default GOGC", r.GOGC == loadgen.DefaultGOGC},
		{"n is 200", r.N == 200},
		{"all 200 alive at the end", r.Alive == 200},
		{"all 200 closed", r.Closed == 200},
		{"the embedded server", r.Server == "embedded" && strings.HasPrefix(r.URL, "ws://127.0.0.1:")},
		{"no reconnects", r.Reconnects == 0},
		{"echoes counted", r.Echoes > 0 && r.MessagesPerSec > 0},
		{"a steady run of 1s", r.SteadySeconds >= 1},
		{"goroutines per connection measured", r.GoroutinesPerConn > 0},
		{"heap per connection measured", r.HeapPerConn > 0},
		{"no goroutine left after closing", r.GoroutinesLeft == 0},
		{"not interrupted", !r.Interrupted},
		{"no restart asked, none reported", r.Restart == nil},
		{"nothing lost", r.PongTimeouts == 0 && len(r.LostCauses) == 0},
		{"CPU measured", r.CPUSeconds > 0},
		// A message every 10s by default: idle connections, pinged every
		// 500ms, with a pong timeout above the interval.
		{"heartbeats counted", r.Pings >= 200 && r.PingsSkipped < r.Pings},
		{"a sample each 10s default: none in 1s", len(r.Samples) == 0 && r.Growth == nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: report %+v", c.what, r)
		}
	}
	if !strings.Contains(stderr.String(), "alive 200/200") {
		t.Errorf("progress lines never showed 200 alive:\n%s", stderr.String())
	}
}

// TestLoadRaw runs raw clients: the report says so and has the figures
// to compare with TestLoad200's.
func TestLoadRaw(t *testing.T) {
	t.Parallel() // load runs in a process of its own
	var stdout, stderr syncBuffer
	wait, _ := runProcess(t, []string{"load", "-raw", "-n", "200", "-duration", "1s", "-ping", "200ms", "-pong-timeout", "2s", "-json"}, noStdin, &stdout, &stderr)
	if code := wait(); code != exitOK {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	var r loadgen.Report
	if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"raw", r.Raw},
		{"all 200 Alive at the end and at the end of the ramp", r.Alive == 200 && r.RampAlive == 200 && r.RampSeconds > 0},
		{"all closed, nothing left", r.Closed == 200 && r.GoroutinesLeft == 0},
		{"no reconnects, nothing lost", r.Reconnects == 0 && len(r.LostCauses) == 0},
		{"heartbeats counted, with their cost", r.Pings >= 200 && r.SteadyPings > 0 && r.CPUPerPingMicros > 0},
		{"goroutines and heap per connection measured", r.GoroutinesPerConn > 0 && r.HeapPerConn > 0},
		{"no file limit met", r.FileLimit == nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: report %s", c.what, stdout.String())
		}
	}
}

// TestLoadProfiles: -memprofile and -cpuprofile write gzip-compressed
// profiles, in wsconn and raw mode alike; a file that cannot be created
// fails the command before the run.
func TestLoadProfiles(t *testing.T) {
	t.Parallel() // load runs in a process of its own
	dir := t.TempDir()
	for _, mode := range [][]string{nil, {"-raw"}} {
		mem, cpu := filepath.Join(dir, fmt.Sprint(mode, "heap")), filepath.Join(dir, fmt.Sprint(mode, "cpu"))
		args := append([]string{"load", "-n", "20", "-duration", "1s", "-json", "-memprofile", mem, "-memprofilerate", "1024", "-cpuprofile", cpu}, mode...)
		var stdout, stderr syncBuffer
		wait, _ := runProcess(t, args, noStdin, &stdout, &stderr)
		if code := wait(); code != exitOK {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", mode, code, exitOK, stderr.String())
		}
		for _, p := range []string{mem, cpu} {
			b, err := os.ReadFile(p)
			if err != nil || len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("%v: %s: %d bytes (%v), want a gzip-compressed profile", mode, filepath.Base(p), len(b), err)
			}
		}
	}
	var stdout, stderr syncBuffer
	bad := filepath.Join(dir, "missing", "heap")
	wait, _ := runProcess(t, []string{"load", "-n", "20", "-duration", "1h", "-memprofile", bad}, noStdin, &stdout, &stderr)
	if code := wait(); code != exitFail || !strings.Contains(stderr.String(), bad) {
		t.Errorf("exit %d, want %d with an error naming %s; stderr:\n%s", code, exitFail, bad, stderr.String())
	}
}

// TestLoadNotAllAlive points load at a server that refuses every
// handshake: the clients give up, the report says so, and load fails.
func TestLoadNotAllAlive(t *testing.T) {
	t.Parallel() // load runs in a process of its own
	url := venue(t, wsconntest.Default(wsconntest.Refuse(http.StatusForbidden, nil))).URL
	var stdout, stderr syncBuffer
	wait, _ := runProcess(t, []string{"load", "-n", "3", "-duration", "100ms", "-url", url}, noStdin, &stdout, &stderr)
	if code := wait(); code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	for _, s := range []string{"alive at end       0/3", "external server " + url} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "0 of 3 clients were Alive at the end") {
		t.Errorf("stderr lacks the failure:\n%s", stderr.String())
	}
}

func TestLoadUsage(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		stderrHas []string
	}{
		{"no -n", nil, []string{"-n must be positive, got 0"}},
		{"bad duration", []string{"-n", "1", "-duration", "long"}, []string{`invalid value "long" for flag -duration`}},
		{"zero ping", []string{"-n", "1", "-ping", "0s"}, []string{"-ping must be positive, got 0s"}},
		{"bad URL", []string{"-n", "1", "-url", "http://x"}, []string{`-url "http://x"`}},
		{"zero dial rate", []string{"-n", "1", "-dial-rate", "0"}, []string{"-dial-rate must be positive, got 0"}},
		{"zero sample", []string{"-n", "1", "-sample", "0s"}, []string{"-sample must be positive, got 0s"}},
		{"negative restart", []string{"-n", "1", "-restart-at", "-1s"}, []string{"-restart-at must not be negative, got -1s"}},
		{"restart after the run", []string{"-n", "1", "-duration", "5s", "-restart-at", "4s", "-down-for", "1s"},
			[]string{"-restart-at (4s) plus -down-for (1s) must end before -duration (5s)"}},
		{"restart an external server", []string{"-n", "1", "-url", "ws://127.0.0.1:1/", "-restart-at", "1s"},
			[]string{"-restart-at needs the embedded or child server"}},
		{"zero gogc", []string{"-n", "1", "-gogc", "0"}, []string{"-gogc must be positive, got 0"}},
		{"zero down-for", []string{"-n", "1", "-down-for", "0s"}, []string{"-down-for must be positive, got 0s"}},
		{"pool flags without -pool", []string{"-n", "1", "-subs", "5", "-dial-budget", "3/s"}, []string{"-subs needs -pool", "-dial-budget needs -pool"}},
		{"-pool without -subs", []string{"-pool"}, []string{"-subs must be positive with -pool, got 0"}},
		{"-pool with -n and -url", []string{"-pool", "-subs", "1", "-n", "3", "-url", "ws://127.0.0.1:1/"},
			[]string{"-n does not apply to -pool", "-url does not apply"}},
		{"subscriptions that do not fit", []string{"-pool", "-subs", "201", "-per-conn", "100", "-conns", "2"}, []string{"-subs 201 do not fit -conns 2 of -per-conn 100"}},
		{"a bad budget", []string{"-pool", "-subs", "1", "-dial-budget", "300"}, []string{`invalid value "300" for flag -dial-budget`}},
		{"a negative batch", []string{"-pool", "-subs", "1", "-batch", "-1"}, []string{"-batch must not be negative, got -1"}},
		{"-batch without -pool", []string{"-n", "1", "-batch", "5"}, []string{"-batch needs -pool"}},
		{"a negative rate", []string{"-pool", "-subs", "1", "-conn-rate", "-1"}, []string{"-conn-rate must not be negative, got -1"}},
		{"-raw with -pool", []string{"-raw", "-pool", "-subs", "1"}, []string{"-pool does not apply to -raw"}},
		{"-raw with a restart", []string{"-raw", "-n", "1", "-duration", "5s", "-restart-at", "1s", "-down-for", "1s"},
			[]string{"-restart-at does not apply to -raw"}},
		{"chaos within the recovery", []string{"-n", "1", "-duration", "30s", "-chaos", "1s"},
			[]string{"-chaos needs -duration above 30s (the recovery time at the end), got 30s"}},
		{"-raw with chaos", []string{"-raw", "-n", "1", "-duration", "40s", "-chaos", "1s"}, []string{"-chaos does not apply to -raw"}},
		{"-raw with metrics", []string{"-raw", "-n", "1", "-metrics", "127.0.0.1:0"}, []string{"-metrics does not apply to -raw"}},
		{"unknown backoff", []string{"-n", "1", "-backoff", "decorrelated"}, []string{`invalid value "decorrelated" for flag -backoff`, "want full or outage"}},
		{"-raw with a backoff", []string{"-raw", "-n", "1", "-backoff", "outage"}, []string{"-backoff does not apply to -raw"}},
		{"zero memprofilerate", []string{"-n", "1", "-memprofilerate", "0"}, []string{`invalid value "0" for flag -memprofilerate: want a positive number of bytes`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), append([]string{"load"}, tt.args...), noStdin, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}

// TestLoadRestart takes the embedded server down during the run: every
// client loses its connection, dials are refused until the server is up
// again, and all come back; the report says how fast.
func TestLoadRestart(t *testing.T) {
	// Not parallel: its dials are counted in 100 ms buckets, and the other
	// tests would add their CPU to its timing.
	var stdout, stderr syncBuffer
	wait, _ := runProcess(t, []string{"load", "-n", "100", "-duration", "3s", "-sample", "1s",
		"-restart-at", "1s", "-down-for", "500ms", "-json"}, noStdin, &stdout, &stderr)
	code := wait()
	if code != exitOK {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	var r loadgen.Report
	if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}
	rs := r.Restart
	if rs == nil {
		t.Fatalf("no restart in the report %q", stdout.String())
	}
	sum := func(b []int) (s int) {
		for _, v := range b {
			s += v
		}
		return s
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"all 100 alive at the end", r.Alive == 100},
		{"every client reconnected once", r.Reconnects == 100},
		{"each lost its connection to a read error, none to a pong timeout", r.LostCauses["read"] == 100 && r.PongTimeouts == 0},
		{"down about 1s into the run", rs.At >= 1 && rs.At < 2},
		{"down for about 500ms", rs.DownSeconds >= 0.5 && rs.DownSeconds < 1.5},
		{"recovered", rs.Recovered && rs.Err == ""},
		{"recovery measured from up and from down", rs.RecoverSeconds > 0 && rs.OutageSeconds >= rs.RecoverSeconds+rs.DownSeconds-0.2},
		{"a bucket per 100ms until recovered", len(rs.Dials) >= int(rs.OutageSeconds*10)},
		{"a server count at each read", len(rs.Accepts) > 0 && len(rs.AcceptsAt) == len(rs.Accepts) && rs.AcceptsAt[0] > 0},
		{"up bucket inside the buckets", rs.UpBucket >= 5 && rs.UpBucket < len(rs.Dials)},
		{"dials refused while down", sum(rs.Dials[:rs.UpBucket]) > 0},
		{"every client dialled again after up", sum(rs.Dials[rs.UpBucket-1:]) >= 100},
		{"the server accepted each client once, none while down", sum(rs.Accepts) == 100 && rs.Accepts[0] == 0},
		{"peaks consistent with the buckets", rs.PeakDialsPer100ms > 0 && rs.PeakDialsPerSec >= rs.PeakDialsPer100ms &&
			rs.PeakUpDialsPerSec <= rs.PeakDialsPerSec && rs.PeakAcceptsPerSec > 0 && rs.PeakAcceptsPerSec <= 100},
		{"jitter spreads the first dials: not all 100 in one 100ms", rs.PeakDialsPer100ms < 100},
		{"samples every second", len(r.Samples) == 3 && r.Samples[0].T >= 1 && r.Samples[2].T >= 3},
		{"growth from the first sample to the last", r.Growth != nil && r.Growth.FromT == r.Samples[0].T && r.Growth.ToT == r.Samples[2].T},
		{"no goroutine left after closing", r.GoroutinesLeft == 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: report %s", c.what, stdout.String())
		}
	}
	if got := strings.Count(stderr.String(), "sample "); got != 3 {
		t.Errorf("stderr has %d sample lines, want 3:\n%s", got, stderr.String())
	}
}

// TestLoadChaosFlags: -chaos reaches the run's Config as given, with the
// recovery a large fleet needs (0: loadgen's 30 s); loadgen's TestRunChaos
// runs the faults over loopback with a short recovery.
func TestLoadChaosFlags(t *testing.T) {
	f, err := parseLoadFlags([]string{"-n", "50", "-duration", "34s", "-chaos", "2s", "-ping", "200ms", "-pong-timeout", "200ms"})
	if err != nil {
		t.Fatal(err)
	}
	want := loadgen.Config{N: 50, Duration: 34 * time.Second, Chaos: 2 * time.Second, Ping: 200 * time.Millisecond, Pong: 200 * time.Millisecond}
	got := loadgen.Config{N: f.N, Duration: f.Duration, Chaos: f.Chaos, Ping: f.Ping, Pong: f.Pong, ChaosRecovery: f.ChaosRecovery}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// TestLoadPool runs the pool mode: 10 connections of 10 subscriptions
// through a restart, within a dial budget the venue enforces.
func TestLoadPool(t *testing.T) {
	// Not parallel: its dials are counted against a budget window, and the other
	// tests would add their CPU to its timing.
	var stdout, stderr syncBuffer
	wait, _ := runProcess(t, []string{"load", "-pool", "-subs", "100", "-per-conn", "10", "-dial-budget", "15/3s",
		"-duration", "4s", "-restart-at", "1s", "-down-for", "500ms", "-json"}, noStdin, &stdout, &stderr)
	if code := wait(); code != exitOK {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	var r loadgen.Report
	if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}
	p := r.Pool
	if p == nil || p.Restart == nil {
		t.Fatalf("no pool or restart in the report %q", stdout.String())
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"10 connections, all Alive and Ready", r.N == 10 && r.Alive == 10 && p.Conns == 10 && p.Ready == 10},
		{"the settings reported", p.Subscriptions == 100 && p.PerConn == 10 && p.MaxConns == 10 && p.DialBudget == "15/3s" && p.VenueBudget == "15/3s"},
		{"every subscription back at the venue, once", p.VenueSubscriptions == 100 && p.VenueDuplicates == 0},
		{"no more handshakes per window than the budget, none refused", p.Window == "3s" && p.MaxHandshakesPerWindow <= 15 && p.Refused == 0},
		{"recovered, the time measured", p.Restart.Recovered && p.Restart.RecoverSeconds > 0 && p.Restart.OutageSeconds > p.Restart.RecoverSeconds},
		{"each connection dialled again", p.Restart.Handshakes >= 10 && p.Handshakes >= 20},
		{"all closed, nothing left", r.Closed == 10 && r.GoroutinesLeft == 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: report %s", c.what, stdout.String())
		}
	}
}
