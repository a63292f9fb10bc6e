package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// chaosRecovery is how long before the end of a run the chaos stops, so the
// run can check that every client came back.
const chaosRecovery = 30 * time.Second

// chaosFault is one fault the chaos mode applies to the server.
type chaosFault struct {
	name  string
	apply func(ctx context.Context, srv *loadServer, f loadFlags) error
}

var chaosFaults = []chaosFault{
	{"reset", func(_ context.Context, srv *loadServer, _ loadFlags) error { return srv.reset() }},
	{"blackhole", func(ctx context.Context, srv *loadServer, f loadFlags) error {
		// Long enough for every heartbeat to notice: one ping interval
		// plus the pong timeout, and a little more.
		if err := srv.blackhole(true); err != nil {
			return err
		}
		sleepCtx(ctx, f.ping+f.pong+f.ping/2)
		err := srv.blackhole(false)
		if rerr := srv.reset(); err == nil {
			err = rerr // the server side of the half-open connections
		}
		return err
	}},
	{"restart", func(ctx context.Context, srv *loadServer, _ loadFlags) error {
		if err := srv.down(); err != nil {
			_ = srv.up()
			return err
		}
		sleepCtx(ctx, time.Second+rand.N(2*time.Second))
		return srv.up()
	}},
}

// chaosEvent is one applied fault, for the report.
type chaosEvent struct {
	AtSeconds float64 `json:"at_seconds"`
	Fault     string  `json:"fault"`
	Err       string  `json:"err,omitempty"`
}

// runChaos applies a random fault about every f.chaos (±50%) from steady
// until chaosRecovery before the end, and returns what it did: the report
// lists it (printing here would race the progress line).
func runChaos(ctx context.Context, srv *loadServer, f loadFlags, steady time.Time) []chaosEvent {
	var events []chaosEvent
	stopAt := steady.Add(f.duration - chaosRecovery)
	for {
		wait := f.chaos/2 + rand.N(f.chaos)
		if time.Now().Add(wait).After(stopAt) || !sleepCtx(ctx, wait) {
			return events
		}
		fault := chaosFaults[rand.IntN(len(chaosFaults))]
		ev := chaosEvent{AtSeconds: time.Since(steady).Seconds(), Fault: fault.name}
		if err := fault.apply(ctx, srv, f); err != nil {
			ev.Err = err.Error()
		}
		events = append(events, ev)
	}
}

// reset drops every connection without a close handshake.
func (s *loadServer) reset() error {
	if s.embedded != nil {
		s.embedded.ResetAll()
		return nil
	}
	return s.post("reset")
}

// blackhole turns the server into a half-open peer, or back.
func (s *loadServer) blackhole(on bool) error {
	if s.embedded != nil {
		s.embedded.Blackhole(on)
		return nil
	}
	return s.post(fmt.Sprintf("blackhole?on=%t", on))
}
