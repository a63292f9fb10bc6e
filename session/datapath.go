package session

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// The data path of a connection, between its socket and the handler, is
// a machine of package datapath per session (s.dp): Flowing, Waiting for
// its turn, the handler running (Busy, ReadAhead, Backlogged), Taking,
// Stopped. Its events are fired under s.mu, by the pump, the read-ahead,
// the hand-out of an inbox, the heartbeat and Requests (lending a
// read-ahead) and the reader task (Stop): one firer at a time, so each
// sees its own step and acts on it (a read-ahead is started by the firer
// whose Lend moved the machine). The heartbeat, the watchdog and the
// drain read the state without the lock: it is published atomically.

type (
	dpMachine = fsm.Machine[datapath.State, datapath.Event]
	dpRecord  = fsm.Record[datapath.State, datapath.Event]
)

// dataPathDef is every connection's data path: built once, shared.
var dataPathDef = sync.OnceValue(datapath.Definition)

// startDataPath starts s's data path machine, observed when the client
// has an observer or a logger.
func (s *session) startDataPath(c *Client) {
	var cfg fsm.Config[datapath.State, datapath.Event]
	if c.cfg.onRecord != nil || c.cfg.logger != nil {
		told := datapath.Flowing // the state the observer last heard of
		cfg.Observer = func(ctx context.Context, r dpRecord) {
			if r.Kind != fsm.RecordTransition && r.Kind != fsm.RecordRejected {
				return
			}
			if steady(r) && told == datapath.Flowing {
				return
			}
			told = r.To
			dr := &datapath.Record{Kind: r.Kind, From: r.From, Event: r.Event, To: r.To, Conn: s.epoch}
			if r.Event == datapath.Deliver {
				dr.Lag = s.lag
			}
			if s.hctx != nil {
				// The reader task's (or the handler's, under it): from
				// inside the lifecycle, so that Close there starts the
				// close and returns, as on a lifecycle record. A Close
				// that waited would wait for the reader task, which waits
				// for this step.
				ctx = s.hctx
			}
			c.observe(ctx, record{Kind: RecordDataPath, When: r.When, Reason: r.Reason, Epoch: s.epoch, Payload: dr, Err: r.Err})
		}
	}
	s.dp = dataPathDef().Start(context.Background(), cfg)
}

// steady reports whether r is a step of the steady flow: a message handed
// to the handler, or the handler returning, with nothing else held.
func steady(r dpRecord) bool {
	return r.Kind == fsm.RecordTransition &&
		(r.From == datapath.Flowing && r.To == datapath.Busy || r.From == datapath.Busy && r.To == datapath.Flowing)
}

// fireLocked fires e on the data path; s.mu is held. For Deliver, lag is
// the message's, kept for the observer (s.lag) rather than boxed as the
// event's payload, which would cost an allocation per message.
func (s *session) fireLocked(e datapath.Event, lag time.Duration) {
	s.lag = lag
	_ = s.dp.Fire(context.Background(), e) // a rejection reaches the observer; a stopped machine takes nothing
}

// deliverLocked fires Deliver for m; s.mu is held. Its lag is read from
// the clock only for an observer.
func (s *session) deliverLocked(m transport.Message) {
	var lag time.Duration
	if s.c.cfg.onRecord != nil || s.c.cfg.logger != nil {
		lag = time.Since(m.Received)
	}
	s.fireLocked(datapath.Deliver, lag)
}

// fire is fireLocked, taking s.mu.
func (s *session) fire(e datapath.Event) {
	s.mu.Lock()
	s.fireLocked(e, 0)
	s.mu.Unlock()
}

// callObserver hands r to the OnRecord observers. A panic of theirs is
// recovered and logged: it would otherwise stop the machine whose step it
// observes (fsm's rule for an observer), leaving a lifecycle stopped in
// Alive, or a data path that lost track of the message it held.
func (c *Client) callObserver(ctx context.Context, r record) {
	defer func() {
		if v := recover(); v != nil {
			if l := c.cfg.logger; l != nil {
				l.LogAttrs(ctx, slog.LevelError, "session: OnRecord observer panicked", slog.String("url", c.logURL()),
					slog.String("record", r.Kind.String()), slog.Uint64("epoch", r.Epoch), slog.Any("panic", v))
			}
		}
	}()
	c.cfg.onRecord(ctx, r)
}

