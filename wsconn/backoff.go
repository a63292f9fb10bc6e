package wsconn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/tasks"
)

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

// backoffTask is Reconnecting's task. It asks the retry policy: a permanent
// cause or a spent budget emits GaveUp; otherwise it waits the jittered delay
// (at least the server's Retry-After and the storm guard's gap) and emits
// RetryDue.
func (c *Client) backoffTask(ctx context.Context, emit emitFn) error {
	cause, attempts := c.cause, c.attempts
	v, err := c.safeVerdict(cause)
	if err != nil {
		emit(connfsm.GaveUp, &GaveUpError{Attempts: attempts, Cause: err})
		return nil
	}
	if cause != nil && v == Permanent {
		emit(connfsm.GaveUp, &GaveUpError{Attempts: attempts, Cause: cause})
		return nil
	}
	if max := c.cfg.backoff.MaxAttempts; max > 0 && attempts >= max {
		emit(connfsm.GaveUp, &GaveUpError{Attempts: attempts, Cause: fmt.Errorf("%w: %w", ErrRetriesExhausted, cause)})
		return nil
	}
	now := time.Now()
	delay := c.cfg.backoff.Delay(attempts-1, c.cfg.rnd)
	var he *HandshakeError
	if errors.As(cause, &he) && he.RetryAfter > delay {
		delay = he.RetryAfter
	}
	delay = max(delay, c.cfg.storm.stormDelay(c.dials, now))
	c.stats.nextDelay.Store(int64(delay))
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-t.C:
		emit(connfsm.RetryDue, nil)
		return nil
	}
}

// safeVerdict classifies cause; a classifier that panics gives up, with an
// error that wraps both the panic and cause.
func (c *Client) safeVerdict(cause error) (v Verdict, err error) {
	defer func() {
		if p := recover(); p != nil {
			pe := &tasks.PanicError{Task: "backoff", Value: p, Stack: debug.Stack()}
			err = fmt.Errorf("wsconn: the classifier panicked on %w: %w", cause, pe)
		}
	}()
	if cause == nil {
		return Transient, nil
	}
	return c.verdict(cause), nil
}
