// Package echoserver is a WebSocket echo server on loopback with fault
// controls: reset every connection without a close handshake, blackhole
// (a half-open peer), go down and come back on the same address. The CLI's
// demo, serve and load commands run it; tests use it as a scriptable peer.
package echoserver

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Server is a running echo server. Its methods are safe for concurrent use.
type Server struct {
	addr string // host:port, kept across restarts
	hole atomic.Bool

	mu    sync.Mutex
	ln    net.Listener
	srv   *http.Server
	conns map[*holeConn]struct{}
	wg    sync.WaitGroup // serve loops

	accepted atomic.Uint64
	echoed   atomic.Uint64
}

// Start listens on addr (for example "127.0.0.1:0") and serves.
//
// Port 0 picks a free port below the usual ephemeral range first: after
// Down, the port must still be free for Up, and a port from the ephemeral
// range can meanwhile become the source port of some outgoing connection
// (the clients' own dial attempts, for instance).
func Start(addr string) (*Server, error) {
	s := &Server{conns: map[*holeConn]struct{}{}}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("echoserver: address %q: %w", addr, err)
	}
	if port == "0" {
		for range 20 {
			p := 20000 + rand.IntN(12000) // below Linux's default 32768-60999
			if s.listen(net.JoinHostPort(host, strconv.Itoa(p))) == nil {
				return s, nil
			}
		}
	}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

// URL returns the server's ws:// URL.
func (s *Server) URL() string { return "ws://" + s.addr + "/" }

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("echoserver: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.serveWS), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.addr, s.ln, s.srv = ln.Addr().String(), ln, srv
	s.mu.Unlock()
	tracked := &trackingListener{Listener: ln, s: s}
	s.wg.Go(func() { _ = srv.Serve(tracked) })
	return nil
}

// serveWS echoes every message. Handlers are not waited for by Close: each
// one's connection is tracked from Accept and reset by Down, so it returns.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	ctx := r.Context()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
		s.echoed.Add(1)
	}
}

// ResetAll drops every open connection at once, without a close handshake
// (a TCP reset): what a crashed server or a broken NAT looks like.
func (s *Server) ResetAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns = map[*holeConn]struct{}{}
	s.mu.Unlock()
	for c := range conns {
		c.reset()
	}
}

// Blackhole makes every connection, open and future, a black hole while on
// is true: the server reads and drops what it receives and writes nothing,
// and no connection is closed. That is a half-open peer: pings go
// unanswered.
func (s *Server) Blackhole(on bool) { s.hole.Store(on) }

// Down stops listening and resets every connection: dials are refused until
// Up.
func (s *Server) Down() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	if ln != nil {
		// srv.Close closes only a listener Serve has started on; Serve runs
		// in a goroutine, so close it here too: Up may reuse the port at once.
		_ = ln.Close()
	}
	s.ResetAll()
}

// Up listens again on the same address after Down.
func (s *Server) Up() error {
	s.mu.Lock()
	up := s.srv != nil
	s.mu.Unlock()
	if up {
		return errors.New("echoserver: already up")
	}
	return s.listen(s.addr)
}

// Close stops the server and waits for its goroutines.
func (s *Server) Close() {
	s.Down()
	s.wg.Wait()
}

// Stats are the server's counters.
type Stats struct {
	Accepted uint64 // TCP connections accepted
	Echoed   uint64 // messages echoed
	Open     int    // connections open now
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	open := len(s.conns)
	s.mu.Unlock()
	return Stats{Accepted: s.accepted.Load(), Echoed: s.echoed.Load(), Open: open}
}

type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &holeConn{Conn: c, hole: &l.s.hole}
	l.s.mu.Lock()
	l.s.conns[hc] = struct{}{}
	l.s.mu.Unlock()
	l.s.accepted.Add(1)
	return &untrackOnClose{holeConn: hc, s: l.s}, nil
}

// holeConn drops reads and swallows writes while the server is a black
// hole.
type holeConn struct {
	net.Conn
	hole *atomic.Bool
}

func (h *holeConn) Read(p []byte) (int, error) {
	for {
		n, err := h.Conn.Read(p)
		if err != nil || !h.hole.Load() {
			return n, err
		}
	}
}

func (h *holeConn) Write(p []byte) (int, error) {
	if h.hole.Load() {
		return len(p), nil
	}
	return h.Conn.Write(p)
}

// reset closes the connection with SO_LINGER 0, so the peer gets a RST
// rather than a FIN.
func (h *holeConn) reset() {
	if tc, ok := h.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = h.Conn.Close()
}

type untrackOnClose struct {
	*holeConn
	s *Server
}

func (u *untrackOnClose) Close() error {
	u.s.mu.Lock()
	delete(u.s.conns, u.holeConn)
	u.s.mu.Unlock()
	return u.holeConn.Close()
}

// Control returns an HTTP handler for controlling s from another process:
// POST /reset, /blackhole?on=true|false, /down, /up, and GET /stats.
func (s *Server) Control() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetAll()
		fmt.Fprintln(w, "reset")
	})
	mux.HandleFunc("POST /blackhole", func(w http.ResponseWriter, r *http.Request) {
		on := r.URL.Query().Get("on")
		if on != "true" && on != "false" {
			http.Error(w, fmt.Sprintf("on must be true or false, got %q", on), http.StatusBadRequest)
			return
		}
		s.Blackhole(on == "true")
		fmt.Fprintln(w, "blackhole", on)
	})
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, _ *http.Request) {
		s.Down()
		fmt.Fprintln(w, "down")
	})
	mux.HandleFunc("POST /up", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Up(); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		fmt.Fprintln(w, "up")
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		st := s.Stats()
		fmt.Fprintf(w, "{\"accepted\":%d,\"echoed\":%d,\"open\":%d}\n", st.Accepted, st.Echoed, st.Open)
	})
	return mux
}
