package timeline

import (
	"fmt"
	"time"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/wsconn"
)

// dataPath returns the line of a step of a connection's data path, or ""
// for its plain start and end (the reader starts; Alive is left with
// nothing held), which every connection has.
func (tl *Timeline) dataPath(r Record) string {
	dr, ok := r.Payload.(*wsconn.DataPathRecord)
	if !ok || dr.From == datapath.Unstarted || dr.From == datapath.Flowing && dr.To == datapath.Stopped {
		return ""
	}
	l := Line{Kind: "datapath", From: dr.From.String(), Event: dr.Event.String(), To: dr.To.String(), Epoch: dr.Conn}
	human := fmt.Sprintf("data path %s --%s--> %s (epoch %d)", dr.From, dr.Event, dr.To, dr.Conn)
	if dr.Event == datapath.Deliver {
		l.LagMS = ms(dr.Lag)
		human += fmt.Sprintf("   lag %v", dr.Lag.Round(time.Millisecond))
	}
	if dr.Kind == fsm.RecordRejected {
		l.To, l.Reason = "", "rejected: "+r.Reason
		return tl.format(r.When, l, tl.paint(red, fmt.Sprintf("data path: %s rejected in %s (epoch %d)", dr.Event, dr.From, dr.Conn)))
	}
	return tl.format(r.When, l, tl.paint(dim, human))
}
