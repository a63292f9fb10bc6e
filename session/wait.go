package session

import (
	"fmt"
	"time"

	"github.com/connfsm/connfsm/internal/enum"
)

// WaitReason says why the client waits before a dial.
type WaitReason uint8

const (
	// WaitPolicy: the delay a custom retry policy chose.
	WaitPolicy WaitReason = iota
	// WaitBackoff: the backoff's delay for the attempt.
	WaitBackoff
	// WaitSlowDown: the peer asked the client to slow down (close 1008 or
	// 1013, HTTP 429): the backoff's delay a few steps further.
	WaitSlowDown
	// WaitRetryAfter: the server's Retry-After.
	WaitRetryAfter
	// WaitStormGuard: the storm guard held the dial (Wait.Dials dials
	// within Wait.Window).
	WaitStormGuard
	// WaitReconnect: a requested reconnect, which dials at once.
	WaitReconnect
	// WaitDialGate: the dial gate held the dial longer than the rest of
	// the wait (WithDialGate; Wait.Gate): a budget of dials shared with
	// other clients, such as a Pool's.
	WaitDialGate
)

var waitReasonNames = [...]string{
	WaitPolicy: "policy", WaitBackoff: "backoff", WaitSlowDown: "slow_down", WaitRetryAfter: "retry_after",
	WaitStormGuard: "storm_guard", WaitReconnect: "reconnect", WaitDialGate: "dial_gate",
}

// String returns the reason's name as used in logs and JSON, e.g.
// "storm_guard".
func (r WaitReason) String() string { return enum.Name(waitReasonNames[:], r, "WaitReason(%d)") }

// Wait is one wait before a dial: how long and why. It is the payload of
// the RetryDue transition that ends it (Reconnecting → Connecting), so the
// OnRecord observers see every wait with its reason; the
// logger reports it at Info when it starts.
type Wait struct {
	Reason WaitReason
	Delay  time.Duration
	// Failure is what the wait follows; Failure.Attempt numbers the
	// attempt that failed.
	Failure Failure
	// Dials and Window are the storm guard's: Dials dials happened within
	// Window (WaitStormGuard only).
	Dials  int
	Window time.Duration
	// Gate is how long the dial gate held the dial once the rest of the
	// wait was over (WithDialGate); it is part of Delay.
	Gate time.Duration

	pass *gatePass // the gate's admission, for the dial that follows
}

// String describes the wait, its length first, to the millisecond: "1.2s
// of backoff after attempt 3", "30s for Retry-After", "5s for the storm
// guard (10 dials within 1m0s)".
func (w *Wait) String() string {
	d := w.Delay
	if d >= time.Millisecond {
		d = d.Round(time.Millisecond) // for people; Delay keeps the rest
	}
	switch w.Reason {
	case WaitBackoff:
		return fmt.Sprintf("%v of backoff after attempt %d", d, w.Failure.Attempt)
	case WaitSlowDown:
		why := "the peer asked to slow down"
		switch w.Failure.Kind {
		case KindClose:
			why = fmt.Sprintf("close %d", int(w.Failure.Code))
		case KindHandshake:
			why = fmt.Sprintf("HTTP %d", w.Failure.Status)
		case KindTooBig:
			why = "a message over the read limit"
		}
		return fmt.Sprintf("%v of backoff after attempt %d, slowed down after %s", d, w.Failure.Attempt, why)
	case WaitRetryAfter:
		return fmt.Sprintf("%v for Retry-After", d)
	case WaitStormGuard:
		return fmt.Sprintf("%v for the storm guard (%d dials within %v)", d, w.Dials, w.Window)
	case WaitReconnect:
		return fmt.Sprintf("%v before the reconnect asked for", d)
	case WaitDialGate:
		return fmt.Sprintf("%v for the dial gate", d)
	default:
		return fmt.Sprintf("%v by the retry policy", d)
	}
}
