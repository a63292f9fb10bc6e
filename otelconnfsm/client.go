package otelconnfsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/enum"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/wsconn"
)

// The machine labels of the clients' lifecycle (WithClientMachine).
const (
	// ClientMachine labels wsconn clients, the default.
	ClientMachine = "wsconn"
	// TCPClientMachine labels tcpconn clients.
	TCPClientMachine = "tcpconn"
)

// Clients measures wsconn or tcpconn clients: their lifecycle as Machines
// does (machine="wsconn", or WithClientMachine's label), and what they
// carry. It is a wsconn.Probe: give Option to Dial or to NewPool (whose
// every client it then measures).
// Counters of messages and bytes read the clients' Stats when collected,
// so the message path pays nothing for them; ping round trips, handler
// times and lags are recorded as they happen, without allocating.
type Clients struct {
	machines *Machines[connfsm.State, connfsm.Event]
	reg      metric.Registration
	release  func() // gives the provider back for another Clients

	rtt, handler, lag metric.Float64Histogram
	waits, lost       metric.Int64Counter
	waitAdd           [][]metric.AddOption // by wsconn.WaitReason
	causeAdd          [][]metric.AddOption // by Cause

	// subs counts the subscriptions in each state (but Removed).
	subs [subscription.Removed]atomic.Int64

	mu      sync.Mutex
	live    map[*wsconn.Client]struct{}
	retired totals // the sum of the clients that have ended
}

// totals are the counters summed over clients; dropped is by DropPolicy.
type totals struct {
	msgIn, msgOut, bytesIn, bytesOut uint64
	dropped                          [dropCount]uint64
	buffered                         int
}

// DropPolicy is what dropped a message: the label policy of
// connfsm.messages.dropped, a closed set.
type DropPolicy uint8

// The drop policies.
const (
	// DropOldest and DropNewest: the slow-consumer policies of those
	// names dropped it (wsconn.DropOldest, wsconn.DropNewest).
	DropOldest DropPolicy = iota
	DropNewest
	// DropConflate: wsconn.Conflate replaced it by a newer message of its
	// key, or dropped it beyond its keys.
	DropConflate
	// DropEnded: read, but not handed to the handler because its
	// connection ended first (wsconn.Stats.Dropped).
	DropEnded
	// DropUnsent: accepted by Send, never written (wsconn.Stats.Unsent).
	DropUnsent

	dropCount
)

var dropPolicies = enum.NewList[DropPolicy]("DropPolicy(%d)", "drop-oldest", "drop-newest", "conflate", "ended", "unsent")

// String returns the label value, e.g. "drop-oldest".
func (p DropPolicy) String() string { return dropPolicies.Name(p) }

// add adds c's counters.
func (t *totals) add(c *wsconn.Client) {
	s := c.Stats()
	t.msgIn += s.MessagesIn
	t.msgOut += s.MessagesOut
	t.bytesIn += s.BytesIn
	t.bytesOut += s.BytesOut
	t.dropped[DropEnded] += s.Dropped
	t.dropped[DropUnsent] += s.Unsent
	switch c.SlowConsumerPolicy() {
	case wsconn.DropOldest:
		t.dropped[DropOldest] += s.SlowDropped
	case wsconn.DropNewest:
		t.dropped[DropNewest] += s.SlowDropped
	case wsconn.Conflate:
		t.dropped[DropConflate] += s.SlowDropped + s.Conflated
	}
	t.buffered += s.Buffered
}

// merge adds the counters of o, an ended client's: it buffers nothing.
func (t *totals) merge(o totals) {
	t.msgIn += o.msgIn
	t.msgOut += o.msgOut
	t.bytesIn += o.bytesIn
	t.bytesOut += o.bytesOut
	for p, n := range o.dropped {
		t.dropped[p] += n
	}
}

// NewClients makes the clients' instruments and registers the callback
// that reads their Stats. Close undoes it. One Clients serves a meter
// provider, whatever its label: the counters of messages and bytes carry
// no machine label, so a second one's would report the same series. A
// second fails with ErrAttached.
func NewClients(opts ...Option) (*Clients, error) {
	cfg := newConfig(opts)
	release, err := claim(cfg.provider, claimClients, "")
	if err != nil {
		return nil, err
	}
	name := cfg.machine
	if name == "" {
		name = ClientMachine
	}
	ms, err := NewMachines(name, connfsm.Definition(), opts...)
	if err != nil {
		release()
		return nil, err
	}
	cs := &Clients{machines: ms, release: release, live: map[*wsconn.Client]struct{}{}}
	if err := cs.init(cfg.provider); err != nil {
		_ = ms.Close()
		release()
		return nil, err
	}
	return cs, nil
}

