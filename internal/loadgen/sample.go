package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// Sample is the state of the run every Config.Sample. Percentages are of
// one core, over the span since the previous sample (the first: since the
// steady run began).
type Sample struct {
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

// Growth compares the last sample with the first.
type Growth struct {
	FromT          float64 `json:"from_t"`
	ToT            float64 `json:"to_t"`
	HeapLiveBytes  int64   `json:"heap_live_bytes"`
	HeapLivePct    float64 `json:"heap_live_pct"`
	HeapInuseBytes int64   `json:"heap_inuse_bytes"`
	Goroutines     int     `json:"goroutines"`
}

// growth compares the last sample with the first, once there are two.
func growth(s []Sample) *Growth {
	if len(s) < 2 {
		return nil
	}
	a, b := s[0], s[len(s)-1]
	g := &Growth{
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

// sampler reads the process's and the server's figures.
type sampler struct {
	srv     *server
	cnt     *counters
	metrics []metrics.Sample
}

func newSampler(srv *server, cnt *counters) *sampler {
	return &sampler{srv: srv, cnt: cnt, metrics: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/sched/latencies:seconds"},
	}}
}

// take reads the cumulative figures; fill turns them into the interval's.
func (ls *sampler) take(now time.Time) Sample {
	metrics.Read(ls.metrics)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Sample{
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

// spent sets the CPU the load process, the server (when it is a child
// process) and the garbage collector used between first and last; -1
// for the load process's where /proc cannot tell.
func (r *Report) spent(first, last Sample) {
	r.CPUSeconds, r.ServerCPUSeconds, r.GCCPUSeconds = -1, 0, last.gcCPU-first.gcCPU
	if first.cpu >= 0 && last.cpu >= 0 {
		r.CPUSeconds = last.cpu - first.cpu
	}
	if first.serverCPU >= 0 && last.serverCPU >= 0 {
		r.ServerCPUSeconds = last.serverCPU - first.serverCPU
	}
}

// fill computes s's interval figures from prev.
func (s *Sample) fill(prev Sample, steady time.Time) {
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

func (s Sample) line() string {
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

// steadyRun samples every period for d from steady, appending each sample
// to r and printing its line to progress, and sets r.SteadySeconds. It
// reports false if ctx ended first.
func steadyRun(ctx context.Context, r *Report, sampler *sampler, steady time.Time, d, period time.Duration, progress io.Writer) bool {
	prev := sampler.take(steady)
	end := steady.Add(d)
	ok := true
	for next := steady.Add(period); ; next = next.Add(period) {
		wake := next
		if wake.After(end) {
			wake = end
		}
		if !sleepCtx(ctx, time.Until(wake)) {
			ok = false
			break
		}
		if next.After(end) {
			break
		}
		s := sampler.take(time.Now())
		s.fill(prev, steady)
		r.Samples = append(r.Samples, s)
		fmt.Fprintln(progress, s.line())
		prev = s
	}
	r.SteadySeconds = time.Since(steady).Seconds()
	return ok
}

// Profiles are the pprof profiles of the client process a run writes,
// for `go tool pprof`.
type Profiles struct {
	// Mem, if not "", is the file the heap profile is written to at the
	// end of the steady run, after a collection and before the clients
	// close: what the open connections hold. Up to EmbeddedMax clients
	// the venue runs in this process, and its connections are in it too.
	Mem string
	// MemRate is runtime.MemProfileRate during the run (bytes allocated
	// per sample); 0 keeps the runtime's (512 KiB). A smaller rate finds
	// small per-connection objects in a small run.
	MemRate int
	// CPU, if not "", is the file the CPU profile of the steady run is
	// written to (from the end of the ramp to the end of the steady run,
	// the time the report's CPU per message and per heartbeat divide).
	CPU string
}

// Flags defines on fs the flags that set p, named as `go test` names
// them: -memprofile, -memprofilerate and -cpuprofile.
func (p *Profiles) Flags(fs *flag.FlagSet) {
	fs.StringVar(&p.Mem, "memprofile", "", "write a heap profile of this process to `file` at the end of the steady run, after a collection and before the clients close")
	fs.Var((*memRate)(&p.MemRate), "memprofilerate", "with -memprofile, sample an allocation every `bytes` allocated (runtime.MemProfileRate; default the runtime's 512 KiB)")
	fs.StringVar(&p.CPU, "cpuprofile", "", "write a CPU profile of this process during the steady run to `file`")
}

// memRate is the -memprofilerate flag: a positive number of bytes.
type memRate int

func (r *memRate) String() string {
	if r == nil || *r == 0 {
		return ""
	}
	return strconv.Itoa(int(*r))
}

func (r *memRate) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive number of bytes, got %q", s)
	}
	*r = memRate(n)
	return nil
}

// profiler writes a run's Profiles. Its files are created before the run,
// so that a path that cannot be written fails at once, not minutes later.
type profiler struct {
	mem, cpu *os.File
	cpuOn    bool
}

// startProfiles creates the files p names and sets the sampling rate.
func startProfiles(p Profiles) (*profiler, error) {
	if p.MemRate < 0 {
		return nil, fmt.Errorf("%w: a negative memory profile rate %d", ErrConfig, p.MemRate)
	}
	pr := &profiler{}
	for _, f := range []struct {
		path string
		to   **os.File
	}{{p.Mem, &pr.mem}, {p.CPU, &pr.cpu}} {
		if f.path == "" {
			continue
		}
		file, err := os.Create(f.path)
		if err != nil {
			pr.close()
			return nil, fmt.Errorf("profile: %w", err)
		}
		*f.to = file
	}
	if p.MemRate > 0 {
		runtime.MemProfileRate = p.MemRate
	}
	return pr, nil
}

// startCPU starts the CPU profile, if one was asked for.
func (pr *profiler) startCPU() error {
	if pr.cpu == nil {
		return nil
	}
	if err := pprof.StartCPUProfile(pr.cpu); err != nil {
		return fmt.Errorf("cpu profile %s: %w", pr.cpu.Name(), err)
	}
	pr.cpuOn = true
	return nil
}

// stopCPU ends the CPU profile, if one runs.
func (pr *profiler) stopCPU() {
	if pr.cpuOn {
		pprof.StopCPUProfile()
		pr.cpuOn = false
	}
}

// heap writes the heap profile, if one was asked for. The profile is that
// of the last completed collection: the caller has just run one
// (takeBaseline), so it is what is live now.
func (pr *profiler) heap() error {
	if pr.mem == nil {
		return nil
	}
	if err := pprof.Lookup("heap").WriteTo(pr.mem, 0); err != nil {
		return fmt.Errorf("heap profile %s: %w", pr.mem.Name(), err)
	}
	return nil
}

// close stops the CPU profile and closes the files.
func (pr *profiler) close() error {
	pr.stopCPU()
	var errs []error
	for _, f := range []*os.File{pr.mem, pr.cpu} {
		if f != nil {
			if err := f.Close(); err != nil {
				errs = append(errs, fmt.Errorf("profile: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
