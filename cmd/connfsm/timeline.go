package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
)

type record = fsm.Record[connfsm.State, connfsm.Event]

// timeline prints what happens to a client, as readable lines or as one
// JSON object per line (docs/cli.md, "JSON lines"): the one printer of
// every command's timeline. Each line is written whole, so lines from
// concurrent writers never interleave. With keep, it also keeps every
// record for the caller's checks.
type timeline struct {
	w     io.Writer
	json  bool
	color bool
	keep  bool
	start time.Time

	mu      sync.Mutex
	records []record
}

func newTimeline(w io.Writer, asJSON, keep bool) *timeline {
	return &timeline{w: w, json: asJSON, color: !asJSON && isTerminal(w), keep: keep, start: time.Now()}
}

// isTerminal reports whether w is a terminal that wants colour.
func isTerminal(w io.Writer) bool {
	return isCharDevice(w) && os.Getenv("NO_COLOR") == ""
}

// isCharDevice reports whether w is a terminal.
func isCharDevice(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// line is one JSON line; fields that do not apply are left out.
type line struct {
	T      string         `json:"t"` // RFC 3339, nanoseconds
	Kind   string         `json:"kind"`
	Name   string         `json:"name,omitempty"`
	From   string         `json:"from,omitempty"`
	Event  string         `json:"event,omitempty"`
	To     string         `json:"to,omitempty"`
	Epoch  uint64         `json:"epoch,omitempty"`
	Cause  string         `json:"cause,omitempty"`
	Reason string         `json:"reason,omitempty"` // an ignored or rejected event's declared reason
	Task   string         `json:"task,omitempty"`
	Join   *joinJSON      `json:"join,omitempty"`
	OK     *bool          `json:"ok,omitempty"`
	Detail string         `json:"detail,omitempty"`
	Dir    string         `json:"dir,omitempty"` // "received" or "sent", for kind "message"
	Text   string         `json:"text,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
}

// joinJSON is a transition's join of the tasks of the state left.
type joinJSON struct {
	Tasks      []string `json:"tasks"`
	Stragglers []string `json:"stragglers,omitempty"`
	MS         float64  `json:"ms"`
}

// emit writes l as JSON (stamped with when), or human with the time since
// the start.
func (tl *timeline) emit(when time.Time, l line, human string) {
	var s string
	if tl.json {
		l.T = when.Format(time.RFC3339Nano)
		b, err := json.Marshal(l)
		if err != nil { // line holds strings, numbers and Fields' counters
			b, _ = json.Marshal(line{T: l.T, Kind: l.Kind, Detail: "unencodable line: " + err.Error()})
		}
		s = string(b)
	} else {
		s = tl.paint(dim, fmt.Sprintf("%+8.3fs", when.Sub(tl.start).Seconds())) + " " + human
	}
	tl.raw(s)
}

func (tl *timeline) raw(s string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	_, _ = io.WriteString(tl.w, s+"\n")
}

// observe is a client's OnRecord: it keeps the record if asked and prints
// the kinds a reader cares about. Kinds the timeline does not show
// (started, stopped, task_failed, dropped) print nothing: a task failure
// shows as the transition it causes, with its cause.
func (tl *timeline) observe(_ context.Context, r record) {
	if tl.keep {
		tl.mu.Lock()
		tl.records = append(tl.records, r)
		tl.mu.Unlock()
	}
	var cause string
	if err, ok := r.Payload.(error); ok && err != nil {
		cause = err.Error()
	}
	switch r.Kind {
	case fsm.RecordTransition:
		l := line{Kind: "transition", From: r.From.String(), Event: r.Event.String(), To: r.To.String(), Epoch: r.Epoch, Cause: cause}
		human := fmt.Sprintf("transition %s --%s--> %s (epoch %d)", r.From, r.Event, tl.paint(stateColor(r.To), r.To.String()), r.Epoch)
		if len(r.Join.Tasks) > 0 {
			j := &joinJSON{MS: float64(r.Join.Took) / float64(time.Millisecond), Stragglers: r.Join.Stragglers()}
			for _, t := range r.Join.Tasks {
				j.Tasks = append(j.Tasks, t.Name)
			}
			l.Join = j
			human += tl.paint(dim, fmt.Sprintf("   joined %s in %v", strings.Join(j.Tasks, ", "), r.Join.Took.Round(time.Microsecond)))
			if len(j.Stragglers) > 0 {
				human += tl.paint(red, " STRAGGLERS: "+strings.Join(j.Stragglers, ", "))
			}
		}
		if cause != "" {
			human += tl.paint(dim, "\n                 cause: "+cause)
		}
		tl.emit(r.When, l, human)
	case fsm.RecordStale, fsm.RecordIgnored, fsm.RecordRejected:
		kind := r.Kind.String()
		l := line{Kind: kind, From: r.From.String(), Event: r.Event.String(), Epoch: r.Epoch, Reason: r.Reason}
		if r.Kind == fsm.RecordRejected && r.Err != nil {
			l.Cause = r.Err.Error()
		}
		human := fmt.Sprintf("%s %s in %s (epoch %d)", kind, r.Event, r.From, r.Epoch)
		if r.Reason != "" {
			human += ": " + r.Reason
		}
		if l.Cause != "" {
			human += ": " + l.Cause
		}
		if r.Kind == fsm.RecordRejected {
			human = tl.paint(red, human)
		} else {
			human = tl.paint(dim, human)
		}
		tl.emit(r.When, l, human)
	case fsm.RecordStraggler:
		tl.emit(r.When, line{Kind: "straggler", From: r.From.String(), Epoch: r.Epoch, Task: r.Task},
			tl.paint(red, fmt.Sprintf("straggler task %s of %s (epoch %d) did not return in time", r.Task, r.From, r.Epoch)))
	}
}

// snapshot returns the records kept so far.
func (tl *timeline) snapshot() []record {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]record(nil), tl.records...)
}

// scene starts a named part of a run.
func (tl *timeline) scene(name string) {
	tl.emit(time.Now(), line{Kind: "scene", Name: name}, tl.paint(bold, "── "+name))
}

// message prints a message sent or received on the connection of the
// Alive entry epoch (0 if unknown), as a timeline line.
func (tl *timeline) message(dir, text string, epoch uint64) {
	arrow := map[string]string{"sent": "→", "received": "←"}[dir]
	tl.emit(time.Now(), line{Kind: "message", Dir: dir, Text: text, Epoch: epoch}, tl.paint(dim, fmt.Sprintf("%s %q", arrow, text)))
}

// data prints a received message as a program's output: the JSON line of
// message, or the bare text, for a pipe.
func (tl *timeline) data(text string, epoch uint64) {
	if tl.json {
		tl.message("received", text, epoch)
		return
	}
	tl.raw(text)
}

// check prints the outcome of an invariant.
func (tl *timeline) check(name string, ok bool, detail string) {
	mark := tl.paint(green, "ok  ")
	if !ok {
		mark = tl.paint(red, "FAIL")
	}
	tl.emit(time.Now(), line{Kind: "check", Name: name, OK: &ok, Detail: detail}, fmt.Sprintf("%s %s: %s", mark, name, detail))
}

// summary prints the closing summary: human as it is, fields as JSON.
func (tl *timeline) summary(human string, fields map[string]any) {
	tl.emit(time.Now(), line{Kind: "summary", Fields: fields}, human)
}

const (
	dim   = "2"
	bold  = "1"
	red   = "31"
	green = "32"
)

func stateColor(s connfsm.State) string {
	switch s {
	case connfsm.Alive:
		return "32"
	case connfsm.Reconnecting, connfsm.Connecting:
		return "33"
	default:
		return "36"
	}
}

func (tl *timeline) paint(code, s string) string {
	if !tl.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}
