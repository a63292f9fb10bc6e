// Package otelconnfsm turns the records of connfsm's state machines and
// clients into OpenTelemetry metrics, as otelhttp does for net/http. It is
// a module of its own, so that connfsm itself depends on no telemetry
// library.
//
// Every step a machine takes already reaches its observer as a record.
// The metrics come from there, not from counters kept beside the machine.
//
// Label values come from closed sets: state paths ("Alive/Ready"), the
// definition's event names, wait reasons, the causes of Cause and the
// policies of DropPolicy. A URL or a subscription key never labels a
// metric. In a parallel state, a machine counts once per active leaf. A
// step that moves two regions counts one transition per region.
//
// Counters of messages and bytes are observable instruments. They read
// the clients' Stats when collected, so the message path pays nothing for
// them. Ping round trips and handler times are recorded as they happen.
// Their label sets are made once, so recording does not allocate. A meter
// provider that panics costs the machine or client its metrics, never its
// work.
//
// NewMachines measures the machines of any fsm definition:
//
//   - machines per state;
//   - transitions by from, event and to;
//   - time in each state;
//   - task joins, stragglers and panics.
//
// NewClients adds what a client carries, whatever its transport (a
// session.Client, which wsconn and tcpconn clients are):
//
//   - messages and bytes each way;
//   - ping round trips, handler time and lag;
//   - drops by policy, and buffered sends;
//   - waits before a dial, by reason;
//   - lost connections, by cause;
//   - subscriptions, by state.
//
// ObservePool adds a Pool's connections by state and its subscriptions per
// connection.
//
// docs/metrics.md lists every instrument with its Prometheus name. It also
// gives the queries to alert on and a Grafana dashboard.
package otelconnfsm
