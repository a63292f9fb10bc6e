// Package connfsm is the lifecycle of a long-lived network connection, as
// an explicit, exhaustive, hierarchical state machine. Its states are
// Connecting, Alive (with its phases Syncing and Ready), Reconnecting,
// Closing and Closed.
//
// Background tasks belong to a state: the dialer, reader, heartbeat,
// session sync, backoff timer and closer. Leaving the state cancels them,
// and waits for them to return before the next state is entered. So a
// heartbeat can never outlive the connection it pings. Every (state,
// event) pair is declared in transitions.go: a transition, an ignore or a
// rejection, each with its reason.
//
// The lifecycle knows nothing of any transport. Package session drives
// it, with wsconn over WebSocket and tcpconn over framed TCP. Another
// transport, such as a gRPC stream, uses it the same way, by supplying
// Tasks:
//
//   - its dial emits Connected with the connection as payload, or
//     DialFailed with the error;
//   - its Alive tasks emit Lost, or return an error, when the connection
//     fails;
//   - its sync emits Synced once the session is set up: logged in,
//     resubscribed, replayed;
//   - its backoff emits RetryDue or GaveUp;
//   - its closer emits CloseDone, bounded by the close timeout.
//
// Close the connection in an exit hook of Alive and of Closing. Those
// hooks run after the tasks have returned.
package connfsm

import (
	"slices"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/enum"
)

// State is a state of the connection lifecycle.
type State uint8

// The lifecycle's states. Connecting is the initial state; Closed is
// final. Alive is composite: while it is active, so is exactly one of its
// phases, Syncing (entered first) or Ready.
const (
	// Connecting: one dial and handshake attempt is in flight.
	Connecting State = iota
	// Alive: the connection is up; its reader and heartbeat run across
	// both phases.
	Alive
	// Reconnecting: no connection; the backoff timer runs.
	Reconnecting
	// Closing: the close handshake is in progress.
	Closing
	// Closed: final; nothing runs.
	Closed
	// Syncing: Alive's first phase: the session is set up (log in,
	// resubscribe, replay what was queued) before the user's sends go out.
	Syncing
	// Ready: Alive's second phase: sends go straight out.
	Ready
)

// states lists them in the order diagrams show them: a parent before its
// children.
var states = []State{Connecting, Alive, Syncing, Ready, Reconnecting, Closing, Closed}

// States returns the lifecycle's states in declaration order, in a new
// slice each call.
func States() []State { return slices.Clone(states) }

var stateNames = [...]string{"Connecting", "Alive", "Reconnecting", "Closing", "Closed", "Syncing", "Ready"}

// String returns the state's name, e.g. "Reconnecting".
func (s State) String() string { return enum.Name(stateNames[:], s, "State(%d)") }

// Path returns the state's name with its parent's before it: "Alive/Syncing",
// "Alive/Ready", and for any other state its name alone.
func (s State) Path() string {
	if s == Syncing || s == Ready {
		return Alive.String() + "/" + s.String()
	}
	return s.String()
}

// Within reports whether s is p or one of p's phases: Syncing and Ready are
// within Alive. A record of a step into Alive has its To within Alive and
// its From not.
func (s State) Within(p State) bool {
	return s == p || p == Alive && (s == Syncing || s == Ready)
}

// Top returns the top-level state s is in: Alive for Syncing and Ready, s
// itself otherwise.
func (s State) Top() State {
	if s == Syncing || s == Ready {
		return Alive
	}
	return s
}

// TopTransition names a transition record by the top-level states it goes
// between, "Alive-Lost->Reconnecting" whichever phase of Alive it left, for
// a view of the lifecycle that does not care about the phases; ok is false
// for a step between Alive's phases. It is an fsmtest.NameFunc.
func TopTransition(r fsm.Record[State, Event]) (name string, ok bool) {
	from, to := r.From.Top(), r.To.Top()
	if from == Alive && to == Alive && r.Event == Synced {
		return "", false
	}
	return from.String() + "-" + r.Event.String() + "->" + to.String(), true
}
