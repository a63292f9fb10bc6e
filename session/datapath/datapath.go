// Package datapath is the data path of one connection, between its socket
// and the user's handler, as a declared state machine. Its states say who
// holds the reader:
//
//   - Unstarted: the connection is up, and its reader has not started.
//   - Running: the reader runs and Alive lasts. It is the parent of the
//     states below, down to Taking.
//   - Flowing: the reader reads.
//   - Waiting: a message read waits for its turn, while an earlier
//     connection's handler still runs. Its children say who reads
//     meanwhile: nobody (WaitingHeld), a read-ahead (WaitingReadAhead), or
//     nobody, the read-ahead holding the next message (WaitingBacklogged).
//   - Busy: the handler runs with it, and nothing reads.
//   - ReadAhead: the handler runs, and a read-ahead reads.
//   - Backlogged: the handler runs, and the read-ahead holds the next
//     message.
//   - Taking: the reader takes the message the read-ahead holds.
//   - Stopped: Alive is left, and the delivery has ended.
//   - Abandoned: Alive was left before the reader started.
//
// It is a machine of its own per connection rather than a region of
// Alive. It takes two steps per message. A light machine steps without
// allocating and without a goroutine. A step of a parallel region would
// allocate, and a step of the lifecycle reaches its observer.
//
// The two steps of a message, Flowing to Busy and back, are between
// siblings one level deep. The handler's three states (Busy, ReadAhead,
// Backlogged) are not grouped under a parent: each of them would then
// enter and exit that parent too.
//
// Package session fires the events under one lock, so each firer sees its
// own step. Readers, such as the heartbeat and the data watchdog, ask In.
// The diagram is docs/datapath.md.
//
// Beside the machine are the path's policies. SlowConsumer says what
// happens to messages a handler cannot keep up with. Decompression
// inflates a venue's compressed payloads. A Record is one step of the
// machine, as an observer sees it.
package datapath

import (
	"slices"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/enum"
)

// State is a state of a connection's data path.
type State uint8

// The data path's states. Unstarted is the initial state; Stopped and
// Abandoned are final.
const (
	// Unstarted: the connection is up; its reader has not started.
	Unstarted State = iota
	// Running: the reader runs and Alive lasts (composite).
	Running
	// Flowing: the reader reads (itself, or through the read-ahead lent
	// it); no message is held.
	Flowing
	// Waiting: a message read waits for its turn: a handler of an earlier
	// connection, which ignored its context, still runs (composite).
	Waiting
	// WaitingHeld: waiting, and nothing reads the connection.
	WaitingHeld
	// WaitingReadAhead: waiting, and a read-ahead lent the connection reads.
	WaitingReadAhead
	// WaitingBacklogged: waiting, and the read-ahead holds the next
	// message: a reply would wait behind it.
	WaitingBacklogged
	// Busy: the handler runs; nothing reads the connection.
	Busy
	// ReadAhead: the handler runs; a read-ahead lent the connection reads
	// (a ping is due, or a Request waits for its reply).
	ReadAhead
	// Backlogged: the handler runs and the read-ahead holds the next
	// message: the consumer is behind, and a reply would wait behind it.
	Backlogged
	// Taking: the handler returned; the reader takes the message the
	// read-ahead holds.
	Taking
	// Stopped: final: Alive is left; nothing more is delivered, and what
	// is read (during the close handshake) is dropped and counted.
	Stopped
	// Abandoned: final: Alive was left before the reader started.
	Abandoned
)

var states = enum.NewList[State]("State(%d)", "Unstarted", "Running", "Flowing", "Waiting", "WaitingHeld",
	"WaitingReadAhead", "WaitingBacklogged", "Busy", "ReadAhead", "Backlogged", "Taking", "Stopped", "Abandoned")

// States returns the states in declaration order (a parent before its
// children), in a new slice each call.
func States() []State { return states.Values() }

// String returns the state's name, e.g. "Backlogged".
func (s State) String() string { return states.Name(s) }

// Event is an event of the data path.
type Event uint8

// The data path's events.
const (
	// Start: the reader starts.
	Start Event = iota
	// Wait: the reader holds a message for the handler, and its turn is
	// taken by an earlier connection's handler.
	Wait
	// Deliver: the handler is called with a message.
	Deliver
	// Return: the handler returned.
	Return
	// Lend: a read-ahead is lent the connection, while a message is held.
	Lend
	// Park: the read-ahead read a message for the handler and holds it.
	Park
	// Stop: Alive is left, or the hand-out of an inbox ended: nothing more
	// is delivered.
	Stop
)

var events = enum.NewList[Event]("Event(%d)", "Start", "Wait", "Deliver", "Return", "Lend", "Park", "Stop")

// Events returns the events in declaration order, in a new slice each
// call.
func Events() []Event { return events.Values() }

// String returns the event's name, e.g. "Deliver".
func (e Event) String() string { return events.Name(e) }

type row fsm.Rule[State, Event]

var (
	to       = fsm.To[State]
	ignore   = fsm.Ignore[State]()
	reject   = fsm.Reject[State]()
	postpone = fsm.Postpone[State]()
)

