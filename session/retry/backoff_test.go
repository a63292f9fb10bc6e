package retry

import (
	"math"
	"testing"
	"time"
)

// justBelowOne is the largest float64 below 1: the top of rnd's range.
var justBelowOne = math.Nextafter(1, 0)

func fixedRnd(v float64) func() float64 { return func() float64 { return v } }

func TestBackoffCapFor(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	tests := []struct {
		name string
		b    Backoff
		n    int
		want time.Duration
	}{
		{"first retry", b, 0, 100 * time.Millisecond},
		{"negative n counts as first", b, -3, 100 * time.Millisecond},
		{"grows by Multiplier", b, 1, 200 * time.Millisecond},
		{"grows by Multiplier again", b, 3, 800 * time.Millisecond},
		{"capped at Max", b, 4, time.Second},
		{"stays at Max", b, 40, time.Second},
		{"Multiplier^n overflows to +Inf", b, 5000, time.Second},
		{"Multiplier 1 never grows", Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 1}, 50, time.Second},
		{"fractional Multiplier", Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 1.5}, 2, 2250 * time.Millisecond},
		{"largest Max", Backoff{Initial: time.Second, Max: math.MaxInt64, Multiplier: 10}, 100, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.capFor(tt.n); got != tt.want {
				t.Errorf("capFor(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestBackoffDelayJitter(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	huge := Backoff{Initial: time.Second, Max: math.MaxInt64, Multiplier: 2}
	tests := []struct {
		name string
		b    Backoff
		n    int
		rnd  float64
		want time.Duration
	}{
		{"rnd 0: no wait", b, 0, 0, 0},
		{"rnd 0 at the cap", b, 10, 0, 0},
		{"rnd 0.5: half the cap", b, 0, 0.5, 50 * time.Millisecond},
		{"rnd 0.5 grown", b, 2, 0.5, 200 * time.Millisecond},
		{"rnd 0.5 capped", b, 9, 0.5, 500 * time.Millisecond},
		{"rnd just below 1: the cap", b, 0, justBelowOne, 100 * time.Millisecond},
		{"rnd just below 1 grown", b, 3, justBelowOne, 800 * time.Millisecond},
		{"rnd just below 1 capped", b, 9, justBelowOne, time.Second},
		// Max at the largest Duration: cap+1 must not wrap to a negative
		// delay, which would make the timer fire at once.
		{"largest Max, rnd 0.5", huge, 100, 0.5, math.MaxInt64 / 2},
		{"largest Max, rnd just below 1", huge, 100, justBelowOne, math.MaxInt64 - 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.b.Delay(tt.n, fixedRnd(tt.rnd))
			// Float rounding may cost a nanosecond either way.
			if diff := got - tt.want; diff < -1 || diff > 1 {
				t.Errorf("Delay(%d) with rnd %v = %v, want %v (±1ns)", tt.n, tt.rnd, got, tt.want)
			}
			if cap := tt.b.capFor(tt.n); got < 0 || got > cap {
				t.Errorf("Delay(%d) = %v, outside [0, %v]", tt.n, got, cap)
			}
		})
	}
}

// With the real random source, delays are spread over [0, cap]: full
// jitter, so clients that lost the same server do not come back in step.
func TestBackoffDelaySpread(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	const n, samples = 3, 2000
	cap := b.capFor(n)
	distinct := map[time.Duration]bool{}
	var sum float64
	var low, high int
	for range samples {
		d := b.Delay(n, nil)
		if d < 0 || d > cap {
			t.Fatalf("Delay(%d) = %v, outside [0, %v]", n, d, cap)
		}
		distinct[d] = true
		sum += float64(d)
		switch {
		case d < cap/4:
			low++
		case d > cap*3/4:
			high++
		}
	}
	// Each bound is many standard deviations away from what a uniform
	// source gives, so these checks do not flake.
	if len(distinct) < samples*9/10 {
		t.Errorf("only %d distinct delays out of %d", len(distinct), samples)
	}
	if mean := sum / samples / float64(cap); mean < 0.4 || mean > 0.6 {
		t.Errorf("mean delay is %.3f of the cap, want about 0.5", mean)
	}
	if low < samples/8 || high < samples/8 {
		t.Errorf("%d delays in the lowest quarter and %d in the highest, want about %d each", low, high, samples/4)
	}
}

func TestStormDelay(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(secs ...int) []time.Time {
		var out []time.Time
		for _, s := range secs {
			out = append(out, t0.Add(time.Duration(s)*time.Second))
		}
		return out
	}
	g := StormGuard{Attempts: 3, Window: 10 * time.Second, MinGap: 2 * time.Second}
	tests := []struct {
		name  string
		g     StormGuard
		dials []time.Time
		now   int // seconds after t0
		want  time.Duration
	}{
		{"no dials yet", g, nil, 0, 0},
		{"fewer dials than Attempts", g, at(0, 1), 1, 0},
		{"Attempts dials within Window: MinGap after the last", g, at(0, 1, 2), 2, 2 * time.Second},
		{"part of the gap already passed", g, at(0, 1, 2), 3, time.Second},
		{"gap already passed", g, at(0, 1, 2), 5, 0},
		{"oldest of the last Attempts outside Window", g, at(0, 5, 9), 11, 0},
		{"exactly Window after the oldest still counts", g, at(0, 9, 10), 10, 2 * time.Second},
		{"only the last Attempts dials count", g, at(0, 1, 20, 21, 22), 22, 2 * time.Second},
		{"zero guard is disabled", StormGuard{}, at(0, 0, 0, 0), 0, 0},
		{"negative Attempts is disabled", StormGuard{Attempts: -1, Window: time.Minute, MinGap: time.Minute}, at(0, 0), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(time.Duration(tt.now) * time.Second)
			if got := tt.g.Delay(tt.dials, now); got != tt.want {
				t.Errorf("stormDelay = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSlowDelayJitter: a slowed-down delay is never below half its cap.
func TestSlowDelayJitter(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2}
	for _, tt := range []struct {
		rnd  float64
		want time.Duration
	}{{0, 4 * time.Second}, {0.5, 6 * time.Second}, {justBelowOne, 8 * time.Second}} {
		if got := b.slowDelay(3, fixedRnd(tt.rnd)); got.Round(time.Millisecond) != tt.want {
			t.Errorf("slowDelay(3) with rnd %v = %v, want %v", tt.rnd, got, tt.want)
		}
	}
}