// logDataPath logs a data path record at debug level.
func (c *Client) logDataPath(ctx context.Context, l *slog.Logger, r record) {
	dr, ok := r.Payload.(*datapath.Record)
	if !ok {
		return
	}
	attrs := []slog.Attr{slog.String("url", c.logURL()), slog.Uint64("epoch", dr.Conn), slog.String("from", dr.From.String()),
		slog.String("event", dr.Event.String()), slog.String("to", dr.To.String())}
	if dr.Event == datapath.Deliver {
		attrs = append(attrs, slog.Duration("lag", dr.Lag))
	}
	l.LogAttrs(ctx, slog.LevelDebug, "session: data path", attrs...)
}

// observe feeds the user's observer and the logger.
func (c *Client) observe(ctx context.Context, r record) {
	if c.cfg.onRecord != nil {
		c.callObserver(ctx, r)
	}
	if c.probe != nil {
		c.probe.record(ctx, r)
	}
	l := c.cfg.logger
	if l == nil {
		return
	}
	switch r.Kind {
	case fsm.RecordTransition:
		attrs := []slog.Attr{slog.String("url", c.logURL()), slog.String("from", r.From.String()),
			slog.String("event", r.Event.String()), slog.String("to", r.To.String()), slog.Uint64("epoch", r.Epoch)}
		switch p := r.Payload.(type) {
		case *Wait:
			attrs = append(attrs, slog.String("waited", p.String()))
		case error:
			attrs = append(attrs, slog.String("cause", p.Error()))
		}
		l.LogAttrs(ctx, slog.LevelInfo, "session: transition", attrs...)
	case fsm.RecordTaskFailed:
		l.LogAttrs(ctx, slog.LevelDebug, "session: task failed", slog.String("url", c.logURL()),
			slog.String("state", r.From.String()), slog.String("task", r.Task), slog.String("err", r.Err.Error()))
	case fsm.RecordStraggler:
		l.LogAttrs(ctx, slog.LevelWarn, "session: task did not return in time", slog.String("url", c.logURL()),
			slog.String("state", r.From.String()), slog.String("task", r.Task), slog.Uint64("epoch", r.Epoch))
	case fsm.RecordStragglerReturned:
		attrs := []slog.Attr{slog.String("url", c.logURL()), slog.String("state", r.From.String()),
			slog.String("task", r.Task), slog.Uint64("epoch", r.Epoch)}
		if r.Err != nil {
			attrs = append(attrs, slog.String("err", r.Err.Error()))
		}
		l.LogAttrs(ctx, slog.LevelWarn, "session: task returned after its state was left", attrs...)
	case fsm.RecordRejected:
		l.LogAttrs(ctx, slog.LevelError, "session: event rejected", slog.String("url", c.logURL()),
			slog.String("state", r.From.String()), slog.String("event", r.Event.String()))
	case RecordSubscription:
		sr := r.Payload.(*subscription.Record)
		attrs := []slog.Attr{slog.String("url", c.logURL()), slog.String("key", sr.Key), slog.String("step", sr.Kind.String()),
			slog.String("from", sr.From.String()), slog.String("event", sr.Event.String()), slog.String("to", sr.To.String())}
		if sr.Cause != nil {
			attrs = append(attrs, slog.String("cause", sr.Cause.Error()))
		}
		l.LogAttrs(ctx, slog.LevelDebug, "session: subscription", attrs...)
	case RecordDataPath:
		c.logDataPath(ctx, l, r)
	case fsm.RecordStale, fsm.RecordIgnored, fsm.RecordDropped:
		l.LogAttrs(ctx, slog.LevelDebug, "session: event "+r.Kind.String(), slog.String("url", c.logURL()),
			slog.String("state", r.From.String()), slog.String("event", r.Event.String()), slog.Uint64("epoch", r.Epoch))
	}
}

// logWait logs a wait before a dial as it starts: a long one (a
// Retry-After, the storm guard) says why at once, not when it ends.
func (c *Client) logWait(ctx context.Context, w *Wait) {
	if l := c.cfg.logger; l != nil {
		l.LogAttrs(ctx, slog.LevelInfo, "session: waiting before the next dial", slog.String("url", c.logURL()),
			slog.String("reason", w.Reason.String()), slog.Duration("delay", w.Delay),
			slog.Int("attempt", w.Failure.Attempt), slog.String("failure", w.Failure.Kind.String()))
	}
}

