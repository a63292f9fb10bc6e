package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Report is a run's result; `connfsm load -json` prints it as one JSON
// object.
type Report struct {
	T      string `json:"t"`
	Kind   string `json:"kind"` // "summary"
	N      int    `json:"n"`
	Server string `json:"server"` // embedded, child or external
	URL    string `json:"url"`
	GOGC   int    `json:"gogc"`
	// Raw: the clients were bare coder/websocket connections (Config.Raw).
	Raw bool `json:"raw,omitempty"`
	// Backoff is the clients' backoff mode: "full" or "outage".
	Backoff           string  `json:"backoff,omitempty"`
	Alive             int     `json:"alive"`
	Reconnects        uint64  `json:"reconnects"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`
	HeapPerConn       float64 `json:"heap_bytes_per_conn"`
	MessagesPerSec    float64 `json:"messages_per_sec"`
	Echoes            uint64  `json:"echoes"`
	SendErrors        uint64  `json:"send_errors"`
	// RampSeconds runs from the first dial until every client was Alive
	// or had given up, or until the wait for that gave up; RampAlive is
	// how many were Alive then.
	RampSeconds   float64 `json:"ramp_seconds"`
	RampAlive     int     `json:"ramp_alive"`
	SteadySeconds float64 `json:"steady_seconds"`
	// SteadyCPUSeconds is the load process's CPU time (getrusage) over the
	// steady run, -1 where it cannot be read; SteadyPings the heartbeats
	// sent over it. CPUPerMessage is that time over the messages echoed
	// (one send and one read each), CPUPerPing over the pings, in
	// microseconds: each charges all the CPU to one kind of work, so each
	// is an upper bound, and the one that matters is the kind the run is
	// made of (-send-every against -ping). 0: none of that kind.
	SteadyCPUSeconds    float64 `json:"steady_cpu_seconds"`
	SteadyPings         uint64  `json:"steady_pings"`
	CPUPerMessageMicros float64 `json:"cpu_per_message_us"`
	CPUPerPingMicros    float64 `json:"cpu_per_ping_us"`
	// CPUSeconds is the load process's user and system CPU time from the
	// first client to the end of the steady run; ServerCPUSeconds the
	// child server's over the same span. -1: not measurable here (no
	// /proc).
	CPUSeconds       float64 `json:"cpu_seconds"`
	ServerCPUSeconds float64 `json:"server_cpu_seconds,omitempty"`
	// GCCPUSeconds is the load process's CPU time spent in the garbage
	// collector over the same span, as the Go runtime estimates it.
	GCCPUSeconds float64 `json:"gc_cpu_seconds"`
	// Pings are the heartbeats sent by every client over the run;
	// PingsSkipped the ones not needed, the connection having read from
	// its peer within the interval; PongWaitsExtended the pong waits
	// lengthened because the process itself ran late, LateReads the pong
	// waits that expired with the peer's bytes unread in the socket
	// (wsconn.Stats).
	Pings             uint64 `json:"pings"`
	PingsSkipped      uint64 `json:"pings_skipped"`
	PongWaitsExtended uint64 `json:"pong_waits_extended"`
	LateReads         uint64 `json:"late_reads"`
	// Lost connections over the whole run by cause: "pong timeout",
	// "read", "ping" (the ping write failed) or "other".
	PongTimeouts uint64            `json:"pong_timeouts"`
	LostCauses   map[string]uint64 `json:"lost_causes,omitempty"`
	Samples      []Sample          `json:"samples,omitempty"`
	Growth       *Growth           `json:"growth,omitempty"`
	Restart      *Restart          `json:"restart,omitempty"`
	Chaos        []ChaosEvent      `json:"chaos,omitempty"`
	Pool         *PoolReport       `json:"pool,omitempty"`
	// FileLimit, if not nil, says that running out of file descriptors
	// stopped dials: the run measured the limit, not the clients.
	FileLimit    *FileLimit `json:"file_limit,omitempty"`
	Closed       int        `json:"closed"`
	CloseSeconds float64    `json:"close_seconds"`
	// GoroutinesLeft is NumGoroutine after closing, minus the baseline
	// taken before the first client: 0 when nothing outlived its client.
	GoroutinesLeft int  `json:"goroutines_left"`
	Interrupted    bool `json:"interrupted,omitempty"`
}

// endSteady ends the steady run that made echoes and pings: its last
// sample, the end of the span of the CPU figures, taken before any wait
// for a restart; the CPU profile; the echoes, their rate, the heartbeats
// and what they cost since cpu0.
func (r *Report) endSteady(sampler *sampler, prof *profiler, echoes, pings uint64, cpu0 float64) Sample {
	last := sampler.take(time.Now())
	prof.stopCPU()
	r.Echoes = echoes
	if r.SteadySeconds > 0 {
		r.MessagesPerSec = float64(r.Echoes) / r.SteadySeconds
	}
	r.SteadyPings = pings
	r.costs(cpu0, processCPU())
	return last
}

