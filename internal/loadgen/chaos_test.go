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
// 1.5 × Chaos, so at least one), each ending before the recovery: every
// fault is applied without error, each takes the clients' connections,
// and all are back and Alive at the end. The clients redial within 200 ms
// and without a storm guard, so a recovery of 2 s is plenty.
func TestRunChaos(t *testing.T) {
	if inChild(t) {
		return
	}
	const n, window = 20, time.Second
	cfg := Config{N: n, Duration: window + maxChaosDown + 2*time.Second, ChaosRecovery: 2 * time.Second, Chaos: 400 * time.Millisecond,
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

// TestChaosFaultsEndBeforeRecovery: the chaos mode applies no fault that
// would still hold the server when the recovery before the end of the run
// begins. With a ping interval and a pong timeout of 1 s a blackhole
// lasts 2.5 s, and a restart keeps the server down up to 3 s: in a run of
// 4 s whose last 0.5 s are the recovery, a fault that starts later than
// 0.5 s into the run ends too late.
func TestChaosFaultsEndBeforeRecovery(t *testing.T) {
	t.Parallel()
	v, err := NewVenue("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv := &server{url: v.URL + "/", kind: "embedded", embedded: v}
	cfg := Config{Duration: 4 * time.Second, ChaosRecovery: 500 * time.Millisecond, Chaos: 200 * time.Millisecond,
		Ping: time.Second, Pong: time.Second}
	steady := time.Now()
	events := runChaos(t.Context(), srv, cfg, steady)
	stopAt := cfg.Duration - cfg.ChaosRecovery
	if took := time.Since(steady); took > stopAt {
		t.Errorf("the faults %+v ended %v into the run, want by %v (the start of the recovery)", events, took.Round(time.Millisecond), stopAt)
	}
	if len(events) == 0 {
		t.Errorf("no fault applied, want one within the first %v", 500*time.Millisecond)
	}
}
