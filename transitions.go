package connfsm

import (
	"context"
	"slices"
	"time"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/enum"
)

// Event is an event of the connection lifecycle.
type Event uint8

// The lifecycle's events.
const (
	// Connected: the handshake is done; the payload is the connection.
	Connected Event = iota
	// DialFailed: the attempt failed; the payload is the error.
	DialFailed
	// Lost: the live connection failed (read or write error, pong timeout,
	// unexpected close, a failed sync); the payload is the cause.
	Lost
	// RetryDue: the backoff delay has elapsed.
	RetryDue
	// GaveUp: the failure is permanent or the retry budget is spent; the
	// payload is the cause.
	GaveUp
	// Close: the user asked to close.
	Close
	// CloseDone: the close handshake finished or timed out.
	CloseDone
	// Synced: the session is set up; sends may go straight out.
	Synced
	// Reconnect: the user asked to drop the connection and dial again
	// (fresh credentials, rebalancing). Not a failure.
	Reconnect
)

var events = enum.NewList[Event]("Event(%d)", "Connected", "DialFailed", "Lost", "RetryDue", "GaveUp", "Close", "CloseDone", "Synced", "Reconnect")

// Events returns the lifecycle's events in declaration order, in a new
// slice each call.
func Events() []Event { return events.Values() }

// String returns the event's name, e.g. "DialFailed".
func (e Event) String() string { return events.Name(e) }

// row is a local type so the table reads as positional literals.
type row fsm.Rule[State, Event]

var (
	to     = fsm.To[State]
	ignore = fsm.Ignore[State]()
	reject = fsm.Reject[State]()
)

// table is the lifecycle: every rule with its outcome and the reason for
// it. Read the rows as the specification. Alive's rules hold in both its
// phases, Syncing and Ready, unless a phase declares its own; Closed is
// final: entering it stops the machine, so no rule is needed there.
var table = fsm.Rows([]row{
	{Connecting, Connected, to(Alive), "the handshake completed: set the session up"},
	{Connecting, DialFailed, to(Reconnecting), "the attempt failed: back off before the next"},
	{Connecting, Lost, reject, "no connection exists yet, so none can be lost"},
	{Connecting, RetryDue, ignore, "a backoff timer from an earlier Reconnecting; the attempt is already running"},
	{Connecting, GaveUp, reject, "only the backoff decides to give up, and it does not run while connecting"},
	{Connecting, Close, to(Closed), "the user closed during the attempt: cancel the dial, nothing to hand-shake"},
	{Connecting, CloseDone, ignore, "a late report from an earlier close; nothing is closing"},
	{Connecting, Synced, ignore, "a late report from an earlier connection's sync"},
	{Connecting, Reconnect, ignore, "a fresh attempt is already running"},

	{Alive, Connected, reject, "only one dial runs at a time, and none while alive"},
	{Alive, DialFailed, ignore, "a late report from an earlier attempt; the connection is up"},
	{Alive, Lost, to(Reconnecting), "the connection failed: stop its tasks, close it, back off"},
	{Alive, RetryDue, ignore, "a late backoff timer; the connection is up"},
	{Alive, GaveUp, reject, "the backoff does not run while alive"},
	{Alive, Close, to(Closing), "the user closed: flush, send the close frame, wait for the peer's"},
	{Alive, CloseDone, ignore, "a late report from an earlier close"},
	{Alive, Synced, ignore, "the session is already set up"},
	{Alive, Reconnect, to(Reconnecting), "the user asked for a fresh connection: close this one, dial again at once"},
	{Syncing, Synced, to(Ready), "logged in, resubscribed and replayed: release the user's sends"},

	{Reconnecting, Connected, reject, "no dial runs while backing off"},
	{Reconnecting, DialFailed, ignore, "a late report from the attempt that got us here"},
	{Reconnecting, Lost, ignore, "a second failure report of the connection already given up (reader and heartbeat both saw it)"},
	{Reconnecting, RetryDue, to(Connecting), "the backoff elapsed: try again"},
	{Reconnecting, GaveUp, to(Closed), "permanent failure or retry budget spent"},
	{Reconnecting, Close, to(Closed), "closed while disconnected: cancel the backoff, nothing to hand-shake"},
	{Reconnecting, CloseDone, ignore, "a late report from an earlier close"},
	{Reconnecting, Synced, ignore, "a late report from the connection given up"},
	{Reconnecting, Reconnect, ignore, "already reconnecting"},

	{Closing, Connected, reject, "no dial runs while closing"},
	{Closing, DialFailed, ignore, "a late report from an earlier attempt"},
	{Closing, Lost, to(Closed), "the connection failed during the close handshake: it is closed either way"},
	{Closing, RetryDue, ignore, "a late backoff timer; we are closing"},
	{Closing, GaveUp, ignore, "a late verdict from the backoff; we are closing anyway"},
	{Closing, Close, ignore, "already closing: Close is idempotent"},
	{Closing, CloseDone, to(Closed), "the close handshake finished or timed out"},
	{Closing, Synced, ignore, "a late report from the sync Close interrupted"},
	{Closing, Reconnect, ignore, "closing: nothing to reconnect"},
})

