package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/connfsm/connfsm/otelconnfsm"
)

// metricsFlagUsage is the -metrics flag's help, shared by dial and load.
const metricsFlagUsage = "serve Prometheus metrics on `host:port` (/metrics) and readiness (/readyz: 200 while Ready, 503 otherwise)"

// checkMetricsAddr refuses a -metrics value that is not host:port with a
// port number, before anything starts.
func checkMetricsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-metrics %q: want host:port: %v", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("-metrics %q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// metricsServer serves the clients' metrics in Prometheus's text format,
// through OpenTelemetry's Prometheus exporter, and their readiness.
type metricsServer struct {
	Clients  *otelconnfsm.Clients
	addr     net.Addr
	provider *sdkmetric.MeterProvider
	srv      *http.Server
	done     chan struct{}
}

// startMetrics serves /metrics and /readyz (200 while every client is
// Ready, and there is one) on addr; a stream target's lifecycle is
// labelled tcpconn. A listen error names the flag: a usage error.
func startMetrics(addr, target string) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics %s: %w", addr, err)
	}
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutTargetInfo(), otelprom.WithoutScopeInfo(),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	label := otelconnfsm.ClientMachine
	if streamTransports[scheme(target)] != nil {
		label = otelconnfsm.TCPClientMachine
	}
	cs, err := otelconnfsm.NewClients(otelconnfsm.WithMeterProvider(provider), otelconnfsm.WithClientMachine(label))
	if err != nil {
		ln.Close()
		_ = provider.Shutdown(context.Background())
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if live, ready := cs.Live(); live > 0 && ready == live {
			fmt.Fprintln(w, "ready")
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	})
	m := &metricsServer{Clients: cs, addr: ln.Addr(), provider: provider, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		defer close(m.done)
		_ = m.srv.Serve(ln) // ErrServerClosed once close runs
	}()
	return m, nil
}

// close stops serving and waits for the server's goroutine.
func (m *metricsServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.srv.Shutdown(ctx) // Serve returns ErrServerClosed; Shutdown does not
	<-m.done
	return errors.Join(err, m.Clients.Close(), m.provider.Shutdown(ctx))
}
