package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/tasks"
)

var (
	when = time.Date(2026, 11, 24, 22, 52, 22, 896953212, time.UTC)
	lost = Record{
		Kind: fsm.RecordTransition, When: when, From: connfsm.Alive, Event: connfsm.Lost, To: connfsm.Reconnecting, Epoch: 3,
		Payload: errors.New("wsconn: read: EOF"),
		Join:    tasks.Report{Tasks: []tasks.Result{{Name: "reader"}, {Name: "heartbeat"}}, Took: 1500 * time.Microsecond},
	}
	ignored = Record{Kind: fsm.RecordIgnored, When: when, From: connfsm.Closed, Event: connfsm.Close, Epoch: 4, Reason: "already closed"}
	started = Record{Kind: fsm.RecordStarted, When: when, From: connfsm.Connecting, To: connfsm.Connecting, Epoch: 1}
)

// TestJSONLines: every kind has the one shape docs/cli.md describes.
func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	tl := New(&out, true, true)
	tl.Observe(context.Background(), started) // not printed
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
	tl.Observe(context.Background(), lost)
	tl.Observe(context.Background(), ignored)
	tl.Data("raw text", 2)
	for _, s := range []string{
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
