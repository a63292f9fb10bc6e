package session

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/tasks"
)

// Request sends a message and waits for the first received message match
// accepts: a login's ack, a subscription's ack, a JSON-RPC reply with the
// request's id. The reply is taken out of the stream: it is not handed to
// OnMessage. match is called by the connection's reader for every data
// message while the request waits, as it is read, before OnMessage; it
// must be quick, and a match that panics fails the request. While a
// handler runs, the connection is read ahead by one message: a reply that
// comes next is taken at once; one behind a further data message waits
// until the handler returns (a Request made from inside the handler then
// waits for its ctx).
//
// The request is sent as Send sends (it waits for Ready while Syncing,
// unless called from the sync itself, and is paced by the rate limiter),
// but it is never buffered: while not connected it fails at once with
// ErrNotConnected. It fails with an error wrapping ErrNotConnected if the
// connection ends before the reply, ErrClosed once the client closes, and
// ctx's cause if ctx ends first; a reply is only ever matched on the
// connection its request was sent on.
func (c *Client) Request(ctx context.Context, typ MessageType, data []byte, match func(Message) bool) (Message, error) {
	if err := c.checkOut(typ, data); err != nil {
		return Message{}, err
	}
	if match == nil {
		return Message{}, fmt.Errorf("session: Request: nil match")
	}
	if ctx == nil {
		return Message{}, errNilContext("Request")
	}
	s, err := c.sendable(ctx)
	if err != nil {
		return Message{}, err
	}
	if s == nil {
		c.bufMu.Unlock()
		return Message{}, fmt.Errorf("%w: no connection to send the request on", ErrNotConnected)
	}
	return c.request(ctx, s, typ, data, match)
}

// request registers a reply for match on s, sends, and waits for it.
func (c *Client) request(ctx context.Context, s *session, typ MessageType, data []byte, match func(Message) bool) (Message, error) {
	w := s.requests.add(match)
	defer s.requests.remove(w)
	if err := c.paced(ctx, s, typ, data); err != nil {
		return Message{}, err
	}
	return c.awaitReply(ctx, s, w)
}

// requests are the replies awaited on one connection. Whether one can
// still come is the lifecycle's to say (awaitReply): the table keeps no
// flag of its own.
type requests struct {
	pending atomic.Int32 // len(waiting), read by the pump without the lock
	mu      sync.Mutex
	waiting []*awaited
}

type awaited struct {
	match func(Message) bool
	reply chan Message // one slot: the pump never blocks on it
	err   error        // a panic of match; set before reply is closed
}

func (r *requests) add(match func(Message) bool) *awaited {
	w := &awaited{match: match, reply: make(chan Message, 1)}
	r.mu.Lock()
	r.waiting = append(r.waiting, w)
	r.pending.Store(int32(len(r.waiting)))
	r.mu.Unlock()
	return w
}

func (r *requests) remove(w *awaited) {
	r.mu.Lock()
	if i := slices.Index(r.waiting, w); i >= 0 {
		r.waiting = slices.Delete(r.waiting, i, i+1)
		r.pending.Store(int32(len(r.waiting)))
	}
	r.mu.Unlock()
}

// match hands m to the first request it answers, in the order they were
// made, and reports whether one took it.
func (r *requests) match(m Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, w := range r.waiting {
		ok, err := w.try(m)
		if !ok && err == nil {
			continue
		}
		r.waiting = slices.Delete(r.waiting, i, i+1)
		r.pending.Store(int32(len(r.waiting)))
		if err != nil {
			w.err = err
			close(w.reply)
			return false // a broken matcher takes nothing
		}
		w.reply <- m
		return true
	}
	return false
}

// try runs the matcher; a panic is the request's failure, not the pump's.
func (w *awaited) try(m Message) (ok bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &tasks.PanicError{Task: "Request match", Value: p, Stack: debug.Stack()}
		}
	}()
	return w.match(m), nil
}

// awaitReply waits for w's reply on s, until s's Alive is left: the
// context it waits on is bound to the lifecycle (WhileIn), and to s's own
// entry of Alive, the one whose connection is s. A reply that came is
// returned even if the connection failed, or ctx ended, just after it.
func (c *Client) awaitReply(ctx context.Context, s *session, w *awaited) (Message, error) {
	// A handler under way reads nothing: the reply must not wait for it.
	s.lend()
	alive, cancel := c.m.WhileIn(ctx, connfsm.Alive)
	defer cancel()
	if c.sess.Load() != s {
		// The entry WhileIn watches is not s's: s's Alive is over, or,
		// while Closing, hands s over for the close handshake only.
		// (c.sess is set by Alive's enter hook, after the entry is
		// published, and cleared once it is left.)
		cancel()
	}
	var failure error
	select {
	case m, ok := <-w.reply:
		return w.result(m, ok)
	case <-s.done:
		failure = fmt.Errorf("%w: the connection failed before the reply: %w", ErrNotConnected, s.lostErr())
	case <-alive.Done():
		if ctx.Err() != nil {
			failure = fmt.Errorf("session: request: %w", context.Cause(ctx))
		} else {
			failure = fmt.Errorf("%w: the connection was left before the reply", ErrNotConnected)
		}
	}
	select {
	case m, ok := <-w.reply:
		return w.result(m, ok)
	default:
		return Message{}, failure
	}
}

func (w *awaited) result(m Message, ok bool) (Message, error) {
	if !ok {
		return Message{}, fmt.Errorf("session: request: %w", w.err)
	}
	return m, nil
}
