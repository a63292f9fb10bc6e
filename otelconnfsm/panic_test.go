package otelconnfsm

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
)

// panicky is a meter provider whose every instrument, and every observer
// handed to a callback, panics.
type panicky struct {
	noop.MeterProvider
	callbacks []metric.Callback
}

func (p *panicky) Meter(string, ...metric.MeterOption) metric.Meter { return panickyMeter{p: p} }

type panickyMeter struct {
	noop.Meter
	p *panicky
}

func (m panickyMeter) Int64Counter(string, ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return panickyCounter{}, nil
}

func (m panickyMeter) Float64Histogram(string, ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	return panickyHistogram{}, nil
}

func (m panickyMeter) RegisterCallback(f metric.Callback, _ ...metric.Observable) (metric.Registration, error) {
	m.p.callbacks = append(m.p.callbacks, f)
	return noop.Registration{}, nil
}

type panickyCounter struct{ noop.Int64Counter }

// Add panics, except for the zeros that start a label set: a provider
// that panics at once is refused by the constructors (TestPanicAtStart).
func (panickyCounter) Add(_ context.Context, n int64, _ ...metric.AddOption) {
	if n != 0 {
		panic("counter")
	}
}

type startPanicky struct{ noop.MeterProvider }

func (startPanicky) Meter(string, ...metric.MeterOption) metric.Meter { panic("meter") }

// TestPanicAtStart: a provider that panics when the instruments are made
// is an error of the constructors, not a panic.
func TestPanicAtStart(t *testing.T) {
	if _, err := NewClients(WithMeterProvider(startPanicky{})); err == nil {
		t.Errorf("NewClients with a panicking provider: no error")
	}
}

type panickyHistogram struct{ noop.Float64Histogram }

func (panickyHistogram) Record(context.Context, float64, ...metric.RecordOption) { panic("histogram") }

type panickyObserver struct{ noop.Observer }

func (panickyObserver) ObserveInt64(metric.Int64Observable, int64, ...metric.ObserveOption) {
	panic("observer")
}

// TestPanickingProvider: a meter provider that panics costs the client its
// metrics, never its connection: the client reconnects, echoes and closes
// as without it, and the callbacks return an error instead of panicking.
func TestPanickingProvider(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
		mp := &panicky{}
		cs, err := NewClients(WithMeterProvider(mp))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		srv := venue(t)
		got := make(chan string, 1)
		ready := make(chan struct{}, 4)
		c, err := wsconn.Dial(t.Context(), "ws://venue.test/", wsconn.WithHTTPClient(srv.Client()),
			wsconn.WithHeartbeat(300*time.Millisecond, time.Second), cs.Option(),
			wsconn.OnRecord(func(_ context.Context, r record) {
				if r.Kind != fsm.RecordTransition {
					return
				}
				if r.To == connfsm.Ready {
					ready <- struct{}{}
				}
			}),
			wsconn.OnMessage(func(_ context.Context, m wsconn.Message) { got <- string(m.Data) }))
		if err != nil {
			t.Fatal(err)
		}
		<-ready
		echo(t, c, got, "one")
		<-ready
		echo(t, c, got, "two")
		for i, cb := range mp.callbacks {
			if err := cb(context.Background(), panickyObserver{}); err == nil {
				t.Errorf("callback %d: no error from a panicking observer", i)
			}
		}
		if err := c.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if st := c.Stats(); st.Connects != 2 || st.MessagesIn != 2 {
			t.Errorf("stats: %d connects, %d messages in; want 2, 2", st.Connects, st.MessagesIn)
		}
	})
}
