package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// AppHeartbeat is an application-level heartbeat: instead of protocol
// pings, the client sends Ping as a data message every ping interval and
// waits up to the pong timeout (WithHeartbeat) for a message IsPong
// accepts. Venues that want their own: OKX "ping"/"pong" (TextHeartbeat),
// Bybit {"op":"ping"}, Kraken {"event":"ping"}.
type AppHeartbeat struct {
	// Type is the ping's message type: Text (the default, when zero) or
	// Binary.
	Type transport.MessageType
	// Ping is the payload sent every interval.
	Ping []byte
	// IsPong reports whether a received message is the heartbeat's reply.
	// It is called by the connection's reader for every data message, as
	// it is read, so it must be quick and must not keep m.Data.
	IsPong func(m transport.Message) bool
	// Deliver hands the replies to OnMessage too; by default they are
	// taken out of the stream.
	Deliver bool
}

// TextHeartbeat returns the application heartbeat that sends ping as a
// text message and takes a text message equal to pong as its reply.
func TextHeartbeat(ping, pong string) AppHeartbeat {
	p := []byte(pong)
	return AppHeartbeat{
		Type:   transport.Text,
		Ping:   []byte(ping),
		IsPong: func(m transport.Message) bool { return m.Type == transport.Text && bytes.Equal(m.Data, p) },
	}
}

// WithHeartbeat sets the ping interval and the pong timeout. A reply that
// does not arrive within timeout means the connection is Lost
// (ErrPongTimeout). One ping is in flight at a time: with a timeout longer
// than the interval, the next ping waits for the previous one's reply, so
// a silent peer is found within interval + timeout of its last message
// whatever their ratio, on a process that runs on time. The process's own
// lateness is not held against the peer: the wait is lengthened by as much
// as the heartbeat woke up late (at most 3 × timeout in all), and a wait
// that expires while the reader is in a read and bytes from the peer lie
// unread in the socket (on Linux, where the socket is asked) keeps the
// connection, once per message read (Stats.LateReads). Nor is
// backpressure: while a slow handler holds a message read, with more
// behind it, no ping is sent. The heartbeat is protocol ping/pong, or the
// application heartbeat given with WithAppHeartbeat: one form per
// connection.
func WithHeartbeat(interval, timeout time.Duration) Option {
	return func(c *config) { c.pingInterval, c.pongTimeout = interval, timeout }
}

