package otelconnfsm

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of every instrument made here.
const ScopeName = "github.com/connfsm/connfsm/otelconnfsm"

// ErrAttached is matched by the error of attaching a second time what is
// measured already: a machine, a client, or a name on one meter provider.
var ErrAttached = errors.New("otelconnfsm: already attached")

// Option configures NewMachines and NewClients.
type Option func(*config)

type config struct {
	provider metric.MeterProvider
	machine  string // NewClients' machine label; "" for ClientMachine
}

// WithMeterProvider sets the meter provider; the default is the global
// one (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.provider = mp }
}

// WithClientMachine sets the machine label NewClients gives the clients'
// lifecycle: ClientMachine ("wsconn") by default, TCPClientMachine for
// tcpconn clients, whose lifecycle is the same machine; "" keeps the
// default. NewMachines, which is given its label, ignores it.
func WithClientMachine(name string) Option {
	return func(c *config) { c.machine = name }
}

func newConfig(opts []Option) config {
	c := config{}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.provider == nil {
		c.provider = otel.GetMeterProvider()
	}
	return c
}

// Bucket boundaries, in seconds: the defaults of OpenTelemetry are made for
// milliseconds.
var (
	// fastBuckets suit what takes microseconds to a second: a handler, its
	// lag, a join, a ping's round trip.
	fastBuckets = []float64{0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	// stateBuckets suit time spent in a state: milliseconds (a dial) to
	// days (a connection).
	stateBuckets = []float64{0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600}
)

// names holds what is measured per meter provider: the machine names, the
// one Clients and the one pool. A second NewMachines with one name,
// NewClients or ObservePool on one provider is refused rather than
// reporting the same series twice.
var names struct {
	sync.Mutex
	used map[nameKey]bool
}

// The kinds of claim: a series of each has no label telling two apart.
const (
	claimMachines = "machine name"
	claimClients  = "Clients"
	claimPool     = "pool"
)

type nameKey struct {
	provider any
	kind     string
	name     string
}

// claim reserves name of kind on mp; release gives it back, once however
// often it is called. A provider whose dynamic type is not comparable
// cannot be told apart: nothing is kept.
func claim(mp metric.MeterProvider, kind, name string) (release func(), err error) {
	if !reflect.TypeOf(mp).Comparable() {
		return func() {}, nil
	}
	k := nameKey{mp, kind, name}
	names.Lock()
	defer names.Unlock()
	if names.used[k] {
		if kind == claimMachines {
			return nil, fmt.Errorf("%w: machine name %q on this meter provider", ErrAttached, name)
		}
		return nil, fmt.Errorf("%w: a %s on this meter provider", ErrAttached, kind)
	}
	if names.used == nil {
		names.used = map[nameKey]bool{}
	}
	names.used[k] = true
	var once sync.Once // a second Close must not free a later claim's name
	return func() {
		once.Do(func() {
			names.Lock()
			delete(names.used, k)
			names.Unlock()
		})
	}, nil
}
