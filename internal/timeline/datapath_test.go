package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/wsconn"
)

func dataPathRecord(from datapath.State, e datapath.Event, to datapath.State, lag time.Duration) Record {
	return Record{Kind: wsconn.RecordDataPath, When: when, Epoch: 2,
		Payload: &wsconn.DataPathRecord{Kind: fsm.RecordTransition, From: from, Event: e, To: to, Lag: lag, Conn: 2}}
}

// TestDataPathLines: a data path's steps are lines of kind "datapath",
// a Deliver with its lag; the plain start and end of every connection
// print nothing.
func TestDataPathLines(t *testing.T) {
	for _, asJSON := range []bool{true, false} {
		var out bytes.Buffer
		tl := New(&out, asJSON, false)
		for _, r := range []Record{
			dataPathRecord(datapath.Unstarted, datapath.Start, datapath.Flowing, 0),
			dataPathRecord(datapath.ReadAhead, datapath.Park, datapath.Backlogged, 0),
			dataPathRecord(datapath.Taking, datapath.Deliver, datapath.Busy, 1500*time.Millisecond),
			dataPathRecord(datapath.Flowing, datapath.Stop, datapath.Stopped, 0),
		} {
			tl.Observe(context.Background(), r)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if !asJSON {
			want := []string{
				"data path ReadAhead --Park--> Backlogged (epoch 2)",
				"data path Taking --Deliver--> Busy (epoch 2)   lag 1.5s",
			}
			var got []string
			for _, l := range lines {
				got = append(got, strings.TrimSpace(l[strings.Index(l, "s ")+2:]))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("human lines (-want +got):\n%s", diff)
			}
			continue
		}
		var got []map[string]any
		for _, l := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			delete(m, "t")
			got = append(got, m)
		}
		want := []map[string]any{
			{"kind": "datapath", "from": "ReadAhead", "event": "Park", "to": "Backlogged", "epoch": 2.0},
			{"kind": "datapath", "from": "Taking", "event": "Deliver", "to": "Busy", "epoch": 2.0, "lag_ms": 1500.0},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("JSON lines (-want +got):\n%s", diff)
		}
	}
}
