package wsconntest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/internal/venue"
)

// Conn is one connection the venue is serving, from its handshake request
// on. Behaviours act through it (Func, OnMessage), and a test can act on an
// open one on cue (Server.Conns). Its methods are safe for concurrent use.
type Conn struct {
	srv    *Server
	n      int
	req    *http.Request
	wire   *wireConn // nil if the transport connection is not known
	ctx    context.Context
	cancel context.CancelFunc
	parts  []part
	hooks  []hooks         // parts' common hooks
	ws     *websocket.Conn // set once upgraded
	actors sync.WaitGroup
	ended  chan struct{} // closed once the end is recorded
	// sending holds one Send from its record to the end of its write, so
	// that Sent is in the order the messages went out.
	sending chan struct{}

	mu      sync.Mutex
	rec     Connection
	sendSeq uint64   // sends started
	sentSeq []uint64 // the send of each rec.Sent, to forget a failed one
}

// N returns the connection's number: 1 for the venue's first handshake
// request, 2 for the next, ...
func (c *Conn) N() int { return c.n }

// Request returns the handshake request. Its URL and Header may be read;
// its Body and Context belong to the venue.
func (c *Conn) Request() *http.Request { return c.req }

// Context returns the connection's context: it ends when the connection
// ends or the venue closes. Behaviours wait on it.
func (c *Conn) Context() context.Context { return c.ctx }

// Done is closed once the connection has ended and its end is recorded.
func (c *Conn) Done() <-chan struct{} { return c.ended }

// WebSocket returns the coder/websocket connection once upgraded, nil
// before: an escape hatch for what no behaviour does. The venue is its
// only reader; do not call Read or Reader on it.
func (c *Conn) WebSocket() *websocket.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws
}

// ErrNotUpgraded is returned by Conn's methods that need a WebSocket
// connection before the handshake has upgraded it.
var ErrNotUpgraded = errors.New("wsconntest: connection not upgraded")

// Send writes m and records it. It is recorded as the write starts, since
// the client may have it before the write returns, and forgotten if the
// write fails. Sends run one at a time, so that Sent is in the order the
// messages went out. If ctx ends during the write, the connection is
// closed (a coder/websocket rule).
func (c *Conn) Send(ctx context.Context, m Message) error {
	ws := c.WebSocket()
	if ws == nil {
		return ErrNotUpgraded
	}
	select {
	case c.sending <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wsconntest: send: %w", ctx.Err())
	case <-c.ctx.Done():
		return fmt.Errorf("wsconntest: send: %w", net.ErrClosed)
	}
	defer func() { <-c.sending }()
	c.srv.stats.Sent.Add(1)
	rec := !c.srv.cfg.noRecord
	var seq uint64
	if rec {
		c.mu.Lock()
		c.sendSeq++
		seq = c.sendSeq
		c.rec.Sent = append(c.rec.Sent, Message{Type: m.Type, Data: slices.Clone(m.Data), At: time.Now()})
		c.sentSeq = append(c.sentSeq, seq)
		c.mu.Unlock()
	}
	c.srv.notify() // Stats changed, recorded or not
	err := ws.Write(ctx, m.Type, m.Data)
	if err != nil {
		c.srv.stats.Sent.Add(-1)
		if rec {
			c.mu.Lock()
			if i := slices.Index(c.sentSeq, seq); i >= 0 {
				c.rec.Sent = slices.Delete(c.rec.Sent, i, i+1)
				c.sentSeq = slices.Delete(c.sentSeq, i, i+1)
			}
			c.mu.Unlock()
		}
	}
	return err
}

// SendText writes a text message; see Send.
func (c *Conn) SendText(ctx context.Context, s string) error { return c.Send(ctx, Text(s)) }

// Ping sends a protocol ping and waits for the client's pong, bounded by
// ctx.
func (c *Conn) Ping(ctx context.Context) error {
	ws := c.WebSocket()
	if ws == nil {
		return ErrNotUpgraded
	}
	return ws.Ping(ctx)
}

// Close closes the connection with a close frame carrying code and reason
// and waits for the client's close frame (coder/websocket bounds the wait
// at 10 s); before the upgrade it drops the connection. 1005
// (websocket.StatusNoStatusRcvd) sends a close frame without a status. A
// code no close frame may carry (1004, 1006, 1015, or outside 1000-1014 and
// 3000-4999) or a reason over 123 bytes sends none: the connection is
// dropped, as by Reset, and Close returns the error.
func (c *Conn) Close(code websocket.StatusCode, reason string) error {
	ws := c.WebSocket()
	if ws == nil {
		c.Reset()
		return nil
	}
	return ws.Close(code, reason)
}

// Reset drops the connection without a close handshake: over TCP with a
// RST.
func (c *Conn) Reset() {
	if c.wire != nil {
		c.wire.reset()
		return
	}
	if ws := c.WebSocket(); ws != nil {
		_ = ws.CloseNow()
	}
}

// Blackhole makes this connection a black hole while on is true: what the
// client writes is read and dropped, nothing the venue writes reaches the
// client, pongs included; nothing is closed.
func (c *Conn) Blackhole(on bool) {
	if c.wire != nil {
		c.wire.hole.Store(on)
	}
}

// Freeze makes the venue stop reading the connection, for good: what the
// client writes stays in the transport, and once its buffers are full
// (over TCP, the socket buffers; in memory at once, a net.Pipe has none)
// the client's writes block, as with a peer whose receive window is
// closed. Nothing is answered, pings included. The venue does not see the
// client go, either: the connection stays open until the venue closes it
// or Close.
func (c *Conn) Freeze() {
	if c.wire != nil {
		c.wire.frozen.Store(true)
	}
}

