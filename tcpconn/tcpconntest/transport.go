package tcpconntest

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"

	"github.com/connfsm/connfsm/internal/venue"
)

// DialContext connects to the venue, whatever network and addr say: a
// client under test uses it as its dialer. In memory it returns one end
// of a net.Pipe whose other end the venue serves, so a test runs in a
// testing/synctest bubble; while the venue is Down or closed it fails as
// a refused TCP dial does. Over TCP and TLS it dials the venue's Addr
// over TCP: TLS is the client's to do (trust the venue with ClientTLS or
// CAPEM).
func (s *Server) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.mem {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", s.Addr)
	}
	if s.isDown() {
		s.stats.Refused.Add(1)
		s.notify()
		return nil, venue.ErrRefused
	}
	client, server := net.Pipe()
	if !s.start(server, nil) {
		_ = client.Close()
		s.stats.Refused.Add(1)
		s.notify()
		return nil, venue.ErrRefused
	}
	return client, nil
}

// listen starts a listening period over TCP: from the start or Up until
// Down or Close.
func (s *Server) listen() error {
	ln, err := venue.ListenTCP("tcpconntest", s.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.accepting.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Down or Close
			}
			tc, _ := c.(*net.TCPConn)
			if s.tls != nil {
				c = tls.Server(c, s.tls)
			}
			s.start(c, tc)
		}
	})
	return nil
}

// wire is the venue's side of one connection: it makes the connection a
// black hole on demand (reads dropped, writes swallowed) and resets it
// without a close.
type wire struct {
	net.Conn
	srv    *Server
	tcp    *net.TCPConn // the socket (under TLS too), for a reset; nil in memory
	hole   atomic.Bool  // this connection only; the server's flag covers all
	once   sync.Once
	closed error
}

func (w *wire) blackholed() bool { return w.hole.Load() || w.srv.hole.Load() }

// Read reads from the connection; while it is a black hole, what arrives
// is read and dropped.
func (w *wire) Read(p []byte) (int, error) {
	for {
		n, err := w.Conn.Read(p)
		if err != nil || !w.blackholed() {
			return n, err
		}
	}
}

// Write writes to the connection; while it is a black hole, nothing is
// written and the write reports success.
func (w *wire) Write(p []byte) (int, error) {
	if w.blackholed() {
		return len(p), nil
	}
	return w.Conn.Write(p)
}

// Close closes the connection once: a FIN over TCP, after a TLS
// close_notify over TLS.
func (w *wire) Close() error {
	w.once.Do(func() { w.closed = w.Conn.Close() })
	return w.closed
}

// reset closes the socket with SO_LINGER 0, so the peer gets a RST rather
// than a FIN (and, over TLS, no close_notify); in memory it closes the
// pipe.
func (w *wire) reset() {
	if w.tcp != nil {
		_ = w.tcp.SetLinger(0)
		_ = w.tcp.Close()
	}
	_ = w.Close()
}
