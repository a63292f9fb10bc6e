package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/internal/enum"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// Backoff is the reconnect delay. Mode says how it grows: by default
// (OutageBounded) with the time since the connection was lost, with
// FullJitter per attempt, the n-th retry (counting from 0) capped at
// min(Max, Initial*Multiplier^n). A field left zero takes its default
// (DefaultBackoff's), except that a default Initial is never above Max
// nor a default Max below Initial.
type Backoff struct {
	Initial    time.Duration // first delay cap; default 500ms
	Max        time.Duration // largest delay cap; default 30s
	Multiplier float64       // FullJitter's growth per attempt, >= 1; default 2
	Mode       BackoffMode   // how the delay is drawn; default OutageBounded
	// MaxAttempts is the number of dial attempts without a stable
	// connection (see WithStablePeriod) after which the client gives up
	// (Err wraps ErrRetriesExhausted); 0 retries forever. A connection that
	// drops before the stable period does not reset the count, so a
	// flapping server spends the budget too.
	MaxAttempts int
}

// StormGuard enforces a minimum gap between dials once Attempts dials have
// happened within Window, on top of the backoff: a server that accepts and
// drops at once cannot make the client hammer it (venues commonly allow a
// few hundred connections per IP per five minutes). Only dials made count:
// an attempt whose credentials (WithCredentials) or dial gate failed never
// left the client.
type StormGuard struct {
	Attempts int           // dials within Window that turn the guard on
	Window   time.Duration // how far back dials are counted
	MinGap   time.Duration // the least time between two dials while on
}

var (
	// DefaultBackoff is the policy used when WithBackoff is not given.
	DefaultBackoff = Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Mode: OutageBounded}
	// DefaultStormGuard is the storm guard used when WithStormGuard is
	// not given.
	DefaultStormGuard = StormGuard{Attempts: 10, Window: time.Minute, MinGap: 5 * time.Second}
)

// WithBackoff sets the reconnect delays; zero fields take their defaults.
func WithBackoff(b Backoff) Option { return func(c *config) { c.backoff = b.withDefaults() } }

// withDefaults returns b with its zero fields set to DefaultBackoff's,
// keeping Initial <= Max when only one of them is given.
func (b Backoff) withDefaults() Backoff {
	d := DefaultBackoff
	if b.Multiplier == 0 {
		b.Multiplier = d.Multiplier
	}
	if b.Mode == BackoffModeDefault {
		b.Mode = d.Mode
	}
	switch {
	case b.Initial == 0 && b.Max > 0:
		b.Initial = min(d.Initial, b.Max)
	case b.Initial == 0:
		b.Initial = d.Initial
	}
	switch {
	case b.Max == 0 && b.Initial > 0:
		b.Max = max(d.Max, b.Initial)
	case b.Max == 0:
		b.Max = d.Max
	}
	return b
}

// WithStormGuard sets the storm guard; a zero StormGuard disables it.
func WithStormGuard(g StormGuard) Option { return func(c *config) { c.storm = g } }

// capFor returns the upper bound of the n-th retry's delay (n from 0):
// min(Max, Initial*Multiplier^n).
func (b Backoff) capFor(n int) time.Duration {
	if n < 0 {
		n = 0
	}
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(n))
	if d >= float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		return b.Max
	}
	return time.Duration(d)
}

// slowDelay returns a delay with equal jitter: uniform in
// [capFor(n)/2, capFor(n)].
func (b Backoff) slowDelay(n int, rnd func() float64) time.Duration {
	return equalJitter(b.capFor(n), rnd)
}

// equalJitter returns a delay uniform in [c/2, c].
func equalJitter(c time.Duration, rnd func() float64) time.Duration {
	if rnd == nil {
		rnd = rand.Float64
	}
	// As in Delay, the +1 makes the cap itself reachable, in floats.
	d := float64(c/2) + rnd()*(float64(c-c/2)+1)
	if d >= float64(c) {
		return c
	}
	return time.Duration(d)
}

// Delay returns the n-th retry's delay (n from 0) with full jitter: uniform
// in [0, capFor(n)]. rnd returns a float in [0, 1); nil means math/rand/v2.
func (b Backoff) Delay(n int, rnd func() float64) time.Duration {
	if rnd == nil {
		rnd = rand.Float64
	}
	// The +1 makes the cap itself reachable; the math stays in floats so a
	// cap near the largest Duration cannot overflow.
	c := b.capFor(n)
	d := rnd() * (float64(c) + 1)
	if d >= float64(c) {
		return c
	}
	return time.Duration(d)
}

// BackoffMode says how a Backoff's delays grow: with the time since the
// connection was lost (OutageBounded, the default) or with the attempts
// (FullJitter).
type BackoffMode uint8

const (
	// BackoffModeDefault takes DefaultBackoff's mode.
	BackoffModeDefault BackoffMode = iota
	// FullJitter waits a uniformly random delay in [0, cap]. The caps grow
	// with the attempts only: a client that went through a few attempts
	// during a short outage may sleep the whole next cap (16 s at the
	// defaults) after the venue is back. Multiplier applies to it alone.
	FullJitter
	// OutageBounded, the default, dials on a schedule set by the outage,
	// not by the attempts: the client's dials stand at Initial·2.5^(k+φ-1)
	// after it lost its connection (Failure.Outage), k = 0, 1, 2, .... Each gap is
	// 1.5 times the outage at the dial before it, so a client is back
	// within 1.5 times the outage after the venue is up: 4.5 s after a
	// 3 s outage. φ is the client's phase, drawn once an outage, so a
	// fleet that lost its venue at once keeps its dials spread evenly
	// instead of in waves. Once 1.5 times the outage reaches Max, the
	// client waits Max·(1+φ)/2 between dials.
	OutageBounded
)