// Record returns what the venue has recorded of this connection so far.
func (c *Conn) Record() Connection {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rec
	r.Header = r.Header.Clone()
	r.Query = cloneValues(r.Query)
	r.Received = slices.Clone(r.Received)
	r.Sent = slices.Clone(r.Sent)
	r.Frames = slices.Clone(r.Frames)
	return r
}

func cloneValues(v map[string][]string) map[string][]string {
	if v == nil {
		return nil
	}
	out := make(map[string][]string, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func (c *Conn) setStatus(code int) {
	c.mu.Lock()
	if c.rec.Status == 0 || (c.rec.Status < 200 && c.rec.Status != http.StatusSwitchingProtocols) {
		c.rec.Status = code
	}
	c.mu.Unlock()
	c.srv.notify()
}

func (c *Conn) addFrame(f Frame) {
	c.mu.Lock()
	c.rec.Frames = append(c.rec.Frames, f)
	c.mu.Unlock()
	c.srv.notify()
}

func (c *Conn) received(m Message) {
	c.srv.stats.Received.Add(1)
	if !c.srv.cfg.noRecord {
		c.mu.Lock()
		c.rec.Received = append(c.rec.Received, m)
		c.mu.Unlock()
	}
	c.srv.notify() // Stats changed, recorded or not
}

// serveHTTP is every handshake request's handler: it numbers the request,
// picks its plan, lets a handshake behaviour answer it or upgrades it, and
// serves the connection until it ends.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.gate.Closed() {
		s.mu.Unlock()
		http.Error(w, "wsconntest: closed", http.StatusServiceUnavailable)
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()
	s.stats.handshakes.Add(1)

	n, plan := s.plans.Pick(func(n int) []Behavior {
		if s.cfg.choose == nil {
			return nil
		}
		return s.cfg.choose(r, n)
	})
	c := &Conn{srv: s, n: n, req: r, ended: make(chan struct{}), sending: make(chan struct{}, 1)}
	c.wire, _ = r.Context().Value(wireKey{}).(*wireConn)
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	defer c.cancel()
	c.rec = Connection{N: n, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Opened: time.Now()}
	c.parts, c.hooks = venue.Play(plan, Behavior.recipe, part.common)
	s.reg.Add(c)
	s.notify()
	defer c.end()

	sw := &statusWriter{ResponseWriter: w, c: c}
	for _, p := range c.parts {
		if p.handshake != nil && p.handshake(c, sw, r) {
			return
		}
	}
	opts := s.cfg.accept
	if len(opts.OriginPatterns) == 0 {
		opts.InsecureSkipVerify = true // a test venue: any origin
	}
	opts.OnPingReceived = c.onPing(opts.OnPingReceived)
	if c.wire != nil && !s.cfg.noRecord {
		c.wire.frames.Store(newConnState(c.addFrame, time.Now))
	}
	ws, err := websocket.Accept(sw, r, &opts)
	if err != nil {
		return // Accept answered the request; its status is recorded
	}
	ws.SetReadLimit(cmp.Or(s.cfg.readLimit, -1)) // -1: no limit
	c.mu.Lock()
	c.ws = ws
	c.rec.Upgraded = true
	c.rec.Subprotocol = ws.Subprotocol()
	c.mu.Unlock()
	s.reg.Open(c)
	s.stats.upgraded.Add(1)
	s.stats.Open.Add(1)
	s.notify()
	c.serve()
}

// serve runs the plan's actions and reads until the connection ends.
func (c *Conn) serve() {
	venue.Launch(c.hooks, c.ctx, c, &c.actors)
	err := c.read()
	c.cancel()
	_ = c.ws.CloseNow()
	c.actors.Wait()
	c.mu.Lock()
	c.rec.Err = err
	c.mu.Unlock()
}

// read is the connection's one reader: it hands each message to the
// plan's message handlers in order, until one takes it. It reads without
// a context to cancel (which would cost coder/websocket a few allocations
// per message): whatever ends the connection closes its socket (Close,
// Reset, ResetAll, Down, the venue's Close), and that ends the read.
func (c *Conn) read() error {
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			return err
		}
		m := Message{Type: typ, Data: data, At: time.Now()}
		c.received(m)
		venue.Offer(c.hooks, c, m)
	}
}

// onPing chains the plan's ping handlers (DelayPongs) before user's: the
// pong is written once they return, unless one returns false.
func (c *Conn) onPing(user func(context.Context, []byte) bool) func(context.Context, []byte) bool {
	var hooks []func(context.Context, []byte) bool
	for _, p := range c.parts {
		if p.ping != nil {
			hooks = append(hooks, p.ping)
		}
	}
	if user != nil {
		hooks = append(hooks, user)
	}
	if len(hooks) == 0 {
		return nil
	}
	return func(ctx context.Context, payload []byte) bool {
		for _, h := range hooks {
			if !h(ctx, payload) {
				return false
			}
		}
		return true
	}
}

// end records the end of the connection and forgets it if the venue does
// not record. net/http closes the transport connection of a request that
// was not hijacked once its response is written.
func (c *Conn) end() {
	c.cancel()
	c.mu.Lock()
	c.rec.Closed = time.Now()
	upgraded := c.rec.Upgraded
	c.mu.Unlock()
	s := c.srv
	if upgraded {
		s.stats.Open.Add(-1)
	}
	s.reg.End(c, s.cfg.noRecord)
	close(c.ended)
	s.notify()
}

// statusWriter records the status a handshake is answered with.
type statusWriter struct {
	http.ResponseWriter
	c *Conn
}

func (w *statusWriter) WriteHeader(code int) {
	if code != http.StatusSwitchingProtocols && w.c.wire != nil {
		w.c.wire.frames.Store(nil) // no upgrade: what follows is not frames
	}
	w.c.setStatus(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.c.setStatus(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and coder/websocket reach the
// hijacker.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
