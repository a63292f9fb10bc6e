package wsconn

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// pipeNet is an in-memory network for tests under testing/synctest: an
// http.Server serves its listener side, and a client's http.Transport dials
// through it; every connection is a net.Pipe, so everything runs in virtual
// time.
type pipeNet struct {
	accept chan net.Conn
	closed chan struct{}
	once   sync.Once

	hole atomic.Bool
	// writeDelay holds every server write back this long (nanoseconds): a
	// peer slow to answer.
	writeDelay atomic.Int64

	mu     sync.Mutex
	down   bool
	server []net.Conn // server ends, for faults
	dials  int
}

func newPipeNet() *pipeNet {
	return &pipeNet{accept: make(chan net.Conn), closed: make(chan struct{})}
}

func (n *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.accept:
		return c, nil
	case <-n.closed:
		return nil, net.ErrClosed
	}
}

func (n *pipeNet) Close() error {
	n.once.Do(func() { close(n.closed) })
	n.ResetAll()
	return nil
}

func (n *pipeNet) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

func (n *pipeNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	n.mu.Lock()
	n.dials++
	down := n.down
	n.mu.Unlock()
	if down {
		return nil, errRefused
	}
	client, pipe := net.Pipe()
	server := &holeConn{Conn: pipe, hole: &n.hole, delay: &n.writeDelay}
	select {
	case n.accept <- server:
		n.mu.Lock()
		n.server = append(n.server, server)
		n.mu.Unlock()
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.closed:
		return nil, errRefused
	}
}

// ResetAll drops every server-side connection without a close handshake:
// what a TCP reset looks like to the client.
func (n *pipeNet) ResetAll() {
	n.mu.Lock()
	conns := n.server
	n.server = nil
	n.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// Blackhole makes every server connection, current and future, a black
// hole: what the client writes is read and dropped, what the server writes
// vanishes; nothing is closed. That is a half-open peer.
func (n *pipeNet) Blackhole(on bool) { n.hole.Store(on) }

type holeConn struct {
	net.Conn
	hole  *atomic.Bool
	delay *atomic.Int64
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
	if d := h.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if h.hole.Load() {
		return len(p), nil
	}
	return h.Conn.Write(p)
}

// SetDown makes new dials fail with "connection refused".
func (n *pipeNet) SetDown(down bool) {
	n.mu.Lock()
	n.down = down
	n.mu.Unlock()
}

func (n *pipeNet) Dials() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dials
}

// testServer is a WebSocket server on a pipeNet. handler runs per
// connection; echo is used when it is nil.
type testServer struct {
	net    *pipeNet
	srv    *http.Server
	client *http.Client
	tr     *http.Transport
	done   chan struct{}
	cancel context.CancelFunc
}

func echo(ctx context.Context, c *websocket.Conn) {
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

func startServer(t *testing.T, handler http.Handler) *testServer {
	t.Helper()
	n := newPipeNet()
	if handler == nil {
		handler = wsHandler(echo)
	}
	// Handlers see a request context that also ends when the server
	// closes: a hijacked connection's context otherwise lives on.
	ctx, cancel := context.WithCancel(context.Background())
	inner := handler
	handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rctx, rcancel := context.WithCancel(r.Context())
		defer rcancel()
		stop := context.AfterFunc(ctx, rcancel)
		defer stop()
		inner.ServeHTTP(w, r.WithContext(rctx))
	})
	s := &testServer{net: n, srv: &http.Server{Handler: handler}, done: make(chan struct{}), cancel: cancel}
	s.tr = &http.Transport{DialContext: n.DialContext}
	s.client = &http.Client{Transport: s.tr}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(n); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) Close() {
	s.cancel()
	s.tr.CloseIdleConnections()
	_ = s.srv.Close()
	_ = s.net.Close()
	<-s.done
}

func wsHandler(fn func(ctx context.Context, c *websocket.Conn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		fn(r.Context(), c)
	}
}
