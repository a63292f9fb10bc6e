package session

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

type (
	machine = fsm.Machine[connfsm.State, connfsm.Event]
	step    = fsm.Transition[connfsm.State, connfsm.Event]
	record  = fsm.Record[connfsm.State, connfsm.Event]
	emitFn  = fsm.Emit[connfsm.Event]
)

// Client is a resilient client: it keeps one connection over its Transport
// alive through the connfsm lifecycle until Close, a permanent failure, or
// the end of its lifetime context. Its methods are safe for concurrent use.
//
// What the client does at any moment is decided by its lifecycle state
// alone (State, Phase): there is no flag beside the machine that says
// "connected", "released" or "closing". A wait that ends with a state (a
// send waiting for the rate limiter, a Request for its reply, the
// lifetime context) waits on a context bound to the machine. A task reads
// why its state was entered from the step that entered it. Every
// goroutine is a task of its state, or joined when its state is left.
type Client struct {
	cfg     settings
	tr      transport.Transport
	m       *machine
	inbound *inbound // shared by every session
	// subs is the subscriptions' registry, made at the first use (reg):
	// most clients have none.
	subs atomic.Pointer[registry]
	// resyncs are the resyncs after a sequence gap running on the
	// connection Alive (subroute.go): made at its first, joined by the
	// connection's reader task as it ends, dropped by Alive's exit hook.
	resyncs atomic.Pointer[sync.WaitGroup]
	// handling holds the one right to call OnMessage: a handler left
	// running by a connection given up (it ignored its context) must
	// return before the next connection's reader calls the handler again.
	handling turn
	pull     chan transport.Message // the handover to Messages; nil without WithPull

	// sess is the connection: set by Alive's enter hook, handed to Closing
	// for the close handshake, cleared when it is dropped. Only hooks,
	// which run one at a time, write it. It is how calls from outside
	// (Send, Close) reach the connection; tasks read theirs from the step
	// that entered their state.
	sess atomic.Pointer[session]

	// Owned by the lifecycle, and nothing it knows: why Reconnecting or
	// Connecting was entered, and from where, is the entry data its tasks
	// receive (fsm.Transition); whether the client is closing is its
	// state, waited on through contexts bound to it (UntilIn).
	//
	// dials are the storm guard's: when the last dials made began, as
	// sinceStart readings (8 bytes each, not a time.Time's 24), under mu
	// (a dial task that outlived its state must not race the backoff).
	dials []time.Duration
	// attempts counts the consecutive dial attempts without a stable
	// connection, saturating; outageAt is clock() when the last stable
	// connection was lost, or Dial; phase is the client's place in
	// OutageBounded's schedule, drawn anew with outageAt. All written by
	// hooks, read by the tasks they start.
	attempts int32
	phase    float32
	outageAt time.Duration
	// stable is set once a connection stayed Alive for the stable period:
	// a Pool replaces only a connection that did (rehome).
	stable atomic.Bool

	bufMu sync.Mutex
	buf   *sendBuffer // made by the first message kept; nil when empty

	mu sync.Mutex
	// err is what Close was asked with (ErrClosed, or the lifetime's
	// cause) once Closing is entered, and why the client ended once it is
	// Closed; Err shows it only then.
	err error

	stats counters
	probe *probed // WithProbe's, or nil
}

