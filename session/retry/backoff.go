package retry

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/connfsm/connfsm/internal/enum"
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
	// connection (see session.WithStablePeriod) after which the client gives up
	// (Err wraps ErrRetriesExhausted); 0 retries forever. A connection that
	// drops before the stable period does not reset the count, so a
	// flapping server spends the budget too.
	MaxAttempts int
}

// StormGuard enforces a minimum gap between dials once Attempts dials have
// happened within Window, on top of the backoff: a server that accepts and
// drops at once cannot make the client hammer it (venues commonly allow a few
// hundred connections per IP per five minutes). Only dials made count: an
// attempt whose credentials (wsconn.WithCredentials) or dial gate failed never
// left the client.
type StormGuard struct {
	Attempts int           // dials within Window that turn the guard on
	Window   time.Duration // how far back dials are counted
	MinGap   time.Duration // the least time between two dials while on
}

var (
	// DefaultBackoff is the policy used when session.WithBackoff is not given.
	DefaultBackoff = Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Mode: OutageBounded}
	// DefaultStormGuard is the storm guard used when session.WithStormGuard is
	// not given.
	DefaultStormGuard = StormGuard{Attempts: 10, Window: time.Minute, MinGap: 5 * time.Second}
)

// WithDefaults returns b with its zero fields set to DefaultBackoff's,
// keeping Initial <= Max when only one of them is given.
func (b Backoff) WithDefaults() Backoff {
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
	// OutageBounded, the default, dials on a schedule set by the outage, not by
	// the attempts: the client's dials stand at Initial·2.5^(k+φ-1) after it
	// lost its connection (Failure.Outage), k = 0, 1, 2, .... Each gap is 1.5
	// times the outage at the dial before it, so a client is back within 1.5
	// times the outage after the venue is up: 4.5 s after a 3 s outage. φ is
	// the client's phase, drawn once an outage, so a fleet that lost its venue
	// at once keeps its dials spread evenly instead of in waves. Once 1.5 times
	// the outage reaches Max, the client waits Max·(1+φ)/2 between dials.
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

// Delay returns how long to wait before the next dial so that, once
// the guard's number of dials happened within its window, dials are at
// least MinGap apart.
func (g StormGuard) Delay(dials []time.Time, now time.Time) time.Duration {
	if g.Attempts <= 0 || len(dials) < g.Attempts {
		return 0
	}
	oldest, last := dials[len(dials)-g.Attempts], dials[len(dials)-1]
	if now.Sub(oldest) > g.Window {
		return 0
	}
	return max(0, last.Add(g.MinGap).Sub(now))
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
	// WaitDialGate: the dial gate held the dial longer than the rest of the
	// wait (session.WithDialGate; session.Wait.Gate): a budget of dials shared
	// with other clients, such as a Pool's.
	WaitDialGate
)

var waitReasons = enum.NewList[WaitReason]("WaitReason(%d)",
	"policy", "backoff", "slow_down", "retry_after", "storm_guard", "reconnect", "dial_gate")

// String returns the reason's name as used in logs and JSON, e.g.
// "storm_guard".
func (r WaitReason) String() string { return waitReasons.Name(r) }
