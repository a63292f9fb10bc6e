package tcpconntest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// Every test closes its venues; none may leave a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patience bounds every wait in real time, so a broken venue fails a test
// instead of hanging it.
const patience = 10 * time.Second

// transport is one of the venue's transports, with the way its tests run:
// in memory inside a synctest bubble (virtual time: durations are exact),
// over TCP and TLS in real time.
type tcpTransport struct {
	name  string
	start func(opts ...Option) (*Server, error)
	run   func(t *testing.T, body func(t *testing.T))
	exact bool // durations are exact (virtual time)
	tls   bool
}

var transports = []tcpTransport{
	{name: "memory", exact: true,
		start: func(opts ...Option) (*Server, error) { return NewServer(opts...), nil },
		run:   synctest.Test},
	{name: "tcp",
		start: func(opts ...Option) (*Server, error) { return NewTCPServer("", opts...) },
		run:   func(t *testing.T, body func(t *testing.T)) { body(t) }},
	{name: "tls", tls: true,
		start: func(opts ...Option) (*Server, error) { return NewTLSServer("", opts...) },
		run:   func(t *testing.T, body func(t *testing.T)) { body(t) }},
}

// env is what a test body gets: the transport and a way to start venues
// that are closed when the test ends.
type env struct {
	tcpTransport
	t *testing.T
}

// each runs body over every transport.
func each(t *testing.T, body func(e env)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel() // each transport has its own venues
			tr.run(t, func(t *testing.T) { body(env{tcpTransport: tr, t: t}) })
		})
	}
}

func (e env) venue(opts ...Option) *Server {
	e.t.Helper()
	srv, err := e.start(opts...)
	if err != nil {
		e.t.Fatalf("start venue: %v", err)
	}
	e.t.Cleanup(srv.Close)
	return srv
}

// ctx bounds a wait by patience (virtual in memory).
func (e env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(e.t.Context(), patience)
	e.t.Cleanup(cancel)
	return ctx
}

// await waits for cond on srv's records.
func (e env) await(srv *Server, what string, cond func() bool) {
	e.t.Helper()
	if err := srv.Await(e.ctx(), cond); err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// short is how long a test waits to see that nothing comes: seconds of
// virtual time in memory (under patience), a moment in real time.
func (e env) short() time.Duration {
	if e.exact {
		return 5 * time.Second
	}
	return 500 * time.Millisecond // room for a TLS handshake on a loaded machine
}

// client is the test's side of a connection: the venue's framing over
// DialContext, with TLS trusting the venue's CA file for a TLS venue.
type client struct {
	e   env
	srv *Server
	c   net.Conn
	r   *bufio.Reader
}

func (e env) tryDial(srv *Server) (*client, error) {
	c, err := srv.DialContext(e.ctx(), "tcp", srv.Addr)
	if err != nil {
		return nil, err
	}
	if e.tls {
		tc := tls.Client(c, &tls.Config{RootCAs: caFile(e.t, srv), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(e.ctx()); err != nil {
			_ = c.Close()
			return nil, err
		}
		c = tc
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return &client{e: e, srv: srv, c: c, r: bufio.NewReader(c)}, nil
}

func (e env) dial(srv *Server) *client {
	e.t.Helper()
	c, err := e.tryDial(srv)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	return c
}

func (c *client) send(s string) {
	c.e.t.Helper()
	if err := c.srv.cfg.framer.WriteFrame(c.c, []byte(s)); err != nil {
		c.e.t.Fatalf("send %q: %v", s, err)
	}
}

// read reads a frame within d (patience if 0) with limit.
func (c *client) read(d time.Duration, limit int64) ([]byte, error) {
	if d == 0 {
		d = patience
	}
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	return c.srv.cfg.framer.ReadFrame(c.r, limit)
}

// next reads a frame and fails the test if none comes.
func (c *client) next() string {
	c.e.t.Helper()
	p, err := c.read(0, 0)
	if err != nil {
		c.e.t.Fatalf("read: %v", err)
	}
	return string(p)
}

// silent checks that no frame comes for a while.
func (c *client) silent(what string) {
	c.e.t.Helper()
	if p, err := c.read(c.e.short(), 0); !isTimeout(err) {
		c.e.t.Errorf("%s: read %q, %v; want nothing", what, p, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// caFile trusts srv the way a user's -ca-file does: its PEM written to a
// file, and read back.
func caFile(t *testing.T, srv *Server) *x509.CertPool {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, srv.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", path)
	}
	return pool
}
