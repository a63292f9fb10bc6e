// Package subscription is the life of one subscription of a long-lived
// connection, as a declared state machine:
//
//   - Pending: the stream is registered.
//   - Subscribing: it is sent, and its ack is awaited.
//   - Active: it is carried.
//   - Resyncing: it is being resynchronised after a sequence gap.
//   - Unsubscribing: it is being unsubscribed.
//   - Failed: it was refused or not acknowledged.
//   - Removed: it is gone; this state is final.
//
// Every (state, event) pair is declared in the table below, with its
// reason. A late ack after an unsubscribe is a row, not a special case
// beside the machine. So are a second Subscribe of a key already held, and
// the connection lost in each state.
//
// The table knows nothing of any transport. Package session drives it,
// one machine per key. It fires the events from the connection's life
// (Lost), the user's calls (Subscribe, Unsubscribe) and the venue's
// answers (Ack, Nack). The diagram is docs/subscription.md.
//
// Beside the machine are the types a client reports subscriptions with.
// A Router claims each message for a subscription, by its key (Route).
// Status, Stats, Record and Error tell what became of one.
package subscription

import (
	"fmt"
	"slices"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/enum"
)

// State is a state of a subscription.
type State uint8

// The subscription's states. Pending is the initial state; Removed is
// final.
const (
	// Pending: registered, not sent on the current connection: the client
	// is not connected, or the sync has not reached it yet.
	Pending State = iota
	// Subscribing: its subscribe message is sent; the ack is awaited.
	Subscribing
	// Active: the venue acknowledged it (or it has no ack): its messages
	// flow.
	Active
	// Resyncing: a sequence gap was seen: it is subscribed again, or the
	// user's resync (a snapshot fetch) runs.
	Resyncing
	// Unsubscribing: its last holder unsubscribed; the unsubscribe message
	// is sent and its completion awaited.
	Unsubscribing
	// Failed: the venue refused it, or its ack did not come, and its
	// policy does not retry it (yet): the cause is in the transition.
	Failed
	// Removed: final; the venue does not carry it.
	Removed
)

var states = enum.NewList[State]("State(%d)", "Pending", "Subscribing", "Active", "Resyncing", "Unsubscribing", "Failed", "Removed")

// States returns the states in declaration order, in a new slice each
// call.
func States() []State { return states.Values() }

// String returns the state's name, e.g. "Subscribing".
func (s State) String() string { return states.Name(s) }

// Event is an event of a subscription.
type Event uint8

// The subscription's events.
const (
	// Send: its subscribe message is about to be written on a connection;
	// the payload is that connection's epoch.
	Send Event = iota
	// Ack: the venue acknowledged the subscribe.
	Ack
	// Nack: the venue refused the subscribe; the payload is the error.
	Nack
	// AckTimeout: the ack did not come within the ack timeout; the payload
	// is the error.
	AckTimeout
	// Unsubscribe: its last holder unsubscribed.
	Unsubscribe
	// Unsubscribed: the unsubscribe is done: written (without an ack to
	// await) or acknowledged.
	Unsubscribed
	// Subscribe: a Subscribe of its key, while it exists: one more holder.
	Subscribe
	// Lost: the connection it was sent on ended; the payload is the cause.
	Lost
	// Gap: a message's sequence number skipped; the payload is a *SequenceGap.
	Gap
	// Resynced: the user's resync (a snapshot) is done.
	Resynced
)

var events = enum.NewList[Event]("Event(%d)", "Send", "Ack", "Nack", "AckTimeout", "Unsubscribe", "Unsubscribed", "Subscribe", "Lost", "Gap", "Resynced")

// Events returns the events in declaration order, in a new slice each
// call.
func Events() []Event { return events.Values() }

// String returns the event's name, e.g. "AckTimeout".
func (e Event) String() string { return events.Name(e) }

// Retrier is what the machine's environment (the subscription's owner)
// tells the table: whether a refused or unacknowledged subscription is
// retried on the next connection (Pending) or stays Failed.
type Retrier interface {
	Retries() bool
}

// retry picks Pending when the environment's policy retries, else Failed.
func retry(env, _ any) State {
	if r, ok := env.(Retrier); ok && r.Retries() {
		return Pending
	}
	return Failed
}

type row fsm.Rule[State, Event]

var (
	to       = fsm.To[State]
	ignore   = fsm.Ignore[State]()
	reject   = fsm.Reject[State]()
	byPolicy = fsm.Choice(retry, Pending, Failed)
)

