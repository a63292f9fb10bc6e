package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/tasks"
	"github.com/connfsm/connfsm/wsconn"
)

var (
	when = time.Date(2026, 11, 24, 22, 52, 22, 896953212, time.UTC)
	lost = Record{
		Kind: fsm.RecordTransition, When: when, From: connfsm.Alive, Event: connfsm.Lost, To: connfsm.Reconnecting, Epoch: 3,
		Payload: errors.New("wsconn: read: EOF"),
		Join:    tasks.Report{Tasks: []tasks.Result{{Name: "reader"}, {Name: "heartbeat"}}, Took: 1500 * time.Microsecond},
	}
	ignored = Record{Kind: fsm.RecordIgnored, When: when, From: connfsm.Closed, Event: connfsm.Close, Epoch: 4, Reason: "already closed"}
	// Event is the zero value, Connected: a start record must not show it.
	started = Record{Kind: fsm.RecordStarted, When: when, From: connfsm.Connecting, To: connfsm.Connecting, Epoch: 1}
)

// TestJSONLines: every kind has the one shape docs/cli.md describes.
func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	tl := New(&out, true, true)
	tl.Observe(context.Background(), started)
	tl.Observe(context.Background(), lost)
	tl.Observe(context.Background(), ignored)
	tl.Message("sent", "hi", 0)
	tl.Data("hi", 5)
	tl.Check("no stragglers", true, "0 stragglers")
	tl.Summary("ignored in JSON", map[string]any{"reconnects": 1})
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, m["t"].(string)); err != nil {
			t.Errorf("line %q: t: %v", l, err)
		}
		delete(m, "t")
		got = append(got, m)
	}
	want := []map[string]any{
		{"kind": "started", "to": "Connecting", "epoch": 1.0}, // no event: none started it
		{"kind": "transition", "from": "Alive", "event": "Lost", "to": "Reconnecting", "epoch": 3.0, "cause": "wsconn: read: EOF",
			"join": map[string]any{"tasks": []any{"reader", "heartbeat"}, "ms": 1.5}},
		{"kind": "ignored", "from": "Closed", "event": "Close", "epoch": 4.0, "reason": "already closed"},
		{"kind": "message", "dir": "sent", "text": "hi"},
		{"kind": "message", "dir": "received", "text": "hi", "epoch": 5.0},
		{"kind": "check", "name": "no stragglers", "ok": true, "detail": "0 stragglers"},
		{"kind": "summary", "fields": map[string]any{"reconnects": 1.0}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON lines (-want +got):\n%s", diff)
	}
	if n := len(tl.Records()); n != 3 {
		t.Errorf("%d records kept, want 3", n)
	}
}

func TestHumanLines(t *testing.T) {
	var out bytes.Buffer
	tl := New(&out, false, false)
	tl.Observe(context.Background(), started)
	tl.Observe(context.Background(), lost)
	tl.Observe(context.Background(), ignored)
	tl.Data("raw text", 2)
	for _, s := range []string{
		"started in Connecting (epoch 1)\n",
		"transition Alive --Lost--> Reconnecting (epoch 3)   joined reader, heartbeat in 1.5ms\n                 cause: wsconn: read: EOF\n",
		"ignored Close in Closed (epoch 4): already closed\n",
		"\nraw text\n",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("colour written to a buffer:\n%q", out.String())
	}
	if len(tl.Records()) != 0 {
		t.Error("records kept without keep")
	}
}

// TestCloseCodesAndWaits: a cause that is the peer's close frame carries
// its code and reason; a RetryDue carries the wait it ended, with its
// reason, in JSON and in the readable line.
func TestCloseCodesAndWaits(t *testing.T) {
	closed := Record{Kind: fsm.RecordTransition, When: when, From: connfsm.Alive, Event: connfsm.Lost, To: connfsm.Reconnecting, Epoch: 3,
		Payload: fmt.Errorf("outer: %w", &wsconn.CloseError{Code: 4001, Reason: "invalid api key"})}
	storm := Record{Kind: fsm.RecordTransition, When: when, From: connfsm.Reconnecting, Event: connfsm.RetryDue, To: connfsm.Connecting, Epoch: 4,
		Payload: &wsconn.Wait{Reason: wsconn.WaitStormGuard, Delay: 5 * time.Second, Dials: 10, Window: time.Minute,
			Failure: wsconn.Failure{Kind: wsconn.KindClose, Attempt: 3}}}
	backoff := Record{Kind: fsm.RecordTransition, When: when, From: connfsm.Reconnecting, Event: connfsm.RetryDue, To: connfsm.Connecting, Epoch: 6,
		Payload: &wsconn.Wait{Reason: wsconn.WaitBackoff, Delay: 1200 * time.Millisecond, Failure: wsconn.Failure{Kind: wsconn.KindDial, Attempt: 2}}}

	var out bytes.Buffer
	tl := New(&out, true, false)
	for _, r := range []Record{closed, storm, backoff} {
		tl.Observe(context.Background(), r)
	}
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		delete(m, "t")
		got = append(got, m)
	}
	want := []map[string]any{
		{"kind": "transition", "from": "Alive", "event": "Lost", "to": "Reconnecting", "epoch": 3.0,
			"cause": `outer: session: closed by the peer with status 4001: "invalid api key"`, "close_code": 4001.0, "close_reason": "invalid api key"},
		{"kind": "transition", "from": "Reconnecting", "event": "RetryDue", "to": "Connecting", "epoch": 4.0,
			"wait": map[string]any{"reason": "storm_guard", "ms": 5000.0, "failure": "close", "attempt": 3.0, "dials": 10.0, "window_ms": 60000.0}},
		{"kind": "transition", "from": "Reconnecting", "event": "RetryDue", "to": "Connecting", "epoch": 6.0,
			"wait": map[string]any{"reason": "backoff", "ms": 1200.0, "failure": "dial", "attempt": 2.0}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON lines (-want +got):\n%s", diff)
	}

	out.Reset()
	tl = New(&out, false, false)
	tl.Observe(context.Background(), storm)
	if want := "transition Reconnecting --RetryDue--> Connecting (epoch 4)\n                 waited 5s for the storm guard (10 dials within 1m0s)\n"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	if code, reason := CloseOf(errors.New("no close frame")); code != 0 || reason != "" {
		t.Errorf("CloseOf(a plain error) = %d, %q", code, reason)
	}
}

// syncWriter is a bytes.Buffer safe for the timeline's concurrent writes
// and the test's reads.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestRecordPrintedBeforeItIsSeen: a line printed by whoever saw a record
// in Records comes after that record's own line, as the demo's scenes
// rely on: a record is kept and printed at once.
func TestRecordPrintedBeforeItIsSeen(t *testing.T) {
	for i := range 300 {
		var out syncWriter
		tl := New(&out, true, true)
		done := make(chan struct{})
		go func() {
			defer close(done)
			tl.Observe(context.Background(), lost)
		}()
		for len(tl.Records()) == 0 {
			runtime.Gosched()
		}
		tl.Scene("next")
		<-done
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], `"transition"`) {
			t.Fatalf("run %d: the scene seen after the record printed before it:\n%s", i, out.String())
		}
	}
}
