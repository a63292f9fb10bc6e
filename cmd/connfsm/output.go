package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
)

// stdin is what dial reads its lines from; tests replace it.
var stdin io.Reader = os.Stdin

// interruptContext returns a context cancelled on SIGINT or SIGTERM, and
// its stop function. Long-running commands (dial, serve, load) run until it
// ends; tests replace it with a context they cancel themselves.
var interruptContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// eventLine is one JSON line of a timeline. The field names are shared by
// every command that prints records with -json.
type eventLine struct {
	T     string `json:"t"` // RFC 3339, nanoseconds
	Kind  string `json:"kind"`
	From  string `json:"from,omitempty"`
	Event string `json:"event,omitempty"`
	To    string `json:"to,omitempty"`
	Epoch uint64 `json:"epoch,omitempty"`
	Cause string `json:"cause,omitempty"`
	Task  string `json:"task,omitempty"`
	// Reason is an ignored or rejected event's declared reason.
	Reason string `json:"reason,omitempty"`
	// Dir ("received") and Text are a message's, for kind "message".
	Dir  string `json:"dir,omitempty"`
	Text string `json:"text,omitempty"`
	// CloseCode and CloseReason are the peer's close frame's, when the
	// cause is one.
	CloseCode   int    `json:"close_code,omitempty"`
	CloseReason string `json:"close_reason,omitempty"`
	// Wait is the wait a RetryDue transition ends: why and how long.
	Wait *waitJSON `json:"wait,omitempty"`
}

// waitJSON is a wsconn.Wait: its reason, its length, the failure it
// follows and, for the storm guard, its count and window.
type waitJSON struct {
	Reason   string  `json:"reason"`
	MS       float64 `json:"ms"`
	Failure  string  `json:"failure,omitempty"`
	Attempt  int     `json:"attempt"`
	Dials    int     `json:"dials,omitempty"`
	WindowMS float64 `json:"window_ms,omitempty"`
	text     string
}

func newWaitJSON(w *wsconn.Wait) *waitJSON {
	out := &waitJSON{Reason: w.Reason.String(), MS: ms(w.Delay), Attempt: w.Failure.Attempt, text: w.String()}
	if w.Failure.Kind != 0 {
		out.Failure = w.Failure.Kind.String()
	}
	if w.Reason == wsconn.WaitStormGuard {
		out.Dials, out.WindowMS = w.Dials, ms(w.Window)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// closeOf returns the close code and reason err holds, if any.
func closeOf(err error) (int, string) {
	var ce *wsconn.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code), ce.Reason
	}
	return 0, ""
}

// lineWriter writes timeline lines, human-readable or JSON, one whole line
// per Write so lines from concurrent writers never interleave.
type lineWriter struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

// record prints a lifecycle record. Kinds the timeline does not show
// (started, stopped, task_failed, dropped) print nothing: a task failure
// shows as the transition it causes, with its cause.
func (lw *lineWriter) record(r fsm.Record[connfsm.State, connfsm.Event]) {
	l := eventLine{T: r.When.Format(time.RFC3339Nano), Kind: r.Kind.String(), Epoch: r.Epoch}
	switch r.Kind {
	case fsm.RecordTransition:
		l.From, l.Event, l.To = r.From.String(), r.Event.String(), r.To.String()
		switch p := r.Payload.(type) {
		case *wsconn.Wait:
			l.Wait = newWaitJSON(p)
		case error:
			l.Cause = p.Error()
			l.CloseCode, l.CloseReason = closeOf(p)
		}
	case fsm.RecordIgnored, fsm.RecordRejected, fsm.RecordStale:
		l.From, l.Event = r.From.String(), r.Event.String()
		l.Reason = r.Reason
		if r.Err != nil && r.Kind == fsm.RecordRejected {
			l.Cause = r.Err.Error()
		}
	case fsm.RecordStraggler:
		l.From, l.Task = r.From.String(), r.Task
	default:
		return
	}
	lw.line(l)
}

// message prints a received message.
func (lw *lineWriter) message(when time.Time, epoch uint64, text string) {
	if !lw.json {
		lw.raw(text)
		return
	}
	lw.line(eventLine{T: when.Format(time.RFC3339Nano), Kind: "message", Epoch: epoch, Dir: "received", Text: text})
}

// line writes l as JSON, or as a human line: the time of day, the kind and
// its fields.
func (lw *lineWriter) line(l eventLine) {
	if lw.json {
		b, err := json.Marshal(l)
		if err != nil { // eventLine holds only strings and numbers
			return
		}
		lw.raw(string(b))
		return
	}
	t, _ := time.Parse(time.RFC3339Nano, l.T)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-10s", t.Format("15:04:05.000"), l.Kind)
	switch l.Kind {
	case "transition":
		fmt.Fprintf(&b, " %s --%s--> %s (epoch %d)", l.From, l.Event, l.To, l.Epoch)
	case "straggler":
		fmt.Fprintf(&b, " task %s of %s (epoch %d) did not return in time", l.Task, l.From, l.Epoch)
	default:
		fmt.Fprintf(&b, " %s in %s (epoch %d)", l.Event, l.From, l.Epoch)
		if l.Reason != "" {
			fmt.Fprintf(&b, ": %s", l.Reason)
		}
	}
	if l.Cause != "" {
		fmt.Fprintf(&b, ": %s", l.Cause)
	}
	if l.Wait != nil {
		fmt.Fprintf(&b, ": waited %s", l.Wait.text)
	}
	lw.raw(b.String())
}

// object writes v as one JSON line.
func (lw *lineWriter) object(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	lw.raw(string(b))
	return nil
}

func (lw *lineWriter) raw(s string) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	_, _ = io.WriteString(lw.w, s+"\n")
}

// printUsage prints c's usage and flags to w, as parseFlags does for -h.
func printUsage(fs *flag.FlagSet, c command, w io.Writer) {
	parseFlags(fs, c, []string{"-h"}, w, io.Discard)
}