// WithAppHeartbeat replaces protocol pings with the application heartbeat
// h. Its interval and timeout are WithHeartbeat's: 20 s and 20 s unless
// set. The client still answers the peer's protocol pings, as every
// WebSocket endpoint must. A transport without protocol pings (TCP) has a
// heartbeat only with this option.
func WithAppHeartbeat(h AppHeartbeat) Option {
	return func(c *config) {
		typ, typeOK := textOr(h.Type)
		switch {
		case h.IsPong == nil:
			c.problems = append(c.problems, errors.New("AppHeartbeat.IsPong: nil func"))
		case !typeOK:
			c.problems = append(c.problems, fmt.Errorf("AppHeartbeat.Type: message type %d is neither Text nor Binary", h.Type))
		default:
			h.Type = typ
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
func WithPingResponder(respond func(m transport.Message) (reply []byte, ok bool)) Option {
	return unlessNil(respond == nil, "PingResponder: nil func", func(c *config) { c.respond = respond })
}

// WithAlwaysPing sends a protocol ping every interval even while data
// arrives. By default a protocol ping is sent only when nothing was read
// for the ping interval, as gRPC's keepalive pings only idle connections:
// a message read is proof that the peer is alive, so a busy connection
// costs no heartbeat at all, and a silent peer is still found within the
// interval plus the pong timeout of its last message. Use this for a peer
// that drops clients which do not ping it. An application heartbeat
// (WithAppHeartbeat) is always sent every interval: the venue's own rule.
// Either way no ping is sent while a slow handler holds a message read
// with more behind it: the reply would wait behind them.
func WithAlwaysPing() Option { return func(c *config) { c.alwaysPing = true } }

// watch is the reader task's watch over the connection, the heartbeat and
// the data watchdog, kept between the task's steps (readerStep): the task
// is stepped by a timer, and an idle connection holds no goroutine for it.
type watch struct {
	tm   *tasks.Timer
	due  time.Duration // clock() when the heartbeat looks next; never if it does not
	more *watchMore    // made at the first ping, or at the start with a watchdog: most busy connections never need one
}

// watchMore is what the watch keeps once it has pinged, or watches the
// data.
type watchMore struct {
	wd   time.Duration // clock() when the data watchdog looks next; never if it is off
	kept time.Duration // clock() at the start of the last ping excused by unread bytes; -1 if it was not
	dl   pongDeadline
}

// extra returns w.more, made at the first call.
func (w *watch) extra() *watchMore {
	if w.more == nil {
		w.more = &watchMore{wd: never, kept: -1}
	}
	return w.more
}

// never is a due time that never comes.
const never = time.Duration(math.MaxInt64)

// look is one step of the watch: it returns the failure to report as
// Lost, or nil with the watch's timer re-armed for its next look (or the
// task parked, when nothing is due before the connection fails or ctx
// ends: they wake it).
//
// The heartbeat pings when nothing was read for the ping interval (every
// interval with WithAlwaysPing or an application heartbeat), and the
// connection is Lost if the reply does not come within the pong timeout.
// Neither backpressure nor the process's own lateness is a dead peer: a
// message read waiting for the handler holds the reply behind it (no ping
// then), a message read after the ping proves the peer alive whatever
// became of the reply, and the wait for the reply is lengthened by as much
// as the heartbeat itself woke up late (see pongDeadline).
//
// It also watches the reads: when they fail (the peer closed, the socket
// died), the pump wakes the watch (session.fail), and the failure is
// reported at once, while a handler runs too: a ping due while the pump is
// inside a handler lends the connection a read-ahead, which sees the
// failure.
//
// The watchdog is checked at every look, before and after each ping. A
// ping cancelled under way would close the connection (a coder/websocket
// rule), and the read would then report a closed socket instead of the
// idle feed.
func (c *Client) look(ctx context.Context, s *session) error {
	w := &s.watch
	if s.dead() {
		return s.lostErr()
	}
	if err := w.checkIdle(c.cfg.idleTimeout, s); err != nil {
		return err
	}
	if clock() >= w.due {
		if err := c.beat(ctx, s); err != nil || ctx.Err() != nil {
			return err
		}
	}
	next := w.due
	if w.more != nil {
		next = min(next, w.more.wd)
	}
	if next == never {
		w.tm.Park()
	} else {
		w.tm.Reset(max(0, next-clock()))
	}
	return nil
}

// beat is the heartbeat's look, once due: it pings, or finds why not to,
// and sets when it looks next (w.due).
func (c *Client) beat(ctx context.Context, s *session) error {
	w := &s.watch
	interval, timeout := c.cfg.pingInterval, c.cfg.pongTimeout
	always := c.cfg.alwaysPing || c.cfg.appHeartbeat != nil
	after := func(d time.Duration) { w.due = clock() + d }
	if s.dead() {
		// Counted, for the invariant "no ping on a dead connection":
		// the tick found the connection failed, and pings nothing.
		c.stats.more().deadPings.Add(1)
		return s.lostErr()
	}
	if !always {
		if idle := s.sinceRead(); idle < interval {
			// Read from lately: the peer is alive. Look again when
			// the connection could have been idle for an interval.
			c.stats.pingsSkipped.Add(1)
			after(interval - idle)
			return nil
		}
	}
	switch s.backpressure() { // the data path's state: Busy lends, Backlogged holds
	case holdLent:
		// A handler runs, and nothing read: the read-ahead now does.
		// Ping once it has had a moment to read what is on its way.
		after(min(interval, lendGrace))
		return nil
	case holdHeld:
		// A slow handler holds the pump: the peer is sending, and a
		// reply would wait behind its messages. Backpressure is no
		// dead peer; ping again once the handler has caught up.
		after(interval)
		return nil
	}
	x := w.extra()
	start := clock()
	c.stats.pings.Add(1)
	err := c.ping(ctx, s, &x.dl, timeout)
	prevKept := x.kept
	x.kept = -1
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, errNoPong) && s.closedHere():
		// The deadline cut the ping's write (the peer did not read
		// it), and the transport closed the connection for it (a
		// coder/websocket rule): the reads failed because of the
		// timeout, which is the cause, not the socket it closed.
		return fmt.Errorf("%w: no pong within %v (the ping could not be written)", ErrPongTimeout, timeout)
	case s.dead():
		// The reads failed meanwhile: their cause, a close code
		// perhaps, is the one to report.
		return s.lostErr()
	case errors.Is(err, errNoPong) && (s.readSince(start) || s.held() || s.readerHeld()):
		// The reply is behind messages still being read, or a handler
		// took the reader while the ping was out (it went busy just
		// as the ping was sent): the consumer is slow, not the peer
		// dead. The next tick lends the connection a read-ahead.
	case errors.Is(err, errNoPong) && s.lateRead(prevKept):
		// The peer's bytes wait in the socket while the pump waits to
		// run its read: the process is late, and the peer alive.
		x.kept = start
		c.stats.more().lateReads.Add(1)
	case errors.Is(err, errNoPong):
		return fmt.Errorf("%w: no pong within %v", ErrPongTimeout, timeout)
	case errors.Is(err, ErrNoPing):
		// The transport has no protocol ping (TCP), and no application
		// heartbeat was given: the reads and the data watchdog watch
		// the connection alone.
		c.stats.pings.Add(^uint64(0)) // no ping was sent
		w.due = never
		return nil
	case err != nil:
		return s.failed(ctx, fmt.Errorf("%w: %w", ErrPingFailed, err), timeout)
	default:
		rtt := clock() - start
		c.stats.lastRTT.Store(int64(rtt))
		if c.probe != nil {
			c.probe.pingRTT(rtt)
		}
	}
	if err := w.checkIdle(c.cfg.idleTimeout, s); err != nil {
		return err
	}
	// The next ping is due an interval after this one was sent, or at
	// once if its reply took longer than that.
	w.due = start + interval
	return nil
}

// lendGrace is how long a ping due waits after a read-ahead was lent the
// connection: enough for a message already in the socket's buffer to be
// read, so that a ping is not written behind a peer blocked writing to a
// client that does not read.
const lendGrace = 10 * time.Millisecond

// errNoPong is what ping returns when the reply did not come in time.
var errNoPong = errors.New("session: no reply to the ping in time")

// ping sends one ping and waits for its reply, up to timeout (lengthened
// by the heartbeat's own lateness): a protocol ping, or the application
// heartbeat's.
func (c *Client) ping(ctx context.Context, s *session, dl *pongDeadline, timeout time.Duration) error {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dl.arm(timeout, cancel)
	err := c.sendPing(pctx, cancel, s)
	expired, extended := dl.disarm()
	if extended > 0 {
		c.stats.more().pongWaitsExtended.Add(uint64(extended))
	}
	if err != nil && expired && ctx.Err() == nil {
		return errNoPong
	}
	return err
}

// sendPing sends the ping and waits for its reply until pctx ends; cancel
// ends pctx, and ends it at once if the connection's reads fail.
func (c *Client) sendPing(pctx context.Context, cancel context.CancelFunc, s *session) error {
	s.pinging(cancel)
	defer s.pinging(nil)
	h := c.cfg.appHeartbeat
	if h == nil {
		return s.conn.Ping(pctx)
	}
	select { // a reply that came late, or unasked, answers no ping of ours
	case <-s.app.pongs:
	default:
	}
	if err := s.conn.Write(pctx, h.Type, h.Ping); err != nil {
		if ctxErr := pctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return err
	}
	select {
	case <-s.app.pongs:
		return nil
	case <-pctx.Done():
		return pctx.Err()
	case <-s.doneChan():
		return fmt.Errorf("session: connection failed before the heartbeat's reply: %w", s.err)
	}
}

// WithIdleTimeout sets the data watchdog: a connection on which no data
// message arrives for d is Lost, with a cause matching ErrIdleTimeout (the
// retry policy sees KindIdle). Only data messages count: protocol pongs,
// the application heartbeat's replies and the peer's application pings
// answered by WithPingResponder do not, so a "zombie" feed that answers
// pings and sends nothing is found. The clock starts when the connection
// is Alive. 0, the default, turns the watchdog off.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idleTimeout = d } }

// checkIdle is the data watchdog's look, with idle timeout d (0: off): it
// fails with ErrIdleTimeout once no data message has come for d while the
// connection was read; otherwise it sets when to look next (w.wd), when
// it could have. The pump stamps each data message (session.lastData).
// While a handler holds the reader the peer is slowed down, not silent:
// the silence counts again from the moment the reader is given back, so a
// feed that went quiet is still found within the idle timeout of the
// handler's return.
func (w *watch) checkIdle(d time.Duration, s *session) error {
	if d <= 0 {
		return nil
	}
	x := w.extra()
	idle, ok := s.sinceData()
	if !ok {
		x.wd = clock() + d
		return nil
	}
	if idle >= d {
		return fmt.Errorf("%w: no data for %v", ErrIdleTimeout, idle.Round(time.Millisecond))
	}
	x.wd = clock() + d - idle
	return nil
}

// pongDeadline ends the wait for a heartbeat's reply. The peer is given the
// pong timeout of the process's running time: when the deadline's timer
// fires late (the process was overloaded, or starved of CPU by another),
// the reader that would have read the reply was most likely as late, so the
// wait is lengthened by as much as the timer was late, again if the
// extension fires late too, up to maxLateness in all. Lateness of the
// process is not death of the peer: without this, an overloaded machine
// turns late pongs into reconnects, whose handshakes deepen the overload
// (the metastable failure of a fleet of clients). On time, it ends the
// wait at the pong timeout exactly, so a truly silent peer is still found
// within interval + timeout.
//
// One pongDeadline serves every ping of a connection, one at a time.
type pongDeadline struct {
	mu       sync.Mutex
	t        *time.Timer
	cancel   context.CancelFunc // the current ping's; nil between pings
	due      time.Time
	slack    time.Duration // lateness below this is noise, not overload
	budget   time.Duration // extension left for the current ping
	extended int           // extensions of the current ping
	expired  bool
	now      func() time.Time // time.Now; a test's clock
}

// lateSlack is the lateness a deadline ignores: a timer fires a little
// late on any machine.
func lateSlack(timeout time.Duration) time.Duration { return max(timeout/50, time.Millisecond) }

// maxLateness bounds the extensions of one wait.
func maxLateness(timeout time.Duration) time.Duration { return 3 * timeout }

// arm starts the wait of one ping: cancel is called timeout from now, or
// later if the process runs late.
func (d *pongDeadline) arm(timeout time.Duration, cancel context.CancelFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.now == nil {
		d.now = time.Now
	}
	d.cancel, d.expired, d.extended = cancel, false, 0
	d.due = d.now().Add(timeout)
	d.slack, d.budget = lateSlack(timeout), maxLateness(timeout)
	if d.t == nil {
		d.t = time.AfterFunc(timeout, d.fire)
	} else {
		d.t.Reset(timeout)
	}
}

func (d *pongDeadline) fire() {
	d.mu.Lock()
	if d.cancel == nil { // disarmed as it fired
		d.mu.Unlock()
		return
	}
	now := d.now()
	if now.Before(d.due) {
		// A firing of an earlier ping's timer that waited for the lock
		// while that ping was disarmed and this one armed: not this
		// ping's deadline.
		d.mu.Unlock()
		return
	}
	if late := now.Sub(d.due); late > d.slack && d.budget > 0 {
		ext := min(late, d.budget)
		d.budget -= ext
		d.extended++
		d.due = now.Add(ext)
		d.t.Reset(ext)
		d.mu.Unlock()
		return
	}
	d.expired = true
	cancel := d.cancel
	d.mu.Unlock()
	cancel()
}

// disarm ends the current ping's wait and reports whether the deadline
// expired, and how many times it was lengthened.
func (d *pongDeadline) disarm() (expired bool, extended int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t.Stop()
	d.cancel = nil
	return d.expired, d.extended
}

// stop stops the timer for good.
func (d *pongDeadline) stop() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.t != nil {
		d.t.Stop()
	}
	d.cancel = nil
}
