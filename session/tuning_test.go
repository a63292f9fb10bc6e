package session

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/connfsm/connfsm/session/transport"
	"github.com/google/go-cmp/cmp"
)

// TestTuningShared: clients that keep the default timeouts and limits
// share one tuning value; one option gives a client its own, and never
// writes the shared one.
func TestTuningShared(t *testing.T) {
	want := *defaultTuning()
	tests := []struct {
		name   string
		opts   []Option
		shared bool
	}{
		{"defaults", nil, true},
		{"heartbeat", []Option{WithHeartbeat(time.Second, 2*time.Second)}, false},
		{"read limit", []Option{WithReadLimit(1 << 10)}, false},
		{"close timeout", []Option{WithCloseTimeout(time.Second)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newConfig(nil, tt.opts)
			got := cfg.tuning.shared()
			if (got == defaultTuning()) != tt.shared {
				t.Errorf("shares the default tuning: %v, want %v", got == defaultTuning(), tt.shared)
			}
			if diff := cmp.Diff(cfg.tuning, *got, cmp.AllowUnexported(tuning{})); diff != "" {
				t.Errorf("the client's tuning is not the options' (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, *defaultTuning(), cmp.AllowUnexported(tuning{})); diff != "" {
				t.Errorf("the shared default tuning was written (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTuningSharedAmongEqual: clients with the same tuning other than
// the default share one value, and clients with another keep theirs; an
// application heartbeat is never kept in the shared values. Past
// maxSharedTunings, each client keeps its own.
func TestTuningSharedAmongEqual(t *testing.T) {
	sharedTunings.Lock()
	kept := sharedTunings.m
	sharedTunings.m = nil // the other tests' tunings may have filled it
	sharedTunings.Unlock()
	t.Cleanup(func() {
		sharedTunings.Lock()
		sharedTunings.m = kept
		sharedTunings.Unlock()
	})
	one := newConfig(nil, []Option{WithHeartbeat(time.Second, 3*time.Second)}).tuning.shared()
	if got := newConfig(nil, []Option{WithHeartbeat(time.Second, 3*time.Second)}).tuning.shared(); got != one {
		t.Error("two clients with the same heartbeat keep a tuning each, want one shared")
	}
	other := newConfig(nil, []Option{WithHeartbeat(time.Second, 4*time.Second)}).tuning.shared()
	if other == one || other.pongTimeout != 4*time.Second || one.pongTimeout != 3*time.Second {
		t.Errorf("tunings %+v and %+v: want two values with their own pong timeouts", *one, *other)
	}
	app := []Option{WithAppHeartbeat(AppHeartbeat{Ping: []byte("p"), IsPong: func(transport.Message) bool { return false }})}
	if a, b := newConfig(nil, app).tuning.shared(), newConfig(nil, app).tuning.shared(); a == b {
		t.Error("tunings with an application heartbeat are shared, want each its own")
	}
	// Fill the map with read limits no other test uses.
	for i := range maxSharedTunings {
		newConfig(nil, []Option{WithReadLimit(int64(7<<20 + i))}).tuning.shared()
	}
	past := []Option{WithReadLimit(9 << 20)}
	if a, b := newConfig(nil, past).tuning.shared(), newConfig(nil, past).tuning.shared(); a == b {
		t.Error("a tuning past the map's bound is shared, want each its own")
	}
	sharedTunings.Lock()
	defer sharedTunings.Unlock()
	if len(sharedTunings.m) > maxSharedTunings {
		t.Errorf("%d shared tunings, want at most %d", len(sharedTunings.m), maxSharedTunings)
	}
}

// TestHooksShared: clients that set no hook (OnConnect, a logger, a
// limiter...) share one hooks value; one option gives a client its own.
func TestHooksShared(t *testing.T) {
	tests := []struct {
		name   string
		opts   []Option
		shared bool
	}{
		{"none", nil, true},
		{"handler only", []Option{OnMessage(func(context.Context, transport.Message) {})}, true},
		{"OnConnect", []Option{OnConnect(func(context.Context, *Session) error { return nil })}, false},
		{"logger", []Option{WithLogger(slog.New(slog.DiscardHandler))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newConfig(nil, tt.opts)
			got := cfg.clientSettings()
			if (got.hooks == &noHooks) != tt.shared {
				t.Errorf("shares the empty hooks: %v, want %v", got.hooks == &noHooks, tt.shared)
			}
			if (got.onConnect != nil) != (cfg.onConnect != nil) || (got.logger != nil) != (cfg.logger != nil) {
				t.Error("the client's hooks are not the options'")
			}
		})
	}
	if noHooks.onConnect != nil || noHooks.logger != nil {
		t.Error("the shared empty hooks were written")
	}
}
