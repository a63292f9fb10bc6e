// Package session is the core of a resilient client. It keeps one
// connection to a server alive until it is closed: it dials, sets the
// session up, checks the peer with heartbeats and redials with backoff.
// It knows no wire protocol: a Transport supplies the connections.
// Package wsconn is its WebSocket transport, package tcpconn its framed
// TCP and TLS one.
//
// # Guarantees
//
// At most one connection exists at a time. Whatever reports a failure
// first ends it: the reader, a write or the heartbeat. Later reports of the
// same failure are stale and dropped. A redial starts only after the old
// connection's tasks have returned and the connection is closed.
//
// Nothing outlives its state. Leaving a state cancels its tasks and waits
// for them before the next state is entered. So a heartbeat never pings a
// connection that was given up. After Close returns, nothing of the client
// runs. This holds while the functions the caller hands in return when
// their context ends. One that does not is left behind after a bounded
// wait and reported as a straggler (OnRecord, and Warn in the log).
//
// Every decision is the state's. By design, the client keeps no flag
// beside the lifecycle that says "connected", "released" or "closing".
// Each state's tasks read why it was entered from the step that entered
// it. Waits that end with a state, such as the rate limiter's and a
// Request's, wait on contexts bound to the lifecycle.
//
// Nothing sent is dropped silently. Send hands the message to the
// transport, keeps it under the send policy, or returns an error. A kept
// message that is never written is counted (Stats.Unsent) and reported by
// Close (ErrUnsent). A message over the write limit (WithWriteLimit) fails
// its Send with ErrMessageTooBig before anything is written.
//
// Nothing read is dropped silently either. When a connection ends, the
// messages already read still go to the handler for up to a second, with
// its context ended. Those left over are counted in Stats. So are those a
// slow-consumer policy drops (WithSlowConsumer).
//
// A slow consumer is not a dead feed. While the handler holds the reader,
// neither the heartbeat nor the data watchdog counts the peer as silent.
// The silence counts from when the handler gives the reader back.
// Message.Received stamps each message, and Stats keeps the handler's lag.
//
// # Lifecycle
//
// The client's state is one of package connfsm's: Connecting, Alive,
// Reconnecting, Closing, Closed. State reports it; Phase and Path tell
// Alive's phases, Syncing and Ready, apart. Each state runs its own tasks.
//
// Connecting makes one dial attempt. The handshake timeout bounds it
// (WithHandshakeTimeout). Before the first dial, Connecting asks the dial
// gate, if any (WithDialGate); before a redial, Reconnecting does.
//
// Alive runs the reader and the heartbeat across both of its phases. The
// reader hands each message to the handler. The heartbeat pings a
// connection that read nothing for an interval (WithHeartbeat). A message
// read proves the peer alive, so a busy connection costs no ping
// (WithAlwaysPing pings every interval). A reply that misses the pong
// timeout means the connection is lost. That wait is lengthened by as much
// as the process itself ran late: an overloaded client is no dead peer.
// The heartbeat uses protocol pings, or the venue's own application
// heartbeat (WithAppHeartbeat), whose replies OnMessage never sees. The
// peer's application pings are answered (WithPingResponder). The data
// watchdog counts a feed that sends no data for the idle timeout as lost,
// pongs or not (WithIdleTimeout).
//
// Alive/Syncing comes first: the sync sets the session up before any of
// the user's sends go out. It runs OnConnect, which logs in with the
// Session (Session.Send, and Session.Request for the ack). It then replays
// the subscriptions in order and awaits their acks (WithAckTimeout).
// Last, it writes the messages buffered while disconnected, in order. A
// failure of OnConnect or of a write is Lost, which stops the heartbeat
// and the reader too. A subscription refused or not acknowledged fails
// alone (see Subscriptions).
//
// Alive/Ready: sends go straight out.
//
// Reconnecting waits before the next dial, as the retry policy decides
// (see Retries). By default, a requested Reconnect dials at once, the
// storm guard aside.
//
// Closing writes the messages still buffered, then closes the live
// connection gracefully. The close timeout bounds it (WithCloseTimeout),
// a state timeout that ends Closing whatever the peer does. The
// connection's reader keeps reading for the close handshake, since a
// cancelled read would close the connection. So the reader is no task of
// Alive. It is joined when the connection is dropped, before Closed.
//
// Closed is final: Done is closed and Err says why.
//
// Records name the leaves (Syncing, Ready). For those who do not care
// about the phases, connfsm.State's Top, Path and Within, and
// connfsm.TopTransition, name the top-level states.
//
// # Retries
//
// The retry policy (WithRetryPolicy) is the one place that decides
// retries. It sees what failed and the attempt number (a retry.Failure).
// What
// failed may be:
//
//   - a dial;
//   - a handshake the server refused, with its status and Retry-After;
//   - a connection the peer closed, with its code and reason;
//   - a pong or idle timeout, or another lost connection;
//   - nothing: a requested Reconnect.
//
// Without a policy, Failure.Default decides; WithPermanentCloseCodes and
// Backoff.MaxAttempts tune it. Package retry holds these types.
//
// The policy gives up (a permanent failure, or the attempts spent) or
// waits. The wait is the backoff's delay (Backoff.DelayFor): by default a
// schedule whose gaps are at most 1.5 times the time since the
// connection was lost (OutageBounded), or full jitter under caps growing
// per attempt (FullJitter).
// It is longer when the peer asked to slow down: a close with 1008 or
// 1013, HTTP 429, Retry-After, or a message over the read limit (it would
// come again). The storm guard sets its least gap between dials
// (StormGuard). A requested Reconnect spends no retry budget. Each wait is
// the payload of the RetryDue step that ends it: a *Wait, with its reason.
//
// The attempt counter resets only once a connection stayed Alive for the
// stable period (WithStablePeriod). So a server that accepts and drops at
// once keeps the backoff growing.
//
// # The data path
//
// The data path lies between a connection and the handler. It is a
// declared machine of its own, one per connection (package datapath,
// drawn in docs/datapath.md). Its states say who holds the reader: the
// reader itself, the handler, a read-ahead, or nobody once Alive is left.
// The heartbeat and the data watchdog ask it whether the reader is held.
// The reader task waits on it to drain what was read and to join the
// handler.
//
// It is not a region of Alive, since it steps twice per message. As a
// light machine, a step costs no allocation and no goroutine. A region's
// step would allocate, and a lifecycle step reaches its observer. Its
// steps reach OnRecord as records of kind RecordDataPath (a
// *datapath.Record), except the steady flow between Flowing and Busy. So an
// observer sees a stall, not every message.
//
// # Dial and the client's lifetime
//
// Programs usually call an adapter's Dial, wsconn.Dial or tcpconn.Dial,
// which builds the Transport from an address and calls this package's.
//
// Dial checks every option, the transport and its context first. If
// anything is wrong, it returns a *ConfigError naming each bad field and
// value (matching ErrInvalidConfig), and nothing is started. A nil
// context is refused, as net/http refuses one.
//
// Unless NoWait is given, Dial then waits until the client is Ready: its
// first connection Alive and synced. It retries transient failures
// meanwhile. Dial's ctx bounds only that wait. If ctx ends first, the
// client is closed and Dial returns an error wrapping ctx's cause. If the
// client gives up first, Dial returns why. Once Dial has returned, its ctx
// has no effect on the client. WithLifetime ties the client's whole life
// to a context instead: when it ends, the client closes as by Close.
//
// # Sending
//
// The state decides what Send does:
//
//   - Ready: Send writes on the caller's goroutine. It returns once the
//     transport has the message.
//   - Syncing: Send waits for Ready, so a message never overtakes the
//     session's setup. Called with OnConnect's context, it writes at once.
//   - Connecting, Reconnecting: the SendPolicy applies. By default Send
//     fails fast with ErrNotConnected. SendPolicy.Buffer keeps up to that
//     many messages (and SendPolicy.BufferBytes bytes). They are written in
//     order in the next Syncing, before any newer message. A message that
//     does not fit is not kept: its Send returns an error wrapping
//     ErrBufferFull.
//   - Closing, Closed: ErrClosed.
//
// A ctx already done fails the send before the connection is touched. A
// nil ctx is an error.
// WithRateLimit paces every write: Send's, the Session's, Request's, the
// subscriptions' replay and the buffer's flush.
//
// # Requests and Reconnect
//
// Request sends a message and waits for the first received message a
// matcher accepts: a login's ack, a JSON-RPC reply. The reply is taken out
// of the stream and never reaches OnMessage. While a handler runs, one
// message is read ahead for it (see Client.Request). The connection's end
// fails the request with ErrNotConnected.
//
// Reconnect drops the connection and dials again at once. It picks up
// fresh credentials, or another server behind the address. It is not a
// failure and spends no retry budget. The subscriptions are replayed on
// the new connection. Reconnect returns before that connection is Ready:
// call Client.Ready to wait for it.
//
// # Subscriptions
//
// Subscribe registers a stream: a key, its subscribe message, and an
// optional unsubscribe message and ack matcher. When Ready, it is sent at
// once and its ack awaited. It is remembered and replayed in every
// Syncing, in subscription order, paced by the rate limiter. So a
// reconnect never loses a subscription, and never bursts them at a venue
// that bans bursts. WithSubscriptions gives the first ones, WithBatch
// sends many keys per message, and Unsubscribe removes one.
//
// Each subscription is a machine of its own, declared in package
// subscription and drawn in docs/subscription.md. It is Pending until a
// sync (or Subscribe, when Ready) sends it. It is then Subscribing until
// the venue's ack (Subscription.Ack), and then Active. Without an ack
// matcher, it is Active once written. A NACK (Subscription.Nack) or a
// missing ack makes it Failed, with a *subscription.Error. If it retries
// (Subscription.Retry), it is sent again on the next connection instead.
// The connection stays either way.
//
// A lost connection takes every sent subscription back to Pending. The
// next connection sends each exactly once. A key is reference-counted: a
// second Subscribe sends nothing. The last Unsubscribe sends the
// unsubscribe message, on the connection the subscription was sent on,
// even while it syncs. An ack that comes after it is stale, and ignored
// with a record saying so. Every step reaches OnRecord as a record of kind
// RecordSubscription.
//
// A Router (WithRouter) routes each message to its subscription by a key
// it extracts: one map lookup, whatever the number of subscriptions. Acks
// and NACKs resolve per key. A subscription's data goes to its Handler and
// is counted (Client.SubscriptionStatus); OnMessage gets the rest. With a
// Subscription.Sequence, a number that skips is a gap. A gap is counted,
// observed, and the subscription resyncs (Resyncing). It resyncs by its
// Resync function (a snapshot), or by unsubscribing and subscribing again.
// Its messages are still delivered meanwhile. The first one once Active
// again restarts the count.
//
// # Receiving
//
// The reader calls the OnMessage handler one message at a time, in order.
// Calls never overlap, not even across connections. A handler left running
// by a connection given up (it ignored its context) must return before the
// next connection's reader calls it again. While it runs, no further
// message is read. So a slow handler slows the peer down through TCP flow
// control instead of queueing messages in memory. WithSlowConsumer trades
// that for a bounded inbox, and WithPull hands messages to a loop over
// Client.Messages instead of a handler. The read limit (WithReadLimit,
// 1 MiB by default) bounds a single message. WithDecompression decodes
// binary messages as they are read.
//
// A slow handler is not a dead peer. While the reader holds a message the
// handler has not taken, the heartbeat does not ping. A pong that comes
// late because messages were read ahead of it does not count as lost. A
// connection that dies while the handler runs is still found when the next
// heartbeat is due. The connection is then read ahead by one message,
// which sees the failure. After Alive, the connection is read only for the
// close handshake, and messages are discarded.
//
// # Closing
//
// Close stops accepting messages: Send returns ErrClosed once Closing is
// entered. If a connection is up, Close writes the messages still
// buffered. It then sends a close with status 1000 and waits for the
// peer's. The close timeout and its ctx bound that wait. A Close during
// the sync writes the buffer too, after it finishes a write under way.
// Closing while Connecting or Reconnecting cancels the attempt or the
// timer at once. Messages still buffered then are reported by Close's
// error (ErrUnsent).
//
// Close is idempotent and safe from any goroutine. It returns only when
// the client is Closed and every task has returned. Done and Err work as
// in package context. Err is ErrClosed after Close, a *GaveUpError after a
// permanent failure or spent retries, or the lifetime context's cause (a
// *tasks.PanicError if the lifecycle stopped on a panic outside its tasks).
//
// # Calls from inside
//
// OnConnect and OnMessage run inside the lifecycle. OnMessage's context
// ends when the connection is left, OnConnect's when the sync is over
// (Ready) or, first, the connection is left. OnRecord observers run inside it too, with
// a context of their own. Close called with such a context starts the
// close and returns at once: waiting there would wait for the caller
// itself, as Close from inside with context.Background() would. Reconnect
// called so returns at once too.
//
// In OnConnect, send with the Session. It writes on the new connection
// ahead of everything sent through the Client. The Client's Send called
// with OnConnect's context writes at once too. Send from OnMessage while
// the connection syncs waits for Ready.
//
// # Observation
//
// WithLogger logs transitions, failures, stragglers and rejected events,
// each at its own level. Logs never show message payloads or header
// values. OnRecord observes every lifecycle step. Stats counts
// connections, messages, bytes, pings and the last round trip. WithProbe
// attaches a metrics library. It also receives every ping's round trip and
// every handler call's lag and duration. Module
// github.com/connfsm/connfsm/otelconnfsm turns all of it into OpenTelemetry
// metrics.
//
// # Pool
//
// Venues cap streams per connection and connections per IP per window. A
// Pool (NewPool) is many connections to one venue as one object. Its
// subscriptions are sharded over connections of at most
// PoolConfig.MaxPerConn each, up to MaxConns. Beyond them Subscribe fails
// with ErrPoolFull: nothing is dropped.
//
// Each connection is a Client with its own lifecycle. It replays its own
// subscriptions when it reconnects. If it gives up for good, its
// subscriptions move to the others, or to a new connection; if it never
// stayed connected for the stable period, they wait Pending for room
// instead, as the venue would refuse or drop a new connection too. The
// pool's own
// life (Running, Ending, Ended) is a declared machine too
// (PoolDefinition). Nothing of an Ended pool runs: Close and Done wait for
// the goroutines that watch its connections. Every dial of every
// connection, first dials and redials, waits its turn in one DialBudget
// (PoolConfig.DialBudget): N dials per window.
//
// Under it is WithDialGate, a hook any client can use. It is a function
// called before every dial. Its hold is part of the Wait before a redial
// (WaitDialGate).
//
// # Transports
//
// A Transport dials. A Conn reads and writes whole messages, pings where
// the protocol has a ping, and closes with a code and reason. A Conn
// without pings returns ErrNoPing: the client then needs
// WithAppHeartbeat. Adapters build their options with TransportOption.
// Package wsconn adapts github.com/coder/websocket; package tcpconn
// adapts framed TCP and TLS.
//
// # Packages
//
// The core keeps its parts in packages of their own:
//
//   - transport: the interface a transport implements, with Message,
//     the close codes and the transports' errors;
//   - retry: the retry policy, the backoff, the storm guard and the dial
//     budget;
//   - subscription: a subscription's machine, its Router and its
//     records;
//   - datapath: a connection's data path, its records and the
//     slow-consumer policy.
//
// Package wsconn names the types of all of them, so that most code
// imports wsconn alone.
package session
