package dialrun

import (
	"errors"
	"fmt"
	"time"
)

// Check returns every problem of the settings cfg's flags set, each
// naming its flag (dial's) and the value, joined; nil if there is none.
// A flag in bad, whose value the parser refused already (cfg holds its
// default), is not reported again. Dial checks the same settings, under
// the options' names; Check reports them before anything starts, with
// the command line's other problems.
func (cfg *Config) Check(bad map[string]bool) error {
	var errs []error
	add := func(flag string, err error) {
		if !bad[flag] {
			errs = append(errs, fmt.Errorf("-%s: %w", flag, err))
		}
	}
	for _, d := range []struct {
		flag     string
		d        time.Duration
		positive bool // zero is refused too
	}{
		{"ping", cfg.Ping, true}, {"pong-timeout", cfg.PongTimeout, true}, {"ack-timeout", cfg.AckTimeout, true},
		{"backoff-initial", cfg.Backoff.Initial, false}, {"backoff-max", cfg.Backoff.Max, false},
		{"linger", cfg.Linger, false}, {"idle-timeout", cfg.IdleTimeout, false},
		{"storm-window", cfg.Storm.Window, false}, {"storm-gap", cfg.Storm.MinGap, false},
	} {
		switch {
		case d.positive && d.d <= 0:
			add(d.flag, fmt.Errorf("must be positive, got %v", d.d))
		case d.d < 0:
			add(d.flag, fmt.Errorf("must not be negative, got %v", d.d))
		}
	}
	for _, n := range []struct {
		flag string
		n    int
	}{{"max-attempts", cfg.Backoff.MaxAttempts}, {"buffer", cfg.Buffer}, {"storm-attempts", cfg.Storm.Attempts}} {
		if n.n < 0 {
			add(n.flag, fmt.Errorf("must not be negative, got %d", n.n))
		}
	}
	if b := cfg.Backoff; b.Initial > b.Max && b.Max > 0 && !bad["backoff-max"] {
		add("backoff-initial", fmt.Errorf("%v must not exceed -backoff-max %v", b.Initial, b.Max))
	}
	switch {
	case cfg.PingText != "" && cfg.PongText == "":
		errs = append(errs, errors.New("-ping-text needs -pong-text: the reply that answers it"))
	case cfg.PongText != "" && cfg.PingText == "":
		errs = append(errs, errors.New("-pong-text needs -ping-text: the heartbeat it answers"))
	}
	if cfg.SubscribeAck != "" && len(cfg.Subscribe) == 0 {
		add("subscribe-ack", errors.New("needs -subscribe: the messages it acknowledges"))
	}
	if cfg.SubscribeNack != "" && cfg.SubscribeAck == "" {
		add("subscribe-nack", errors.New("needs -subscribe-ack: only a subscription awaiting its ack is refused"))
	}
	return errors.Join(errs...)
}
