package dialrun

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCheck: each bad setting is named by its flag, and a flag the parser
// refused already (its setting left at the default) is not named again.
func TestCheck(t *testing.T) {
	valid := Config{Ping: time.Second, PongTimeout: time.Second, AckTimeout: time.Second}
	tests := []struct {
		name string
		edit func(c *Config)
		bad  map[string]bool
		want []string
	}{
		{"valid", func(*Config) {}, nil, nil},
		{"zero ping", func(c *Config) { c.Ping = 0 }, nil, []string{"-ping: must be positive, got 0s"}},
		{"zero ping refused by the parser", func(c *Config) { c.Ping = 0 }, map[string]bool{"ping": true}, nil},
		{"backoff inverted", func(c *Config) { c.Backoff.Initial, c.Backoff.Max = 2*time.Second, time.Second }, nil,
			[]string{"-backoff-initial: 2s must not exceed -backoff-max 1s"}},
		{"backoff max refused", func(c *Config) { c.Backoff.Initial, c.Backoff.Max = 2*time.Second, time.Second }, map[string]bool{"backoff-max": true}, nil},
		{"storm guard off by a zero", func(c *Config) { c.Storm.Attempts = 0 }, nil, nil},
		{"pong text alone", func(c *Config) { c.PongText = "pong" }, nil, []string{"-pong-text needs -ping-text: the heartbeat it answers"}},
		{"nack, ack, no subscription", func(c *Config) { c.SubscribeAck, c.SubscribeNack = "ok", "no" }, nil,
			[]string{"-subscribe-ack: needs -subscribe: the messages it acknowledges"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			var got []string
			if err := cfg.Check(tt.bad); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
