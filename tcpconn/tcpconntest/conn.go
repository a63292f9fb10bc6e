package tcpconntest

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/connfsm/connfsm/internal/venue"
)

// Conn is one connection the venue is serving. Behaviours act through it
// (Func, OnMessage), and a test can act on an open one on cue
// (Server.Conns). Its methods are safe for concurrent use.
type Conn struct {
	srv    *Server
	n      int
	w      *wire
	ctx    context.Context
	cancel context.CancelFunc
	parts  []part
	hooks  []hooks // parts' common hooks
	actors sync.WaitGroup
	ended  chan struct{} // closed once the end is recorded

	wmu         sync.Mutex // one frame on the wire at a time
	splitPieces int        // Split's setting, under wmu
	splitPause  time.Duration

	mu  sync.Mutex
	rec Connection
}

// N returns the connection's number: 1 for the venue's first, 2 for the
// next, ...
func (c *Conn) N() int { return c.n }

// Context returns the connection's context: it ends when the connection
// ends or the venue closes. Behaviours wait on it.
func (c *Conn) Context() context.Context { return c.ctx }

// Done is closed once the connection has ended and its end is recorded.
func (c *Conn) Done() <-chan struct{} { return c.ended }

// Send writes p as one frame in the venue's framing, in pieces if Split
// says so, and records it. It is recorded as the write starts, since the
// client may have it before the write returns, and forgotten if the write
// fails. A payload the framing cannot carry is an error matching
// framing.ErrPayload, and nothing is written. Send returns once the frame
// is written, or when the connection ends.
func (c *Conn) Send(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.send(p, c.splitPieces, c.splitPause)
}

// SendText sends s; see Send.
func (c *Conn) SendText(s string) error { return c.Send([]byte(s)) }

// SendSplit writes p as one frame in n writes (at least one byte each),
// waiting pause between them: over TCP, a frame split across segments. It
// is recorded as Send does.
func (c *Conn) SendSplit(p []byte, n int, pause time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.send(p, n, pause)
}

// send writes one frame in n pieces; c.wmu is held.
func (c *Conn) send(p []byte, n int, pause time.Duration) error {
	var frame bytes.Buffer
	if err := c.srv.cfg.framer.WriteFrame(&frame, p); err != nil {
		return err
	}
	rec := !c.srv.cfg.noRecord
	c.srv.stats.Sent.Add(1)
	if rec {
		c.mu.Lock()
		c.rec.Sent = append(c.rec.Sent, Message{Data: slices.Clone(p), At: time.Now()})
		c.mu.Unlock()
	}
	c.srv.notify() // Stats changed, recorded or not
	err := c.write(frame.Bytes(), n, pause)
	if err != nil {
		c.srv.stats.Sent.Add(-1)
		if rec { // the last one is this frame's: sends hold c.wmu
			c.mu.Lock()
			c.rec.Sent = c.rec.Sent[:len(c.rec.Sent)-1]
			c.mu.Unlock()
		}
	}
	return err
}

// write writes b in n pieces, pause apart; c.wmu is held.
func (c *Conn) write(b []byte, n int, pause time.Duration) error {
	n = max(1, min(n, len(b)))
	for i := range n {
		piece := b[i*len(b)/n : (i+1)*len(b)/n]
		if i > 0 && !venue.Sleep(c.ctx, pause) {
			return net.ErrClosed
		}
		if _, err := c.w.Write(piece); err != nil {
			return err
		}
	}
	return nil
}

// WriteRaw writes p as it is, outside any frame: half a frame, a length
// prefix that lies, bytes that are no frame at all. It is not recorded.
func (c *Conn) WriteRaw(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.w.Write(p)
	return err
}

// Close closes the connection: a FIN over TCP, after a TLS close_notify
// over TLS. If what the client sent is still unread then (a client that
// keeps sending), the system answers its data with a RST, as for any
// socket so closed: the client may then read a reset where it expected
// the end of the stream.
func (c *Conn) Close() error { return c.w.Close() }

// Reset drops the connection: a RST over TCP and TLS (SO_LINGER 0), the
// pipe closed in memory.
func (c *Conn) Reset() { c.w.reset() }

// Blackhole makes this connection a black hole while on is true: what
// the client writes is read and dropped, nothing the venue writes reaches
// the client, and nothing is closed.
func (c *Conn) Blackhole(on bool) { c.w.hole.Store(on) }

// Record returns what the venue has recorded of this connection so far.
func (c *Conn) Record() Connection {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rec
	r.Received = slices.Clone(r.Received)
	r.Sent = slices.Clone(r.Sent)
	return r
}

// start numbers a connection, picks its plan and serves it on a goroutine
// of its own; it reports false, closing nc, if the venue is down or
// closed.
func (s *Server) start(nc net.Conn, tcp *net.TCPConn) bool {
	s.mu.Lock()
	if s.gate.Shut() {
		s.mu.Unlock()
		_ = nc.Close()
		return false
	}
	n, plan := s.plans.Pick(s.cfg.choose)
	c := &Conn{srv: s, n: n, w: &wire{Conn: nc, srv: s, tcp: tcp}, ended: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	remote := "pipe"
	if tcp != nil {
		remote = tcp.RemoteAddr().String()
	}
	c.rec = Connection{N: c.n, Remote: remote, Opened: time.Now()}
	c.parts, c.hooks = venue.Play(plan, Behavior.recipe, part.common)
	s.reg.Add(c)
	s.reg.Open(c)
	s.running.Add(1)
	s.mu.Unlock()
	s.stats.Accepted.Add(1)
	s.stats.Open.Add(1)
	s.notify()
	go c.serve() // joined by Close, through s.running
	return true
}

// serve runs the plan's actions and reads until the connection ends.
func (c *Conn) serve() {
	defer c.srv.running.Done()
	venue.Launch(c.hooks, c.ctx, c, &c.actors)
	err := c.read()
	c.cancel()
	_ = c.w.Close()
	c.actors.Wait()
	c.end(err)
}

// read is the connection's one reader: it hands each frame to the plan's
// message handlers in order, until one takes it, then to its after hooks.
// Whatever ends the connection closes its socket, and that ends the read.
func (c *Conn) read() error {
	s := c.srv
	r := bufio.NewReader(c.w)
	for {
		p, err := s.cfg.framer.ReadFrame(r, s.cfg.readLimit)
		if err != nil {
			return err
		}
		m := Message{Data: p, At: time.Now()}
		s.stats.Received.Add(1)
		if !s.cfg.noRecord {
			c.mu.Lock()
			c.rec.Received = append(c.rec.Received, m)
			c.mu.Unlock()
		}
		s.notify() // Stats changed, recorded or not
		venue.Offer(c.hooks, c, m)
		for _, pt := range c.parts {
			if pt.after != nil {
				pt.after(c, m)
			}
		}
	}
}

// end records the end of the connection, and forgets it if the venue
// does not record.
func (c *Conn) end(err error) {
	c.mu.Lock()
	c.rec.Closed = time.Now()
	c.rec.Err = err
	c.mu.Unlock()
	s := c.srv
	s.stats.Open.Add(-1)
	s.reg.End(c, s.cfg.noRecord)
	close(c.ended)
	s.notify()
}
