// Package e2e holds the integration tests of the two transports: wsconn's
// WebSocket client and tcpconn's framed TCP client. They use real loopback
// TCP, real handshakes and real time. An in-process toxiproxy between the
// client and the server injects the faults. The package has no API: run it
// with go test ./e2e/... from the repository root.
package e2e
