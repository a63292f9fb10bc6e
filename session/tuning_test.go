package session

import (
	"testing"
	"time"
	"unsafe"

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
	// Every byte of a Client is paid once per connection: it stays within
	// the 576-byte size class.
	if n := unsafe.Sizeof(Client{}); n > 576 {
		t.Errorf("a Client is %d bytes, over 576", n)
	}
}
