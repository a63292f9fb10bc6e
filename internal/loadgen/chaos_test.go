package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/connfsm/connfsm/wsconn"
)

// TestRunChaos runs clients against the embedded venue over loopback while
// the chaos mode applies faults in the first second (the first one within
// 1.5 × Chaos, so at least one): every fault is applied without error,
// each takes the clients' connections, and all are back and Alive at the
// end. The clients redial within 200 ms and without a storm guard, so a
// recovery of 5 s covers the longest fault (a restart of up to 3 s).
func TestRunChaos(t *testing.T) {
	if inChild(t) {
		return
	}
	const n, window = 20, time.Second
	cfg := Config{N: n, Duration: window + 5*time.Second, ChaosRecovery: 5 * time.Second, Chaos: 400 * time.Millisecond,
		Ping: 200 * time.Millisecond, Pong: 200 * time.Millisecond, SendEvery: time.Second, Sample: 10 * time.Second,
		DownFor: time.Second, DialRate: 1000, GOGC: DefaultGOGC,
		Options: []wsconn.Option{
			wsconn.WithBackoff(wsconn.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}),
			wsconn.WithStormGuard(wsconn.StormGuard{}),
		}}
	r, err := Run(t.Context(), cfg, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Chaos) == 0 {
		t.Fatalf("no fault applied: report %+v", r)
	}
	for _, ev := range r.Chaos {
		if ev.Err != "" {
			t.Errorf("fault %s at %.2fs failed: %s", ev.Fault, ev.AtSeconds, ev.Err)
		}
		if ev.AtSeconds <= 0 || ev.AtSeconds >= window.Seconds() {
			t.Errorf("fault %s at %.2fs, want within the first %v (the rest is the recovery)", ev.Fault, ev.AtSeconds, window)
		}
	}
	if r.Alive != n || r.Reconnects < n || r.Closed != n || r.GoroutinesLeft != 0 {
		t.Errorf("alive %d, reconnects %d, closed %d, goroutines left %d; want all %d back after losing their connections, then closed, nothing left",
			r.Alive, r.Reconnects, r.Closed, r.GoroutinesLeft, n)
	}
	var j struct {
		Chaos []ChaosEvent `json:"chaos"`
	}
	var buf bytes.Buffer
	if err := Write(&buf, r, true); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &j); err != nil || len(j.Chaos) != len(r.Chaos) {
		t.Errorf("JSON report %s: %v; want its %d faults", buf.String(), err, len(r.Chaos))
	}
	var out bytes.Buffer
	Print(&out, r)
	if want := fmt.Sprintf("chaos              %d faults: ", len(r.Chaos)); !strings.Contains(out.String(), want) {
		t.Errorf("report text lacks the faults:\n%s", out.String())
	}
}
