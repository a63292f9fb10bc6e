package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// commandEnv, set in the environment of a child of the test binary, makes
// the child the connfsm command itself, with the child's arguments, in
// place of the tests: "main" runs main; "run" runs run as main does, then
// fails the process (exitLeak) if a goroutine is left, as goleak fails the
// tests. Tests run the command so without building it, and load runs
// apart, each in a process whose goroutines and heap it counts alone.
const commandEnv = "CONNFSM_TEST_AS_COMMAND"

// exitLeak is the code of a child (commandEnv "run") that left goroutines.
const exitLeak = 3

// Later commands (demo, dial, load) start goroutines; none may outlive run.
func TestMain(m *testing.M) {
	switch os.Getenv(commandEnv) {
	case "main":
		main() // exits with the command's code
	case "run":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "connfsm (test child): goroutines left: %v\n", err)
			code = exitLeak
		}
		os.Exit(code)
	}
	// The tests that run commands wait on timers and the network far more
	// than they compute, and the load runs are processes of their own:
	// unless -parallel is given, more of them run at once than GOMAXPROCS.
	flag.Parse()
	if !parallelSet() {
		_ = flag.Set("test.parallel", "8")
	}
	goleak.VerifyTestMain(m)
}

// parallelSet reports whether -test.parallel was given.
func parallelSet() (set bool) {
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	return set
}

// asCommand returns the connfsm command with args, run through main: this
// test binary as the command (commandEnv), ended with ctx.
func asCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), commandEnv+"=main")
	return cmd
}

// runProcess is runAsync with the command in a process of its own (this
// test binary, commandEnv "run"): wait returns its exit code, failing the
// test if it takes longer than patience; interrupt sends it SIGINT. At the
// end of the test it is interrupted and waited for.
func runProcess(t *testing.T, args []string, stdin io.Reader, stdout, stderr io.Writer) (wait func() int, interrupt func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), commandEnv+"=run")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if stdin != noStdin { // shared by the tests: the child's nil stdin reads as empty too
		cmd.Stdin = stdin
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start connfsm %s: %v", strings.Join(args, " "), err)
	}
	done := make(chan int, 1)
	go func() {
		err := cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
			done <- exitOK
		case errors.As(err, &exit) && exit.Exited():
			done <- exit.ExitCode()
		default:
			done <- -1 // killed, or not waited for
		}
	}()
	interrupt = func() { _ = cmd.Process.Signal(os.Interrupt) }
	t.Cleanup(func() {
		interrupt()
		select {
		case <-done:
		case <-time.After(patience):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return func() int {
		t.Helper()
		select {
		case code := <-done:
			done <- code
			return code
		case <-time.After(patience):
			interrupt()
			t.Fatalf("connfsm %s did not return", strings.Join(args, " "))
			return -1
		}
	}, interrupt
}

func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // compared whole when wantGolden is empty
		wantGolden string // a file of the root testdata the stdout must equal
		stdoutHas  []string
		stderrHas  []string
		quietErr   bool // stderr must be empty
	}{
		{name: "diagram defaults to mermaid", args: []string{"diagram"}, wantGolden: "lifecycle.mermaid", quietErr: true},
		{name: "mermaid", args: []string{"diagram", "-format", "mermaid"}, wantGolden: "lifecycle.mermaid", quietErr: true},
		{name: "dot", args: []string{"diagram", "-format", "dot"}, wantGolden: "lifecycle.dot", quietErr: true},
		{name: "matrix", args: []string{"diagram", "-format=matrix"}, wantGolden: "lifecycle.matrix.md", quietErr: true},
		{name: "bad format", args: []string{"diagram", "-format", "bogus"}, wantCode: exitUsage,
			stderrHas: []string{`"bogus"`, "mermaid, dot or matrix", "usage: connfsm diagram"}},
		{name: "unknown flag", args: []string{"diagram", "-colour"}, wantCode: exitUsage,
			stderrHas: []string{"-colour", "usage: connfsm diagram"}},
		{name: "extra argument", args: []string{"diagram", "now"}, wantCode: exitUsage,
			stderrHas: []string{`unexpected argument "now"`, "usage: connfsm diagram"}},
		{name: "diagram help", args: []string{"diagram", "-h"}, wantCode: exitOK,
			stdoutHas: []string{"usage: connfsm diagram [-format mermaid|dot|matrix]", "-format"}, quietErr: true},
		{name: "help", args: []string{"-h"}, wantCode: exitOK,
			stdoutHas: []string{"usage: connfsm <command>", "diagram"}, quietErr: true},
		{name: "help word", args: []string{"help"}, wantCode: exitOK,
			stdoutHas: []string{"usage: connfsm <command>"}, quietErr: true},
		{name: "no command", args: nil, wantCode: exitUsage,
			stderrHas: []string{"no command", "usage: connfsm <command>", "diagram"}},
		{name: "unknown command", args: []string{"frobnicate", "-x"}, wantCode: exitUsage,
			stderrHas: []string{`unknown command "frobnicate"`, "usage: connfsm <command>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, noStdin, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tt.args, code, tt.wantCode, stderr.String())
			}
			switch {
			case tt.wantGolden != "":
				if diff := cmp.Diff(golden(t, tt.wantGolden), stdout.String()); diff != "" {
					t.Errorf("stdout differs from testdata/%s (-want +got):\n%s", tt.wantGolden, diff)
				}
			case tt.stdoutHas == nil:
				if diff := cmp.Diff(tt.wantStdout, stdout.String()); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
			}
			for _, s := range tt.stdoutHas {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if tt.quietErr && stderr.Len() > 0 {
				t.Errorf("stderr is not empty:\n%s", stderr.String())
			}
		})
	}
}

