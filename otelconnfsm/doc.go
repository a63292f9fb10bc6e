// Package otelconnfsm turns the records of connfsm's state machines and
// clients into OpenTelemetry metrics, as otelhttp does for net/http: a
// module of its own, so that connfsm itself depends on no telemetry
// library.
//
// Every step a machine takes already reaches its observer as a record;
// the metrics come from there, not from counters kept beside the machine.
// NewMachines measures the machines of any fsm definition (machines per
// state, transitions by from, event and to, time in each state, task
// joins, stragglers, panics); NewClients adds what a wsconn client
// carries (messages and bytes each way, ping round trips, handler time and
// lag, drops by policy, waits before a dial by reason, lost connections by
// cause, subscriptions by state, buffered sends); ObservePool adds a
// Pool's connections by state and subscriptions per connection.
//
// Label values come from closed sets: state paths ("Alive/Ready") and
// event names of the definition, wait reasons, the causes of Cause, the
// policies of DropPolicy. A URL or a subscription key never labels a
// metric. In a parallel state a machine counts once per active leaf, and a
// step that moves two regions counts one transition per region.
//
// Counters of messages and bytes are observable instruments that read the
// clients' Stats when collected, so the message path pays nothing for
// them; ping round trips and handler times are recorded as they happen,
// with label sets made once, without allocating. A meter provider that
// panics costs the machine or client its metrics, never its work.
//
// docs/metrics.md lists every instrument with its Prometheus name, the
// queries to alert on and a Grafana dashboard.
package otelconnfsm
