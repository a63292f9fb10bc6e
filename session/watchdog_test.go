package session

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestZombieFeed: a venue that acks the subscription, answers pings and
// then sends nothing. The data watchdog finds it: Lost after exactly the
// idle timeout, with a cause matching ErrIdleTimeout, which the retry
// policy sees as KindIdle. Protocol pongs do not count as data, and a feed
// that keeps sending is never cut.
func TestZombieFeed(t *testing.T) {
	const idle = 10 * time.Second
	tests := []struct {
		name     string
		every    time.Duration // a data message every; 0: none after the ack
		wantLost bool
	}{
		{"zombie", 0, true},
		{"live feed, a message every 9s", 9 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				venue := []wsconntest.Behavior{wsconntest.Discard(), // answers pings
					wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) { _ = c.SendText(ctx, `{"event":"subscribed"}`) })}
				if tt.every > 0 {
					venue = append(venue, wsconntest.Push(tt.every, func(int) wsconntest.Message { return wsconntest.Text("trade") }))
				}
				srv := startServer(t, wsconntest.Default(venue...))
				var rec recorder
				var kinds []retry.FailureKind
				c := dialTest(t, srv, &rec, WithIdleTimeout(idle), WithHeartbeat(time.Second, time.Second),
					WithRetryPolicy(func(f retry.Failure) retry.Decision {
						kinds = append(kinds, f.Kind)
						return retry.Decision{GiveUp: true}
					}))
				time.Sleep(time.Minute)
				synctest.Wait()
				if !tt.wantLost {
					if diff := cmp.Diff([]string{"Connecting-Connected->Alive"}, rec.Transitions()); diff != "" {
						t.Errorf("transitions (-want +got):\n%s", diff)
					}
					return
				}
				<-c.Done()
				alive, _ := rec.Nth("Connecting-Connected->Alive", 1)
				lost, ok := rec.Nth("Alive-Lost->Reconnecting", 1)
				if !ok {
					t.Fatalf("no Lost; %v", rec.Transitions())
				}
				// The ack came at once: the feed went quiet right after it.
				if took := lost.When.Sub(alive.When); took != idle {
					t.Errorf("Lost %v after Alive, want the idle timeout %v", took, idle)
				}
				if err, _ := lost.Payload.(error); !errors.Is(err, ErrIdleTimeout) {
					t.Errorf("Lost cause = %v, want ErrIdleTimeout", err)
				}
				if diff := cmp.Diff([]retry.FailureKind{retry.KindIdle}, kinds); diff != "" {
					t.Errorf("failure kinds the policy saw (-want +got):\n%s", diff)
				}
				if st := c.Stats(); st.Pings < 9 {
					t.Errorf("pings = %d: the pongs that came must not have counted as data", st.Pings)
				}
			})
		})
	}
}
