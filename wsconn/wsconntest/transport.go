package wsconntest

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"sync"

	"github.com/connfsm/connfsm/internal/venue"
)

// memListener is the in-memory transport: each dial makes a net.Pipe whose
// server end Accept hands out.
type memListener struct {
	srv    *Server
	accept chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newMemListener(s *Server) *memListener {
	return &memListener{srv: s, accept: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr{} }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return venue.MemHost }

// dial is the Client's DialContext: whatever the address, it connects to
// the venue, unless the venue is Down or closed.
func (l *memListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	s := l.srv
	if s.isDown() {
		s.stats.Refused.Add(1)
		s.notify()
		return nil, venue.ErrRefused
	}
	client, server := net.Pipe()
	wc := s.track(server, nil)
	select {
	case l.accept <- wc:
		s.stats.Accepted.Add(1)
		s.notify()
		return client, nil
	case <-ctx.Done():
	case <-l.closed:
	}
	_ = wc.Close()
	_ = client.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.stats.Refused.Add(1)
	s.notify()
	return nil, venue.ErrRefused
}

// tcpListener is one listening period of the TCP transport (from start or
// Up to Down); it tracks every connection it accepts.
type tcpListener struct {
	net.Listener
	srv *Server
	tls *tls.Config
}

func (l *tcpListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, _ := c.(*net.TCPConn)
	if l.tls != nil {
		c = tls.Server(c, l.tls)
	}
	l.srv.stats.Accepted.Add(1)
	l.srv.notify()
	return l.srv.track(c, tc), nil
}

// serve serves ln with a new http.Server until it is closed. Each serving
// period (start, every Up) has its own http.Server: one that was closed
// cannot serve again.
func (s *Server) serve(ln net.Listener) *http.Server {
	hs := &http.Server{
		Handler: http.HandlerFunc(s.serveHTTP),
		// No ReadHeaderTimeout: a handshake sent into a black hole must
		// stay unanswered, not be dropped after the timeout. Close,
		// Down and ResetAll end a request never sent.
		ErrorLog:    log.New(io.Discard, "", 0), // failed TLS handshakes, resets mid-request: expected here
		BaseContext: func(net.Listener) context.Context { return s.ctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, wireKey{}, c)
		},
	}
	hs.SetKeepAlivesEnabled(false)            // one handshake per connection, as the record counts them
	s.serving.Go(func() { _ = hs.Serve(ln) }) // it returns when ln is closed
	return hs
}

type wireKey struct{}
