// Package e2e holds the integration tests of wsconn: real loopback TCP, real
// WebSocket handshakes and real time, with faults injected by an in-process
// toxiproxy between the client and the server. It has no API; run it with
// go test ./e2e/... from the repository root.
package e2e