// Dial validates the configuration and starts a client over tr: nothing
// starts if an option is invalid, tr is nil, or ctx is nil. The
// *ConfigError names each bad field. Adapters such as wsconn.Dial and
// tcpconn.Dial build tr from an address.
//
// Unless NoWait is given, Dial then waits until the client is Ready. That
// is: its first connection is Alive, and OnConnect, the subscriptions'
// replay and the flush of buffered messages are done. Transient failures
// are retried with backoff meanwhile. ctx bounds only this wait. If it
// ends first, the client is closed and Dial returns ctx's cause. Once Dial
// has returned, ctx has no effect on the client (see WithLifetime). If
// the client gives up before connecting, Dial returns the reason, and
// nothing is left running.
func Dial(ctx context.Context, tr transport.Transport, opts ...Option) (*Client, error) {
	cfg := newConfig(tr, opts)
	if ctx == nil {
		// As net/http refuses a request built with a nil Context.
		cfg.problems = append(cfg.problems, errors.New("Dial: nil Context"))
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg.clientSettings(), tr: tr, inbound: newInbound(&cfg), outageAt: clock()}
	c.phase = c.cfg.retry.drawPhase()
	if cfg.probe != nil {
		// Before the subscriptions are made: their records go to it.
		p, err := attachProbe(cfg.probe, c)
		if err != nil {
			return nil, &transport.ConfigError{Problems: []error{err}}
		}
		c.probe = p
	}
	if cfg.pull {
		c.pull = make(chan transport.Message)
		c.cfg.onMessage = c.pullHandler
	}
	for _, s := range cfg.subscriptions {
		c.holdStarted(s) // a duplicate key is one more holder
	}
	def, err := lifecycle()
	if err != nil {
		return nil, fmt.Errorf("session: lifecycle: %w", err)
	}
	// New before Start: hooks and tasks refer to c.m from their first run.
	var observe func(context.Context, record)
	if cfg.onRecord != nil || cfg.logger != nil || c.probe != nil {
		observe = c.observe // without either, no record is made at all
	}
	c.m = def.New(fsm.Config[connfsm.State, connfsm.Event]{Observer: observe, Env: c})
	if lt := cfg.lifetime; lt != nil && lt.Err() != nil {
		// Over already: the Close queued before Start is the first event
		// the lifecycle processes, once Connecting is entered, so the
		// first dial is cancelled as it starts.
		c.requestClose(context.Cause(lt))
	}
	c.m.Start(context.Background())
	if lt := cfg.lifetime; lt != nil {
		c.bindLifetime(lt)
	}
	if cfg.noWait {
		return c, nil
	}
	if err := c.m.Await(ctx, isReady); err != nil {
		if stopped(c.m) { // stopped before Ready
			return nil, c.Err()
		}
		_ = c.Close(canceled(ctx))
		return nil, fmt.Errorf("session: dial %s: %w", c.logURL(), err)
	}
	return c, nil
}

// reg returns the subscriptions' registry, made at the first call.
func (c *Client) reg() *registry {
	if r := c.subs.Load(); r != nil {
		return r
	}
	c.subs.CompareAndSwap(nil, new(registry))
	return c.subs.Load()
}

// isReady is an Await predicate: the client is Ready.
func isReady(m *machine) bool { return m.State() == connfsm.Ready }

// stopped reports whether m has stopped: an Await that failed on it
// failed for that, not for its context.
func stopped(m *machine) bool {
	select {
	case <-m.Done():
		return true
	default:
		return false
	}
}

// lifecycle is the definition every client runs: built once, shared, with
// tasks and hooks that find their client in the machine's environment. One
// definition per client would cost memory per connection.
var lifecycle = sync.OnceValues(func() (*fsm.Definition[connfsm.State, connfsm.Event], error) {
	// A task receives the step that entered its state (in): why, from
	// where, with what payload. The client keeps no copy of it.
	task := func(f func(*Client, context.Context, step, emitFn) error) fsm.Task[connfsm.State, connfsm.Event] {
		return func(ctx context.Context, in step, emit emitFn) error { return f(in.Env.(*Client), ctx, in, emit) }
	}
	hook := func(f func(*Client, context.Context, step)) fsm.Hook[connfsm.State, connfsm.Event] {
		return func(ctx context.Context, t step) { f(t.Env.(*Client), ctx, t) }
	}
	return connfsm.NewBuilder(connfsm.Tasks{
		Dial:         task((*Client).dialTask),
		Sync:         task((*Client).syncTask),
		Backoff:      task((*Client).backoffTask),
		Closer:       task((*Client).closerTask),
		CloseTimeout: func(in step) time.Duration { return in.Env.(*Client).cfg.closeTimeout },
	}).
		// The heartbeat runs in the reader task, which a timer steps: it
		// watches the connection, pings it and owns the handler's calls,
		// with no goroutine while the connection is idle.
		TimerTask(connfsm.Alive, "reader", func(ctx context.Context, in step, emit emitFn, t *tasks.Timer) error {
			return in.Env.(*Client).readerStep(ctx, in, emit, t)
		}).
		OnEnter(connfsm.Connecting, hook((*Client).enterConnecting)).
		OnEnter(connfsm.Alive, hook((*Client).enterAlive)).
		OnExit(connfsm.Alive, hook((*Client).exitAlive)).
		OnEnter(connfsm.Closing, hook((*Client).enterClosing)).
		OnExit(connfsm.Closing, hook((*Client).exitClosing)).
		OnEnter(connfsm.Closed, hook((*Client).enterClosed)).
		Build()
})

// logURL names the server as logs and errors show it: without secrets.
func (c *Client) logURL() string { return c.tr.String() }

// bindLifetime closes the client when lt ends (WithLifetime). It keeps
// nothing beside the machine: the context it waits on is lt's child bound
// to the lifecycle, which ends, and lets go of lt, when the lifecycle
// stops (Closed is final, so Closing is then never entered: UntilIn ends
// with ErrStopped).
func (c *Client) bindLifetime(lt context.Context) {
	bound, _ := c.m.UntilIn(lt, connfsm.Closed) // ends by itself: lt's end or the stop
	context.AfterFunc(bound, func() {
		if lt.Err() != nil {
			c.requestClose(context.Cause(lt))
		}
	})
}

