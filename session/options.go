package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
)

// Defaults for the options.
const (
	DefaultPingInterval     = 20 * time.Second
	DefaultPongTimeout      = 20 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultCloseTimeout     = 10 * time.Second
	DefaultReadLimit        = 1 << 20
	DefaultStablePeriod     = 10 * time.Second
	// DefaultWriteLimit is 1 MiB, what many venues accept at most (a
	// larger message makes them drop the connection).
	DefaultWriteLimit = 1 << 20
	// DefaultAckTimeout is the wait for a subscription's ack.
	DefaultAckTimeout = 10 * time.Second
	// DefaultSendBufferBytes is SendPolicy.BufferBytes when left zero.
	DefaultSendBufferBytes = 8 << 20
)

// Option configures a Client. Options are checked by Dial before anything
// starts.
type Option func(*config)

// SendPolicy says what Send does while the client is not Alive.
type SendPolicy struct {
	// Buffer is the number of messages kept while not Alive and flushed in
	// order on the next Alive, before any new send. 0 means fail fast with
	// ErrNotConnected.
	Buffer int
	// BufferBytes bounds the payload bytes kept; 0 means
	// DefaultSendBufferBytes. A message that would pass Buffer or
	// BufferBytes is not kept: its Send returns ErrBufferFull.
	BufferBytes int
}

// Limiter paces sends. *rate.Limiter from golang.org/x/time/rate satisfies it.
type Limiter interface {
	Wait(ctx context.Context) error
}

// config is what the options set: the settings the client consults while
// it runs, and what Dial alone uses to set it up, which the client does not
// keep (every byte of a Client is paid once per connection).
type config struct {
	settings
	tuning        // kept by the client as settings.tuning, shared when the defaults
	retrySettings // kept by the client as settings.retry, shared when the defaults
	hooks         // kept by the client as settings.hooks, shared when none is set

	respond       func(transport.Message) ([]byte, bool)
	subscriptions []Subscription
	// poolConn: the options make a Pool's connection, whose subscriptions
	// are its shard; the pool's own (WithSubscriptions) are skipped.
	poolConn  bool
	transport []func(transport.Transport) error
	lifetime  context.Context
	noWait    bool
	probe     Probe
	pull      bool

	problems []error
}

// settings are the options a running client consults.
type settings struct {
	*tuning   // shared when the defaults: the client reads its fields through it
	*hooks    // shared when none is set: read through it too
	retry     *retrySettings
	onMessage func(ctx context.Context, m transport.Message)
}

// hooks are the functions and policies a client may be given beside its
// handler: one value shared by every client that sets none of them
// (shared), which keeps 80 bytes a client less.
type hooks struct {
	dialGate  retry.DialGate
	limiter   Limiter
	onConnect func(ctx context.Context, s *Session) error
	router    *subscription.Router
	batch     *Batch
	slow      datapath.SlowConsumer
	onRecord  func(context.Context, fsm.Record[connfsm.State, connfsm.Event])
	logger    *slog.Logger
}

// noHooks is the hooks of every client that sets none; nothing writes it.
var noHooks hooks

// shared returns h, as the value shared by every client without hooks if
// it has none.
func (h hooks) shared() *hooks {
	if h.dialGate == nil && h.limiter == nil && h.onConnect == nil && h.router == nil && h.batch == nil &&
		h.slow.Policy == datapath.Block && h.slow.Inbox == 0 && h.slow.Key == nil && h.onRecord == nil && h.logger == nil {
		return &noHooks
	}
	return &h
}

// settings returns the settings a client keeps: the options', with the
// tuning, retry settings and hooks shared when they are the defaults.
func (c *config) clientSettings() settings {
	s := c.settings
	s.tuning, s.retry, s.hooks = c.tuning.shared(), c.retrySettings.shared(), c.hooks.shared()
	return s
}

// tuning are the client's timeouts, limits and heartbeat: one value
// shared by every client that keeps the defaults, or the same other
// values (shared), which keeps 96 bytes a client less.
type tuning struct {
	pingInterval     time.Duration
	pongTimeout      time.Duration
	appHeartbeat     *AppHeartbeat
	idleTimeout      time.Duration
	handshakeTimeout time.Duration
	closeTimeout     time.Duration
	ackTimeout       time.Duration
	send             SendPolicy
	readLimit        int64
	writeLimit       int64
	alwaysPing       bool // protocol pings every interval, busy or not
	decompress       datapath.Decompression
}

