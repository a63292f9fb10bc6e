package session

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/transport"
)

type counters struct {
	connects, reconnects    atomic.Uint64
	messagesIn, messagesOut atomic.Uint64
	bytesIn, bytesOut       atomic.Uint64
	pings, pingsSkipped     atomic.Uint64
	lastLag, maxLag         atomic.Int64
	lastRTT, nextDelay      atomic.Int64
	// rare are the counters of what most clients never see: made at the
	// first count (more), which keeps 80 bytes a client less.
	rare atomic.Pointer[rareCounters]
}

// rareCounters are the counters of failures, drops and answers.
type rareCounters struct {
	deadPings, unsent      atomic.Uint64
	answered               atomic.Uint64
	pongWaitsExtended      atomic.Uint64
	lateReads              atomic.Uint64
	dropped, tooBig        atomic.Uint64
	slowDropped, conflated atomic.Uint64
	slowDisconnects        atomic.Uint64
	undecoded              atomic.Uint64
	// buffered mirrors the send buffer's length (Stats.Buffered), so that
	// a snapshot takes no lock a flush holds while it waits on the rate
	// limiter or a write.
	buffered atomic.Int64
}

// more returns the rare counters, made at the first call: to count.
func (c *counters) more() *rareCounters {
	if r := c.rare.Load(); r != nil {
		return r
	}
	c.rare.CompareAndSwap(nil, new(rareCounters))
	return c.rare.Load()
}

// noRare is the rare counters of a client that has counted none: read,
// never written.
var noRare rareCounters

// setBuffered records n messages kept in the send buffer (under bufMu).
func (c *counters) setBuffered(n int) {
	if n == 0 && c.rare.Load() == nil {
		return // nothing was ever kept
	}
	c.more().buffered.Store(int64(n))
}

// seen returns the rare counters, to read: all zero if none was made.
func (c *counters) seen() *rareCounters {
	if r := c.rare.Load(); r != nil {
		return r
	}
	return &noRare
}

// received counts a data message of n bytes handed to OnMessage, or
// discarded without one. The bytes are added before the message, and
// Stats loads the messages before the bytes, so a snapshot never shows a
// message without its bytes (a scrape that waited for a count sees them).
func (c *counters) received(n int) {
	c.bytesIn.Add(uint64(n))
	c.messagesIn.Add(1)
}

// sent counts a data message of n bytes written to a connection, bytes
// first for the same reason.
func (c *counters) sent(n int) {
	c.bytesOut.Add(uint64(n))
	c.messagesOut.Add(1)
}

// Stats is a snapshot of a client's counters.
type Stats struct {
	Connects    uint64        // connections that reached Alive
	Reconnects  uint64        // Connects after the first
	MessagesIn  uint64        // data messages handed to OnMessage, or taken by the loop over Messages (or discarded without either)
	MessagesOut uint64        // data messages written to a connection
	BytesIn     uint64        // payload bytes of MessagesIn
	BytesOut    uint64        // payload bytes of MessagesOut
	Pings       uint64        // pings written
	LastRTT     time.Duration // round trip of the last answered ping
	// DeadPings counts heartbeat ticks that found their connection already
	// failed; the heartbeat pings nothing then and reports the failure.
	// The lifecycle cancels the heartbeat when the reader sees the
	// failure, so this stays 0 in practice: it is there to be checked.
	DeadPings uint64
	// Unsent counts accepted messages that were never written: buffered
	// when the client closed, or whose flush failed.
	Unsent uint64
	// NextDelay is the wait before a dial chosen last (see Wait).
	NextDelay time.Duration
	// AnsweredPings counts the peer's application pings answered
	// (WithPingResponder).
	AnsweredPings uint64
	// PingsSkipped counts the heartbeat's looks at a connection that had
	// read a message within the ping interval, and so needed no protocol
	// ping (see WithAlwaysPing).
	PingsSkipped uint64
	// PongWaitsExtended counts the lengthenings of waits for a heartbeat's
	// reply because the heartbeat itself woke up late: the process was
	// overloaded, which is not the peer's fault.
	PongWaitsExtended uint64
	// LateReads counts the waits for a heartbeat's reply that expired while
	// bytes from the peer lay unread in the socket: the process, not the
	// peer, was late, and the connection was kept (Linux only: elsewhere
	// the socket is not asked).
	LateReads uint64
	// Buffered is the number of accepted messages the send policy keeps
	// now, waiting for the next Alive (WithSendPolicy).
	Buffered int
	// Dropped counts data messages the client had read from the
	// connection but did not hand to OnMessage because the connection
	// ended first: those still held when the drain after the end ran out
	// (see OnMessage), those read during the close handshake, and the one
	// that found the inbox full under the Disconnect policy.
	Dropped uint64
	// TooBig counts connections lost to a message over the read limit
	// (ErrMessageTooBig).
	TooBig uint64
	// SlowDropped counts messages the slow-consumer policy dropped
	// (DropOldest, DropNewest, and Conflate beyond its keys).
	SlowDropped uint64
	// Conflated counts messages replaced by a newer one of their key
	// (Conflate).
	Conflated uint64
	// SlowDisconnects counts connections the Disconnect policy ended.
	SlowDisconnects uint64
	// LastLag and MaxLag are the lag of the last handler call and the
	// largest so far: its start minus the message's Received. With
	// WithPull, the handler is the loop over Messages: the lag runs until
	// the loop takes the message.
	LastLag, MaxLag time.Duration
	// Undecoded counts binary messages that did not decode with the
	// decompression set (WithDecompression), handed over as read.
	Undecoded uint64
}

