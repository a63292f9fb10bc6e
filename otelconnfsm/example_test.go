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
	"github.com/connfsm/connfsm/tcpconn"
	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
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
	var lines []string
	for _, p := range transitions(reader) {
		from, _ := p.Attributes.Value("from")
		event, _ := p.Attributes.Value("event")
		to, _ := p.Attributes.Value("to")
		lines = append(lines, fmt.Sprintf("%s -%s-> %s: %d", from.AsString(), event.AsString(), to.AsString(), p.Value))
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// Alive/Ready -Close-> Closing: 1
	// Alive/Syncing -Synced-> Alive/Ready: 1
	// Closing -CloseDone-> Closed: 1
	// Connecting -Connected-> Alive/Syncing: 1
}

// A tcpconn client measured under its own machine label, so that a
// dashboard tells it from the WebSocket clients of another process.
func ExampleWithClientMachine() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	cs, err := otelconnfsm.NewClients(otelconnfsm.WithMeterProvider(provider),
		otelconnfsm.WithClientMachine(otelconnfsm.TCPClientMachine))
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()

	srv, err := tcpconntest.NewTCPServer("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := tcpconn.Dial(context.Background(), srv.URL, cs.Option())
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Close(context.Background()); err != nil {
		log.Fatal(err)
	}

	// The machine label of the client's transitions.
	labels := map[string]bool{}
	for _, p := range transitions(reader) {
		machine, _ := p.Attributes.Value("machine")
		labels[machine.AsString()] = true
	}
	fmt.Println(labels)
	// Output:
	// map[tcpconn:true]
}

// transitions returns the data points of the connfsm.transitions counter.
func transitions(reader *sdkmetric.ManualReader) []metricdata.DataPoint[int64] {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "connfsm.transitions" {
			return sum.DataPoints
		}
	}
	return nil
}