func (cs *Clients) init(mp metric.MeterProvider) (err error) {
	defer recovered(&err)
	m := mp.Meter(ScopeName)
	in := instruments{m: m}
	cs.rtt = in.seconds("connfsm.ping.rtt", "Round trip of the heartbeat's pings, protocol or application.", fastBuckets)
	cs.handler = in.seconds("connfsm.handler.duration", "Duration of one OnMessage call (messaging.process.duration).", fastBuckets)
	cs.lag = in.seconds("connfsm.handler.lag", "Time from a message's read to the start of its OnMessage call.", fastBuckets)
	cs.waits = in.counter("connfsm.dial.waits", "{wait}",
		"Waits before a dial, by reason: backoff, retry_after, storm_guard, slow_down, reconnect, dial_gate, policy.")
	cs.lost = in.counter("connfsm.connections.lost", "{connection}",
		"Connections given up, by cause: reset, eof, pong_timeout, idle_timeout, close_frame, write_error, requested, other.")
	counter := in.observedCounter
	msgIn := counter("connfsm.messages.received", "{message}", "Data messages received (messaging.client.consumed.messages).")
	msgOut := counter("connfsm.messages.sent", "{message}", "Data messages written (messaging.client.sent.messages).")
	bytesIn := counter("connfsm.bytes.received", "By", "Payload bytes of the messages received.")
	bytesOut := counter("connfsm.bytes.sent", "By", "Payload bytes of the messages written.")
	dropped := counter("connfsm.messages.dropped", "{message}", "Messages dropped, by policy: drop-oldest, drop-newest, conflate (slow-consumer policies), ended (read, not handed over: the connection ended), unsent (accepted by Send, never written).")
	subsGauge := in.gauge("connfsm.subscriptions", "{subscription}",
		"Subscriptions in each state of their machine: Pending, Subscribing, Active, Resyncing, Unsubscribing, Failed.")
	buffered := in.gauge("connfsm.sends.buffered", "{message}",
		"Accepted messages the send policy keeps, waiting for the next connection.")
	if err := in.err(); err != nil {
		return err
	}
	for r := range wsconn.WaitDialGate + 1 {
		cs.waitAdd = append(cs.waitAdd, []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r.String())))})
	}
	for c := range causeCount {
		cs.causeAdd = append(cs.causeAdd, []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("cause", c.String())))})
	}
	ctx := context.Background()
	for _, opts := range cs.waitAdd {
		cs.waits.Add(ctx, 0, opts...)
	}
	for _, opts := range cs.causeAdd {
		cs.lost.Add(ctx, 0, opts...)
	}
	var policy [dropCount]metric.ObserveOption
	for p := range dropCount {
		policy[p] = metric.WithAttributeSet(attribute.NewSet(attribute.String("policy", p.String())))
	}
	var subState [subscription.Removed]metric.ObserveOption
	for st := range subscription.Removed {
		subState[st] = metric.WithAttributeSet(attribute.NewSet(attribute.String("state", st.String())))
	}
	cs.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) (err error) {
		defer recovered(&err)
		for st := range cs.subs {
			o.ObserveInt64(subsGauge, cs.subs[st].Load(), subState[st])
		}
		t := cs.sum()
		o.ObserveInt64(msgIn, int64(t.msgIn))
		o.ObserveInt64(msgOut, int64(t.msgOut))
		o.ObserveInt64(bytesIn, int64(t.bytesIn))
		o.ObserveInt64(bytesOut, int64(t.bytesOut))
		for p, n := range t.dropped {
			o.ObserveInt64(dropped, int64(n), policy[p])
		}
		o.ObserveInt64(buffered, int64(t.buffered))
		return nil
	}, msgIn, msgOut, bytesIn, bytesOut, dropped, buffered, subsGauge)
	if err != nil {
		return fmt.Errorf("otelconnfsm: register callback: %w", err)
	}
	return nil
}

// sum adds up the counters of every client measured, ended ones included,
// and the messages buffered now by those that have not ended.
func (cs *Clients) sum() totals {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	t := cs.retired
	for c := range cs.live {
		t.add(c)
	}
	return t
}