// untilClosing returns a context derived from ctx that also ends once
// the client closes: Closing is entered (an *fsm.EnterError), or the
// lifecycle stops (Closed is entered from Connecting or Reconnecting:
// fsm.ErrStopped). A wait that must end when Close starts, such as the
// rate limiter's, waits on the lifecycle itself, not on a flag.
func (c *Client) untilClosing(ctx context.Context) (context.Context, context.CancelFunc) {
	return c.m.UntilIn(ctx, connfsm.Closing)
}

// canceled returns an already-cancelled context carrying ctx's values, so
// Close aborts at once instead of waiting for the close handshake.
func canceled(ctx context.Context) context.Context {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cancel()
	return c
}

// State returns the lifecycle's state: Connecting, Alive (whichever its
// phase), Reconnecting, Closing or Closed. Phase tells Alive's phases
// apart.
func (c *Client) State() connfsm.State {
	if s := c.m.State(); s != connfsm.Syncing && s != connfsm.Ready {
		return s
	}
	return connfsm.Alive
}

// Phase returns the active leaf of the lifecycle: State, but Syncing or
// Ready instead of Alive. Path names the same as "Alive/Syncing".
func (c *Client) Phase() connfsm.State { return c.m.State() }

// Path returns the active states, outermost first, as "Alive/Syncing" or
// "Reconnecting".
func (c *Client) Path() string { return c.Phase().Path() }

// Done returns a channel closed when the client has reached Closed and every
// task has returned.
func (c *Client) Done() <-chan struct{} { return c.m.Done() }