// shared returns t, as the value shared by every client with the default
// tuning if t is that, or by every client with the same other tuning: a
// fleet dialled with the same options (a Pool's connections, thousands of
// clients with one heartbeat) keeps one value, not one each.
func (t tuning) shared() *tuning {
	if d := defaultTuning(); t == *d {
		return d
	}
	if t.appHeartbeat != nil {
		return &t // the map would keep the caller's heartbeat alive
	}
	sharedTunings.Lock()
	defer sharedTunings.Unlock()
	if p := sharedTunings.m[t]; p != nil {
		return p
	}
	p := &t
	if len(sharedTunings.m) < maxSharedTunings {
		if sharedTunings.m == nil {
			sharedTunings.m = make(map[tuning]*tuning)
		}
		sharedTunings.m[t] = p
	}
	return p
}

// sharedTunings are the tunings other than the default that clients
// share; nothing writes a value once it is in. At most maxSharedTunings
// are kept: past them, as for a process that makes clients with ever new
// settings, each client keeps its own.
var sharedTunings struct {
	sync.Mutex
	m map[tuning]*tuning
}

const maxSharedTunings = 64

// defaultTuning is the shared value of the default tuning; nothing writes
// it.
var defaultTuning = sync.OnceValue(func() *tuning {
	t := defaultConfig().tuning
	return &t
})

func defaultConfig() config {
	return config{
		tuning: tuning{
			pingInterval:     DefaultPingInterval,
			pongTimeout:      DefaultPongTimeout,
			handshakeTimeout: DefaultHandshakeTimeout,
			closeTimeout:     DefaultCloseTimeout,
			ackTimeout:       DefaultAckTimeout,
			readLimit:        DefaultReadLimit,
			writeLimit:       DefaultWriteLimit,
			send:             SendPolicy{BufferBytes: DefaultSendBufferBytes},
		},
		retrySettings: retrySettings{
			stablePeriod: DefaultStablePeriod,
			storm:        retry.DefaultStormGuard,
			Config:       retry.Config{Backoff: retry.DefaultBackoff},
		},
	}
}

// WithHandshakeTimeout bounds one dial attempt, from the TCP connect to
// the end of the handshake (WebSocket's upgrade, TLS's).
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) { c.handshakeTimeout = d }
}

// WithCloseTimeout bounds the close handshake of Close. Over WebSocket,
// coder/websocket bounds it too, at 5s to write the close frame plus 5s
// to wait for the peer's, so a timeout above 10s has no further effect
// there; tcpconn waits for the peer's end up to the whole timeout.
func WithCloseTimeout(d time.Duration) Option { return func(c *config) { c.closeTimeout = d } }

// WithStablePeriod sets how long a connection must stay Alive before the
// retry counter resets. A server that accepts and then drops connections at
// once keeps the backoff growing. 0 resets the counter on every connection,
// which turns that protection off.
func WithStablePeriod(d time.Duration) Option { return func(c *config) { c.stablePeriod = d } }

// WithSendPolicy sets what Send does while not Alive.
func WithSendPolicy(p SendPolicy) Option {
	return func(c *config) {
		if p.BufferBytes == 0 {
			p.BufferBytes = DefaultSendBufferBytes
		}
		c.send = p
	}
}

// WithRateLimit paces Send with l. A send waiting on l fails at once with
// ErrClosed when the client closes.
// A nil l, or an interface holding a nil pointer, is a configuration error.
func WithRateLimit(l Limiter) Option {
	return func(c *config) {
		if l == nil || isNilPointer(l) {
			c.problems = append(c.problems, fmt.Errorf("RateLimit: nil limiter (%T)", l))
			return
		}
		c.limiter = l
	}
}

// isNilPointer reports whether v holds a nil pointer, such as a
// (*rate.Limiter)(nil), whose methods would panic on the first Send.
func isNilPointer(v any) bool {
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
}

// WithReadLimit sets the largest message accepted, in bytes (default 1 MiB;
// -1 for no limit). A larger message closes the connection with status 1009
// and counts as Lost, with a cause matching ErrMessageTooBig (the retry
// policy sees KindTooBig, and by default slows down), and in
// Stats.TooBig.
func WithReadLimit(n int64) Option { return func(c *config) { c.readLimit = n } }

