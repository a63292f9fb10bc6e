package wsconn

import (
	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
)

// The client is package session's core over this package's transport.
// These names are the core's, so that most code needs no other import.
// Their documentation is in package session and the packages it keeps its
// parts in (session/transport, session/retry, session/subscription,
// session/datapath), with the core's other types (PoolStats, FailureKind,
// Limiter, DialGate and the like).
type (
	AppHeartbeat       = session.AppHeartbeat
	Backoff            = retry.Backoff
	BackoffMode        = retry.BackoffMode
	Batch              = session.Batch
	Client             = session.Client
	ClientProbe        = session.ClientProbe
	CloseError         = transport.CloseError
	ConfigError        = transport.ConfigError
	DataPathRecord     = datapath.Record
	Decision           = retry.Decision
	Decompression      = datapath.Decompression
	DialBudget         = retry.DialBudget
	Failure            = retry.Failure
	GaveUpError        = session.GaveUpError
	HandshakeError     = transport.HandshakeError
	Message            = transport.Message
	MessageType        = transport.MessageType
	Option             = session.Option
	Pool               = session.Pool
	PoolConfig         = session.PoolConfig
	Probe              = session.Probe
	RetryPolicy        = retry.Policy
	Route              = subscription.Route
	Router             = subscription.Router
	SendPolicy         = session.SendPolicy
	Session            = session.Session
	SlowConsumer       = datapath.SlowConsumer
	SlowConsumerPolicy = datapath.SlowConsumerPolicy
	Stats              = session.Stats
	StatusCode         = transport.StatusCode
	StormGuard         = retry.StormGuard
	Subscription       = session.Subscription
	SubscriptionError  = subscription.Error
	SubscriptionRecord = subscription.Record
	SubscriptionStatus = subscription.Status
	Verdict            = retry.Verdict
	Wait               = session.Wait
	WaitReason         = retry.WaitReason
)

// The core's constants; see package session.
const (
	Acked                         = subscription.Acked
	BackoffModeDefault            = retry.BackoffModeDefault
	Binary                        = transport.Binary
	Block                         = datapath.Block
	Conflate                      = datapath.Conflate
	Data                          = subscription.Data
	DefaultAckTimeout             = session.DefaultAckTimeout
	DefaultCloseTimeout           = session.DefaultCloseTimeout
	DefaultHandshakeTimeout       = session.DefaultHandshakeTimeout
	DefaultPingInterval           = session.DefaultPingInterval
	DefaultPongTimeout            = session.DefaultPongTimeout
	DefaultReadLimit              = session.DefaultReadLimit
	DefaultSendBufferBytes        = session.DefaultSendBufferBytes
	DefaultStablePeriod           = session.DefaultStablePeriod
	DefaultWriteLimit             = session.DefaultWriteLimit
	Deflate                       = datapath.Deflate
	Disconnect                    = datapath.Disconnect
	DropNewest                    = datapath.DropNewest
	DropOldest                    = datapath.DropOldest
	FullJitter                    = retry.FullJitter
	Gzip                          = datapath.Gzip
	KindClose                     = retry.KindClose
	KindDial                      = retry.KindDial
	KindHandshake                 = retry.KindHandshake
	KindIdle                      = retry.KindIdle
	KindLost                      = retry.KindLost
	KindPongTimeout               = retry.KindPongTimeout
	KindReconnect                 = retry.KindReconnect
	KindTooBig                    = retry.KindTooBig
	NoDecompression               = datapath.NoDecompression
	OutageBounded                 = retry.OutageBounded
	Permanent                     = retry.Permanent
	PoolClose                     = session.PoolClose
	PoolConnEnded                 = session.PoolConnEnded
	PoolDrained                   = session.PoolDrained
	PoolEnded                     = session.PoolEnded
	PoolEnding                    = session.PoolEnding
	PoolRunning                   = session.PoolRunning
	RecordDataPath                = session.RecordDataPath
	RecordSubscription            = session.RecordSubscription
	Refused                       = subscription.Refused
	StatusAbnormalClosure         = transport.StatusAbnormalClosure
	StatusGoingAway               = transport.StatusGoingAway
	StatusInternalError           = transport.StatusInternalError
	StatusInvalidFramePayloadData = transport.StatusInvalidFramePayloadData
	StatusMessageTooBig           = transport.StatusMessageTooBig
	StatusNoStatusRcvd            = transport.StatusNoStatusRcvd
	StatusNormalClosure           = transport.StatusNormalClosure
	StatusPolicyViolation         = transport.StatusPolicyViolation
	StatusProtocolError           = transport.StatusProtocolError
	StatusServiceRestart          = transport.StatusServiceRestart
	StatusTLSHandshake            = transport.StatusTLSHandshake
	StatusTryAgainLater           = transport.StatusTryAgainLater
	StatusUnsupportedData         = transport.StatusUnsupportedData
	Text                          = transport.Text
	Transient                     = retry.Transient
	Unclaimed                     = subscription.Unclaimed
	WaitBackoff                   = retry.WaitBackoff
	WaitDialGate                  = retry.WaitDialGate
	WaitPolicy                    = retry.WaitPolicy
	WaitReconnect                 = retry.WaitReconnect
	WaitRetryAfter                = retry.WaitRetryAfter
	WaitSlowDown                  = retry.WaitSlowDown
	WaitStormGuard                = retry.WaitStormGuard
)

