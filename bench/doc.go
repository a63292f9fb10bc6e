// Package bench measures connfsm's engine side by side with its peers,
// github.com/looplab/fsm and github.com/qmuntal/stateless, on the same
// definitions. It is a separate module so that the peers never become
// dependencies of connfsm itself; docs/benchmarks.md holds the results.
package bench
