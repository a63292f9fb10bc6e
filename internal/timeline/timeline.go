// Package timeline prints what happens to a connfsm client, as readable
// lines or as one JSON object per line. It is the one printer of the
// connfsm command's timelines (demo, dial). docs/cli.md, "JSON lines",
// describes the JSON shape.
package timeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
)

// Record is a lifecycle record of a wsconn client.
type Record = fsm.Record[connfsm.State, connfsm.Event]

// Timeline prints what happens to a client, as readable lines or as one
// JSON object per line. Each line is written whole, so lines from
// concurrent writers never interleave. Its methods are safe for concurrent
// use.
type Timeline struct {
	w     io.Writer
	json  bool
	color bool
	keep  bool
	start time.Time

	mu      sync.Mutex
	records []Record
}

// New returns a timeline writing to w: JSON lines if asJSON, else
// readable lines (coloured on a terminal, unless NO_COLOR is set). With
// keep it also keeps every record observed, for Records.
func New(w io.Writer, asJSON, keep bool) *Timeline {
	return &Timeline{w: w, json: asJSON, color: !asJSON && isTerminal(w), keep: keep, start: time.Now()}
}

// isTerminal reports whether w is a terminal that wants colour.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Line is one JSON line; fields that do not apply are left out.
type Line struct {
	T     string `json:"t"` // RFC 3339, nanoseconds
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
	Key   string `json:"key,omitempty"` // a subscription's, for kind "subscription"
	From  string `json:"from,omitempty"`
	Event string `json:"event,omitempty"`
	To    string `json:"to,omitempty"`
	Epoch uint64 `json:"epoch,omitempty"`
	// Conn is, on a transition into Alive, Alive's entry epoch: the number
	// message and datapath lines give this connection as their epoch.
	Conn   uint64         `json:"conn,omitempty"`
	Cause  string         `json:"cause,omitempty"`
	Reason string         `json:"reason,omitempty"` // an ignored or rejected event's declared reason
	Task   string         `json:"task,omitempty"`
	Join   *Join          `json:"join,omitempty"`
	OK     *bool          `json:"ok,omitempty"`
	Detail string         `json:"detail,omitempty"`
	Dir    string         `json:"dir,omitempty"` // "received" or "sent", for kind "message"
	Text   string         `json:"text,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
	// CloseCode and CloseReason are the peer's close frame's, when the
	// cause is one.
	CloseCode   int    `json:"close_code,omitempty"`
	CloseReason string `json:"close_reason,omitempty"`
	// Wait is the wait a RetryDue transition ends: why and how long.
	Wait *Wait `json:"wait,omitempty"`
	// LagMS is, for a data path's Deliver, how long the message waited
	// between its read and the handler's call.
	LagMS float64 `json:"lag_ms,omitempty"`
}

// Wait is a wsconn.Wait: its reason, its length, the failure it follows
// and, for the storm guard, its count and window.
type Wait struct {
	Reason   string  `json:"reason"`
	MS       float64 `json:"ms"`
	Failure  string  `json:"failure,omitempty"`
	Attempt  int     `json:"attempt"`
	Dials    int     `json:"dials,omitempty"`
	WindowMS float64 `json:"window_ms,omitempty"`
}

func newWait(w *wsconn.Wait) *Wait {
	out := &Wait{Reason: w.Reason.String(), MS: ms(w.Delay), Attempt: w.Failure.Attempt}
	if w.Failure.Kind != 0 {
		out.Failure = w.Failure.Kind.String()
	}
	if w.Reason == wsconn.WaitStormGuard {
		out.Dials, out.WindowMS = w.Dials, ms(w.Window)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// CloseOf returns the close code and reason of the peer's close frame err
// holds, or 0 and "".
func CloseOf(err error) (int, string) {
	var ce *wsconn.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code), ce.Reason
	}
	return 0, ""
}

// Join is a transition's join of the tasks of the state left.
type Join struct {
	Tasks      []string `json:"tasks"`
	Stragglers []string `json:"stragglers,omitempty"`
	MS         float64  `json:"ms"`
}

// emit writes l as JSON (stamped with when), or human with the time since
// the start.
func (tl *Timeline) emit(when time.Time, l Line, human string) {
	tl.Raw(tl.format(when, l, human))
}

// format returns l as JSON (stamped with when), or human with the time
// since the start.
func (tl *Timeline) format(when time.Time, l Line, human string) string {
	var s string
	if tl.json {
		l.T = when.Format(time.RFC3339Nano)
		b, err := json.Marshal(l)
		if err != nil { // line holds strings, numbers and Fields' counters
			b, _ = json.Marshal(Line{T: l.T, Kind: l.Kind, Detail: "unencodable line: " + err.Error()})
		}
		s = string(b)
	} else {
		s = tl.paint(dim, fmt.Sprintf("%+8.3fs", when.Sub(tl.start).Seconds())) + " " + human
	}
	return s
}

// Raw writes s as a line of its own.
func (tl *Timeline) Raw(s string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	_, _ = io.WriteString(tl.w, s+"\n")
}

// Observe is a client's OnRecord: it keeps the record if asked and prints
// the kinds a reader cares about. Kinds the timeline does not show
// (stopped, task_failed, dropped) print nothing: a task failure shows as
// the transition it causes, with its cause.
func (tl *Timeline) Observe(_ context.Context, r Record) {
	// Kept and printed under one lock: whoever sees the record in Records
	// and prints next prints after it.
	out := tl.line(r)
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.keep {
		tl.records = append(tl.records, r)
	}
	if out != "" {
		_, _ = io.WriteString(tl.w, out+"\n")
	}
}

// aliveEntry returns the epoch of r's entry into Alive, 0 if r enters no
// Alive: its states entered are numbered in turn, the last being r.Epoch.
func aliveEntry(r Record) uint64 {
	for i, s := range r.Entered {
		if s == connfsm.Alive {
			return r.Epoch - uint64(len(r.Entered)-1-i)
		}
	}
	return 0
}

// line returns r's line as Observe prints it, or "" for a kind the
// timeline does not show.
func (tl *Timeline) line(r Record) string {
	var (
		cause string
		wait  *wsconn.Wait
	)
	switch p := r.Payload.(type) {
	case *wsconn.Wait:
		wait = p
	case error:
		cause = p.Error()
	}
	switch r.Kind {
	case fsm.RecordStarted:
		// No event started the lifecycle: the record's Event is the zero
		// value, a real event of the enum, and is left out.
		return tl.format(r.When, Line{Kind: "started", To: r.To.Path(), Epoch: r.Epoch},
			tl.paint(dim, fmt.Sprintf("started in %s (epoch %d)", r.To.Path(), r.Epoch)))
	case fsm.RecordTransition:
		l := Line{Kind: "transition", From: r.From.Path(), Event: r.Event.String(), To: r.To.Path(), Epoch: r.Epoch, Cause: cause, Conn: aliveEntry(r)}
		if err, ok := r.Payload.(error); ok {
			l.CloseCode, l.CloseReason = CloseOf(err)
		}
		if wait != nil {
			l.Wait = newWait(wait)
		}
		human := fmt.Sprintf("transition %s --%s--> %s (epoch %d)", r.From.Path(), r.Event, tl.paint(stateColor(r.To), r.To.Path()), r.Epoch)
		if len(r.Join.Tasks) > 0 {
			j := &Join{MS: float64(r.Join.Took) / float64(time.Millisecond), Stragglers: r.Join.Stragglers()}
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
		if wait != nil {
			human += tl.paint(dim, "\n                 waited "+wait.String())
		}
		return tl.format(r.When, l, human)
	case fsm.RecordStale, fsm.RecordIgnored, fsm.RecordRejected:
		kind := r.Kind.String()
		l := Line{Kind: kind, From: r.From.Path(), Event: r.Event.String(), Epoch: r.Epoch, Reason: r.Reason}
		if r.Kind == fsm.RecordRejected && r.Err != nil {
			l.Cause = r.Err.Error()
		}
		human := fmt.Sprintf("%s %s in %s (epoch %d)", kind, r.Event, r.From.Path(), r.Epoch)
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
		return tl.format(r.When, l, human)
	case wsconn.RecordSubscription:
		return tl.subscription(r)
	case wsconn.RecordDataPath:
		return tl.dataPath(r)
	case fsm.RecordStraggler:
		return tl.format(r.When, Line{Kind: "straggler", From: r.From.Path(), Epoch: r.Epoch, Task: r.Task},
			tl.paint(red, fmt.Sprintf("straggler task %s of %s (epoch %d) did not return in time", r.Task, r.From.Path(), r.Epoch)))
	}
	return ""
}

// subscription returns the line of a subscription's transition, or of
// its rejected event; "" for the steps the timeline does not show
// (registered, ignored).
func (tl *Timeline) subscription(r Record) string {
	sr, ok := r.Payload.(*wsconn.SubscriptionRecord)
	if !ok || sr.Kind != fsm.RecordTransition && sr.Kind != fsm.RecordRejected {
		return ""
	}
	l := Line{Kind: "subscription", Key: sr.Key, From: sr.From.String(), Event: sr.Event.String(), To: sr.To.String()}
	human := fmt.Sprintf("subscription %q: %s --%s--> %s", sr.Key, sr.From, sr.Event, sr.To)
	if sr.Kind == fsm.RecordRejected {
		l.To, l.Reason = "", "rejected: "+r.Reason
		human = tl.paint(red, fmt.Sprintf("subscription %q: %s rejected in %s", sr.Key, sr.Event, sr.From))
	}
	if sr.Cause != nil {
		l.Cause = sr.Cause.Error()
		human += tl.paint(dim, "\n                 cause: "+l.Cause)
	}
	return tl.format(r.When, l, human)
}

// Records returns the records kept so far.
func (tl *Timeline) Records() []Record {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]Record(nil), tl.records...)
}

// Scene starts a named part of a run.
func (tl *Timeline) Scene(name string) {
	tl.emit(time.Now(), Line{Kind: "scene", Name: name}, tl.paint(bold, "── "+name))
}

// Message prints a message sent or received on the connection of the
// Alive entry epoch (0 if unknown), as a timeline line.
func (tl *Timeline) Message(dir, text string, epoch uint64) {
	arrow := map[string]string{"sent": "→", "received": "←"}[dir]
	tl.emit(time.Now(), Line{Kind: "message", Dir: dir, Text: text, Epoch: epoch}, tl.paint(dim, fmt.Sprintf("%s %q", arrow, text)))
}

// Data prints a received message as a program's output: the JSON line of
// Message, or the bare text, for a pipe.
func (tl *Timeline) Data(text string, epoch uint64) {
	if tl.json {
		tl.Message("received", text, epoch)
		return
	}
	tl.Raw(text)
}

// Check prints the outcome of an invariant.
func (tl *Timeline) Check(name string, ok bool, detail string) {
	mark := tl.paint(green, "ok  ")
	if !ok {
		mark = tl.paint(red, "FAIL")
	}
	tl.emit(time.Now(), Line{Kind: "check", Name: name, OK: &ok, Detail: detail}, fmt.Sprintf("%s %s: %s", mark, name, detail))
}

// Summary prints the closing summary: human as it is, fields as JSON.
func (tl *Timeline) Summary(human string, fields map[string]any) {
	tl.emit(time.Now(), Line{Kind: "summary", Fields: fields}, human)
}

const (
	dim   = "2"
	bold  = "1"
	red   = "31"
	green = "32"
)

func stateColor(s connfsm.State) string {
	switch s {
	case connfsm.Alive, connfsm.Syncing, connfsm.Ready:
		return "32"
	case connfsm.Reconnecting, connfsm.Connecting:
		return "33"
	default:
		return "36"
	}
}

func (tl *Timeline) paint(code, s string) string {
	if !tl.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}
