package otelconnfsm_test

import (
	"context"
	"fmt"
	"log"
	"sort"
	"strings"

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
	if err := c.Close(context.Background()); err != nil {
		log.Fatal(err)
	}

	// The client's life, as the transitions counter saw it.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	var lines []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "connfsm.transitions" {
			for _, p := range sum.DataPoints {
				from, _ := p.Attributes.Value("from")
				event, _ := p.Attributes.Value("event")
				to, _ := p.Attributes.Value("to")
				lines = append(lines, fmt.Sprintf("%s -%s-> %s: %d", from.AsString(), event.AsString(), to.AsString(), p.Value))
			}
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// Alive/Ready -Close-> Closing: 1
	// Alive/Syncing -Synced-> Alive/Ready: 1
	// Closing -CloseDone-> Closed: 1
	// Connecting -Connected-> Alive/Syncing: 1
}
