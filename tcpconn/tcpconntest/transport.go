package tcpconntest

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

// memHost is the host of an in-memory venue's address: reserved (RFC
// 2606), it never resolves, and only DialContext reaches the venue.
const memHost = "venue.test"

// errRefused is what an in-memory dial returns while the venue is Down:
// what a TCP dial to a closed port returns.
var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

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
		s.stats.refused.Add(1)
		return nil, errRefused
	}
	client, server := net.Pipe()
	if !s.start(server, nil) {
		_ = client.Close()
		s.stats.refused.Add(1)
		return nil, errRefused
	}
	return client, nil
}

// listen starts a listening period over TCP: from the start or Up until
// Down or Close.
func (s *Server) listen() error {
	ln, err := listenTCP(s.Addr)
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

// listenTCP listens on addr. Port 0 picks a free port below the usual
// ephemeral range first: after Down the port must still be free for Up,
// and a port from the ephemeral range can meanwhile become the source port
// of some outgoing connection (a client's own dial attempts, for one).
func listenTCP(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("tcpconntest: address %q: %w", addr, err)
	}
	if port == "0" {
		for range 20 {
			p := 20000 + rand.IntN(12000) // below Linux's default 32768-60999
			if ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
				return ln, nil
			}
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcpconntest: listen %s: %w", addr, err)
	}
	return ln, nil
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