// costs sets the steady run's CPU figures from the process's CPU time
// at its start and end (-1: unknown), once Echoes and SteadyPings are set.
func (r *Report) costs(cpu0, cpu1 float64) {
	r.SteadyCPUSeconds, r.CPUPerMessageMicros, r.CPUPerPingMicros = -1, 0, 0
	if cpu0 < 0 || cpu1 < 0 {
		return
	}
	r.SteadyCPUSeconds = cpu1 - cpu0
	if r.Echoes > 0 {
		r.CPUPerMessageMicros = 1e6 * r.SteadyCPUSeconds / float64(r.Echoes)
	}
	if r.SteadyPings > 0 {
		r.CPUPerPingMicros = 1e6 * r.SteadyCPUSeconds / float64(r.SteadyPings)
	}
}

// Write writes r as one JSON object on a line, or as Print's text.
func Write(w io.Writer, r Report, asJSON bool) error {
	if !asJSON {
		Print(w, r)
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// Print writes r as text.
func Print(w io.Writer, r Report) {
	what := "clients"
	switch {
	case r.Pool != nil:
		what = "connections of one pool"
	case r.Raw:
		what = "raw coder/websocket clients"
	}
	fmt.Fprintf(w, "load report: %d %s, %s server %s, GOGC %d\n", r.N, what, r.Server, r.URL, r.GOGC)
	fmt.Fprintf(w, "  alive at end       %d/%d\n", r.Alive, r.N)
	if r.FileLimit != nil {
		fmt.Fprintf(w, "  limit              %s\n", r.FileLimit)
	}
	fmt.Fprintf(w, "  reconnects         %d\n", r.Reconnects)
	fmt.Fprintf(w, "  lost               %d pong timeouts%s\n", r.PongTimeouts, formatCauses(r.LostCauses))
	if r.Raw {
		fmt.Fprintf(w, "  heartbeats         %d pings (a raw client pings every interval, read from or not)\n", r.Pings)
	} else {
		fmt.Fprintf(w, "  heartbeats         %d pings, %d skipped (read from within the interval), %d pong waits lengthened by the process's lateness, %d expired with the peer's bytes unread\n",
			r.Pings, r.PingsSkipped, r.PongWaitsExtended, r.LateReads)
	}
	fmt.Fprintf(w, "  goroutines/conn    %.2f\n", r.GoroutinesPerConn)
	fmt.Fprintf(w, "  heap/conn          %.1f KiB\n", r.HeapPerConn/1024)
	fmt.Fprintf(w, "  messages/s         %.1f (%d echoes in %.1fs, %d send errors)\n", r.MessagesPerSec, r.Echoes, r.SteadySeconds, r.SendErrors)
	if r.RampAlive == r.N {
		fmt.Fprintf(w, "  ramp               %.2fs from the first dial to all %d Alive\n", r.RampSeconds, r.N)
	} else {
		fmt.Fprintf(w, "  ramp               %.2fs from the first dial, then NOT all Alive: %d/%d\n", r.RampSeconds, r.RampAlive, r.N)
	}
	if r.SteadyCPUSeconds >= 0 {
		fmt.Fprintf(w, "  cpu/message        %s (%.2fs of CPU over %d echoes in the steady run)\n", micros(r.CPUPerMessageMicros), r.SteadyCPUSeconds, r.Echoes)
		fmt.Fprintf(w, "  cpu/heartbeat      %s (the same over %d pings)\n", micros(r.CPUPerPingMicros), r.SteadyPings)
	}
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
		fmt.Fprintf(w, "  restart            down at %.1fs for %.1fs, backoff %s", rs.At, rs.DownSeconds, r.Backoff)
		if rs.Recovered {
			fmt.Fprintf(w, "; 80%% Alive %.1fs after up, all %d %.1fs after up (%.1fs after down)\n", rs.Recover80Seconds, r.N, rs.RecoverSeconds, rs.OutageSeconds)
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
	if r.Pool != nil {
		printPool(w, r.Pool)
	}
	fmt.Fprintf(w, "  close              %d/%d closed in %.1fs, %d goroutines left\n", r.Closed, r.N, r.CloseSeconds, r.GoroutinesLeft)
	if r.Interrupted {
		fmt.Fprintln(w, "  interrupted")
	}
}

// micros prints a CPU cost in microseconds, "-" for none measured.
func micros(us float64) string {
	if us == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f µs", us)
}

// formatCauses lists the other causes of lost connections, by count.
func formatCauses(m map[string]uint64) string {
	var keys []string
	for k := range m {
		if k != causePongTimeout {
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

// Failures returns what makes the run r of cfg a failure, one sentence
// each: clients not Alive at the end, a restart not recovered from, the
// pool's problems (PoolReport.Problems). None: the run passed.
func Failures(r Report, cfg Config) []string {
	var limit []string
	if r.FileLimit != nil {
		// Said first: it is why the rest of the run fell short.
		limit = []string{"limit: " + r.FileLimit.String()}
	}
	if r.Alive != r.N {
		return append(limit, fmt.Sprintf("%d of %d clients were Alive at the end", r.Alive, r.N))
	}
	if limit != nil {
		return limit
	}
	if r.Restart != nil && !r.Restart.Recovered {
		return []string{"not every client was Alive again after the restart"}
	}
	var out []string
	if r.Pool != nil && cfg.Pool != nil {
		for _, p := range r.Pool.Problems(cfg.Pool.Budget) {
			out = append(out, "pool: "+p)
		}
	}
	return out
}
