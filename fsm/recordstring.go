package fsm

import (
	"fmt"
	"strings"
)

// pather is a state that names itself with its ancestors, e.g.
// "Alive/Syncing": a record prints states by their Path when they have one.
type pather interface{ Path() string }

func name[T any](v T) string {
	if p, ok := any(v).(pather); ok {
		return p.Path()
	}
	return fmt.Sprint(v)
}

// String returns the record as one readable line, as the connfsm command's
// timeline prints it:
//
//	started in Connecting
//	Connecting --Connected--> Alive/Syncing (epoch 3)
//	ignored Lost in Reconnecting: a second loss from another task
//	rejected Send in Closed: closed for good
//	stale Lost of Alive (epoch 2) in Reconnecting
//	postponed Send in Alive/Syncing
//	straggler reader of Alive (epoch 2) did not return in time
//	task reader of Alive (epoch 2) failed: read: EOF
//	dropped Lost: machine stopped
//	stopped in Closed
//	straggler reader of Alive (epoch 2) returned: read: EOF
//
// States print as their Path method returns, if they have one (names with
// their ancestors'), else as fmt.Sprint does. A record whose kind carries
// no event (started, stopped, straggler, task failure) prints none: its
// Event field means nothing.
func (r Record[S, E]) String() string {
	var b strings.Builder
	switch r.Kind {
	case RecordStarted:
		fmt.Fprintf(&b, "started in %s", name(r.To))
	case RecordTransition:
		fmt.Fprintf(&b, "%s --%v--> %s (epoch %d)", name(r.From), r.Event, name(r.To), r.Epoch)
	case RecordIgnored, RecordRejected, RecordPostponed:
		fmt.Fprintf(&b, "%s %v in %s", r.Kind, r.Event, name(r.From))
		if r.Reason != "" {
			b.WriteString(": " + r.Reason)
		} else if r.Err != nil {
			b.WriteString(": " + r.Err.Error())
		}
	case RecordStale:
		fmt.Fprintf(&b, "stale %v of %s (epoch %d) in %s", r.Event, name(r.State), r.Epoch, name(r.From))
	case RecordStraggler:
		fmt.Fprintf(&b, "straggler %s of %s (epoch %d) did not return in time", r.Task, name(r.State), r.Epoch)
	case RecordTaskFailed:
		fmt.Fprintf(&b, "task %s of %s (epoch %d) failed: %v", r.Task, name(r.State), r.Epoch, r.Err)
	case RecordDropped:
		fmt.Fprintf(&b, "dropped %v: %v", r.Event, r.Err)
	case RecordStopped:
		fmt.Fprintf(&b, "stopped in %s", name(r.From))
		if r.Err != nil {
			b.WriteString(": " + r.Err.Error())
		}
	case RecordStragglerReturned:
		fmt.Fprintf(&b, "straggler %s of %s (epoch %d) returned", r.Task, name(r.State), r.Epoch)
		if r.Err != nil {
			b.WriteString(": " + r.Err.Error())
		}
	default:
		if p, ok := r.Payload.(fmt.Stringer); ok && r.Kind >= RecordOwner {
			return p.String()
		}
		fmt.Fprintf(&b, "%v in %s", r.Kind, name(r.From))
	}
	return b.String()
}