// Err returns nil while the client runs; after Done is closed, why it ended:
// ErrClosed after Close, a *GaveUpError after a permanent failure or spent
// retries, or the lifetime context's cause; or, if the lifecycle stopped
// on a panic outside its tasks (a transport's CloseNow, called as a
// connection is dropped), the *tasks.PanicError, matching
// tasks.ErrPanicked.
func (c *Client) Err() error {
	select {
	case <-c.m.Done():
	default:
		return nil
	}
	if err := c.m.Err(); err != nil {
		return err // a fail-stop: the state it stopped in says nothing
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Hooks. They run one at a time inside the lifecycle.

func (c *Client) enterConnecting(_ context.Context, t step) {
	// A dial the user asked for (Reconnect) spends no retry budget: the
	// wait that entered Connecting says what ended the connection.
	if w, ok := t.Payload.(*Wait); !ok || w.Failure.Kind != retry.KindReconnect {
		c.attempts = min(c.attempts, math.MaxInt32-1) + 1
	}
}

func (c *Client) enterAlive(_ context.Context, t step) {
	s := t.Payload.(*session)
	s.epoch = t.Epoch
	s.c = c
	s.startDataPath(c)
	c.sess.Store(s)
	if c.stats.connects.Add(1) > 1 {
		c.stats.reconnects.Add(1)
	}
}

// exitAlive runs after the reader (and with it every handler call) and, in
// Syncing, the sync have returned: the connection is closed here (or
// handed to Closing for the handshake), never under a running task.
func (c *Client) exitAlive(ctx context.Context, t step) {
	s := c.sess.Load()
	if clock()-s.up >= c.cfg.retry.stablePeriod {
		c.attempts, c.outageAt, c.phase = 0, clock(), c.cfg.retry.drawPhase()
		c.stable.Store(true)
	}
	// Also when the reader straggles: its handler's turn is over. The
	// resyncs were joined by the reader task, unless it straggles: then
	// one ignores its context, and does nothing once it returns.
	s.stopDelivery()
	c.resyncs.Store(nil)
	cause, _ := t.Payload.(error)
	c.subscriptionsLost(ctx, s.epoch, cause)
	if t.To == connfsm.Closing && !t.Stopping {
		return
	}
	c.dropSession(s)
}

func (c *Client) enterClosing(_ context.Context, t step) {
	c.mu.Lock()
	c.err, _ = t.Payload.(error)
	c.mu.Unlock()
}

func (c *Client) exitClosing(_ context.Context, _ step) {
	if s := c.sess.Load(); s != nil {
		c.dropSession(s)
	}
}

func (c *Client) dropSession(s *session) {
	s.abort()
	s.wait()
	c.sess.Store(nil)
}

func (c *Client) enterClosed(_ context.Context, t step) {
	var err error
	switch {
	case t.Event == connfsm.GaveUp:
		// The backoff task gives up with a *GaveUpError; a failure of the
		// task itself (a panic) is wrapped in one, so Err keeps its
		// documented types.
		err, _ = t.Payload.(error)
		if _, ok := err.(*GaveUpError); !ok {
			err = &GaveUpError{Attempts: int(c.attempts), Cause: err}
		}
	case t.Event == connfsm.Close:
		err, _ = t.Payload.(error)
	default:
		c.mu.Lock()
		err = c.err // Close's, if Closing was entered
		c.mu.Unlock()
	}
	if err == nil {
		err = ErrClosed
	}
	c.bufMu.Lock()
	n := uint64(c.buf.len())
	c.buf = nil
	c.stats.setBuffered(0)
	c.bufMu.Unlock()
	c.stats.more().unsent.Add(n)
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// Reconnect drops the connection and dials again: to pick up fresh
// credentials (WithCredentials), or to move to another server behind the
// same URL. It is no failure: the retry policy sees KindReconnect, which by
// default spends no retry budget and dials at once (the storm guard still
// applies). The subscriptions are replayed on the new connection as on any
// other.
//
// Called from outside, Reconnect returns once the old connection is closed
// (the client has left Alive), or with ctx's cause if ctx ends first; the
// new connection comes up after it, as Dial's did. Called from inside (an
// OnMessage handler's context), it starts the reconnect and returns at
// once. While not Alive it does nothing, as the lifecycle's table says
// (an attempt is already running, or the client is closing), and returns
// nil; once Closed it returns ErrClosed.
//
// Reconnect does not wait for the new connection: a Send right after it
// fails with ErrNotConnected under the default send policy. Call Ready to
// wait for it.
func (c *Client) Reconnect(ctx context.Context) error {
	if ctx == nil {
		return errNilContext("Reconnect")
	}
	s := c.sess.Load()
	if err := c.m.Post(connfsm.Reconnect, nil); err != nil {
		return ErrClosed
	}
	if s == nil || c.m.Inside(ctx) || !c.m.In(connfsm.Alive) {
		return nil
	}
	err := c.m.Await(ctx, func(m *machine) bool { return c.sess.Load() != s || !m.In(connfsm.Alive) })
	if err != nil && !stopped(c.m) {
		return fmt.Errorf("session: reconnect: %w", err)
	}
	return nil // left Alive, or stopped: the old connection is closed
}

// Ready waits until the client is Ready: a connection Alive, OnConnect,
// the subscriptions' replay and the flush of buffered messages done. It
// returns nil then, ctx's cause if ctx ends first, or the client's Err
// (ErrClosed after Close) if it ends first.
func (c *Client) Ready(ctx context.Context) error {
	if ctx == nil {
		return errNilContext("Ready")
	}
	if err := c.m.Err(); err != nil {
		return err // stopped on a panic, in whatever state
	}
	err := c.m.Await(ctx, isReady)
	if err != nil && stopped(c.m) {
		if e := c.Err(); e != nil {
			return e
		}
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("session: ready: %w", context.Cause(ctx))
	}
	return nil
}

// Close closes the client: messages already accepted are written, a close
// frame with status 1000 is sent and the peer's is awaited, bounded by the
// close timeout (WithCloseTimeout, a state timeout of Closing) and by ctx.
// Closing while connecting or while backing off ("closed while
// disconnected") cancels the attempt or the timer at once. Close returns
// once the client is Closed and every task has returned; if ctx ends
// first, the connection is aborted without waiting for the peer and Close
// returns ctx's cause, still after Closed: at once, unless a function of
// the caller's ignores its context (an OnMessage or OnConnect handler, a
// subscription's Resync, a credentials function, a dial gate, a retry
// policy). That holds Close up to the lifecycle's join timeout
// (fsm.DefaultJoinTimeout), when the function is left behind as a
// straggler. A nil ctx is context.Background().
//
// Close is idempotent and safe from any goroutine. Called from inside the
// client, with the context an OnConnect or OnMessage handler was given, it
// starts the close and returns at once: waiting there would wait for the
// caller itself.
//
// Messages still buffered when Close is called while Alive (during the
// sync) are written before the close frame, and a write under way when it
// is called is finished first. The error is nil, ctx's cause, or one
// wrapping ErrUnsent with the number of accepted messages that were never
// written: buffered while no connection was up, or whose write failed.
func (c *Client) Close(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	c.requestClose(ErrClosed)
	if c.m.Inside(ctx) {
		return nil
	}
	select {
	case <-c.m.Done():
	case <-ctx.Done():
		if s := c.sess.Load(); s != nil {
			s.abort()
		}
		<-c.m.Done()
		return fmt.Errorf("session: close: %w", context.Cause(ctx))
	}
	if n := c.stats.seen().unsent.Load(); n > 0 {
		return fmt.Errorf("%w: %d message(s)", ErrUnsent, n)
	}
	return nil
}