// The core's errors and defaults; see package session.
var (
	DefaultBackoff         = retry.DefaultBackoff
	DefaultStormGuard      = retry.DefaultStormGuard
	ErrAckTimeout          = session.ErrAckTimeout
	ErrBadSubscription     = session.ErrBadSubscription
	ErrBufferFull          = session.ErrBufferFull
	ErrClosed              = session.ErrClosed
	ErrHandshakeTimeout    = session.ErrHandshakeTimeout
	ErrIdleTimeout         = session.ErrIdleTimeout
	ErrInvalidConfig       = session.ErrInvalidConfig
	ErrMessageTooBig       = session.ErrMessageTooBig
	ErrNoPing              = session.ErrNoPing
	ErrNotConnected        = session.ErrNotConnected
	ErrPingFailed          = session.ErrPingFailed
	ErrPongTimeout         = session.ErrPongTimeout
	ErrPoolFull            = session.ErrPoolFull
	ErrReadFailed          = session.ErrReadFailed
	ErrRetriesExhausted    = session.ErrRetriesExhausted
	ErrSlowConsumer        = session.ErrSlowConsumer
	ErrSubscriptionRefused = session.ErrSubscriptionRefused
	ErrTooManyRedirects    = session.ErrTooManyRedirects
	ErrUnsent              = session.ErrUnsent
)

// The core's options and helpers; see package session.
var (
	DefaultClassifier       = retry.DefaultClassifier
	NewDialBudget           = retry.NewDialBudget
	NoWait                  = session.NoWait
	OnConnect               = session.OnConnect
	OnMessage               = session.OnMessage
	OnRecord                = session.OnRecord
	ParseSlowConsumerPolicy = datapath.ParseSlowConsumerPolicy
	PoolDefinition          = session.PoolDefinition
	TextHeartbeat           = session.TextHeartbeat
	WithAckTimeout          = session.WithAckTimeout
	WithAlwaysPing          = session.WithAlwaysPing
	WithAppHeartbeat        = session.WithAppHeartbeat
	WithBackoff             = session.WithBackoff
	WithBatch               = session.WithBatch
	WithCloseTimeout        = session.WithCloseTimeout
	WithDecompression       = session.WithDecompression
	WithDialGate            = session.WithDialGate
	WithHandshakeTimeout    = session.WithHandshakeTimeout
	WithHeartbeat           = session.WithHeartbeat
	WithIdleTimeout         = session.WithIdleTimeout
	WithLifetime            = session.WithLifetime
	WithLogger              = session.WithLogger
	WithPermanentCloseCodes = session.WithPermanentCloseCodes
	WithPingResponder       = session.WithPingResponder
	WithProbe               = session.WithProbe
	WithPull                = session.WithPull
	WithRateLimit           = session.WithRateLimit
	WithReadLimit           = session.WithReadLimit
	WithRetryPolicy         = session.WithRetryPolicy
	WithRouter              = session.WithRouter
	WithSendPolicy          = session.WithSendPolicy
	WithSlowConsumer        = session.WithSlowConsumer
	WithStablePeriod        = session.WithStablePeriod
	WithStormGuard          = session.WithStormGuard
	WithSubscriptions       = session.WithSubscriptions
	WithWriteLimit          = session.WithWriteLimit
)
