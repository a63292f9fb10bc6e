package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dialPair returns both ends of a loopback TCP connection, with a
// deadline, so a broken handshake fails the test instead of hanging it.
func dialPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	_ = a.SetDeadline(deadline)
	_ = b.SetDeadline(deadline)
	return a, b
}

// TestHandshake: a client trusting the PEM (as from a CA file) completes a
// handshake with a server presenting the certificate, for 127.0.0.1 and
// localhost; one trusting nothing does not.
func TestHandshake(t *testing.T) {
	c, err := New("testcert")
	if err != nil {
		t.Fatal(err)
	}
	fromFile := x509.NewCertPool()
	if !fromFile.AppendCertsFromPEM(c.PEM) {
		t.Fatal("PEM holds no certificate")
	}
	for _, tt := range []struct {
		name  string
		roots *x509.CertPool
		ok    bool
	}{
		{"127.0.0.1", fromFile, true},
		{"localhost", c.Pool, true},
		{"127.0.0.1", x509.NewCertPool(), false},
	} {
		// Loopback TCP, not net.Pipe: a refused handshake writes an alert
		// while the server writes, which an unbuffered pipe deadlocks on.
		a, b := dialPair(t)
		srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12})
		cli := tls.Client(b, &tls.Config{RootCAs: tt.roots, ServerName: tt.name, MinVersion: tls.VersionTLS12})
		done := make(chan error, 1)
		go func() { done <- srv.Handshake(); _ = srv.Close() }()
		err := cli.Handshake()
		_ = cli.Close()
		<-done
		if (err == nil) != tt.ok {
			t.Errorf("%s: handshake = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
