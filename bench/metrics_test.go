package bench

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/otelconnfsm"
)

// meterProvider is an OpenTelemetry SDK meter provider with a reader
// that is never collected: what the instruments cost on the message path,
// without an exporter's.
func meterProvider(tb testing.TB) *sdkmetric.MeterProvider {
	tb.Helper()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tb.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp
}

// dialWsconnMetrics is dialWsconn with otelconnfsm attached.
func dialWsconnMetrics(tb testing.TB, url string) client {
	tb.Helper()
	cs, err := otelconnfsm.NewClients(otelconnfsm.WithMeterProvider(meterProvider(tb)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cs.Close() })
	return dialWsconnWith(tb, url, cs.Option())
}

// newConnfsmMetrics is the toggle machine with otelconnfsm attached.
func newConnfsmMetrics(tb testing.TB) *fsm.Machine[state, event] {
	tb.Helper()
	def, err := fsm.NewBuilder[state, event](Off).States(Off, On).Events(Toggle).Rules(
		fsm.Rule[state, event]{From: Off, On: Toggle, Then: fsm.To(On)},
		fsm.Rule[state, event]{From: On, On: Toggle, Then: fsm.To(Off)},
	).Build()
	if err != nil {
		tb.Fatal(err)
	}
	ms, err := otelconnfsm.NewMachines("toggle", def, otelconnfsm.WithMeterProvider(meterProvider(tb)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ms.Close() })
	var cfg fsm.Config[state, event]
	if err := ms.Attach(&cfg); err != nil {
		tb.Fatal(err)
	}
	m := def.Start(context.Background(), cfg)
	tb.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return m
}

// TestToggleWithMetricsAllocs: a machine with metrics attached still
// toggles without allocating.
func TestToggleWithMetricsAllocs(t *testing.T) {
	m := newConnfsmMetrics(t)
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { _ = m.Fire(ctx, Toggle) }); n != 0 {
		t.Errorf("allocations per toggle with metrics: %v, want 0", n)
	}
}