// TransportOption returns an Option for the transport's own settings:
// Dial calls set with its Transport, after the other options. An error is
// a configuration problem of Dial's *ConfigError. Adapters (wsconn,
// tcpconn) make their options with it.
func TransportOption(set func(transport.Transport) error) Option {
	return func(c *config) { c.transport = append(c.transport, set) }
}

// OnConnect sets a hook run on every entry into Alive, before the
// subscriptions are replayed and sends are released: log in here, with
// s.Request for the ack. Do not subscribe here: Subscribe (and
// WithSubscriptions) already sends every subscription on every new
// connection, right after OnConnect, and a subscription sent here too
// would be subscribed twice. An error counts as Lost. ctx is the sync's:
// it ends once the sync is over (Ready is entered), or when the connection
// is left first, so a goroutine that must live as long as the connection
// needs a context of its own. Close called with it does not wait. A nil
// fn is a configuration error, as for every option taking a func.
func OnConnect(fn func(ctx context.Context, s *Session) error) Option {
	return unlessNil(fn == nil, "OnConnect: nil func", func(c *config) { c.onConnect = fn })
}

// OnMessage sets the handler of received messages. It is called by the
// reader, one message at a time, in order: while it runs no further message
// is read, so a slow handler slows the peer down (TCP backpressure) and
// memory stays bounded. ctx ends when the connection is left; Close called
// with it does not wait. Without a handler messages are read and discarded.
//
// When the connection ends, the messages already read from it (the one a
// read-ahead holds, beside the one in the handler) are still handed over,
// with ctx ended, for up to a second after the end (well within the
// lifecycle's join deadline); those left then, and data read during the
// close handshake, are counted in Stats.Dropped. What the close handshake
// itself discards (coder/websocket reads to the peer's close frame) and
// what the socket still held are lost with the connection.
//
// A nil fn is a configuration error: leave OnMessage out to discard.
func OnMessage(fn func(ctx context.Context, m transport.Message)) Option {
	return unlessNil(fn == nil, "OnMessage: nil func", func(c *config) { c.onMessage = fn })
}

// OnRecord adds an observer of every lifecycle step: transitions, ignored,
// rejected and stale events, failed tasks and stragglers. It is called from
// inside the lifecycle, one record at a time, and must not block; ctx comes
// from inside, so Close(ctx) there starts the close and returns. Observers
// given with OnRecord are called in the order given; a nil
// fn is a configuration error. An observer's panic is recovered and
// logged at Error, and the client goes on (the observers after it miss
// that record).
func OnRecord(fn func(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event])) Option {
	return unlessNil(fn == nil, "OnRecord: nil func", func(c *config) { c.addObserver(fn) })
}

// unlessNil returns an option that calls set, or, when isNil, adds
// problem instead: a nil argument is a configuration error, never a no-op.
func unlessNil(isNil bool, problem string, set func(c *config)) Option {
	return func(c *config) {
		if isNil {
			c.problems = append(c.problems, errors.New(problem))
			return
		}
		set(c)
	}
}

func (c *config) addObserver(fn func(context.Context, fsm.Record[connfsm.State, connfsm.Event])) {
	prev := c.onRecord
	if prev == nil {
		c.onRecord = fn
		return
	}
	c.onRecord = func(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
		prev(ctx, r)
		fn(ctx, r)
	}
}

// WithLogger sets the logger: transitions at Info, with the failure that
// caused them; failed tasks and stale, ignored and dropped events at Debug;
// stragglers at Warn; rejected events at Error. The URL is logged without
// userinfo, query or fragment; payloads and header values are never logged.
// Default: no logging; a nil l is a configuration error.
func WithLogger(l *slog.Logger) Option {
	return unlessNil(l == nil, "WithLogger: nil *slog.Logger", func(c *config) { c.logger = l })
}

// WithLifetime ties the client's whole life to ctx: when ctx ends the client
// closes as by Close, and Err returns context.Cause(ctx). A nil ctx is a
// configuration error.
func WithLifetime(ctx context.Context) Option {
	return unlessNil(ctx == nil, "WithLifetime: nil Context", func(c *config) { c.lifetime = ctx })
}

// NoWait makes Dial return as soon as the client is started, without
// waiting for the first connection.
func NoWait() Option { return func(c *config) { c.noWait = true } }

