package loadgen

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
)

// TestRunCPUEndsWithSteadyRun: a run's CPU time (Report.CPUSeconds) ends
// with the steady run, as the report prints it (a share of a core over
// the ramp and the steady run), even when the wait for every client to
// be back after a restart outlasts the steady run. The one client spends
// a second of CPU as it reconnects, after the steady run: none of it is
// the run's.
func TestRunCPUEndsWithSteadyRun(t *testing.T) {
	if inChild(t) {
		return
	}
	const burn = time.Second
	connected := false // touched only inside the client's lifecycle
	spend := wsconn.OnRecord(func(_ context.Context, rec record) {
		if rec.Kind != fsm.RecordTransition || rec.Event != connfsm.Connected {
			return
		}
		if connected {
			for c0, bound := processCPU(), time.Now().Add(10*burn); processCPU()-c0 < burn.Seconds() && time.Now().Before(bound); {
			}
		}
		connected = true
	})
	cfg := Config{N: 1, Duration: 300 * time.Millisecond, Ping: time.Second, Pong: time.Second, SendEvery: time.Second,
		Sample: time.Second, RestartAt: 100 * time.Millisecond, DownFor: 600 * time.Millisecond, DialRate: 1000, GOGC: DefaultGOGC,
		Options: []wsconn.Option{spend}}
	r, err := Run(t.Context(), cfg, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	rs := r.Restart
	if rs == nil || !rs.Recovered || rs.At+rs.OutageSeconds < r.SteadySeconds {
		t.Fatalf("restart %+v, steady run %.2fs: want it recovered after the steady run", rs, r.SteadySeconds)
	}
	if r.CPUSeconds < 0 || r.CPUSeconds >= burn.Seconds()/2 {
		t.Errorf("%.2fs of CPU over a %.2fs ramp and a %.2fs steady run; want some, not the %v spent after it", r.CPUSeconds, r.RampSeconds, r.SteadySeconds, burn)
	}
}