// TestDiagramMatrixShape reads the matrix as a table: a header of "state"
// and the seven events, a rule, and one row of eight cells per state; then,
// after a blank line, each state's tasks.
func TestDiagramMatrixShape(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"diagram", "-format", "matrix"}, noStdin, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	parts := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n\n")
	if len(parts) != 3 {
		t.Fatalf("want the matrix, the final states and the table of tasks, each after a blank line:\n%s", stdout.String())
	}
	matrix, finals, tasks := parts[0], parts[1], parts[2]
	if !strings.HasPrefix(finals, "Final: Closed ") {
		t.Errorf("final states: %q", finals)
	}
	wantTasks := "| state | tasks | a failing task fires | timeouts |\n|---|---|---|---|\n" +
		"| Connecting | dial | DialFailed | none |\n| Alive | reader, heartbeat | Lost | none |\n" +
		"| Alive/Syncing | sync | Lost (scope Alive) | none |\n| Alive/Ready | none | – | none |\n" +
		"| Reconnecting | backoff | GaveUp | none |\n| Closing | closer | CloseDone | after the close timeout → CloseDone |\n" +
		"| Closed | none | – | none |"
	if diff := cmp.Diff(wantTasks, tasks); diff != "" {
		t.Errorf("table of tasks (-want +got):\n%s", diff)
	}
	var table [][]string
	for _, line := range strings.Split(matrix, "\n") {
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			t.Fatalf("line %q is not a table row", line)
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		table = append(table, cells)
	}
	if len(table) != 2+5 {
		t.Fatalf("%d lines, want a header, a rule and 5 leaf rows", len(table))
	}
	wantHeader := []string{`state \ event`, "Connected", "DialFailed", "Lost", "RetryDue", "GaveUp", "Close", "CloseDone", "Synced", "Reconnect"}
	if diff := cmp.Diff(wantHeader, table[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	var states []string
	for _, row := range table[2:] {
		if len(row) != 1+9 {
			t.Errorf("row %q has %d cells, want a state and 9 events", row, len(row))
			continue
		}
		states = append(states, row[0])
		for _, cell := range row[1:] {
			if !strings.HasPrefix(cell, "→ ") && !strings.HasPrefix(cell, "ignore") && !strings.HasPrefix(cell, "reject") {
				t.Errorf("state %s: cell %q is not a transition, ignore or reject", row[0], cell)
			}
		}
	}
	if diff := cmp.Diff([]string{"Connecting", "Alive/Syncing", "Alive/Ready", "Reconnecting", "Closing"}, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if got := table[5][6]; got != "→ Closed: closed while disconnected: cancel the backoff, nothing to hand-shake" {
		t.Errorf("Reconnecting × Close = %q", got)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestDiagramWriteError(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"diagram"}, noStdin, failWriter{}, &stderr); code != exitFail {
		t.Errorf("run with a failing stdout = %d, want %d", code, exitFail)
	}
	if !strings.Contains(stderr.String(), os.ErrClosed.Error()) {
		t.Errorf("stderr does not report the write error:\n%s", stderr.String())
	}
}

// TestEveryBadFlagAtOnce: a command line with several problems reports
// them all, each on its line, before the usage; a flag whose value was
// refused is not reported again by the checks of the values.
func TestEveryBadFlagAtOnce(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"load", "-n", "0", "-ping", "soon", "-dial-rate", "0", "-colour", "-sample"},
			[]string{`invalid value "soon" for flag -ping: parse error`, "flag provided but not defined: -colour",
				"flag needs an argument: -sample", "-n must be positive, got 0", "-dial-rate must be positive, got 0"}},
		{[]string{"dial", "-ping", "soon", "-buffer", "many", "-rate", "5", "-rate", "0/s", "-rate", "5/soon"},
			[]string{`invalid value "soon" for flag -ping: parse error`, `invalid value "many" for flag -buffer: parse error`,
				`invalid value "5" for flag -rate: want N/period, e.g. 5/s or 100/1m`,
				`invalid value "0/s" for flag -rate: count "0" is not a positive number`,
				`invalid value "5/soon" for flag -rate: period "soon" is not a positive duration`, "no URL given"}},
		{[]string{"dial", "-ping=-1s", "-pong-timeout", "0s", "-rate", "5", "-storm-gap=-1s", "ws://127.0.0.1:1/"},
			[]string{`invalid value "5" for flag -rate: want N/period, e.g. 5/s or 100/1m`,
				"-ping: must be positive, got -1s", "-pong-timeout: must be positive, got 0s", "-storm-gap: must not be negative, got -1s"}},
		{[]string{"serve", "-addr", "0.0.0.0:0", "-control", "10.0.0.1:1", "extra", "more"},
			[]string{`unexpected argument "extra"`, `unexpected argument "more"`,
				`-addr "0.0.0.0:0": not a loopback address (use -allow-remote to allow it)`,
				`-control "10.0.0.1:1": not a loopback address (use -allow-remote to allow it)`}},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), tt.args, noStdin, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			msg, _, ok := strings.Cut(stderr.String(), "\nusage: ")
			if !ok {
				t.Fatalf("no usage after the problems:\n%s", stderr.String())
			}
			got := strings.Split(strings.TrimPrefix(msg, "connfsm "+tt.args[0]+": "), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSynopsisListsEveryFlag checks that a command whose synopsis lists
// its flags one by one (rather than "[flags]") lists all of them: a flag
// missing there is missing from the first line a user reads.
func TestSynopsisListsEveryFlag(t *testing.T) {
	flagSets := map[string]*flag.FlagSet{
		"demo":    demoFlagSet(new(demoConfig)),
		"diagram": diagramFlagSet(new(diagramConfig)),
		"dial":    dialFlagSet(new(dialConfig)),
		"serve":   serveFlagSet(new(serveConfig)),
		"load":    loadFlagSet(new(loadFlags)),
	}
	for _, c := range commands {
		fs, ok := flagSets[c.name]
		if !ok {
			t.Errorf("connfsm %s: no flag set to check its synopsis against", c.name)
			continue
		}
		if strings.Contains(c.args, "[flags]") {
			continue
		}
		var missing []string
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(c.args, "-"+f.Name) {
				missing = append(missing, "-"+f.Name)
			}
		})
		if len(missing) > 0 {
			t.Errorf("connfsm %s synopsis %q omits %v", c.name, c.args, missing)
		}
	}
}
