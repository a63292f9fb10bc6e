package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// WithBackoff sets the reconnect delays; zero fields take their defaults.
func WithBackoff(b retry.Backoff) Option { return func(c *config) { c.Backoff = b.WithDefaults() } }

// WithStormGuard sets the storm guard; a zero StormGuard disables it.
func WithStormGuard(g retry.StormGuard) Option { return func(c *config) { c.storm = g } }

// retrySettings are the options that decide the dials after a failure:
// one value shared by every client that sets none of them (shared).
type retrySettings struct {
	stablePeriod time.Duration
	storm        retry.StormGuard
	retry.Config // the backoff, the policy and what its defaults follow
}

// shared returns r, as the value shared by every client with the default
// retry settings if r is those.
func (r retrySettings) shared() *retrySettings {
	d := defaultRetry()
	if r.Policy == nil && r.PermanentCodes == nil && r.Rand == nil &&
		r.stablePeriod == d.stablePeriod && r.Backoff == d.Backoff && r.storm == d.storm {
		return d
	}
	return &r
}

// drawPhase returns a client's phase in OutageBounded's schedule, drawn
// from the jitter source; 0, drawing nothing, for the other modes.
func (r *retrySettings) drawPhase() float32 {
	if cmp.Or(r.Backoff.Mode, retry.DefaultBackoff.Mode) != retry.OutageBounded {
		return 0
	}
	if r.Rand != nil {
		return float32(r.Rand())
	}
	return rand.Float32()
}

// defaultRetry is the shared value of the default retry settings; nothing
// writes it.
var defaultRetry = sync.OnceValue(func() *retrySettings {
	r := defaultConfig().retrySettings
	return &r
})

// backoffTask is Reconnecting's task. It asks the retry policy about the
// failure that caused it: giving up emits GaveUp; otherwise it waits the
// delay decided (longer if the storm guard says so), then for the dial gate
// if there is one (WithDialGate), and emits RetryDue with the Wait, so the
// record of the step says why it waited.
func (c *Client) backoffTask(ctx context.Context, in step, emit emitFn) error {
	f := c.failure(in)
	d, err := c.decide(f)
	switch {
	case err != nil:
		emit(connfsm.GaveUp, &GaveUpError{Attempts: int(c.attempts), Cause: err})
		return nil
	case d.GiveUp:
		cause := d.Err
		if cause == nil {
			cause = f.Err
		}
		emit(connfsm.GaveUp, &GaveUpError{Attempts: int(c.attempts), Cause: cause})
		return nil
	}
	w := &Wait{Reason: d.Reason, Delay: max(d.Delay, 0), Failure: f}
	if g := c.cfg.retry.storm; g.Attempts > 0 {
		if sd := g.Delay(c.lastDials(), time.Now()); sd > w.Delay {
			w.Reason, w.Delay, w.Dials, w.Window = retry.WaitStormGuard, sd, g.Attempts, g.Window
		}
	}
	c.stats.nextDelay.Store(int64(w.Delay))
	if w.Delay > 0 { // else at once: no timer
		c.logWait(ctx, w)
		t := time.NewTimer(w.Delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	if c.passGate(ctx, w) {
		emit(connfsm.RetryDue, w)
	}
	return nil
}

// failure describes what ended the connection or the attempt, for the
// retry policy: in is the step that entered Reconnecting, with its cause
// as the payload.
func (c *Client) failure(in step) retry.Failure {
	cause, _ := in.Payload.(error)
	f := retry.Failure{Err: cause, Attempt: int(c.attempts), Outage: clock() - c.outageAt}
	var (
		he *transport.HandshakeError
		ce *transport.CloseError
	)
	switch {
	case in.Event == connfsm.Reconnect:
		f.Kind = retry.KindReconnect
	case errors.As(f.Err, &he):
		f.Kind, f.Status, f.RetryAfter = retry.KindHandshake, he.Status, he.RetryAfter
	case in.From == connfsm.Connecting:
		f.Kind = retry.KindDial
	case errors.As(f.Err, &ce):
		f.Kind, f.Code, f.Reason = retry.KindClose, ce.Code, ce.Reason
	case errors.Is(f.Err, ErrPongTimeout):
		f.Kind = retry.KindPongTimeout
	case errors.Is(f.Err, ErrIdleTimeout):
		f.Kind = retry.KindIdle
	case errors.Is(f.Err, ErrMessageTooBig):
		f.Kind = retry.KindTooBig
	default:
		f.Kind = retry.KindLost
	}
	return f
}

// decide asks the retry policy about f. A policy that panics gives up,
// with an error that wraps both the panic and the failure.
func (c *Client) decide(f retry.Failure) (d retry.Decision, err error) {
	defer func() {
		if p := recover(); p != nil {
			pe := &tasks.PanicError{Task: "backoff", Value: p, Stack: debug.Stack()}
			err = fmt.Errorf("session: the retry policy panicked on %w: %w", f.Err, pe)
		}
	}()
	return c.cfg.retry.Decide(f, c.phase), nil
}

// countDial counts a dial that began at began for the storm guard. The
// dial task calls it once the attempt has left the client: one whose
// credentials or dial gate failed never did, and a venue cannot count it.
func (c *Client) countDial(began time.Time) {
	n := c.cfg.retry.storm.Attempts
	if n <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dials) == n {
		copy(c.dials, c.dials[1:])
		c.dials = c.dials[:n-1]
	}
	c.dials = append(c.dials, sinceStart(began))
}

// lastDials returns the storm guard's dials.
func (c *Client) lastDials() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Time, len(c.dials))
	for i, d := range c.dials {
		out[i] = start.Add(d)
	}
	return out
}

// Wait is one wait before a dial: how long and why. It is the payload of
// the RetryDue transition that ends it (Reconnecting → Connecting), so the
// OnRecord observers see every wait with its reason; the
// logger reports it at Info when it starts.
type Wait struct {
	Reason retry.WaitReason
	Delay  time.Duration
	// Failure is what the wait follows; Failure.Attempt numbers the
	// attempt that failed.
	Failure retry.Failure
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
	case retry.WaitBackoff:
		return fmt.Sprintf("%v of backoff after attempt %d", d, w.Failure.Attempt)
	case retry.WaitSlowDown:
		why := "the peer asked to slow down"
		switch w.Failure.Kind {
		case retry.KindClose:
			why = fmt.Sprintf("close %d", int(w.Failure.Code))
		case retry.KindHandshake:
			why = fmt.Sprintf("HTTP %d", w.Failure.Status)
		case retry.KindTooBig:
			why = "a message over the read limit"
		}
		return fmt.Sprintf("%v of backoff after attempt %d, slowed down after %s", d, w.Failure.Attempt, why)
	case retry.WaitRetryAfter:
		return fmt.Sprintf("%v for Retry-After", d)
	case retry.WaitStormGuard:
		return fmt.Sprintf("%v for the storm guard (%d dials within %v)", d, w.Dials, w.Window)
	case retry.WaitReconnect:
		return fmt.Sprintf("%v before the reconnect asked for", d)
	case retry.WaitDialGate:
		return fmt.Sprintf("%v for the dial gate", d)
	default:
		return fmt.Sprintf("%v by the retry policy", d)
	}
}
