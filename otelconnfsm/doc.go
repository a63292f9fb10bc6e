// Package otelconnfsm turns the records of connfsm's state machines and
// clients into OpenTelemetry metrics.
package otelconnfsm
