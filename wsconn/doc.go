// Package wsconn is a resilient WebSocket client: it keeps one connection
// to a URL alive (heartbeat, reconnect with backoff, resubscribe) until it
// is closed, and it is the connfsm lifecycle driven over
// github.com/coder/websocket.
//
// # Guarantees
//
// At most one connection exists at a time: whatever reports a failure first
// (the reader, a write, the heartbeat) ends it, later reports of the same
// failure are stale and dropped, and a reconnect dials only after the old
// connection's tasks have returned and the connection is closed.
//
// Nothing outlives its state: leaving a state cancels its tasks and waits
// for them before the next state is entered, so a heartbeat never pings a
// connection that was given up, and after Close returns nothing of the
// client is running. This holds as long as the OnConnect and OnMessage
// handlers return when their context ends: one that does not is left
// behind after a bounded wait and reported as a straggler (OnRecord, and
// at Warn in the log).
//
// Nothing sent is dropped silently: Send either hands the message to the
// transport, keeps it under the send policy, or returns an error, and a
// kept message that is never written is counted (Stats.Unsent) and reported
// by Close (ErrUnsent). A message over the write limit (WithWriteLimit)
// fails its Send with ErrMessageTooBig before anything is written.
//
// Nothing read is dropped silently either: the messages the client has
// read when a connection ends are still handed to the handler (its context
// ended) for up to a second, and those left, or dropped by a slow-consumer
// policy (WithSlowConsumer), are counted in Stats.
//
// A slow consumer is not a dead feed: while the handler holds the reader,
// neither the heartbeat nor the data watchdog counts the peer as silent;
// the silence counts from when the handler gives the reader back.
// Message.Received stamps each message, and Stats keeps the handler's lag.
//
// # The data path
//
// Between a connection's socket and the handler, the data path is a
// declared machine of its own (package datapath, drawn in
// docs/datapath.md), one per connection: Flowing (the reader reads),
// Waiting (a message read waits for a handler of an earlier connection),
// the handler running while nothing else reads (Busy), while a read-ahead
// lent the connection reads, for a ping due or a Request's reply
// (ReadAhead), or while the read-ahead holds the next message
// (Backlogged), Taking (the reader takes that message), and Stopped once
// Alive is left. The heartbeat and the data watchdog ask it
// whether the reader is held; the reader task waits on it to drain what
// was read and to join the handler. It is not a region of Alive: it steps
// twice per message, and as a light machine of its own a step costs no
// allocation and no goroutine, where a step of a parallel region
// allocates and a step of the lifecycle reaches its observer. Its steps
// reach OnRecord as records of kind RecordDataPath (a *DataPathRecord:
// from, event, to, and the lag of a Deliver), except the steady flow
// between Flowing and Busy, so an observer sees a stall, not every
// message.
//
// # Lifecycle
//
// The client's state is one of connfsm's (State reports it: Connecting,
// Alive, Reconnecting, Closing, Closed; Phase and Path tell Alive's phases
// apart), and every decision the client makes is the state's: there is no
// flag beside the lifecycle that says "connected", "released" or
// "closing". Each state runs its own tasks:
//
//   - Connecting: one dial and handshake attempt, bounded by the handshake
//     timeout (WithHandshakeTimeout) and by the HTTP client's Timeout,
//     following at most MaxRedirects redirects, with the URL and headers
//     the credentials function returns for it (WithCredentials: tokens
//     and listen keys that expire are fetched again for every dial).
//   - Alive: the reader hands each message to the OnMessage handler; the
//     heartbeat pings a connection that read nothing for an interval (a
//     message read proves the peer alive, so a busy connection costs no
//     ping; WithAlwaysPing pings every interval) and counts a reply that
//     does not arrive within the pong timeout as a lost connection
//     (WithHeartbeat), the wait lengthened by as much as the process
//     itself ran late, since an overloaded client is no dead peer:
//     protocol pings, or a venue's own application heartbeat
//     (WithAppHeartbeat), whose replies are kept from OnMessage; the
//     peer's application pings are answered (WithPingResponder); the data
//     watchdog counts a feed that sends no data for the idle timeout as
//     lost, pongs or not (WithIdleTimeout). Both run across Alive's two
//     phases:
//   - Alive/Syncing, first: the sync sets the session up before any of the
//     user's sends go out. It runs OnConnect (log in: Session.Send, and
//     Session.Request for the ack), replays the subscriptions (Subscribe),
//     in order, then awaits their acks (WithAckTimeout), then writes the
//     messages buffered while disconnected, in order. A failure of
//     OnConnect or of a write is Lost, and stops the heartbeat and the
//     reader with it; a subscription refused or not acknowledged fails
//     alone (see Subscriptions below).
//   - Alive/Ready: sends go straight out.
//   - Reconnecting: the retry policy (WithRetryPolicy; Failure.Default
//     without one) sees what failed (a dial error, a refused handshake with
//     its status and Retry-After, a close frame with its code and reason, a
//     pong or idle timeout, a lost connection, a requested Reconnect) and
//     the attempt number, and either gives up (a permanent failure, or
//     Backoff.MaxAttempts spent) or waits: the backoff's delay
//     (Backoff.DelayFor: full jitter, or with OutageBounded at most the
//     time since the connection was lost), longer when the peer asked to slow down
//     (close 1008 or 1013, HTTP 429) or sent a message over the read
//     limit (it would come again), or sent Retry-After, and at least the
//     storm guard's gap (StormGuard); a requested Reconnect dials at once,
//     spending no retry budget. Each wait is the payload of the RetryDue
//     step that ends it (a *Wait, with its reason). The attempt counter
//     resets only once a connection stayed Alive for the stable period
//     (WithStablePeriod), so a server that accepts and drops at once keeps
//     the backoff growing.
//   - Closing: the messages still buffered, then the close handshake on the
//     live connection, bounded by the close timeout (WithCloseTimeout), a
//     state timeout that ends Closing whatever the peer does.
//   - Closed: final; Done is closed and Err says why.
//
// The records observers get (OnRecord, OnTransition) name the leaves
// (Syncing, Ready); connfsm.State's Top, Path and Within, and
// connfsm.TopTransition, name them for those who do not care about the
// phases.
//
// # Dial and the client's lifetime
//
// Dial checks every option, the URL and its context first (a nil ctx is
// refused, as net/http refuses one): if anything is wrong it returns a
// *ConfigError (matching ErrInvalidConfig) naming each bad field and
// value, and nothing is started.
//
// Unless NoWait is given, Dial then waits for the client to be Ready (its
// first connection Alive and synced), retrying transient failures. Dial's
// ctx bounds only that wait: if it ends first, the client is closed and
// Dial returns an error wrapping ctx's cause; if the client gives up first,
// Dial returns why. Once Dial has returned a client, its ctx has no effect
// on it. WithLifetime ties the whole client's life to a context instead:
// when that context ends, the client closes as by Close and Err returns
// the context's cause.
//
// # Sending
//
// What Send does is decided by the state. Ready: it writes on the
// caller's goroutine and returns once the transport has the message.
// Syncing: it waits for Ready (a message never overtakes the session's
// setup), unless it is called from the sync itself (with OnConnect's
// context), when it writes at once. Connecting and Reconnecting: the
// SendPolicy applies: by default Send fails fast with ErrNotConnected;
// with SendPolicy.Buffer, up to that many messages (and
// SendPolicy.BufferBytes bytes) are kept and written in order in the next
// Syncing, before any newer message; a message that does not fit is not
// kept, and its Send returns an error wrapping ErrBufferFull. Closing and
// Closed: ErrClosed. A ctx already done fails the send before the socket
// is touched. WithRateLimit paces every write: Send's, the Session's,
// Request's, the subscriptions' replay and the buffer's flush.
//
// # Subscriptions and requests
//
// Subscribe registers a stream (a key, its subscribe message, an optional
// unsubscribe message and ack matcher): sent at once when Ready (the ack
// awaited), remembered, and replayed in every Syncing, in subscription
// order, paced by the rate limiter, so a reconnect never loses a
// subscription and never bursts them at a venue that bans bursts. A key
// subscribed twice is sent once. Unsubscribe removes one (sending its
// unsubscribe message while Ready).
//
// Request sends a message and waits for the first received message a
// matcher accepts: a login's ack, a JSON-RPC reply. The reply is taken out
// of the stream before OnMessage and is not handed to OnMessage (while a
// handler runs, one message is read ahead for it: see Client.Request); the
// connection's end fails the request with ErrNotConnected.
//
// Reconnect drops the connection and dials again at once (fresh
// credentials, another server behind the URL): not a failure, it spends no
// retry budget, and the subscriptions are replayed on the new connection.
//
// # Receiving
//
// The OnMessage handler is called by the reader, one message at a time, in
// order; calls never overlap, not even across connections: a handler left
// running by a connection given up (it ignored its context) must return
// before the next connection's reader calls the handler again. While it
// runs no further message is read, so a slow handler slows
// the peer down through TCP flow control instead of queueing messages in
// memory; the read limit (WithReadLimit, 1 MiB by default) bounds a single
// message. A slow handler is not a dead peer: while the reader holds a
// message the handler has not taken, the heartbeat does not ping, and a
// pong that comes late because messages were read ahead of it does not
// count as lost. A connection that dies while the handler runs is found
// when the next heartbeat is due, whatever the handler does: the
// connection is then read ahead by one message, which sees the failure.
// After Alive the connection is still read, for the close handshake;
// messages are then discarded.
//
// # Closing
//
// Close stops accepting messages (Send returns ErrClosed once Closing is
// entered), writes the messages still buffered if a connection is up (a
// Close during the sync leaves them there, and finishes a write under
// way), sends a close frame with status 1000 and waits for the peer's,
// bounded by the close timeout and by its ctx; closing while
// Connecting or Reconnecting cancels the attempt or the timer at once, and
// messages still buffered then are reported by Close's error (ErrUnsent).
// It is idempotent, safe from any goroutine, and returns
// only when the client is Closed and every task has returned. Done and Err
// work as in package context: Err is ErrClosed after Close, a *GaveUpError
// after a permanent failure or spent retries, or the lifetime context's
// cause.
//
// # Calls from inside
//
// OnConnect and OnMessage run inside the lifecycle, with a context that
// ends when the connection is left; OnRecord and OnTransition observers
// run inside it too, with a context of their own. Close called with such a
// context starts the close and returns at once, since waiting there would
// wait for the caller itself (Close from inside with context.Background()
// would); so does Reconnect. In OnConnect, send with the Session, which
// writes on the new connection ahead of everything sent through the
// Client; Send on the Client called with OnConnect's context writes at
// once too, instead of waiting for the Ready the sync leads to. Send from
// OnMessage while the connection syncs waits for Ready.
//
// # Logging and observation
//
// WithLogger logs transitions at Info, with the failure that caused them;
// stale, ignored and dropped events and failed tasks at Debug; tasks that
// do not return in time, and what they returned when they did, at Warn;
// rejected events at Error. Logs show
// the URL without userinfo, query or fragment, and never message payloads
// or header values; errors returned to the caller (Dial's, Err, the causes
// in records) hide the same parts of the URL, including those of URLs the
// handshake was redirected to.
// OnRecord and OnTransition observe every lifecycle step, and Stats counts
// connections, messages, bytes, pings and the last round trip. WithProbe
// attaches a metrics library, which also receives every ping's round trip
// and every handler call's lag and duration: module
// github.com/connfsm/connfsm/otelconnfsm turns all of it into
// OpenTelemetry metrics.
//
// # Testing
//
// Package wsconntest is a scripted venue to test a client against, as
// net/http/httptest is to net/http: in memory, where under testing/synctest
// the client's timers (heartbeat, backoff, timeouts) run in virtual time,
// or on loopback TCP. It echoes, resets, black-holes, refuses handshakes,
// closes with a code, requires heartbeats or enforces a rate limit, on cue
// or per connection, and records every connection, message and frame.
// Plug its in-memory transport in with WithHTTPClient(srv.Client()).
//
// # Subscriptions
//
// Each subscription (Subscribe, WithSubscriptions) is a machine of its own,
// declared in package subscription and drawn in docs/subscription.md
// (https://github.com/connfsm/connfsm/blob/main/docs/subscription.md). It
// is Pending until a connection's sync (or Subscribe, when Ready) sends
// it, Subscribing until the venue's ack (Subscription.Ack; without one it
// is Active once written), then Active. A NACK (Subscription.Nack) or an
// ack that does not come in time makes it Failed, with a
// *SubscriptionError, or, if it retries (Subscription.Retry), sends it
// again on the next connection; the connection stays either way. A lost
// connection takes every sent subscription back to Pending, and the next
// connection sends each exactly once. A key is reference-counted: a second
// Subscribe sends nothing, and the last Unsubscribe sends the unsubscribe,
// on the connection the subscription was sent on, even while it syncs; an
// ack that comes after it is stale, ignored with a record saying so. Every
// step reaches OnRecord as a record of kind RecordSubscription.
//
// A Router (WithRouter) routes each message to its subscription by a key
// it extracts, one map lookup whatever the number of subscriptions: acks
// and NACKs resolve per key, a subscription's data goes to its Handler
// (OnMessage keeps the rest) and is counted (SubscriptionStatus). With a
// Subscription.Sequence, a number that skips is a gap: counted, observed,
// and the subscription resyncs (Resyncing), by its Resync function (a
// snapshot) or by unsubscribing and subscribing again; its messages are
// still delivered meanwhile, and the first once Active again restarts the
// count.
//
// # Pool
//
// Venues cap streams per connection and connections per IP per window. A
// Pool (NewPool) is many connections to one venue as one object: its
// subscriptions are sharded over connections of at most
// PoolConfig.MaxPerConn each, up to MaxConns (beyond them Subscribe fails
// with ErrPoolFull: nothing is dropped); each connection is a Client with
// its own lifecycle, which replays its own subscriptions when it
// reconnects, and whose subscriptions move to the others (or a new
// connection) if it gives up for good; the pool's own life (Running,
// Ending, Ended) is a declared machine too (PoolDefinition); and every dial of every connection, first dials and
// redials, waits its turn in one DialBudget (N dials per window). Under it
// is WithDialGate, a hook any client can use: a function called before
// every dial, whose hold is part of the Wait before a redial
// (WaitDialGate).
package wsconn