var backoffModes = enum.NewList[BackoffMode]("BackoffMode(%d)", "default", "full", "outage")

// String returns the mode's name as the CLI spells it: "full", "outage".
func (m BackoffMode) String() string { return backoffModes.Name(m) }

// MarshalText returns String's name, as flag.TextVar prints a default.
func (m BackoffMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText sets m from a name String returns: "full" or "outage".
func (m *BackoffMode) UnmarshalText(b []byte) error {
	v, ok := backoffModes.Parse(string(b))
	if !ok || v == BackoffModeDefault {
		return fmt.Errorf("session: backoff mode %q: want full or outage", b)
	}
	*m = v
	return nil
}

// mode returns b.Mode, or DefaultBackoff's for the zero Mode.
func (b Backoff) mode() BackoffMode { return cmp.Or(b.Mode, DefaultBackoff.Mode) }

// outageStretch is OutageBounded's gap between dials as a multiple of
// the outage so far: a client is back within 1.5 times the outage.
const outageStretch = 1.5

// DelayFor returns the n-th retry's delay (n from 0) by b.Mode (the zero
// Mode is DefaultBackoff's), outage into an outage (Failure.Outage). For
// FullJitter it is Delay's. For OutageBounded it is the wait until the next
// dial of the schedule OutageBounded describes, n aside, with φ = rnd():
// a client passes the same φ through an outage (the default RetryPolicy
// does). rnd returns a float in [0, 1); nil means math/rand/v2.
func (b Backoff) DelayFor(n int, outage time.Duration, rnd func() float64) time.Duration {
	if b.mode() != OutageBounded {
		return b.Delay(n, rnd)
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	phase := rnd()
	if b.Initial <= 0 { // no schedule to follow: as Delay, no wait
		return 0
	}
	if float64(outage)*outageStretch >= float64(b.Max) {
		return equalJitter(b.Max, func() float64 { return phase })
	}
	g := 1 + outageStretch
	e := float64(max(outage, 0))
	// The first dial at or after e: Initial·g^(k+φ-1) with the least k ≥ 0.
	k := 0.0
	if e > 0 {
		k = max(0, math.Ceil(math.Log(e/float64(b.Initial))/math.Log(g)+1-phase))
	}
	at := float64(b.Initial) * math.Pow(g, k+phase-1)
	// A dial that took no time would find its own point again: the next.
	if at <= e*(1+1e-6) {
		at *= g
	}
	return time.Duration(min(at-e, float64(b.Max)))
}

// stormDelay returns how long to wait before the next dial so that, once
// the guard's number of dials happened within its window, dials are at
// least MinGap apart.
func (g StormGuard) stormDelay(dials []time.Time, now time.Time) time.Duration {
	if g.Attempts <= 0 || len(dials) < g.Attempts {
		return 0
	}
	oldest, last := dials[len(dials)-g.Attempts], dials[len(dials)-1]
	if now.Sub(oldest) > g.Window {
		return 0
	}
	return max(0, last.Add(g.MinGap).Sub(now))
}

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
		if sd := g.stormDelay(c.lastDials(), time.Now()); sd > w.Delay {
			w.Reason, w.Delay, w.Dials, w.Window = WaitStormGuard, sd, g.Attempts, g.Window
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
func (c *Client) failure(in step) Failure {
	cause, _ := in.Payload.(error)
	f := Failure{Err: cause, Attempt: int(c.attempts), Outage: clock() - c.outageAt, phase: c.phase, cfg: c.cfg.retry}
	var (
		he *transport.HandshakeError
		ce *transport.CloseError
	)
	switch {
	case in.Event == connfsm.Reconnect:
		f.Kind = KindReconnect
	case errors.As(f.Err, &he):
		f.Kind, f.Status, f.RetryAfter = KindHandshake, he.Status, he.RetryAfter
	case in.From == connfsm.Connecting:
		f.Kind = KindDial
	case errors.As(f.Err, &ce):
		f.Kind, f.Code, f.Reason = KindClose, ce.Code, ce.Reason
	case errors.Is(f.Err, ErrPongTimeout):
		f.Kind = KindPongTimeout
	case errors.Is(f.Err, ErrIdleTimeout):
		f.Kind = KindIdle
	case errors.Is(f.Err, ErrMessageTooBig):
		f.Kind = KindTooBig
	default:
		f.Kind = KindLost
	}
	return f
}

// decide asks the retry policy about f. A policy that panics gives up,
// with an error that wraps both the panic and the failure.
func (c *Client) decide(f Failure) (d Decision, err error) {
	defer func() {
		if p := recover(); p != nil {
			pe := &tasks.PanicError{Task: "backoff", Value: p, Stack: debug.Stack()}
			err = fmt.Errorf("session: the retry policy panicked on %w: %w", f.Err, pe)
		}
	}()
	if c.cfg.retry.policy == nil {
		return f.Default(), nil
	}
	return c.cfg.retry.policy(f), nil
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

var waitReasons = enum.NewList[WaitReason]("WaitReason(%d)",
	"policy", "backoff", "slow_down", "retry_after", "storm_guard", "reconnect", "dial_gate")

// String returns the reason's name as used in logs and JSON, e.g.
// "storm_guard".
func (r WaitReason) String() string { return waitReasons.Name(r) }

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
