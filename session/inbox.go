package session

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// WithSlowConsumer sets the slow-consumer policy (default Block). With any
// other policy the reader never waits for the handler: it reads on, so
// neither the heartbeat nor the data watchdog is ever held up, and the
// messages wait in a bounded inbox, which a goroutine of the connection
// empties into the handler, one call at a time, in order. Every message
// the policy drops or conflates is counted (Stats.SlowDropped,
// Stats.Conflated, Stats.SlowDisconnects).
func WithSlowConsumer(p datapath.SlowConsumer) Option { return func(c *config) { c.slow = p } }

// checkSlow adds the problems of p to bad.
func checkSlow(p datapath.SlowConsumer, bad func(string, ...any)) {
	switch {
	case p.Policy > datapath.Disconnect:
		bad("SlowConsumer.Policy %d is not known", p.Policy)
	case p.Policy == datapath.Block:
	case p.Inbox <= 0:
		bad("SlowConsumer.Inbox must be positive with policy %v, got %d", p.Policy, p.Inbox)
	case p.Policy == datapath.Conflate && p.Key == nil:
		bad("SlowConsumer.Key: nil func with policy conflate")
	}
}

// WithPull keeps the messages for Messages instead of a handler: the
// iterator takes them one at a time, under the slow-consumer policy, as a
// handler would. It cannot be given with OnMessage.
func WithPull() Option { return func(c *config) { c.pull = true } }

// Messages returns an iterator over the messages received, in order,
// across connections, for a client dialed WithPull (otherwise it yields
// nothing). It ends when ctx ends or the client is Closed; a nil ctx is
// context.Background(), as Close's. Only one loop should range over it at
// a time: each message goes to one of them.
//
// A message is handed over when the loop asks for it: under Block the
// reader waits meanwhile; with another policy the inbox fills. When a
// connection ends, the messages read from it are still handed over for a
// second (see OnMessage); those not taken by then are counted in
// Stats.Dropped.
func (c *Client) Messages(ctx context.Context) iter.Seq[transport.Message] {
	if ctx == nil {
		ctx = context.Background()
	}
	return func(yield func(transport.Message) bool) {
		if c.pull == nil {
			return
		}
		for {
			select {
			case m := <-c.pull:
				if !yield(m) {
					return
				}
			case <-ctx.Done():
				return
			case <-c.Done():
				return
			}
		}
	}
}

// pullHandler is the handler of a client dialed WithPull: it waits until
// the loop over Messages takes m, and counts it received then, with its
// lag. Once the connection has ended (ctx), it waits at most the drain's
// time more, and counts m as dropped then.
func (c *Client) pullHandler(ctx context.Context, m transport.Message) {
	select {
	case c.pull <- m:
		c.pulled(m)
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case c.pull <- m:
		c.pulled(m)
	case <-t.C:
		c.stats.more().dropped.Add(1)
	case <-c.Done():
		c.stats.more().dropped.Add(1)
	}
}

// pulled counts m, taken by the loop over Messages now: received, and
// the lag until the loop took it.
func (c *Client) pulled(m transport.Message) {
	c.stats.lagged(m.Received)
	c.stats.received(len(m.Data))
}

// inbox holds the messages waiting for the handler under a policy other
// than Block.
type inbox struct {
	p     datapath.SlowConsumer
	mu    sync.Mutex
	q     []*waiting
	keys  map[string]*waiting // Conflate: the waiting message of each key
	ready chan struct{}       // one slot: something was put
	gone  chan struct{}       // closed when the hand-out has returned
}

type waiting struct {
	m   transport.Message
	key string
}

func newInbox(p datapath.SlowConsumer) *inbox {
	b := &inbox{p: p, ready: make(chan struct{}, 1), gone: make(chan struct{})}
	if p.Policy == datapath.Conflate {
		b.keys = make(map[string]*waiting)
	}
	return b
}

// putResult is what put did with a message.
type putResult uint8

const (
	putKept putResult = iota
	putDroppedOld
	putDroppedNew
	putConflated
	putFull
)

// keyOf returns m's key under Conflate ("" under the other policies). A
// Key that panics returns a *tasks.PanicError: the pump is no task, and a
// panic there would end the process.
func (b *inbox) keyOf(m transport.Message) (key string, err error) {
	if b.keys == nil {
		return "", nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = &tasks.PanicError{Task: "reader", Value: p, Stack: debug.Stack()}
		}
	}()
	return b.p.Key(m), nil
}

// put keeps m, whose key is key (keyOf), under the policy and reports what
// it did.
func (b *inbox) put(m transport.Message, key string) putResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := putKept
	w := &waiting{m: m, key: key}
	if b.keys != nil {
		if old := b.keys[w.key]; old != nil {
			old.m = m
			return putConflated
		}
	}
	if len(b.q) >= b.p.Inbox {
		switch b.p.Policy {
		case datapath.DropNewest:
			return putDroppedNew
		case datapath.Disconnect:
			return putFull
		}
		if b.keys != nil {
			delete(b.keys, b.q[0].key)
		}
		b.q[0] = nil
		b.q = b.q[1:]
		r = putDroppedOld
	}
	b.q = append(b.q, w)
	if b.keys != nil {
		b.keys[w.key] = w
	}
	select {
	case b.ready <- struct{}{}:
	default:
	}
	return r
}

// take returns the oldest waiting message, if any.
func (b *inbox) take() (transport.Message, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.q) == 0 {
		return transport.Message{}, false
	}
	w := b.q[0]
	b.q[0] = nil
	b.q = b.q[1:]
	if b.keys != nil {
		delete(b.keys, w.key)
	}
	return w.m, true
}

