package otelconnfsm

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/metric"
)

// instruments makes a meter's instruments and keeps every error, for err:
// one failed instrument does not hide the others' errors.
type instruments struct {
	m    metric.Meter
	errs []error
}

func (in *instruments) keep(err error) { in.errs = append(in.errs, err) }

// counter makes a counter of unit, described by desc.
func (in *instruments) counter(name, unit, desc string) metric.Int64Counter {
	c, err := in.m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	in.keep(err)
	return c
}

// seconds makes a histogram of durations with the bucket bounds given.
func (in *instruments) seconds(name, desc string, bounds []float64) metric.Float64Histogram {
	h, err := in.m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(bounds...))
	in.keep(err)
	return h
}

// observedCounter makes a counter read by the callback.
func (in *instruments) observedCounter(name, unit, desc string) metric.Int64ObservableCounter {
	c, err := in.m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	in.keep(err)
	return c
}

// gauge makes a gauge read by the callback.
func (in *instruments) gauge(name, unit, desc string) metric.Int64ObservableGauge {
	g, err := in.m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
	in.keep(err)
	return g
}

// err returns the errors kept, joined, or nil.
func (in *instruments) err() error {
	if err := errors.Join(in.errs...); err != nil {
		return fmt.Errorf("otelconnfsm: instruments: %w", err)
	}
	return nil
}
