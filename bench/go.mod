module github.com/connfsm/connfsm/bench

go 1.26.0

replace github.com/connfsm/connfsm => ../

require (
	github.com/coder/websocket v1.8.15
	github.com/connfsm/connfsm v0.0.0-00010101000000-000000000000
	github.com/google/go-cmp v0.7.0
	github.com/looplab/fsm v1.0.3
	github.com/qmuntal/stateless v1.7.2
	go.uber.org/goleak v1.3.0
)

require (
	github.com/gorilla/websocket v1.5.3
	golang.org/x/sync v0.25.0
	pgregory.net/rapid v1.3.0
)
