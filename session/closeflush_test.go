package session

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/session/retry"
)

// TestCloseDuringSyncFlushesPaced: a Close while the sync runs, on a
// client with a rate limiter, still writes the messages buffered while
// disconnected before the close frame, paced: Closing's flush waits for
// the limiter as every write does, instead of giving up on it as closed.
// A Close whose ctx ends meanwhile cuts that wait short: it returns at
// once, and the messages left are reported unsent.
func TestCloseDuringSyncFlushesPaced(t *testing.T) {
	tests := []struct {
		name     string
		every    time.Duration // the limiter's pace
		closeCtx time.Duration // Close's ctx's timeout; none if 0
		want     []string      // what the venue receives
		wantErr  error
		took     time.Duration // how long Close takes
	}{
		{name: "paced flush", every: 100 * time.Millisecond, want: []string{"0", "1", "2", "3", "4"}, took: 400 * time.Millisecond},
		{name: "Close's ctx ends during the flush", every: time.Hour, closeCtx: 100 * time.Millisecond,
			want: []string{"0"}, wantErr: context.DeadlineExceeded, took: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t)
				srv.Down()
				var rec recorder
				syncing := make(chan struct{})
				c := dialTest(t, srv, &rec, WithSendPolicy(SendPolicy{Buffer: 5}),
					WithRateLimit(&everyLimiter{every: tt.every}),
					WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}),
					OnConnect(func(ctx context.Context, _ *Session) error {
						close(syncing)
						<-ctx.Done() // the sync is under way when Close comes
						return ctx.Err()
					}))
				for i := range 5 {
					if err := c.SendText(context.Background(), fmt.Sprint(i)); err != nil {
						t.Fatal(err)
					}
				}
				up(t, srv)
				<-syncing
				ctx := context.Background()
				if tt.closeCtx > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.closeCtx)
					defer cancel()
				}
				start := time.Now()
				err := c.Close(ctx)
				if took := time.Since(start); took != tt.took {
					t.Errorf("Close took %v, want %v", took, tt.took)
				}
				if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Close = %v, want %v", err, tt.wantErr)
				}
				if n, want := c.Stats().Unsent, uint64(5-len(tt.want)); n != want {
					t.Errorf("Unsent = %d, want %d", n, want)
				}
				conn, ok := srv.Connection(1)
				if !ok {
					t.Fatal("no connection")
				}
				var got []string
				for _, m := range conn.Received {
					got = append(got, string(m.Data))
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("venue received (-want +got):\n%s", diff)
				}
			})
		})
	}
}
