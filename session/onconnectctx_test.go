package session

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
)

// TestOnConnectContextEndsAtReady: OnConnect's context is the sync's, as
// its godoc says: it ends once the sync is over, when Ready is entered,
// with the connection still up, not when the connection is left.
func TestOnConnectContextEndsAtReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		kept := make(chan context.Context, 1)
		c := dialTest(t, srv, &rec, OnConnect(func(ctx context.Context, _ *Session) error {
			kept <- ctx
			return nil
		}))
		ctx := <-kept
		select {
		case <-ctx.Done():
		case <-time.After(time.Minute):
			t.Fatalf("OnConnect's context still live in %v", c.Path())
		}
		var exit *fsm.ExitError
		if cause := context.Cause(ctx); !errors.As(cause, &exit) ||
			exit.State != connfsm.Syncing.String() || exit.Event != connfsm.Synced.String() {
			t.Errorf("cause = %v, want Syncing's exit on Synced", cause)
		}
		if err := c.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := c.Stats().Connects; n != 1 {
			t.Errorf("Connects = %d, want 1: the connection OnConnect ran on is still up", n)
		}
	})
}