// readerStep is Alive's task, across both phases: a timer task
// (fsm.Builder.TimerTask), stepped at Alive's entry, when its watch is due,
// when the connection's reads fail, and once more when Alive is left, and
// holding no goroutine in between. Its first step starts the connection's
// pump, which reads and calls OnMessage one message at a time, in order
// (session.pump); its steps run the heartbeat and the data watchdog
// (heartbeat.go); and it owns the handler's calls: before its last step
// returns, the delivery is stopped, the call under way, if any, has
// returned, and so has the hand-out of an inbox (WithSlowConsumer) that
// makes them. So no handler runs outside its Alive, and one that ignores
// its context holds this task, which the lifecycle's join reports as a
// straggler once its timeout has passed.
//
// When it sees a failure (the reads failed, a pong or idle timeout), or
// Alive is left, it ends the handler's context with that cause, lets the
// pump hand over the messages it has read already (session.drain), stops
// the delivery, waits for the call under way and the resyncs after a
// sequence gap, and returns the failure: Lost. Nothing read is dropped
// silently: what is read after the drain is counted in Stats.Dropped.
//
// OnMessage calls never overlap, even across connections: a handler that
// ignored its context and was left running when its connection was given
// up must return before the next connection's pump calls the handler again
// (that pump waits, and the peer is slowed down meanwhile).
func (c *Client) readerStep(ctx context.Context, in step, _ emitFn, tm *tasks.Timer) error {
	s := in.Payload.(*session) // the connection that entered Alive
	if s.watch.tm == nil {     // the first step
		s.watch.due = clock() + c.cfg.pingInterval
		s.start(ctx, tm)
	}
	var err error
	if ctx.Err() == nil {
		if err = c.look(ctx, s); err == nil && ctx.Err() == nil {
			return nil // re-armed
		}
	}
	if x := s.watch.more; x != nil {
		x.dl.stop()
	}
	cause := err
	if ctx.Err() != nil {
		cause = context.Cause(ctx) // Alive is left: the handler's context ends as the task's did
	}
	s.endHandler(cause)
	s.drain()
	s.joinHandler()
	s.joinHandOut()
	if wg := c.resyncs.Load(); wg != nil {
		wg.Wait() // their context, the handler's, has ended
	}
	return err
}

// WithWriteLimit sets the largest message Send, Request and the session's
// Send accept, in bytes (default DefaultWriteLimit; -1 for no limit). A
// larger message fails with an error matching ErrMessageTooBig before
// anything is written or buffered: the venue would drop the connection
// for it.
func WithWriteLimit(n int64) Option { return func(c *config) { c.writeLimit = n } }

// checkOut checks a message to be sent: its type, its size against the
// write limit, and that the transport can carry it.
func (c *Client) checkOut(typ transport.MessageType, data []byte) error {
	if err := checkType(typ); err != nil {
		return err
	}
	if l := c.cfg.writeLimit; l >= 0 && int64(len(data)) > l {
		return fmt.Errorf("%w: %d bytes over the write limit of %d", ErrMessageTooBig, len(data), l)
	}
	return checkMessage(c.tr, typ, data)
}

// turn is a right that one holder at a time takes and gives back: the
// right to call the handler. Kept in the Client, it costs no allocation
// until someone has to wait for it, where a channel of one would be made
// for every client with a handler.
type turn struct {
	mu   sync.Mutex
	held bool
	free chan struct{} // made by the first who waits; closed when the right is given back
}

// tryTake takes the right if it is free.
func (t *turn) tryTake() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held {
		return false
	}
	t.held = true
	return true
}

// take takes the right, waiting for it to be given back; false if done
// is closed first.
func (t *turn) take(done <-chan struct{}) bool {
	for {
		t.mu.Lock()
		if !t.held {
			t.held = true
			t.mu.Unlock()
			return true
		}
		if t.free == nil {
			t.free = make(chan struct{})
		}
		free := t.free
		t.mu.Unlock()
		select {
		case <-free:
		case <-done:
			return false
		}
	}
}

// give gives the right back, waking those who wait for it.
func (t *turn) give() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.held = false
	if t.free != nil {
		close(t.free)
		t.free = nil
	}
}
