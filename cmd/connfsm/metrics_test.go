package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// metricNames are the names a scrape of dial or load shows, every one.
var metricNames = []string{
	"connfsm_bytes_received_total", "connfsm_bytes_sent_total", "connfsm_connections_lost_total",
	"connfsm_dial_waits_total", "connfsm_handler_duration_seconds", "connfsm_handler_lag_seconds",
	"connfsm_machines", "connfsm_messages_dropped_total", "connfsm_messages_received_total",
	"connfsm_messages_sent_total", "connfsm_panics_total", "connfsm_ping_rtt_seconds",
	"connfsm_sends_buffered", "connfsm_state_duration_seconds", "connfsm_stragglers_total",
	"connfsm_subscriptions", "connfsm_task_join_duration_seconds", "connfsm_transitions_total",
}

// freeAddr returns a loopback address no one listens on, for -metrics.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// scraper makes the scrapes, a connection each: a connection kept open
// would keep the command's goroutines serving it, and load waits up to 3 s
// for its goroutines to end.
var scraper = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// scrape gets /metrics over HTTP and parses it with Prometheus's own
// text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := scraper.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	return fams
}

// series returns a family's series as "k=v,..." → value (a histogram's
// count).
func series(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	f, ok := fams[name]
	if !ok {
		return out
	}
	for _, m := range f.GetMetric() {
		var kv []string
		for _, l := range m.GetLabel() {
			kv = append(kv, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(kv)
		var v float64
		switch {
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Histogram != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		}
		out[strings.Join(kv, ",")] = v
	}
	return out
}

func readyz(addr string) int {
	resp, err := scraper.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDialMetricsScrape runs dial -metrics against a venue that resets
// the first connection and refuses the next dial with Retry-After, scrapes
// it over HTTP, and checks the counters against the timeline dial prints.
func TestDialMetricsScrape(t *testing.T) {
	t.Parallel() // after the load runs, which count the process's goroutines
	srv := venue(t, wsconntest.Script(
		wsconntest.Plan{wsconntest.Echo(), wsconntest.After(300*time.Millisecond, wsconntest.Reset())},
		wsconntest.Plan{wsconntest.Refuse(http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}})},
	), wsconntest.Default(wsconntest.Echo()))
	addr := freeAddr(t)
	in, typed := io.Pipe()
	t.Cleanup(func() { _ = typed.Close() })
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, []string{"dial", "-json", "-metrics", addr, "-ping", "100ms", "-pong-timeout", "2s",
		"-backoff-initial", "10ms", "-backoff-max", "20ms", srv.URL}, in, &stdout, &stderr)

	var codes []int // /readyz's answers, each change once
	var fams map[string]*dto.MetricFamily
	ready := func() bool {
		if c := readyz(addr); len(codes) == 0 || codes[len(codes)-1] != c {
			codes = append(codes, c)
		}
		if codes[len(codes)-1] != http.StatusOK {
			return false
		}
		fams = scrape(t, addr)
		lost := series(fams, "connfsm_connections_lost_total")
		// A ping answered too (one every 100 ms), or its histogram is not
		// shown yet: the first connection may end before its first pong.
		return lost["cause=reset"]+lost["cause=eof"] == 1 &&
			series(fams, "connfsm_machines")["machine=wsconn,state=Alive/Ready"] == 1 &&
			len(series(fams, "connfsm_ping_rtt_seconds")) > 0
	}
	tick := time.NewTicker(5 * time.Millisecond) // polls /readyz, which says when it changes
	defer tick.Stop()
	for deadline := time.Now().Add(patience); !ready(); <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("not Ready again after the reset and the refused dial within %v: /readyz %v, lost %v, machines %v; timeline:\n%s",
				patience, codes, series(fams, "connfsm_connections_lost_total"), series(fams, "connfsm_machines"), stderr.String())
		}
	}
	if _, err := io.WriteString(typed, "hello\n"); err != nil {
		t.Fatal(err)
	}
	// The handler prints the echo, then its call is recorded. A scrape is
	// not one instant: the Stats callback may run before the handler's
	// histogram is read, so the scrape waited for shows both. The write
	// is counted once it returns, which may be after the echo came back.
	waitFor(t, "the echo, handled and counted", func() bool {
		fams = scrape(t, addr)
		return strings.Contains(stdout.String(), `"text":"hello"`) &&
			series(fams, "connfsm_handler_duration_seconds")[""] == 1 &&
			series(fams, "connfsm_messages_received_total")[""] == 1 &&
			series(fams, "connfsm_messages_sent_total")[""] == 1
	})
	timeline := stderr.String()
	_ = typed.Close()
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}

	var names []string
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	if diff := cmp.Diff(metricNames, names); diff != "" {
		t.Errorf("metric names (-want +got):\n%s", diff)
	}
	if !slices.Contains(codes, http.StatusServiceUnavailable) {
		t.Errorf("/readyz answered %v: never 503 while reconnecting", codes)
	}
	checks := []struct {
		name string
		want map[string]float64
	}{
		{"connfsm_connections_lost_total", lostOf(t, timeline)},
		{"connfsm_dial_waits_total", map[string]float64{"reason=backoff": 1, "reason=retry_after": 1, "reason=slow_down": 0,
			"reason=storm_guard": 0, "reason=reconnect": 0, "reason=dial_gate": 0, "reason=policy": 0}},
		{"connfsm_machines", map[string]float64{"machine=wsconn,state=Alive/Ready": 1, "machine=wsconn,state=Alive/Syncing": 0,
			"machine=wsconn,state=Connecting": 0, "machine=wsconn,state=Reconnecting": 0, "machine=wsconn,state=Closing": 0,
			"machine=wsconn,state=Closed": 0}},
		{"connfsm_transitions_total", transitionsOf(t, timeline)},
		{"connfsm_messages_received_total", map[string]float64{"": 1}},
		{"connfsm_messages_sent_total", map[string]float64{"": 1}},
		{"connfsm_bytes_received_total", map[string]float64{"": 5}},
		{"connfsm_bytes_sent_total", map[string]float64{"": 5}},
		{"connfsm_handler_duration_seconds", map[string]float64{"": 1}},
		{"connfsm_handler_lag_seconds", map[string]float64{"": 1}},
		{"connfsm_panics_total", map[string]float64{"machine=wsconn": 0}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, series(fams, c.name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

// TestDialMetricsTCP: with a tcp:// URL, the lifecycle's series are
// labelled machine="tcpconn", not wsconn.
func TestDialMetricsTCP(t *testing.T) {
	t.Parallel()
	srv, err := tcpconntest.NewTCPServer("127.0.0.1:0", tcpconntest.Default(tcpconntest.Echo()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	addr := freeAddr(t)
	in, typed := io.Pipe()
	t.Cleanup(func() { _ = typed.Close() })
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, []string{"dial", "-metrics", addr, srv.URL}, in, &stdout, &stderr)
	waitFor(t, "/readyz to answer 200", func() bool { return readyz(addr) == http.StatusOK })
	// The gauge follows the lifecycle's observer: poll it, as /readyz.
	want := map[string]float64{"machine=tcpconn,state=Alive/Ready": 1}
	var got map[string]float64
	waitFor(t, "one Ready tcpconn client in connfsm_machines", func() bool {
		got = map[string]float64{}
		for k, v := range series(scrape(t, addr), "connfsm_machines") {
			if v > 0 {
				got[k] = v
			}
		}
		return cmp.Equal(want, got) || slices.ContainsFunc(slices.Collect(maps.Keys(got)), func(k string) bool {
			return strings.Contains(k, "machine=wsconn")
		})
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("connfsm_machines in a state (-want +got):\n%s", diff)
	}
	_ = typed.Close()
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
}

// lostOf is connfsm_connections_lost_total as the timeline's one loss
// should show it: the venue's reset is a TCP RST, which the client reads
// as "connection reset by peer"; on a loaded machine the client sometimes
// reads the end of the stream first ("EOF"), and the cause says so.
func lostOf(t *testing.T, timeline string) map[string]float64 {
	t.Helper()
	want := map[string]float64{"cause=reset": 0, "cause=eof": 0, "cause=pong_timeout": 0,
		"cause=idle_timeout": 0, "cause=close_frame": 0, "cause=write_error": 0, "cause=requested": 0, "cause=other": 0}
	var causes []string
	sc := bufio.NewScanner(strings.NewReader(timeline))
	for sc.Scan() {
		var l struct{ Kind, Event, Cause string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Kind == "transition" && l.Event == "Lost" {
			causes = append(causes, l.Cause)
		}
	}
	switch {
	case len(causes) != 1:
		t.Errorf("the timeline shows %d losses, want 1: %q", len(causes), causes)
	case strings.HasSuffix(causes[0], "connection reset by peer"):
		want["cause=reset"] = 1
	case strings.HasSuffix(causes[0], ": EOF"):
		want["cause=eof"] = 1
	default:
		t.Errorf("the loss's cause %q is neither a reset nor an EOF", causes[0])
	}
	return want
}

// transitionsOf counts the transitions of dial's JSON timeline as the
// connfsm_transitions_total series should show them, and checks their
// order: connected, reset, backed off, refused, waited, connected.
func transitionsOf(t *testing.T, timeline string) map[string]float64 {
	t.Helper()
	counts := map[string]float64{}
	var order []string
	sc := bufio.NewScanner(strings.NewReader(timeline))
	for sc.Scan() {
		var l struct{ Kind, From, Event, To string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Kind != "transition" {
			continue
		}
		counts[fmt.Sprintf("event=%s,from=%s,machine=wsconn,to=%s", l.Event, l.From, l.To)]++
		order = append(order, l.From+" -"+l.Event+"-> "+l.To)
	}
	want := []string{
		"Connecting -Connected-> Alive/Syncing", "Alive/Syncing -Synced-> Alive/Ready",
		"Alive/Ready -Lost-> Reconnecting", "Reconnecting -RetryDue-> Connecting",
		"Connecting -DialFailed-> Reconnecting", "Reconnecting -RetryDue-> Connecting",
		"Connecting -Connected-> Alive/Syncing", "Alive/Syncing -Synced-> Alive/Ready",
	}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("the timeline's transitions (-want +got):\n%s", diff)
	}
	return counts
}

// TestMetricsAddrRefused: a -metrics address that is not host:port, or
// that is in use, exits 2 naming the flag.
func TestMetricsAddrRefused(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tt := range []struct{ cmd, addr string }{
		{"dial", "localhost"}, {"dial", "127.0.0.1:http2"}, {"dial", busy.Addr().String()},
		{"load", "127.0.0.1"}, {"load", busy.Addr().String()},
	} {
		t.Run(tt.cmd+" "+tt.addr, func(t *testing.T) {
			args := []string{tt.cmd, "-metrics", tt.addr}
			if tt.cmd == "dial" {
				args = append(args, "ws://127.0.0.1:1/")
			} else {
				args = append(args, "-n", "1", "-duration", "1s")
			}
			var stdout, stderr syncBuffer
			code := run(t.Context(), args, noStdin, &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), "-metrics") {
				t.Errorf("exit %d, want %d; stderr %q should name -metrics", code, exitUsage, firstLine(stderr.String()))
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestMetricsDoc keeps docs/metrics.md true to the scrape: its table lists
// every name, and its alerts and dashboard query only names that exist.
func TestMetricsDoc(t *testing.T) {
	b, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, n := range metricNames {
		if !strings.Contains(doc, "| `"+n+"` (") {
			t.Errorf("docs/metrics.md: the table has no row for %s", n)
		}
	}
	_, rest, _ := strings.Cut(doc, "```json\n")
	dashboard, _, _ := strings.Cut(rest, "```")
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(dashboard), &d); err != nil {
		t.Fatalf("docs/metrics.md: the dashboard is not JSON: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		if e, ok := strings.CutPrefix(strings.TrimSpace(line), "expr: "); ok {
			exprs = append(exprs, e)
		}
	}
	if len(d.Panels) < 4 || len(exprs) < 8 {
		t.Fatalf("docs/metrics.md: %d panels, %d queries: the dashboard or the alerts are missing", len(d.Panels), len(exprs))
	}
	name := regexp.MustCompile(`connfsm_[a-z_]+`)
	for _, e := range exprs {
		for _, n := range name.FindAllString(e, -1) {
			if !slices.Contains(metricNames, strings.TrimSuffix(n, "_bucket")) {
				t.Errorf("docs/metrics.md: query %q uses %s, which a scrape does not show", e, n)
			}
		}
	}
}

// TestLoadMetrics: load -metrics serves the same names for its clients,
// and /readyz is 200 once every client is Ready.
func TestLoadMetrics(t *testing.T) {
	t.Parallel() // load runs in a process of its own
	addr := freeAddr(t)
	var stdout, stderr syncBuffer
	wait, _ := runProcess(t, []string{"load", "-n", "3", "-duration", "1500ms", "-ping", "100ms", "-send-every", "100ms",
		"-sample", "1s", "-metrics", addr}, noStdin, &stdout, &stderr)
	var fams map[string]*dto.MetricFamily
	waitFor(t, "three Ready clients that have echoed and pinged", func() bool {
		if readyz(addr) != http.StatusOK {
			return false
		}
		fams = scrape(t, addr)
		return len(fams) == len(metricNames) &&
			series(fams, "connfsm_machines")["machine=wsconn,state=Alive/Ready"] == 3
	})
	if code := wait(); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var names []string
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	if diff := cmp.Diff(metricNames, names); diff != "" {
		t.Errorf("metric names (-want +got):\n%s", diff)
	}
}
