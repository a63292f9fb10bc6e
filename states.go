// Package connfsm is the lifecycle of a long-lived network connection as an
// explicit, exhaustive state machine: Connecting, Alive, Reconnecting,
// Closing, Closed.
//
// Background tasks (dialer, reader, heartbeat, writer, backoff timer,
// closer) belong to a state. Leaving the state cancels them and waits for
// them to return before the next state is entered, so a heartbeat can never
// outlive the connection it pings. Every (state, event) pair is declared in
// transitions.go as a transition, an ignore or a rejection, each with its
// reason.
//
// The lifecycle knows nothing of any transport. Package wsconn drives it over
// WebSocket; any other transport (a plain TCP stream, a gRPC stream) uses it
// the same way: supply Tasks whose dial emits Connected with the connection
// as payload (or DialFailed with the error), whose Alive tasks emit Lost (or
// return an error) when the connection fails, whose backoff emits RetryDue or
// GaveUp, and whose closer emits CloseDone; close the connection in an exit
// hook of Alive and Closing, which run after those tasks have returned.
package connfsm

import (
	"fmt"
	"slices"
)

// State is a state of the connection lifecycle.
type State uint8

// The lifecycle's states. Connecting is the initial state; Closed is
// terminal.
const (
	// Connecting: one dial and handshake attempt is in flight.
	Connecting State = iota
	// Alive: the connection is up; reader, heartbeat and writer run.
	Alive
	// Reconnecting: no connection; the backoff timer runs.
	Reconnecting
	// Closing: the close handshake is in progress.
	Closing
	// Closed: terminal; nothing runs.
	Closed
)

var states = []State{Connecting, Alive, Reconnecting, Closing, Closed}

// States returns the lifecycle's states in declaration order, in a new
// slice each call.
func States() []State { return slices.Clone(states) }

var stateNames = [...]string{"Connecting", "Alive", "Reconnecting", "Closing", "Closed"}

// String returns the state's name, e.g. "Reconnecting".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}
