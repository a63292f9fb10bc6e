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
		if p := c.Phase(); p != connfsm.Ready {
			t.Errorf("Phase = %v when OnConnect's context ended, want Ready", p)
		}
		var exit *fsm.ExitError
		if cause := context.Cause(ctx); !errors.As(cause, &exit) || exit.State != connfsm.Syncing.String() {
			t.Errorf("cause = %v, want Syncing's exit", cause)
		}
	})
}