// newConfig applies opts, then the transport's options to tr.
func newConfig(tr transport.Transport, opts []Option) config {
	cfg := defaultConfig()
	if tr == nil {
		cfg.problems = append(cfg.problems, errors.New("nil Transport"))
	}
	for i, o := range opts {
		if o == nil {
			cfg.problems = append(cfg.problems, fmt.Errorf("Option %d: nil", i))
			continue
		}
		o(&cfg)
	}
	if tr != nil {
		for _, set := range cfg.transport {
			cfg.addProblems(set(tr))
		}
		if ck, ok := tr.(interface{ Check() error }); ok {
			cfg.addProblems(ck.Check())
		}
		cfg.checkMessages(tr)
	}
	return cfg
}

// checkMessages adds a problem for each message of the configuration that
// tr cannot carry (Transport's CheckMessage).
func (c *config) checkMessages(tr transport.Transport) {
	for _, sub := range c.subscriptions {
		if err := sub.checkOn(tr); err != nil {
			c.problems = append(c.problems, fmt.Errorf("Subscriptions: %w", err))
		}
	}
	if h := c.appHeartbeat; h != nil {
		typ, _ := textOr(h.Type)
		if err := checkMessage(tr, typ, h.Ping); err != nil {
			c.problems = append(c.problems, fmt.Errorf("AppHeartbeat.Ping: %w", err))
		}
	}
}

// addProblems adds err, or each error it joins, to c's problems.
func (c *config) addProblems(err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		c.problems = append(c.problems, j.Unwrap()...)
	} else if err != nil {
		c.problems = append(c.problems, err)
	}
}

// check returns a *ConfigError naming every problem of c, or nil.
func (c *config) check() error {
	var p []error
	bad := func(format string, args ...any) { p = append(p, fmt.Errorf(format, args...)) }
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			bad("%s must be positive, got %v", name, d)
		}
	}
	positive("PingInterval", c.pingInterval)
	positive("PongTimeout", c.pongTimeout)
	positive("HandshakeTimeout", c.handshakeTimeout)
	positive("CloseTimeout", c.closeTimeout)
	positive("AckTimeout", c.ackTimeout)
	if c.stablePeriod < 0 {
		bad("StablePeriod must not be negative, got %v", c.stablePeriod)
	}
	if c.idleTimeout < 0 {
		bad("IdleTimeout must not be negative, got %v", c.idleTimeout)
	}
	b := c.Backoff
	positive("Backoff.Initial", b.Initial)
	positive("Backoff.Max", b.Max)
	if b.Initial > b.Max && b.Max > 0 {
		bad("Backoff.Initial (%v) must not exceed Backoff.Max (%v)", b.Initial, b.Max)
	}
	if b.Multiplier < 1 || math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0) {
		bad("Backoff.Multiplier must be a finite number >= 1, got %v", b.Multiplier)
	}
	if b.MaxAttempts < 0 {
		bad("Backoff.MaxAttempts must not be negative, got %d", b.MaxAttempts)
	}
	if b.Mode > retry.OutageBounded {
		bad("Backoff.Mode must be FullJitter or OutageBounded, got %v", b.Mode)
	}
	g := c.storm
	if g != (retry.StormGuard{}) && (g.Attempts <= 0 || g.Window <= 0 || g.MinGap <= 0) {
		bad("StormGuard fields must all be positive (or all zero to disable), got %+v", g)
	}
	if c.send.Buffer < 0 {
		bad("SendPolicy.Buffer must not be negative, got %d", c.send.Buffer)
	}
	if c.send.BufferBytes < 0 {
		bad("SendPolicy.BufferBytes must not be negative, got %d", c.send.BufferBytes)
	}
	if c.readLimit == 0 || c.readLimit < -1 {
		bad("ReadLimit must be positive or -1, got %d", c.readLimit)
	}
	if c.writeLimit == 0 || c.writeLimit < -1 {
		bad("WriteLimit must be positive or -1, got %d", c.writeLimit)
	}
	checkSlow(c.slow, bad)
	if c.decompress > datapath.Deflate {
		bad("Decompression %d is not known", c.decompress)
	}
	if c.pull && c.onMessage != nil {
		bad("WithPull and OnMessage: messages go to one or the other")
	}
	p = append(p, c.problems...)
	if len(p) > 0 {
		return &transport.ConfigError{Problems: p}
	}
	return nil
}