// table is the data path: every rule with its outcome and the reason for
// it. A composite's rules hold in its children unless a child declares its
// own. Stopped and Abandoned are final: no rule is needed there.
var table = fsm.Rows([]row{
	{Unstarted, Start, to(Flowing), "the reader task starts the reader"},
	{Unstarted, Wait, reject, "nothing is read before the reader starts"},
	{Unstarted, Deliver, reject, "nothing is read before the reader starts"},
	{Unstarted, Return, reject, "no handler runs before the reader starts"},
	{Unstarted, Lend, ignore, "nothing reads yet, and nothing is held: a ping or a reply waits for the reader"},
	{Unstarted, Park, reject, "no read-ahead is lent before the reader starts"},
	{Unstarted, Stop, to(Abandoned), "Alive was left before the reader started: it never will"},

	{Running, Start, ignore, "the reader starts once"},
	{Running, Wait, reject, "only the reader holds a message, and it holds one at a time"},
	{Running, Deliver, reject, "one handler call at a time, in order"},
	{Running, Return, reject, "no handler call is under way"},
	{Running, Lend, ignore, "a read-ahead is lent already, or nothing is held and the reader reads"},
	{Running, Park, reject, "no read-ahead is lent"},
	{Running, Stop, to(Stopped), "Alive is left: the message held, if any, is dropped and counted"},

	{Flowing, Wait, to(WaitingHeld), "a handler of an earlier connection still runs: the message waits for it"},
	{Flowing, Deliver, to(Busy), "the next message goes to the handler"},
	{Flowing, Park, ignore, "the read-ahead read for the reader after the handler returned: the reader takes it as its own"},

	{WaitingHeld, Lend, to(WaitingReadAhead), "a ping or a reply is due while nothing reads: lend the connection a read-ahead"},
	{WaitingHeld, Deliver, to(Busy), "the earlier handler returned: this one's turn"},
	{WaitingReadAhead, Deliver, to(ReadAhead), "the earlier handler returned; the read-ahead keeps reading"},
	{WaitingReadAhead, Park, to(WaitingBacklogged), "the read-ahead read the next message: a reply would wait behind both"},
	{WaitingBacklogged, Deliver, to(Backlogged), "the earlier handler returned; the next message waits in the read-ahead"},
	{WaitingBacklogged, Park, reject, "the read-ahead holds its message: it reads no more until the reader takes it"},

	{Busy, Stop, postpone, "the call under way returns first: the reader task joins it, then the delivery stops"},
	{ReadAhead, Stop, postpone, "the call under way returns first: the reader task joins it, then the delivery stops"},
	{Backlogged, Stop, postpone, "the call under way returns first: the reader task joins it, then the delivery stops"},
	{Busy, Return, to(Flowing), "the handler returned: the reader reads again"},
	{Busy, Lend, to(ReadAhead), "a ping or a reply is due while the handler holds the reader: lend the connection a read-ahead"},
	{ReadAhead, Return, to(Flowing), "the handler returned: the reader takes what the read-ahead reads"},
	{ReadAhead, Park, to(Backlogged), "the read-ahead read the next message: the consumer is behind"},
	{Backlogged, Return, to(Taking), "the handler returned: the reader takes the message the read-ahead holds"},
	{Backlogged, Park, reject, "the read-ahead holds its message: it reads no more until the reader takes it"},

	{Taking, Wait, to(WaitingHeld), "the turn was taken meanwhile: the message waits for it"},
	{Taking, Deliver, to(Busy), "the message the read-ahead held goes to the handler"},
	{Taking, Park, reject, "the read-ahead holds its message: it reads no more until the reader takes it"},
})

// Table returns the data path's rules, in the order of the table, in a new
// slice each call.
func Table() []fsm.Rule[State, Event] { return slices.Clone(table) }

// NewBuilder returns a builder holding the data path's states, their
// nesting, its events, table and final states. The machine has no tasks,
// no timeouts and no hooks: two allocations per connection, no goroutine.
func NewBuilder() *fsm.Builder[State, Event] {
	return fsm.NewBuilder[State, Event](Unstarted).
		States(states.Values()...).
		Events(events.Values()...).
		Children(Running, Flowing, Waiting, Busy, ReadAhead, Backlogged, Taking).
		Children(Waiting, WaitingHeld, WaitingReadAhead, WaitingBacklogged).
		Final(Stopped, Abandoned).
		Rules(table...)
}

// Definition returns the data path's machine as declared: the shape
// diagrams and tests are made from.
func Definition() *fsm.Definition[State, Event] {
	return NewBuilder().MustBuild()
}

// Holding reports whether a machine in state s holds a message read and
// not yet handled: waiting for its turn, in the handler, or in the
// read-ahead.
func Holding(s State) bool {
	return s >= WaitingHeld && s <= Taking
}

// InHandler reports whether, in leaf s, the handler runs.
func InHandler(s State) bool { return s == Busy || s == ReadAhead || s == Backlogged }

// ReaderHeld reports whether, in leaf s, a message held keeps the
// connection from being read: nothing reads it, or the read-ahead lent it
// holds the next message. The peer is slowed down then, not silent.
func ReaderHeld(s State) bool {
	switch s {
	case WaitingHeld, WaitingBacklogged, Busy, Backlogged:
		return true
	}
	return false
}
