package session

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestStormGuardCountsDialsMade: a credentials function (a token file
// being rotated) fails five times in a row. None of those attempts left
// the client, so the storm guard, set to hold dials 5 s apart after 3
// within a minute, does not count them: the first dial with the new
// token goes out after the backoff alone.
func TestStormGuardCountsDialsMade(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
		var rec recorder
		var calls int
		start := time.Now()
		c := dialTest(t, srv, &rec,
			WithStormGuard(retry.StormGuard{Attempts: 3, Window: time.Minute, MinGap: 5 * time.Second}),
			WithBackoff(retry.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}),
			WithCredentials(func(context.Context) (Credentials, error) {
				if calls++; calls <= 5 {
					return Credentials{}, errors.New("token file: no such file")
				}
				return Credentials{}, nil
			}))
		waitState(t, c, connfsm.Alive)
		if took := time.Since(start); took > time.Second {
			t.Errorf("Alive %v after the start, want within 1s: the failed credentials reads held the dial", took)
		}
		if n := dials(srv); n != 1 {
			t.Errorf("the venue saw %d dials, want 1", n)
		}
	})
}
