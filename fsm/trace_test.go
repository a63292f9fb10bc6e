package fsm_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
)

// These tests read the execution trace back with `go tool trace -d=parsed`
// and check what doc.go promises: every state entry is a trace task named
// after the state, nested in its parent's entry, and every state-scoped task
// runs in a region named "State/task" of its state's trace task.

type trState int

const (
	trOff trState = iota
	trSession
	trLogin
	trReady
)

func (s trState) String() string { return [...]string{"Off", "Session", "Login", "Ready"}[s] }

type trEvent int

const (
	trConnect trEvent = iota
	trLoggedIn
	trDrop
)

func (e trEvent) String() string { return [...]string{"Connect", "LoggedIn", "Drop"}[e] }

// trDefinition: Off, and Session with children Login (initial) and Ready.
// Session runs a heartbeat, Login an auth task, Ready a pump; each waits for
// its state to be left.
func trDefinition(t *testing.T) *fsm.Definition[trState, trEvent] {
	t.Helper()
	wait := func(ctx context.Context, _ fsm.Transition[trState, trEvent], _ fsm.Emit[trEvent]) error {
		<-ctx.Done()
		return nil
	}
	type r = fsm.Rule[trState, trEvent]
	d, err := fsm.NewBuilder[trState, trEvent](trOff).
		States(trOff, trSession, trLogin, trReady).
		Events(trConnect, trLoggedIn, trDrop).
		Children(trSession, trLogin, trReady).
		Rules(
			r{From: trOff, On: trConnect, Then: fsm.To(trSession)},
			r{From: trOff, On: trLoggedIn, Then: fsm.Ignore[trState](), Reason: "not connected"},
			r{From: trOff, On: trDrop, Then: fsm.Ignore[trState](), Reason: "not connected"},
			r{From: trSession, On: trConnect, Then: fsm.Ignore[trState](), Reason: "connected"},
			r{From: trSession, On: trDrop, Then: fsm.To(trOff)},
			r{From: trLogin, On: trLoggedIn, Then: fsm.To(trReady)},
			r{From: trReady, On: trLoggedIn, Then: fsm.To(trLogin)},
		).
		Task(trSession, "heartbeat", wait).
		Task(trLogin, "auth", wait).
		Task(trReady, "pump", wait).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// trLine is one line of `go tool trace -d=parsed`: the event's kind and
// its key=value fields.
type trLine struct {
	Kind   string
	Fields map[string]string
}

var trField = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S+)`)

// parseTrace runs `go tool trace -d=parsed` on the trace in data and
// returns its task and region events. Every other line (other events,
// stacks) is skipped.
func parseTrace(t *testing.T, data []byte) []trLine {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fsm.trace")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(build.Default.GOROOT, "bin", "go")
	}
	out, err := exec.Command(goCmd, "tool", "trace", "-d=parsed", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go tool trace -d=parsed: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go tool trace -d=parsed: %v", err)
	}
	var lines []trLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		text := sc.Text()
		if strings.HasPrefix(text, "\t") {
			continue // a stack frame
		}
		var kind string
		for f := range strings.FieldsSeq(text) {
			if !strings.Contains(f, "=") {
				kind = f
				break
			}
		}
		switch kind {
		case "TaskBegin", "TaskEnd", "RegionBegin", "RegionEnd":
		default:
			continue
		}
		l := trLine{Kind: kind, Fields: map[string]string{}}
		for _, m := range trField.FindAllStringSubmatch(text, -1) {
			v := m[2]
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			l.Fields[m[1]] = v
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// trTask is a trace task as the test names it: its type with the number of
// its begin among the tasks of that type ("Login#1"), and its parent's name
// ("" for none).
type trTask struct {
	Name, Parent string
	Ended        bool
}

// trRegion is a region: its type, the task it belongs to, and whether it
// ended.
type trRegion struct {
	Name, Task string
	Ended      bool
}

// summarize names the tasks and regions of a parsed trace.
func summarize(t *testing.T, lines []trLine) ([]trTask, []trRegion) {
	t.Helper()
	names := map[string]string{} // task ID → name
	index := map[string]int{}    // task ID → its place in tasks
	seen := map[string]int{}     // type → begins so far
	var tasks []trTask
	var regions []trRegion
	open := map[string][]int{} // region type and task → indices of regions begun, not ended
	for _, l := range lines {
		f := l.Fields
		switch l.Kind {
		case "TaskBegin":
			seen[f["Type"]]++
			name := fmt.Sprintf("%s#%d", f["Type"], seen[f["Type"]])
			names[f["ID"]], index[f["ID"]] = name, len(tasks)
			tasks = append(tasks, trTask{Name: name, Parent: names[f["Parent"]]})
		case "TaskEnd":
			i, ok := index[f["ID"]]
			if !ok {
				t.Fatalf("TaskEnd of unknown task %s", f["ID"])
			}
			tasks[i].Ended = true
		case "RegionBegin":
			key := f["Type"] + " " + f["Task"]
			open[key] = append(open[key], len(regions))
			regions = append(regions, trRegion{Name: f["Type"], Task: names[f["Task"]]})
		case "RegionEnd":
			key := f["Type"] + " " + f["Task"]
			if len(open[key]) == 0 {
				t.Fatalf("RegionEnd without a begin: %v", f)
			}
			regions[open[key][0]].Ended = true
			open[key] = open[key][1:]
		}
	}
	// Regions begin on the tasks' goroutines, in no fixed order.
	slices.SortFunc(regions, func(a, b trRegion) int { return strings.Compare(a.Name+a.Task, b.Name+b.Task) })
	return tasks, regions
}

// TestTraceTasksAndRegions runs the machine through every kind of step
// while the execution tracer runs and reads the trace back.
func TestTraceTasksAndRegions(t *testing.T) {
	d := trDefinition(t)
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatalf("trace.Start: %v (run this test without -trace)", err)
	}
	traced := true
	defer func() {
		if traced {
			trace.Stop()
		}
	}()
	ctx := context.Background()
	m := d.Start(ctx, fsm.Config[trState, trEvent]{})
	for _, e := range []trEvent{trConnect, trLoggedIn, trLoggedIn, trDrop} {
		if err := m.Fire(ctx, e); err != nil {
			t.Fatalf("Fire(%v): %v", e, err)
		}
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	trace.Stop()
	traced = false

	tasks, regions := summarize(t, parseTrace(t, buf.Bytes()))
	wantTasks := []trTask{
		{Name: "Off#1", Ended: true},
		{Name: "Session#1", Ended: true},
		{Name: "Login#1", Parent: "Session#1", Ended: true},
		{Name: "Ready#1", Parent: "Session#1", Ended: true},
		{Name: "Login#2", Parent: "Session#1", Ended: true},
		{Name: "Off#2", Ended: true},
	}
	if diff := cmp.Diff(wantTasks, tasks); diff != "" {
		t.Errorf("trace tasks (-want +got):\n%s", diff)
	}
	wantRegions := []trRegion{
		{Name: "Login/auth", Task: "Login#1", Ended: true},
		{Name: "Login/auth", Task: "Login#2", Ended: true},
		{Name: "Ready/pump", Task: "Ready#1", Ended: true},
		{Name: "Session/heartbeat", Task: "Session#1", Ended: true},
	}
	if diff := cmp.Diff(wantRegions, regions); diff != "" {
		t.Errorf("trace regions (-want +got):\n%s", diff)
	}
}

// trSink is a snapshot destination that remembers being closed.
type trSink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	closed bool
}

func (s *trSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *trSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// TestFlightRecorderSnapshotOnStraggler: a task that ignores its context
// past the join timeout is a straggler, and the flight recorder's window is
// written to where Config.Snapshot says, once per straggler, then closed.
// The snapshot is a trace `go tool trace` reads, holding the straggler's
// region in its state's trace task.
func TestFlightRecorderSnapshotOnStraggler(t *testing.T) {
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: time.Second, MaxBytes: 1 << 20})
	if err := fr.Start(); err != nil {
		t.Fatalf("FlightRecorder.Start: %v (run this test without -trace)", err)
	}
	defer fr.Stop()

	type snap struct {
		Kind  fsm.RecordKind
		State trState
		Task  string
	}
	var (
		mu    sync.Mutex
		snaps []snap
		sinks []*trSink
	)
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		stuck := func(ctx context.Context, _ fsm.Transition[trState, trEvent], _ fsm.Emit[trEvent]) error {
			<-release // ignores ctx: a straggler once Login is left
			return nil
		}
		wait := func(ctx context.Context, _ fsm.Transition[trState, trEvent], _ fsm.Emit[trEvent]) error {
			<-ctx.Done()
			return nil
		}
		type r = fsm.Rule[trState, trEvent]
		d, err := fsm.NewBuilder[trState, trEvent](trSession).
			States(trOff, trSession, trLogin, trReady).
			Events(trConnect, trLoggedIn, trDrop).
			Children(trSession, trLogin, trReady).
			Rules(
				r{From: trOff, On: trConnect, Then: fsm.To(trSession)},
				r{From: trOff, On: trLoggedIn, Then: fsm.Ignore[trState](), Reason: "not connected"},
				r{From: trOff, On: trDrop, Then: fsm.Ignore[trState](), Reason: "not connected"},
				r{From: trSession, On: trConnect, Then: fsm.Ignore[trState](), Reason: "connected"},
				r{From: trSession, On: trDrop, Then: fsm.To(trOff)},
				r{From: trLogin, On: trLoggedIn, Then: fsm.To(trReady)},
				r{From: trReady, On: trLoggedIn, Then: fsm.To(trLogin)},
			).
			Task(trSession, "heartbeat", wait).
			Task(trLogin, "stuck", stuck).
			Build()
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		m := d.Start(ctx, fsm.Config[trState, trEvent]{
			JoinTimeout:    time.Second,
			FlightRecorder: fr,
			Snapshot: func(r fsm.Record[trState, trEvent]) io.WriteCloser {
				mu.Lock()
				defer mu.Unlock()
				snaps = append(snaps, snap{Kind: r.Kind, State: r.State, Task: r.Task})
				s := &trSink{}
				sinks = append(sinks, s)
				return s
			},
		})
		start := time.Now()
		if err := m.Fire(ctx, trLoggedIn); err != nil { // Login → Ready: waits a second for stuck
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Fire waited %v for the straggler, want the join timeout, 1s", waited)
		}
		close(release)
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the straggler's late return is reported
	})

	if diff := cmp.Diff([]snap{{Kind: fsm.RecordStraggler, State: trLogin, Task: "stuck"}}, snaps); diff != "" {
		t.Fatalf("snapshots taken (-want +got):\n%s", diff)
	}
	s := sinks[0]
	if !s.closed {
		t.Error("the snapshot's writer was not closed")
	}
	if s.buf.Len() == 0 {
		t.Fatal("the snapshot is empty")
	}
	_, regions := summarize(t, parseTrace(t, s.buf.Bytes()))
	var stuck []trRegion
	for _, r := range regions {
		if r.Name == "Login/stuck" {
			stuck = append(stuck, r)
		}
	}
	// The straggler is still in its region when the snapshot is taken.
	if diff := cmp.Diff([]trRegion{{Name: "Login/stuck", Task: "Login#1"}}, stuck); diff != "" {
		t.Errorf("the straggler's region in the snapshot (-want +got):\n%s", diff)
	}
}
