package loadgen

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFailures: the run fails on clients not Alive, on a restart not
// recovered from, and on each of the pool's problems.
func TestFailures(t *testing.T) {
	pool := &PoolMode{Subs: 4, PerConn: 2, Conns: 2, Budget: Budget{Dials: 1}}
	tests := []struct {
		name string
		r    Report
		cfg  Config
		want []string
	}{
		{"passed", Report{N: 3, Alive: 3}, Config{}, nil},
		{"not all alive", Report{N: 3, Alive: 2}, Config{}, []string{"2 of 3 clients were Alive at the end"}},
		{"restart not recovered", Report{N: 3, Alive: 3, Restart: &Restart{}}, Config{},
			[]string{"not every client was Alive again after the restart"}},
		{"restart recovered", Report{N: 3, Alive: 3, Restart: &Restart{Recovered: true}}, Config{}, nil},
		{"pool", Report{N: 2, Alive: 2, Pool: &PoolReport{Subscriptions: 4, VenueSubscriptions: 4, Conns: 2, Ready: 1, MaxHandshakesPerWindow: 2, Window: "1s"}},
			Config{Pool: pool}, []string{"pool: 1 of 2 connections Ready", "pool: 2 handshakes within 1s, over the budget of 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Failures(tt.r, tt.cfg)); diff != "" {
				t.Errorf("Failures (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWrite: -json writes the report as one JSON line, else as text.
func TestWrite(t *testing.T) {
	r := Report{Kind: "summary", N: 2, Alive: 1}
	var b bytes.Buffer
	if err := Write(&b, r, true); err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || b.Bytes()[b.Len()-1] != '\n' || bytes.Count(b.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("Write wrote %q, want one JSON line (%v)", b.String(), err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("report read back (-want +got):\n%s", diff)
	}
	var text, printed bytes.Buffer
	if err := Write(&text, r, false); err != nil {
		t.Fatal(err)
	}
	Print(&printed, r)
	if diff := cmp.Diff(printed.String(), text.String()); diff != "" {
		t.Errorf("text (-Print +Write):\n%s", diff)
	}
}

// TestPrintRestart: the restart's lines name the backoff mode, when 80 %
// and when all were back, and the peak dial rates after up.
func TestPrintRestart(t *testing.T) {
	r := Report{N: 3, Alive: 3, Backoff: "outage", Restart: &Restart{At: 20, DownSeconds: 3, Recovered: true,
		Recover80Seconds: 1.25, RecoverSeconds: 2.5, OutageSeconds: 5.5,
		PeakDialsPer100ms: 9, PeakDialsPerSec: 30, PeakUpDialsPer100ms: 4, PeakUpDialsPerSec: 12}}
	var b bytes.Buffer
	Print(&b, r)
	lines := strings.Split(b.String(), "\n")
	var got []string
	for _, l := range lines {
		if strings.HasPrefix(l, "  restart") || strings.HasPrefix(l, "  dials") {
			got = append(got, l)
		}
	}
	want := []string{
		"  restart            down at 20.0s for 3.0s, backoff outage; 80% Alive 1.2s after up, all 3 2.5s after up (5.5s after down)",
		"  dials              peak 9/100ms, 30/s (after up: 4/100ms, 12/s)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restart lines (-want +got):\n%s", diff)
	}
}

// TestPrintPoolStart: the pool's start line gives the time every
// subscription took to be active, and says so when they never all were
// (StartSeconds 0), rather than print a start of 0 s.
func TestPrintPoolStart(t *testing.T) {
	tests := []struct {
		name string
		p    PoolReport
		want string
	}{
		{"all active", PoolReport{Subscriptions: 100, VenueSubscriptions: 100, StartSeconds: 1.5},
			"  start              every subscription active 1.50s after NewPool"},
		{"never all active", PoolReport{Subscriptions: 100, VenueSubscriptions: 40},
			"  start              NOT every subscription active when the wait for them ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			Print(&b, Report{N: 1, Pool: &tt.p})
			var got string
			for _, l := range strings.Split(b.String(), "\n") {
				if strings.HasPrefix(l, "  start ") {
					got = l
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("start line (-want +got):\n%s", diff)
			}
		})
	}
}
