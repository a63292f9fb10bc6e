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
	"github.com/connfsm/connfsm/wsconn"
)

type record = fsm.Record[connfsm.State, connfsm.Event]

// timeline prints what happens to a client, as readable lines or as one
// JSON object per line, and keeps the records for the checks.
type timeline struct {
	w     io.Writer
	json  bool
	color bool
	start time.Time

	mu      sync.Mutex
	records []record
}

func newTimeline(w io.Writer, asJSON bool) *timeline {
	return &timeline{w: w, json: asJSON, color: !asJSON && isTerminal(w), start: time.Now()}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
}

// line is one JSON line; fields that do not apply are left out.
type line struct {
	T      string         `json:"t"`
	Kind   string         `json:"kind"`
	Name   string         `json:"name,omitempty"`
	From   string         `json:"from,omitempty"`
	Event  string         `json:"event,omitempty"`
	To     string         `json:"to,omitempty"`
	Epoch  uint64         `json:"epoch,omitempty"`
	Cause  string         `json:"cause,omitempty"`
	Reason string         `json:"reason,omitempty"`
	Task   string         `json:"task,omitempty"`
	Join   *joinJSON      `json:"join,omitempty"`
	OK     *bool          `json:"ok,omitempty"`
	Detail string         `json:"detail,omitempty"`
	Dir    string         `json:"dir,omitempty"`
	Text   string         `json:"text,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`

	CloseCode   int       `json:"close_code,omitempty"`
	CloseReason string    `json:"close_reason,omitempty"`
	Wait        *waitJSON `json:"wait,omitempty"`
}

type joinJSON struct {
	Tasks      []string `json:"tasks"`
	Stragglers []string `json:"stragglers,omitempty"`
	MS         float64  `json:"ms"`
}

func (tl *timeline) emit(l line, human string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.json {
		l.T = time.Now().Format(time.RFC3339Nano)
		b, _ := json.Marshal(l)
		fmt.Fprintf(tl.w, "%s\n", b)
		return
	}
	fmt.Fprintf(tl.w, "%s %s\n", tl.paint(dim, fmt.Sprintf("%+8.3fs", time.Since(tl.start).Seconds())), human)
}

// observe is the client's OnRecord: it keeps every record and prints the
// ones a reader cares about.
func (tl *timeline) observe(_ context.Context, r record) {
	tl.mu.Lock()
	tl.records = append(tl.records, r)
	tl.mu.Unlock()
	var (
		cause string
		wait  *waitJSON
	)
	switch p := r.Payload.(type) {
	case *wsconn.Wait:
		wait = newWaitJSON(p)
	case error:
		cause = p.Error()
	}
	switch r.Kind {
	case fsm.RecordTransition:
		l := line{Kind: "transition", From: r.From.String(), Event: r.Event.String(), To: r.To.String(), Epoch: r.Epoch, Cause: cause, Wait: wait}
		if err, ok := r.Payload.(error); ok {
			l.CloseCode, l.CloseReason = closeOf(err)
		}
		human := fmt.Sprintf("#%-3d %s ──%s──▶ %s", r.Epoch, r.From, r.Event, tl.paint(stateColor(r.To), r.To.String()))
		if len(r.Join.Tasks) > 0 {
			j := &joinJSON{MS: float64(r.Join.Took) / float64(time.Millisecond)}
			for _, t := range r.Join.Tasks {
				j.Tasks = append(j.Tasks, t.Name)
			}
			j.Stragglers = r.Join.Stragglers()
			l.Join = j
			human += tl.paint(dim, fmt.Sprintf("   joined %s in %v", strings.Join(j.Tasks, ", "), r.Join.Took.Round(time.Microsecond)))
			if len(j.Stragglers) > 0 {
				human += tl.paint(red, fmt.Sprintf(" STRAGGLERS: %s", strings.Join(j.Stragglers, ", ")))
			}
		}
		if cause != "" {
			human += tl.paint(dim, "\n                 cause: "+cause)
		}
		if wait != nil {
			human += tl.paint(dim, "\n                 waited "+wait.text)
		}
		tl.emit(l, human)
	case fsm.RecordStale, fsm.RecordIgnored, fsm.RecordRejected:
		kind := r.Kind.String()
		human := fmt.Sprintf("     %s %s in %s (epoch %d)", kind, r.Event, r.From, r.Epoch)
		if r.Reason != "" {
			human += ": " + r.Reason
		}
		if r.Kind == fsm.RecordRejected {
			human = tl.paint(red, human)
		} else {
			human = tl.paint(dim, human)
		}
		tl.emit(line{Kind: kind, From: r.From.String(), Event: r.Event.String(), Epoch: r.Epoch, Reason: r.Reason, Cause: cause}, human)
	case fsm.RecordStraggler:
		tl.emit(line{Kind: "straggler", From: r.From.String(), Epoch: r.Epoch, Task: r.Task},
			tl.paint(red, fmt.Sprintf("     straggler: task %s of %s (epoch %d) did not return in time", r.Task, r.From, r.Epoch)))
	}
}

func (tl *timeline) snapshot() []record {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]record(nil), tl.records...)
}

func (tl *timeline) scene(name string) {
	tl.emit(line{Kind: "scene", Name: name}, tl.paint(bold, "── "+name))
}

func (tl *timeline) message(dir, text string) {
	tl.emit(line{Kind: "message", Dir: dir, Text: text}, tl.paint(dim, fmt.Sprintf("     %s %q", map[string]string{"sent": "→", "received": "←"}[dir], text)))
}

func (tl *timeline) check(name string, ok bool, detail string) {
	mark := tl.paint(green, "ok  ")
	if !ok {
		mark = tl.paint(red, "FAIL")
	}
	tl.emit(line{Kind: "check", Name: name, OK: &ok, Detail: detail}, fmt.Sprintf("%s %s: %s", mark, name, detail))
}

func (tl *timeline) summary(human string, fields map[string]any) {
	tl.emit(line{Kind: "summary", Fields: fields}, human)
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
