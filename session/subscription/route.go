package subscription

import (
	"fmt"
	"time"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/transport"
)

// MessageKind is what a message is to the subscriptions, as a Router says.
type MessageKind uint8

// The kinds of messages a Router tells apart.
const (
	// Unclaimed: no subscription's; session.OnMessage handles it.
	Unclaimed MessageKind = iota
	// Data of the subscription Route.Key: counted, sequence-checked, and
	// handed to its Handler (or session.OnMessage without one).
	Data
	// Acked: the venue acknowledged the subscribe of Route.Key. It is
	// taken out of the stream.
	Acked
	// Refused: the venue refused the subscribe of Route.Key (a NACK). It
	// is taken out of the stream.
	Refused
)

// Route is what a Router says of a message: its kind, and the key of the
// subscription it belongs to.
type Route struct {
	Key  string
	Kind MessageKind
}

// Router routes every data message to its subscription by a key
// extracted from it: one map lookup per message, whatever the number of
// subscriptions, where an Ack matcher is tried per subscription awaiting
// an ack.
type Router struct {
	// Route says what m is. It is called by the connection's reader for
	// every data message (twice for those that come while a subscribe is
	// unanswered): it must be quick, and must not keep m.Data.
	Route func(m transport.Message) Route
	// Acks says the venue acknowledges every subscribe: each subscription
	// is then Subscribing until Route says Acked or Refused (or its ack
	// timeout), as with an Ack matcher. Without it, a subscription with no
	// Ack matcher is Active once written.
	Acks bool
}

// Status is a snapshot of one subscription.
type Status struct {
	Key   string
	State State
	// Holders is how many Subscribe calls its Unsubscribes have not undone.
	Holders int
	// Err is why it failed (Failed), or why it went back to Pending; nil
	// otherwise.
	Err error
	Stats
}

// Stats are a subscription's counters; messages are counted
// only with a Router.
type Stats struct {
	Messages    uint64    // data messages routed to it
	LastMessage time.Time // when the last one came; zero if none has
	Gaps        uint64    // sequence gaps seen
	Resyncs     uint64    // resyncs started
}

// Record is one step of a subscription's machine.
type Record struct {
	Key string
	// Kind is what the step was: fsm.RecordStarted (registered, Pending),
	// RecordTransition, RecordIgnored (a stale ack after Unsubscribe, for
	// one), RecordRejected.
	Kind  fsm.RecordKind
	From  State
	Event Event
	To    State
	// Cause is the event's error: a *Error for a NACK or an
	// ack timeout, the connection's failure for Lost; nil otherwise.
	Cause error
	// Conn is the epoch of the connection the subscription was last sent
	// on, 0 if none.
	Conn uint64
}

// String formats the step as "key: From -Event-> To".
func (r *Record) String() string {
	return fmt.Sprintf("%s: %v -%v-> %v", r.Key, r.From, r.Event, r.To)
}

// Error is why a subscription failed: its ack did not come
// (session.ErrAckTimeout), the venue refused it
// (session.ErrSubscriptionRefused, with the venue's message), or its
// message could not be written.
type Error struct {
	Key string
	// Message is the venue's refusal, for a NACK; nil otherwise.
	Message []byte
	Err     error
}

// Error names the subscription and the failure.
func (e *Error) Error() string {
	if e.Message != nil {
		return fmt.Sprintf("session: subscription %q: %v: %s", e.Key, e.Err, e.Message)
	}
	return fmt.Sprintf("session: subscription %q: %v", e.Key, e.Err)
}

// Unwrap returns the failure.
func (e *Error) Unwrap() error { return e.Err }
