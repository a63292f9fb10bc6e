package session

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
)

// TestStuckResyncIsBounded: a Resync that ignores its context holds
// Close, as any function of the caller's that does, up to the lifecycle's
// join timeout, and no longer: it is then left behind, reported as a
// straggler of the reader task, which joins it.
func TestStuckResyncIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, gapVenue([]int{1, 2, 5}, []int{1}))
		var rec recorder
		seqRouter := subscription.Router{Acks: true, Route: func(m transport.Message) subscription.Route {
			r := prefixRouter.Route(m)
			r.Key, _, _ = strings.Cut(r.Key, ":")
			return r
		}}
		c, err := dialWS(t.Context(), "ws://feed.test/", WithHTTPClient(srv.Client()), OnRecord(rec.Observe), WithRouter(seqRouter))
		if err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		resync := func(context.Context, string) error {
			close(started)
			time.Sleep(time.Hour) // ignores its context
			return nil
		}
		if err := c.Subscribe(context.Background(), Subscription{Key: "s", Message: []byte("sub:s"),
			Sequence: seqOf, Resync: resync}); err != nil {
			t.Fatal(err)
		}
		<-started
		start := time.Now()
		closed := make(chan error, 1)
		go func() { closed <- c.Close(context.Background()) }()
		select {
		case <-closed:
		case <-time.After(time.Minute):
			t.Fatalf("Close still waits after a minute, in %v", c.Path())
		}
		if took := time.Since(start); took > fsm.DefaultJoinTimeout {
			t.Errorf("Close took %v, want at most the join timeout %v", took, fsm.DefaultJoinTimeout)
		}
		if s := c.State(); s != connfsm.Closed {
			t.Errorf("State = %v after Close, want Closed", s)
		}
		if diff := cmp.Diff([]string{"straggler: task reader of Alive (epoch 2)"}, rec.Problems()); diff != "" {
			t.Errorf("problems (-want +got):\n%s", diff)
		}
		time.Sleep(time.Hour) // the resync returns in its own time
	})
}