// clear empties the inbox and returns how many messages it held.
func (b *inbox) clear() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.q)
	b.q = nil
	if b.keys != nil {
		clear(b.keys)
	}
	return n
}

func (b *inbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.q)
}

// enqueue puts m in the inbox under the policy, counting what it dropped;
// it reports false if the connection failed: the policy ended it, or the
// Key panicked.
func (s *session) enqueue(m transport.Message) bool {
	c := s.c
	if s.isStopped() {
		c.stats.more().dropped.Add(1)
		return true
	}
	key, err := s.inbox.keyOf(m)
	if err != nil {
		s.fail(err)
		return false
	}
	switch s.inbox.put(m, key) {
	case putDroppedOld, putDroppedNew:
		c.stats.more().slowDropped.Add(1)
		s.slowOnce(m)
	case putConflated:
		c.stats.more().conflated.Add(1)
	case putFull:
		c.stats.more().slowDisconnects.Add(1)
		c.stats.more().dropped.Add(1) // read, and never handed over: the connection ends for it
		s.slowOnce(m)
		s.fail(fmt.Errorf("%w: %d messages waiting for the handler", ErrSlowConsumer, s.inbox.p.Inbox))
		return false
	}
	if s.isStopped() {
		// Stopped as it was put: the hand-out may have counted what it
		// left already; whatever is still there is counted here.
		c.stats.more().dropped.Add(uint64(s.inbox.clear()))
	}
	return true
}

// slowOnce logs, once per connection, that the policy had to act.
func (s *session) slowOnce(m transport.Message) {
	l := s.c.cfg.logger
	if l == nil || !s.slowLogged.CompareAndSwap(false, true) {
		return
	}
	l.Warn("session: slow consumer", slog.String("policy", s.inbox.p.Policy.String()),
		slog.Int("inbox", s.inbox.p.Inbox), slog.Uint64("epoch", s.epoch),
		slog.Duration("lag", time.Duration(s.c.stats.lastLag.Load())))
}

// handOut is the connection's goroutine that empties the inbox into the
// handler, one call at a time, in order, once it is this connection's
// turn; it returns once the delivery is stopped (what is left is counted
// as dropped) or the handler panicked (which fails the connection). It
// stops the data path as it returns: nothing more will be handed out.
// Alive's reader task, which owns the handler's calls, joins it
// (joinHandOut) before it returns: it does not outlive Alive.
func (s *session) handOut() {
	defer close(s.inbox.gone)
	c := s.c
	stopped, cancel := s.dp.UntilIn(context.Background(), datapath.Stopped)
	defer cancel()
	defer func() {
		// Stopped first, so that a message put meanwhile is counted by
		// enqueue.
		s.fire(datapath.Stop)
		c.stats.more().dropped.Add(uint64(s.inbox.clear()))
	}()
	for {
		m, ok := s.inbox.take()
		if !ok {
			select {
			case <-s.inbox.ready:
				continue
			case <-stopped.Done():
				return
			}
		}
		h, pulled := s.handlerOf(m)
		if h == nil { // neither a subscription's nor OnMessage: discarded
			c.stats.received(len(m.Data))
			continue
		}
		if !s.startHandling(m, pulled) {
			return
		}
		hctx := s.handlerContextLocked()
		s.mu.Unlock()

		err := c.handle(h, hctx, m, pulled)

		s.fire(datapath.Return)
		c.handling.give()
		if err != nil {
			s.fail(err)
			return
		}
	}
}

// joinHandOut waits for the hand-out of the inbox, if there is one, to
// return; the delivery is stopped already (joinHandler).
func (s *session) joinHandOut() {
	if s.inbox != nil {
		<-s.inbox.gone
	}
}

// WithDecompression decodes every binary message with d as it is read,
// before anything sees it: the application heartbeat's matcher, the ping
// responder, Requests' matchers, the subscriptions and the handler. A
// decoded payload that is valid UTF-8 becomes a Text message (the venue's
// JSON), else stays Binary. A payload that does not decode is handed over
// as read and counted in Stats.Undecoded. The decoded size is bounded by
// the read limit: beyond it the connection is Lost with ErrMessageTooBig.
// Text messages are never touched. This is not permessage-deflate
// (wsconn.WithCompression), which the WebSocket layer does itself.
func WithDecompression(d datapath.Decompression) Option { return func(c *config) { c.decompress = d } }

// decode decodes a binary payload as the session's decompression says.
func (s *session) decode(typ transport.MessageType, data []byte) (transport.MessageType, []byte, error) {
	dec := s.c.cfg.decompress
	if dec == datapath.NoDecompression || typ != transport.Binary {
		return typ, data, nil
	}
	var r io.ReadCloser
	var err error
	if dec == datapath.Gzip {
		r, err = gzip.NewReader(bytes.NewReader(data))
	} else {
		r = flate.NewReader(bytes.NewReader(data))
	}
	if err != nil {
		s.c.stats.more().undecoded.Add(1)
		return typ, data, nil
	}
	defer r.Close()
	limit := s.c.cfg.readLimit
	var src io.Reader = r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	out, err := io.ReadAll(src)
	switch {
	case err != nil:
		s.c.stats.more().undecoded.Add(1)
		return typ, data, nil
	case limit > 0 && int64(len(out)) > limit:
		// Counted in Stats.TooBig by the failure it causes (session.fail).
		return typ, nil, fmt.Errorf("%w: decoded payload over the read limit of %d bytes", ErrMessageTooBig, limit)
	}
	if utf8.Valid(out) {
		typ = transport.Text
	}
	return typ, out, nil
}