// table is the subscription's life: every rule with its outcome and the
// reason for it. Removed is final: entering it stops the machine.
var table = fsm.Rows([]row{
	{Pending, Send, to(Subscribing), "written on a connection: await its ack"},
	{Pending, Ack, ignore, "stale: the ack of a send on a connection already lost; the next connection sends again"},
	{Pending, Nack, ignore, "stale: a refusal of a send on a connection already lost"},
	{Pending, AckTimeout, ignore, "stale: the ack timer of a send on a connection already lost"},
	{Pending, Unsubscribe, to(Removed), "not sent on any live connection: nothing to tell the venue"},
	{Pending, Unsubscribed, ignore, "the unsubscribe sent before this Subscribe is done; the subscribe follows it"},
	{Pending, Subscribe, ignore, "one more holder (a reference count): it is sent once"},
	{Pending, Lost, ignore, "not sent on the connection lost: the next connection sends it"},
	{Pending, Gap, ignore, "stale: a message of a stream not subscribed on this connection"},
	{Pending, Resynced, ignore, "stale: a resync of a stream since lost"},

	{Subscribing, Send, reject, "sent once per connection: a second send would subscribe it twice"},
	{Subscribing, Ack, to(Active), "the venue carries it"},
	{Subscribing, Nack, to(Failed), "the venue refused it: its reason is the cause"},
	{Subscribing, AckTimeout, byPolicy, "no ack in time: retried on the next connection if its policy says so, else failed; the connection stays"},
	{Subscribing, Unsubscribe, to(Unsubscribing), "the venue may have subscribed already: unsubscribe on the same connection, after the subscribe"},
	{Subscribing, Unsubscribed, ignore, "the unsubscribe sent before this subscribe is done; the subscribe's ack follows"},
	{Subscribing, Subscribe, ignore, "one more holder: already sent once"},
	{Subscribing, Lost, to(Pending), "the ack can no longer come: replay on the next connection"},
	{Subscribing, Gap, ignore, "no sequence is established before the ack"},
	{Subscribing, Resynced, ignore, "stale: a resync of a stream since lost"},

	{Active, Send, reject, "already subscribed on this connection: a second send would subscribe it twice"},
	{Active, Ack, ignore, "a duplicate ack: already active"},
	{Active, Nack, to(Failed), "the venue withdrew the stream: its reason is the cause"},
	{Active, AckTimeout, ignore, "stale: the ack came in time"},
	{Active, Unsubscribe, to(Unsubscribing), "the last holder left: unsubscribe"},
	{Active, Unsubscribed, ignore, "a late completion of an earlier unsubscribe"},
	{Active, Subscribe, ignore, "one more holder: already subscribed"},
	{Active, Lost, to(Pending), "the connection is gone: replay on the next"},
	{Active, Gap, to(Resyncing), "a message was missed: resync, never skip silently"},
	{Active, Resynced, ignore, "stale: a resync already over"},

	{Resyncing, Send, reject, "the resync sends its own messages"},
	{Resyncing, Ack, to(Active), "the subscribe sent again is acknowledged: the stream starts afresh"},
	{Resyncing, Nack, to(Failed), "the venue refused the subscribe sent again"},
	{Resyncing, AckTimeout, byPolicy, "the subscribe sent again got no ack in time: as for the first"},
	{Resyncing, Unsubscribe, to(Unsubscribing), "the last holder left during the resync: unsubscribe"},
	{Resyncing, Unsubscribed, ignore, "the resync's own unsubscribe is done; its subscribe follows"},
	{Resyncing, Subscribe, ignore, "one more holder: already subscribed"},
	{Resyncing, Lost, to(Pending), "the connection is gone: the next one's subscribe starts the stream afresh"},
	{Resyncing, Gap, ignore, "already resyncing: the gap is counted, the resync not restarted"},
	{Resyncing, Resynced, to(Active), "the user's resync (a snapshot) is done"},

	{Unsubscribing, Send, reject, "a subscription being unsubscribed is not sent"},
	{Unsubscribing, Ack, ignore, "stale: the ack of the subscribe, after Unsubscribe; the unsubscribe follows it"},
	{Unsubscribing, Nack, ignore, "stale: the subscribe was refused, and it is being removed anyway"},
	{Unsubscribing, AckTimeout, ignore, "stale: the subscribe's ack timer, after Unsubscribe"},
	{Unsubscribing, Unsubscribe, ignore, "already unsubscribing"},
	{Unsubscribing, Unsubscribed, to(Removed), "the venue no longer carries it"},
	{Unsubscribing, Subscribe, to(Pending), "subscribed again while the unsubscribe is under way: the venue takes them in order, so the subscribe goes after it"},
	{Unsubscribing, Lost, to(Removed), "the connection that carried it is gone, and the venue forgets it with the connection"},
	{Unsubscribing, Gap, ignore, "a message of a stream being unsubscribed: no resync"},
	{Unsubscribing, Resynced, ignore, "stale: a resync of a stream being unsubscribed"},

	{Failed, Send, reject, "a failed subscription is sent only once its policy or a new Subscribe retries it"},
	{Failed, Ack, ignore, "stale: an ack after the refusal or the timeout that failed it"},
	{Failed, Nack, ignore, "already failed"},
	{Failed, AckTimeout, ignore, "already failed"},
	{Failed, Unsubscribe, to(Removed), "the venue does not carry it: nothing to tell it"},
	{Failed, Unsubscribed, ignore, "a late completion of an earlier unsubscribe"},
	{Failed, Subscribe, to(Pending), "asked for again: a new Subscribe retries it"},
	{Failed, Lost, byPolicy, "a new connection comes: retried on it if its policy says so, else it stays failed"},
	{Failed, Gap, ignore, "a message of a stream the venue does not carry for it"},
	{Failed, Resynced, ignore, "stale: a resync of a stream since failed"},
})

// Table returns the subscription's rules, one per (state, event) pair, in
// the order of the table, in a new slice each call.
func Table() []fsm.Rule[State, Event] { return slices.Clone(table) }

// NewBuilder returns a builder holding the subscription's states, events,
// table and final state. The caller adds hooks and builds. The machine
// has no tasks and no timeouts: an ack timeout is the connection's clock,
// which fires AckTimeout.
func NewBuilder() *fsm.Builder[State, Event] {
	return fsm.NewBuilder[State, Event](Pending).
		States(states.Values()...).
		Events(events.Values()...).
		Final(Removed).
		Rules(table...)
}

// Definition returns the subscription's machine as declared: the shape
// diagrams and tests are made from.
func Definition() *fsm.Definition[State, Event] {
	return NewBuilder().MustBuild()
}

// SequenceGap is the payload of a Gap event: the sequence number expected and the
// one that came.
type SequenceGap struct {
	Want, Got uint64
}

// String says what was missed, e.g. "expected 7, got 9".
func (g *SequenceGap) String() string { return fmt.Sprintf("expected %d, got %d", g.Want, g.Got) }
