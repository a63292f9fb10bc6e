// Package e2e holds the integration tests of wsconn. They use real
// loopback TCP, real WebSocket handshakes and real time. An in-process
// toxiproxy between the client and the server injects the faults. It has
// no API: run it with go test ./e2e/... from the repository root.
package e2e
