package wsconn

import (
	"fmt"
	"time"
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
)

var waitReasonNames = [...]string{
	WaitPolicy: "policy", WaitBackoff: "backoff", WaitSlowDown: "slow_down", WaitRetryAfter: "retry_after",
	WaitStormGuard: "storm_guard", WaitReconnect: "reconnect",
}

// String returns the reason's name as used in logs and JSON, e.g.
// "storm_guard".
func (r WaitReason) String() string {
	if int(r) < len(waitReasonNames) {
		return waitReasonNames[r]
	}
	return fmt.Sprintf("WaitReason(%d)", uint8(r))
}

// Wait is one wait before a dial: how long and why. It is the payload of
// the RetryDue transition that ends it (Reconnecting → Connecting), so the
// OnRecord and OnTransition observers see every wait with its reason; the
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
		}
		return fmt.Sprintf("%v of backoff after attempt %d, slowed down after %s", d, w.Failure.Attempt, why)
	case WaitRetryAfter:
		return fmt.Sprintf("%v for Retry-After", d)
	case WaitStormGuard:
		return fmt.Sprintf("%v for the storm guard (%d dials within %v)", d, w.Dials, w.Window)
	case WaitReconnect:
		return fmt.Sprintf("%v before the reconnect asked for", d)
	default:
		return fmt.Sprintf("%v by the retry policy", d)
	}
}
