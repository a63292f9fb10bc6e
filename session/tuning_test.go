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
