package loadgen

import (
	"cmp"
	"context"
	"math/rand/v2"
	"time"
)

// chaosFault is one fault the chaos mode applies to the server.
type chaosFault struct {
	name  string
	apply func(ctx context.Context, srv *server, f Config) error
}

var chaosFaults = []chaosFault{
	{"reset", func(_ context.Context, srv *server, _ Config) error { return srv.reset() }},
	{"blackhole", func(ctx context.Context, srv *server, f Config) error {
		if err := srv.blackhole(true); err != nil {
			return err
		}
		sleepCtx(ctx, blackholeFor(f))
		err := srv.blackhole(false)
		if rerr := srv.reset(); err == nil {
			err = rerr // the server side of the half-open connections
		}
		return err
	}},
	{"restart", func(ctx context.Context, srv *server, _ Config) error {
		if err := srv.down(); err != nil {
			_ = srv.up()
			return err
		}
		sleepCtx(ctx, time.Second+rand.N(maxChaosDown-time.Second))
		return srv.up()
	}},
}

// maxChaosDown is the longest a chaos restart keeps the server down.
const maxChaosDown = 3 * time.Second

// blackholeFor is how long a chaos blackhole lasts: long enough for every
// heartbeat to notice, one ping interval plus the pong timeout, and a
// little more.
func blackholeFor(f Config) time.Duration { return f.Ping + f.Pong + f.Ping/2 }

// ChaosEvent is one applied fault, for the report.
type ChaosEvent struct {
	AtSeconds float64 `json:"at_seconds"`
	Fault     string  `json:"fault"`
	Err       string  `json:"err,omitempty"`
}

// runChaos applies a random fault about every f.Chaos (±50%) from steady,
// each ending by f.ChaosRecovery (default ChaosRecovery) before the end,
// and returns what it did: the report lists it (printing here would race
// the progress line).
func runChaos(ctx context.Context, srv *server, f Config, steady time.Time) []ChaosEvent {
	var events []ChaosEvent
	stopAt := steady.Add(f.Duration - cmp.Or(f.ChaosRecovery, ChaosRecovery))
	hold := max(maxChaosDown, blackholeFor(f)) // the longest a fault lasts
	for {
		wait := f.Chaos/2 + rand.N(f.Chaos)
		if time.Now().Add(wait+hold).After(stopAt) || !sleepCtx(ctx, wait) {
			return events
		}
		fault := chaosFaults[rand.IntN(len(chaosFaults))]
		ev := ChaosEvent{AtSeconds: time.Since(steady).Seconds(), Fault: fault.name}
		if err := fault.apply(ctx, srv, f); err != nil {
			ev.Err = err.Error()
		}
		events = append(events, ev)
	}
}