// lagged records the lag of a handler call starting now for a message
// received at t.
func (c *counters) lagged(t time.Time) {
	if t.IsZero() {
		return
	}
	lag := int64(time.Since(t))
	c.lastLag.Store(lag)
	for {
		m := c.maxLag.Load()
		if lag <= m || c.maxLag.CompareAndSwap(m, lag) {
			return
		}
	}
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() Stats {
	st := Stats{
		Connects:    c.stats.connects.Load(),
		Reconnects:  c.stats.reconnects.Load(),
		MessagesIn:  c.stats.messagesIn.Load(),
		MessagesOut: c.stats.messagesOut.Load(),
		BytesIn:     c.stats.bytesIn.Load(),
		BytesOut:    c.stats.bytesOut.Load(),
		Pings:       c.stats.pings.Load(),
		LastRTT:     time.Duration(c.stats.lastRTT.Load()),
		DeadPings:   c.stats.seen().deadPings.Load(),
		Unsent:      c.stats.seen().unsent.Load(),
		NextDelay:   time.Duration(c.stats.nextDelay.Load()),

		AnsweredPings:     c.stats.seen().answered.Load(),
		PingsSkipped:      c.stats.pingsSkipped.Load(),
		PongWaitsExtended: c.stats.seen().pongWaitsExtended.Load(),
		LateReads:         c.stats.seen().lateReads.Load(),
		Dropped:           c.stats.seen().dropped.Load(),
		TooBig:            c.stats.seen().tooBig.Load(),
		SlowDropped:       c.stats.seen().slowDropped.Load(),
		Conflated:         c.stats.seen().conflated.Load(),
		SlowDisconnects:   c.stats.seen().slowDisconnects.Load(),
		LastLag:           time.Duration(c.stats.lastLag.Load()),
		MaxLag:            time.Duration(c.stats.maxLag.Load()),
		Undecoded:         c.stats.seen().undecoded.Load(),
		Buffered:          int(c.stats.seen().buffered.Load()),
	}
	return st
}

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
// from the client's own goroutines (the heartbeat for PingRTT, the reader
// for Handled, the lifecycle for Record), one at a time per method: they
// must not block and should not allocate.
type ClientProbe interface {
	// Record receives every lifecycle record, after the OnRecord
	// observers; ctx comes from inside the lifecycle.
	Record(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event])
	// PingRTT reports the round trip of an answered heartbeat ping: a
	// protocol ping, or the application heartbeat's (WithAppHeartbeat).
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
func (c *Client) SlowConsumerPolicy() datapath.SlowConsumerPolicy { return c.cfg.slow.Policy }

// handle calls the handler with m, counting its lag (unless pulled: the
// handler is pullHandler, which counts it once the loop takes m), and
// timing it for the probe if there is one.
func (c *Client) handle(h func(context.Context, transport.Message), ctx context.Context, m transport.Message, pulled bool) error {
	if !pulled {
		c.stats.lagged(m.Received)
	}
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
