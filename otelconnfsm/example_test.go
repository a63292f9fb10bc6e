package otelconnfsm_test

import (
	"context"
	"fmt"
	"log"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/connfsm/connfsm/otelconnfsm"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// A client measured: give the Clients' option to Dial (or to NewPool).
// In a program, the meter provider's reader is an exporter, such as
// OpenTelemetry's Prometheus exporter (see connfsm dial -metrics).
func Example() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	cs, err := otelconnfsm.NewClients(otelconnfsm.WithMeterProvider(provider))
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()

	srv, err := wsconntest.NewTCPServer("")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := wsconn.Dial(context.Background(), srv.URL, cs.Option())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == "connfsm.machines" {
			for _, p := range g.DataPoints {
				if state, _ := p.Attributes.Value("state"); p.Value > 0 {
					fmt.Println(m.Name, state.AsString(), p.Value)
				}
			}
		}
	}
	// Output: connfsm.machines Alive/Ready 1
}
