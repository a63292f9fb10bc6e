package session

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
)

// Probe measures clients for a metrics library: Dial attaches it to each
// client it starts (WithProbe), and the client reports to what Attach
// returns the values neither its records nor Stats carry one by one. The
// client never depends on a probe's outcome: a probe that panics is
// recovered and no longer called.
type Probe interface {
	// Attach is called by Dial once per client, before the client starts
	// (a Pool's clients each). An error fails Dial with a *ConfigError,
	// and nothing starts: a probe refuses a client it measures already.
	Attach(c *Client) (ClientProbe, error)
}

// ClientProbe receives one client's measurements. Its methods are called
// from the client's own goroutines (the reader for PingRTT and Handled,
// the lifecycle for Record), one at a time per method: they must not block
// and should not allocate.
type ClientProbe interface {
	// Record receives every lifecycle record, after the OnRecord
	// observers; ctx comes from inside the lifecycle.
	Record(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event])
	// PingRTT reports the round trip of an answered protocol ping.
	PingRTT(rtt time.Duration)
	// Handled reports one OnMessage call: lag is the time from the
	// message's read to the handler's start, took the handler's duration.
	Handled(lag, took time.Duration)
}

// WithProbe attaches p to the client (to each client of a Pool). A client
// has at most one probe: WithProbe given twice, or a nil p, is a
// configuration error.
func WithProbe(p Probe) Option {
	return func(c *config) {
		switch {
		case p == nil || isNilPointer(p):
			c.problems = append(c.problems, errors.New("WithProbe: nil probe"))
		case c.probe != nil:
			c.problems = append(c.problems, errors.New("WithProbe: given twice (a client has one probe)"))
		default:
			c.probe = p
		}
	}
}

// probed guards a ClientProbe: the first panic of one of its methods turns
// it off, so that a broken metrics library costs the client its metrics,
// never its connection.
type probed struct {
	p   ClientProbe
	off atomic.Bool
}

// attachProbe asks the configured probe for c's ClientProbe.
func attachProbe(p Probe, c *Client) (cp *probed, err error) {
	defer func() {
		if v := recover(); v != nil {
			cp, err = nil, errors.New("WithProbe: Attach panicked")
		}
	}()
	got, err := p.Attach(c)
	if err != nil {
		return nil, err
	}
	if got == nil || isNilPointer(got) {
		return nil, errors.New("WithProbe: Attach returned a nil ClientProbe")
	}
	return &probed{p: got}, nil
}

func (p *probed) record(ctx context.Context, r record) {
	if p.off.Load() {
		return
	}
	defer p.recover()
	p.p.Record(ctx, r)
}

func (p *probed) pingRTT(rtt time.Duration) {
	if p.off.Load() {
		return
	}
	defer p.recover()
	p.p.PingRTT(rtt)
}

func (p *probed) handled(lag, took time.Duration) {
	if p.off.Load() {
		return
	}
	defer p.recover()
	p.p.Handled(lag, took)
}

func (p *probed) recover() {
	if recover() != nil {
		p.off.Store(true)
	}
}

// SlowConsumerPolicy returns the client's slow-consumer policy
// (WithSlowConsumer): what its Stats.SlowDropped counts the drops of.
func (c *Client) SlowConsumerPolicy() SlowConsumerPolicy { return c.cfg.slow.Policy }

// handle calls the handler with m, counting its lag, and timing it for
// the probe if there is one.
func (c *Client) handle(h func(context.Context, Message), ctx context.Context, m Message) error {
	c.stats.lagged(m.Received)
	if c.probe == nil {
		return call(h, ctx, m)
	}
	begin := time.Now()
	err := call(h, ctx, m)
	var lag time.Duration
	if !m.Received.IsZero() {
		lag = begin.Sub(m.Received)
	}
	c.probe.handled(lag, time.Since(begin))
	return err
}
