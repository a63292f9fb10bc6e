package retry

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func TestBackoffDelayFor(t *testing.T) {
	ms := time.Millisecond
	outage := Backoff{Initial: 500 * ms, Max: 30 * time.Second, Multiplier: 2, Mode: OutageBounded}
	full := outage
	full.Mode = FullJitter
	zero := outage
	zero.Mode = BackoffModeDefault
	tests := []struct {
		name   string
		b      Backoff
		n      int
		outage time.Duration
		rnd    float64
		want   time.Duration
	}{
		// Dials stand at 500ms·2.5^(k+φ-1) after the loss (200ms, 500ms,
		// 1.25s, 3.125s, 7.8125s, 19.53s at φ = 0); the delay is the wait
		// for the next one, n aside.
		{"first dial after the loss, φ = 0", outage, 0, 0, 0, 200 * ms},
		{"first dial after the loss, φ = 0.5", outage, 0, 0, 0.5, 316227766},
		{"3s into the outage, φ = 0", outage, 5, 3 * time.Second, 0, 125 * ms},
		{"3s into the outage, φ = 0.5", outage, 5, 3 * time.Second, 0.5, 1941058844},
		{"n is ignored", outage, 40, 3 * time.Second, 0.5, 1941058844},
		{"a dial at its own point: the next", outage, 5, 3125 * ms, 0, 4687500 * time.Microsecond},
		{"19s in: the gap is still below Max", outage, 5, 19 * time.Second, 0, 531250 * time.Microsecond},
		{"20s in, 1.5 times the outage is Max: Max/2", outage, 5, 20 * time.Second, 0, 15 * time.Second},
		{"long outage: Max, top", outage, 40, 10 * time.Minute, justBelowOne, 30 * time.Second},
		{"zero Initial: no wait, as FullJitter's", Backoff{Max: time.Second, Mode: OutageBounded}, 3, time.Second, 0.5, 0},
		{"zero Backoff: no wait", Backoff{Mode: OutageBounded}, 3, time.Second, 0.5, 0},
		{"FullJitter ignores the outage", full, 5, 3 * time.Second, 0.5, 8 * time.Second},
		{"FullJitter can draw 0", full, 5, 3 * time.Second, 0, 0},
		{"zero Mode is DefaultBackoff's", zero, 5, 3 * time.Second, 0.5, pick(DefaultBackoff.Mode, 8*time.Second, 1941058844)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.b.DelayFor(tt.n, tt.outage, fixedRnd(tt.rnd)).Round(time.Nanosecond * 10)
			tt.want = tt.want.Round(time.Nanosecond * 10)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DelayFor(%d, %v) with rnd %v (-want +got):\n%s", tt.n, tt.outage, tt.rnd, diff)
			}
		})
	}
}

// pick returns full for FullJitter, outage for OutageBounded.
func pick(m BackoffMode, full, outage time.Duration) time.Duration {
	if m == OutageBounded {
		return outage
	}
	return full
}

func TestBackoffModeText(t *testing.T) {
	for _, m := range []BackoffMode{FullJitter, OutageBounded} {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%v): %v", m, err)
		}
		var got BackoffMode
		if err := got.UnmarshalText(b); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", b, err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", b, diff)
		}
	}
	var m BackoffMode
	err := m.UnmarshalText([]byte("decorrelated"))
	if diff := cmp.Diff(`session: backoff mode "decorrelated": want full or outage`, errString(err)); diff != "" {
		t.Errorf("UnmarshalText of an unknown name (-want +got):\n%s", diff)
	}
}

// TestOutageBoundedSchedule: for any Initial ≤ Max, phase and dial
// durations, a client following DelayFor through an outage waits at most
// Max, at most 1.5 times the outage at the dial before once past the first
// dial (so it is back within 1.5 times an outage), and with one phase its
// dials stand on the points Initial·2.5^(k+φ-1) until the gaps reach Max.
func TestOutageBoundedSchedule(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		initial := time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(2*time.Second)).Draw(rt, "initial"))
		maxWait := initial + time.Duration(rapid.Int64Range(0, int64(time.Minute)).Draw(rt, "extra"))
		phase := rapid.Float64Range(0, justBelowOne).Draw(rt, "phase")
		b := Backoff{Initial: initial, Max: maxWait, Multiplier: 2, Mode: OutageBounded}
		rnd := func() float64 { return phase }
		var e time.Duration // the outage so far
		for i := range 40 {
			d := b.DelayFor(i, e, rnd)
			if d < 0 || d > maxWait {
				rt.Fatalf("dial %d, %v into the outage: wait %v, want within [0, %v]", i, e, d, maxWait)
			}
			at := e + d
			if i > 0 && float64(e)*outageStretch < float64(maxWait) && float64(at) > float64(e)*(1+outageStretch)+2 {
				rt.Fatalf("dial %d at %v after one at %v: the gap is over 1.5 times the outage", i, at, e)
			}
			if float64(at-d)*outageStretch < float64(maxWait) {
				// On the schedule: log(at/Initial)/log(2.5) + 1 - φ is a whole number.
				k := math.Log(float64(at)/float64(initial))/math.Log(1+outageStretch) + 1 - phase
				// Within what rounding to whole nanoseconds moves it.
				if tol := 2 / float64(at) / math.Log(1+outageStretch); math.Abs(k-math.Round(k)) > tol {
					rt.Fatalf("dial %d at %v is off the schedule (k = %v)", i, at, k)
				}
			}
			// The dial itself takes a while: from nothing to a long refusal.
			e = at + time.Duration(rapid.Int64Range(0, int64(time.Second)).Draw(rt, "dial"))
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
