package otelconnfsm

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/wsconn"
)

// ObservePool reports a Pool's connections by state and its subscriptions
// per connection, read from the pool when collected. Its clients are
// measured by the Clients given to NewPool as an option (Option); this
// adds what only the pool knows. The returned function unregisters it.
// The pool's series carry no label of the pool's, so one meter provider
// reports one pool: a second ObservePool on it fails with ErrAttached
// until the first is unregistered.
func ObservePool(p *wsconn.Pool, opts ...Option) (unregister func() error, err error) {
	if p == nil {
		return nil, errors.New("otelconnfsm: ObservePool: nil pool")
	}
	cfg := newConfig(opts)
	release, err := claim(cfg.provider, claimPool, "")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	defer recovered(&err)
	m := cfg.provider.Meter(ScopeName)
	conns, err1 := m.Int64ObservableGauge("connfsm.pool.connections", metric.WithUnit("{connection}"),
		metric.WithDescription("A pool's connections in each lifecycle state (leaf path)."))
	subs, err2 := m.Int64ObservableGauge("connfsm.pool.subscriptions", metric.WithUnit("{subscription}"),
		metric.WithDescription("Subscriptions a pool holds; divided by connfsm.pool.connections, the mean per connection."))
	most, err3 := m.Int64ObservableGauge("connfsm.pool.connection.subscriptions.max", metric.WithUnit("{subscription}"),
		metric.WithDescription("The most subscriptions one connection of the pool carries."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("otelconnfsm: instruments: %w", err)
	}
	states := connfsm.States()
	index := map[connfsm.State]int{}
	byState := make([]metric.ObserveOption, len(states))
	for i, s := range states {
		index[s] = i
		byState[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("state", s.Path())))
	}
	leaf := func(s connfsm.State) bool { return s != connfsm.Alive }
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) (err error) {
		defer recovered(&err)
		counts := make([]int64, len(states))
		var total, top int64
		for _, c := range p.Conns() {
			counts[index[c.Phase()]]++
			n := int64(len(c.Subscriptions()))
			total += n
			top = max(top, n)
		}
		for i, s := range states {
			if leaf(s) {
				o.ObserveInt64(conns, counts[i], byState[i])
			}
		}
		o.ObserveInt64(subs, total)
		o.ObserveInt64(most, top)
		return nil
	}, conns, subs, most)
	if err != nil {
		return nil, fmt.Errorf("otelconnfsm: register callback: %w", err)
	}
	return func() error {
		defer release()
		return reg.Unregister()
	}, nil
}
