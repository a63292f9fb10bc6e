package wsconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// AppHeartbeat is an application-level heartbeat: instead of protocol
// pings, the client sends Ping as a data message every ping interval and
// waits up to the pong timeout (WithHeartbeat) for a message IsPong
// accepts. Venues that want their own: OKX "ping"/"pong" (TextHeartbeat),
// Bybit {"op":"ping"}, Kraken {"event":"ping"}.
type AppHeartbeat struct {
	// Type is the ping's message type: Text (the default, when zero) or
	// Binary.
	Type MessageType
	// Ping is the payload sent every interval.
	Ping []byte
	// IsPong reports whether a received message is the heartbeat's reply.
	// It is called by the connection's reader for every data message, as
	// it is read, so it must be quick and must not keep m.Data.
	IsPong func(m Message) bool
	// Deliver hands the replies to OnMessage too; by default they are
	// taken out of the stream.
	Deliver bool
}

// TextHeartbeat returns the application heartbeat that sends ping as a
// text message and takes a text message equal to pong as its reply.
func TextHeartbeat(ping, pong string) AppHeartbeat {
	p := []byte(pong)
	return AppHeartbeat{
		Type:   Text,
		Ping:   []byte(ping),
		IsPong: func(m Message) bool { return m.Type == Text && bytes.Equal(m.Data, p) },
	}
}

// WithHeartbeat sets the ping interval and the pong timeout. A reply that
// does not arrive within timeout means the connection is Lost
// (ErrPongTimeout). One ping is in flight at a time: with a timeout longer
// than the interval, the next ping waits for the previous one's reply, so
// a dead peer is found within interval + timeout whatever their ratio. The
// heartbeat is protocol ping/pong, or the application heartbeat given with
// WithAppHeartbeat: one form per connection.
func WithHeartbeat(interval, timeout time.Duration) Option {
	return func(c *config) { c.pingInterval, c.pongTimeout = interval, timeout }
}

// WithAppHeartbeat replaces protocol pings with the application heartbeat
// h, at the interval and with the timeout of WithHeartbeat. The client
// still answers the peer's protocol pings, as every WebSocket endpoint
// must.
func WithAppHeartbeat(h AppHeartbeat) Option {
	return func(c *config) {
		switch {
		case h.IsPong == nil:
			c.problems = append(c.problems, errors.New("AppHeartbeat.IsPong: nil func"))
		case h.Type != 0 && h.Type != Text && h.Type != Binary:
			c.problems = append(c.problems, fmt.Errorf("AppHeartbeat.Type: message type %d is neither Text nor Binary", h.Type))
		default:
			if h.Type == 0 {
				h.Type = Text
			}
			h.Ping = bytes.Clone(h.Ping)
			c.appHeartbeat = &h
		}
	}
}

// WithPingResponder answers the peer's application-level pings (a venue
// sending {"ping":n} and dropping clients that do not answer {"pong":n}):
// respond is called for every data message as it is read, before
// OnMessage; when it returns ok, reply is written at once with the
// message's type, and the message is neither handed to OnMessage nor
// counted as data by the idle timeout. Like IsPong, respond must be quick
// and must not keep m.Data.
func WithPingResponder(respond func(m Message) (reply []byte, ok bool)) Option {
	return func(c *config) {
		if respond == nil {
			c.problems = append(c.problems, errors.New("PingResponder: nil func"))
			return
		}
		c.respond = respond
	}
}

// heartbeatTask is one of Alive's tasks: a ping every interval, Lost if
// its reply does not come within the pong timeout, and, with an idle
// timeout, the data watchdog (Lost if no data came for that long). A peer
// whose messages the handler has not taken yet is alive: its reply is
// queued behind them, so a slow consumer is not mistaken for a dead peer.
// It belongs to the connection's Alive entry, across both phases: when the
// reader, or the sync, sees the connection die, the lifecycle cancels it
// before the failure is even processed, so it never pings a dead
// connection.
//
// It also watches the pump: when the connection fails while the reader is
// inside a slow handler, the heartbeat reports it (Lost, with the read's
// error) at once, whatever the handler does.
//
// One goroutine does all of this: the watchdog is checked when its timer
// fires, and before and after each ping. A ping cancelled under way would
// close the connection (a coder/websocket rule), and the reader would then
// report a closed socket instead of the idle feed.
func (c *Client) heartbeatTask(ctx context.Context, _ emitFn) error {
	s := c.sess.Load()
	interval, timeout := c.cfg.pingInterval, c.cfg.pongTimeout
	t := time.NewTimer(interval)
	defer t.Stop()
	w := newWatchdog(c.cfg.idleTimeout, s)
	defer w.stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return s.lostErr()
		case <-w.C():
			if err := w.check(); err != nil {
				return err
			}
			continue
		case <-t.C:
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := w.check(); err != nil {
			return err
		}
		if s.dead() {
			// Counted, for the invariant "no ping on a dead connection":
			// the tick found the connection failed, and pings nothing.
			c.stats.deadPings.Add(1)
			return s.lostErr()
		}
		start := time.Now()
		if s.parked.Load() {
			// A slow handler holds the reader: the peer is sending, and a
			// reply would wait behind its messages. Backpressure is no dead
			// peer; ping again once the handler has caught up.
			t.Reset(interval)
			continue
		}
		c.stats.pings.Add(1)
		reads := s.reads.Load()
		err := c.ping(ctx, s, timeout)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded) && s.peerSending(reads):
			// The reply is behind messages still being read.
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("%w: no pong within %v", ErrPongTimeout, timeout)
		case err != nil:
			return s.failed(ctx, fmt.Errorf("%w: %w", ErrPingFailed, err), timeout)
		default:
			c.stats.lastRTT.Store(int64(time.Since(start)))
		}
		if err := w.check(); err != nil {
			return err
		}
		// The next ping is due an interval after this one was sent, or at
		// once if its reply took longer than that.
		t.Reset(max(0, interval-time.Since(start)))
	}
}

// ping sends one ping and waits for its reply, up to timeout: a protocol
// ping, or the application heartbeat's.
func (c *Client) ping(ctx context.Context, s *session, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h := c.cfg.appHeartbeat
	if h == nil {
		return s.conn.Ping(pctx)
	}
	select { // a reply that came late, or unasked, answers no ping of ours
	case <-s.pongs:
	default:
	}
	if err := s.conn.Write(pctx, h.Type, h.Ping); err != nil {
		if ctxErr := pctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return err
	}
	select {
	case <-s.pongs:
		return nil
	case <-pctx.Done():
		return pctx.Err()
	case <-s.done:
		return fmt.Errorf("wsconn: connection failed before the heartbeat's reply: %w", s.err)
	}
}
