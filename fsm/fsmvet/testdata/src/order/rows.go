package order

import "github.com/connfsm/connfsm/fsm"

// row is the transitions.go pattern: its outcome is the field of type
// fsm.Outcome[Order].
type row struct {
	from   Order
	on     Exec
	why    string
	then   fsm.Outcome[Order]
	reason string
}

func rows(rs []row) []fsm.Rule[Order, Exec] {
	out := make([]fsm.Rule[Order, Exec], 0, len(rs))
	for _, r := range rs {
		out = append(out, fsm.Rule[Order, Exec]{From: r.from, On: r.on, Then: r.then, Reason: r.reason})
	}
	return out
}

var table = rows([]row{
	{New, Ack, "", fsm.To(Working), ""},
	{New, Fill, "", fsm.Reject[Order](), ""},
	{New, Cancel, "", fsm.To(Cancelled), ""},
	{New, Done, "", fsm.Reject[Order](), ""},
	{Working, Ack, "", fsm.Ignore[Order](), ""},
	{Working, Fill, "", fsm.Internal(PartFilled), ""},
	{Working, Cancel, "", fsm.Internal(Cancelled), ""}, // want `rule Working × Cancel: internal transition to Cancelled: Cancelled is not a proper descendant of Working`
	{Working, Done, "", fsm.To(Filled), ""},
	{Filled, Ack, "", fsm.Ignore[Order](), ""},
	{Filled, Fill, "", fsm.Ignore[Order](), ""},
	{Filled, Cancel, "", fsm.Ignore[Order](), ""},
	{Filled, Done, "", fsm.Ignore[Order](), ""},
	{from: Cancelled, on: Ack, then: fsm.Ignore[Order]()},
	{from: Cancelled, on: Fill, then: fsm.Ignore[Order]()},
	{from: Cancelled, on: Cancel, then: fsm.Internal(Acked)}, // want `rule Cancelled × Cancel: internal transition to Acked: Acked is not a proper descendant of Cancelled`
	{from: Cancelled, on: Done, then: fsm.Ignore[Order]()},
})
