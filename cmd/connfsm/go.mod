module github.com/connfsm/connfsm/cmd/connfsm

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/connfsm/connfsm v0.0.0-00010101000000-000000000000
	github.com/connfsm/connfsm/otelconnfsm v0.0.0-00010101000000-000000000000
	github.com/google/go-cmp v0.7.0
	go.uber.org/goleak v1.3.0
	golang.org/x/time v0.16.0
)