// Table returns the lifecycle's rules, one per (state, event) pair, in the
// order of the table in transitions.go, in a new slice each call.
func Table() []fsm.Rule[State, Event] { return slices.Clone(table) }

// Tasks are what a transport supplies to the lifecycle: its state-scoped
// tasks, and the bound of the close handshake. A nil task is left out. Each
// task receives a context cancelled when its state is left and must return
// promptly then.
type Tasks struct {
	Dial      fsm.Task[State, Event] // Connecting: one attempt; emits Connected (payload: the connection) or DialFailed
	Reader    fsm.Task[State, Event] // Alive: reads until the connection fails (session's also runs the heartbeat)
	Heartbeat fsm.Task[State, Event] // Alive: pings; fails (Lost) on a pong timeout (nil in session: its reader pings)
	Sync      fsm.Task[State, Event] // Syncing: sets the session up; emits Synced
	Backoff   fsm.Task[State, Event] // Reconnecting: emits RetryDue after the delay, or GaveUp
	Closer    fsm.Task[State, Event] // Closing: close handshake; emits CloseDone
	// CloseTimeout, if not nil, bounds Closing: a state timeout, computed
	// on entry from the machine's environment, that fires CloseDone, so a
	// peer that never answers the close frame cannot hold the client (the
	// closer's context then ends, which must abort the handshake).
	CloseTimeout func(in fsm.Transition[State, Event]) time.Duration
}

// TaskNames returns the names the lifecycle gives state's own tasks, in the
// order they start, or nil for a state without tasks.
func TaskNames(state State) []string {
	var names []string
	for _, s := range slots(Tasks{}) {
		if s.state == state {
			names = append(names, s.name)
		}
	}
	return names
}

// slot is one task of the lifecycle: its state, name and function.
type slot struct {
	state State
	name  string
	fn    fsm.Task[State, Event]
}

// slots lists the lifecycle's tasks in start order, with t's functions.
func slots(t Tasks) []slot {
	return []slot{
		{Connecting, "dial", t.Dial},
		{Alive, "reader", t.Reader},
		{Alive, "heartbeat", t.Heartbeat},
		{Syncing, "sync", t.Sync},
		{Reconnecting, "backoff", t.Backoff},
		{Closing, "closer", t.Closer},
	}
}

// NewBuilder returns a builder holding the lifecycle's states, their
// nesting (Alive holds Syncing, then Ready), the final state Closed, the
// events, the table, the failure events (a failing task in Connecting means
// DialFailed, in Alive or either phase Lost, in Reconnecting GaveUp, in
// Closing CloseDone), the close timeout and the given tasks. The caller
// adds hooks and builds.
func NewBuilder(t Tasks) *fsm.Builder[State, Event] {
	b := fsm.NewBuilder[State, Event](Connecting).
		States(states...).
		Events(events.Values()...).
		Children(Alive, Syncing, Ready).
		Final(Closed).
		Rules(table...).
		FailureEvent(Connecting, DialFailed).
		FailureEvent(Alive, Lost).
		FailureEvent(Reconnecting, GaveUp).
		FailureEvent(Closing, CloseDone)
	for _, s := range slots(t) {
		if s.fn != nil {
			b.Task(s.state, s.name, s.fn)
		}
	}
	if t.CloseTimeout != nil {
		b.TimeoutFunc(Closing, "the close timeout", t.CloseTimeout, CloseDone)
	}
	return b
}

// Definition returns the lifecycle with placeholder tasks that wait for
// their context: the shape diagrams and tests are made from.
func Definition() *fsm.Definition[State, Event] {
	wait := func(ctx context.Context, _ fsm.Transition[State, Event], _ fsm.Emit[Event]) error {
		<-ctx.Done()
		return nil
	}
	never := func(fsm.Transition[State, Event]) time.Duration { return -1 }
	return NewBuilder(Tasks{Dial: wait, Reader: wait, Heartbeat: wait, Sync: wait, Backoff: wait, Closer: wait, CloseTimeout: never}).MustBuild()
}