// Live returns the number of clients measured that have not ended, and
// how many of them are Ready.
func (cs *Clients) Live() (live, ready int) {
	cs.mu.Lock()
	live = len(cs.live)
	cs.mu.Unlock()
	return live, int(cs.machines.active[cs.machines.index[connfsm.Ready]].Load())
}

// Option returns the option that attaches cs to a client, or to every
// client of a Pool: wsconn.WithProbe(cs).
func (cs *Clients) Option() wsconn.Option { return wsconn.WithProbe(cs) }

// Attach implements wsconn.Probe: Dial calls it once per client. A client
// measured already is refused with ErrAttached.
func (cs *Clients) Attach(c *wsconn.Client) (wsconn.ClientProbe, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if _, ok := cs.live[c]; ok {
		return nil, fmt.Errorf("%w: the client is measured already", ErrAttached)
	}
	cs.live[c] = struct{}{}
	return &clientProbe{cs: cs, c: c, obs: cs.machines.newObserver(), subs: map[string]subscription.State{}}, nil
}

// retire folds an ended client's counters into the total, so that the
// counters never go down when a client goes.
// Its Stats are read before cs.mu is taken: the record that retires it
// comes from inside its lifecycle.
func (cs *Clients) retire(c *wsconn.Client) {
	var t totals
	t.add(c)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if _, ok := cs.live[c]; ok {
		delete(cs.live, c)
		cs.retired.merge(t)
	}
}

// Close unregisters the callbacks and releases the machine name and the
// provider. Clients attached keep running; their later measurements are
// still recorded.
func (cs *Clients) Close() error {
	err := errors.Join(cs.reg.Unregister(), cs.machines.Close())
	cs.release()
	return err
}

// clientProbe is one client's wsconn.ClientProbe.
type clientProbe struct {
	cs  *Clients
	c   *wsconn.Client
	obs *observer[connfsm.State, connfsm.Event]

	mu   sync.Mutex                    // subscriptions' records come from their own steps
	subs map[string]subscription.State // by key: what the gauge counts them in
}

func (p *clientProbe) Record(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
	p.obs.observe(ctx, r)
	cs := p.cs
	switch {
	case r.Kind == wsconn.RecordSubscription:
		if sr, ok := r.Payload.(*wsconn.SubscriptionRecord); ok {
			p.subscription(sr)
		}
	case r.Kind == fsm.RecordStopped:
		p.subscriptionsEnd()
		cs.retire(p.c)
	case r.Kind != fsm.RecordTransition:
	case r.Event == connfsm.RetryDue:
		if w, ok := r.Payload.(*wsconn.Wait); ok && int(w.Reason) < len(cs.waitAdd) {
			cs.waits.Add(ctx, 1, cs.waitAdd[w.Reason]...)
		}
	case r.From.Within(connfsm.Alive) && r.To == connfsm.Reconnecting:
		cause := CauseRequested
		if r.Event == connfsm.Lost {
			err, _ := r.Payload.(error)
			cause = CauseOf(err)
		}
		cs.lost.Add(ctx, 1, cs.causeAdd[cause]...)
	}
}

func (p *clientProbe) PingRTT(rtt time.Duration) {
	p.cs.rtt.Record(context.Background(), rtt.Seconds())
}

func (p *clientProbe) Handled(lag, took time.Duration) {
	ctx := context.Background()
	p.cs.lag.Record(ctx, lag.Seconds())
	p.cs.handler.Record(ctx, took.Seconds())
}

// subscription moves a subscription between the gauge's states: a started
// record counts it in, a transition moves it, Removed counts it out.
func (p *clientProbe) subscription(sr *wsconn.SubscriptionRecord) {
	if sr.Kind != fsm.RecordStarted && sr.Kind != fsm.RecordTransition {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.subs[sr.Key]; ok {
		p.cs.subs[st].Add(-1)
		delete(p.subs, sr.Key)
	}
	if sr.To < subscription.Removed {
		p.cs.subs[sr.To].Add(1)
		p.subs[sr.Key] = sr.To
	}
}

// subscriptionsEnd counts the subscriptions of an ended client out.
func (p *clientProbe) subscriptionsEnd() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, st := range p.subs {
		p.cs.subs[st].Add(-1)
		delete(p.subs, key)
	}
}
