package datapath

import (
	"fmt"
	"time"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/enum"
	"github.com/connfsm/connfsm/session/transport"
)

// Record is one step of a connection's data path.
type Record struct {
	// Kind is fsm.RecordTransition, or fsm.RecordRejected (a bug).
	Kind  fsm.RecordKind
	From  State
	Event Event
	To    State
	// Lag is, for a Deliver step, how long the message waited between its read
	// and the handler's call (transport.Message.Received to the call): the
	// consumer's lag, as session.Stats.LastLag.
	Lag time.Duration
	// Conn is the epoch of the connection.
	Conn uint64
}

// String formats the step as "From -Event-> To", with the lag of a
// Deliver step, or "From -Event-> (rejected)".
func (r *Record) String() string {
	if r.Kind == fsm.RecordRejected {
		return fmt.Sprintf("%v -%v-> (rejected)", r.From, r.Event)
	}
	s := fmt.Sprintf("%v -%v-> %v", r.From, r.Event, r.To)
	if r.Event == Deliver {
		s += fmt.Sprintf(" (lag %v)", r.Lag.Round(time.Microsecond))
	}
	return s
}

// SlowConsumerPolicy says what the client does with messages that arrive
// faster than the handler (session.OnMessage, a subscription's Handler, or
// the loop over Client.Messages) takes them.
type SlowConsumerPolicy uint8

const (
	// Block, the default: the reader waits for the handler, and the peer is
	// slowed down by TCP backpressure. Nothing is dropped; memory stays
	// bounded by one message read ahead.
	Block SlowConsumerPolicy = iota
	// DropOldest keeps up to Inbox messages waiting; when full, the oldest
	// waiting message is dropped to make room.
	DropOldest
	// DropNewest keeps up to Inbox messages waiting; when full, the message
	// just read is dropped.
	DropNewest
	// Conflate keeps the latest message per key (SlowConsumer.Key: a
	// stream, a symbol), in the order the keys first came: a message whose
	// key waits already replaces it (counted in session.Stats.Conflated). Up to
	// Inbox keys wait; beyond, the oldest is dropped.
	Conflate
	// Disconnect keeps up to Inbox messages waiting; when full, the
	// connection is Lost with a cause matching session.ErrSlowConsumer (nats'
	// "slow consumer").
	Disconnect
)

var slowConsumerPolicies = enum.NewList[SlowConsumerPolicy]("SlowConsumerPolicy(%d)",
	"block", "drop-oldest", "drop-newest", "conflate", "disconnect")

// String returns the policy's name, e.g. "drop-oldest".
func (p SlowConsumerPolicy) String() string { return slowConsumerPolicies.Name(p) }

// ParseSlowConsumerPolicy returns the policy String names.
func ParseSlowConsumerPolicy(s string) (SlowConsumerPolicy, error) {
	if p, ok := slowConsumerPolicies.Parse(s); ok {
		return p, nil
	}
	return 0, fmt.Errorf("slow-consumer policy %q is none of block, drop-oldest, drop-newest, conflate, disconnect", s)
}

// SlowConsumer is the policy for a consumer that cannot keep up.
type SlowConsumer struct {
	Policy SlowConsumerPolicy
	// Inbox is how many messages (keys, with Conflate) may wait for the
	// handler; it must be positive for every policy but Block, which
	// ignores it.
	Inbox int
	// Key names the stream a message belongs to, for Conflate (required
	// then). It is called by the reader for every data message: it must be
	// quick and must not keep m.Data. A Key that panics fails the
	// connection, Lost with a *tasks.PanicError, as a handler's panic does.
	Key func(m transport.Message) string
}

// Decompression is how binary payloads are encoded by the venue (HTX
// sends gzip, OKX's older API raw deflate).
type Decompression uint8

const (
	// NoDecompression, the default: payloads are handed over as read.
	NoDecompression Decompression = iota
	// Gzip: binary messages are gzip streams (RFC 1952).
	Gzip
	// Deflate: binary messages are raw deflate streams (RFC 1951).
	Deflate
)

var decompressions = enum.NewList[Decompression]("Decompression(%d)", "none", "gzip", "deflate")

// String returns "none", "gzip" or "deflate".
func (d Decompression) String() string { return decompressions.Name(d) }
