package session

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestHandlerContextCost: the handler's context, made at a connection's
// first message, costs its own cancellation alone. As a child of the
// reader task's context it also made that context's done channel and map
// of children, about 370 bytes more a connection (docs/benchmarks.md, the
// 19,000-connection heap profile).
func TestHandlerContextCost(t *testing.T) {
	const n = 1000
	sessions := make([]*session, n)
	for i := range sessions {
		// The reader task's context: a cancellable one that nothing has
		// asked for its done channel, as a task group's.
		rctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		sessions[i] = &session{hctx: rctx}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, s := range sessions {
		s.handlerContextLocked()
	}
	runtime.ReadMemStats(&after)
	// context.WithoutCancel (16 bytes), the cancelCtx (80), its cancel
	// func (16).
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 128 {
		t.Errorf("the handler's context allocates %d bytes, want at most 128", per)
	}
	for _, s := range sessions {
		if s.hctx.Done() == nil || s.hctx.Err() != nil {
			t.Fatalf("handler's context: Done %v, Err %v; want a live cancellable context", s.hctx.Done(), s.hctx.Err())
		}
	}
}

// TestHandlerContextEnds: a handler that waits for its context returns
// when its connection is left, whichever way, with the cause the reader
// task saw: Alive's end, or the connection's failure. The context is the
// reader task's values (Close with it does not wait), ended by the task.
func TestHandlerContextEnds(t *testing.T) {
	tests := []struct {
		name  string
		leave func(*Client, *wsconntest.Server) error
		want  error
	}{
		{"Close", func(c *Client, _ *wsconntest.Server) error { return c.Close(context.Background()) }, fsm.ErrStateExited},
		{"Reconnect", func(c *Client, _ *wsconntest.Server) error { return c.Reconnect(context.Background()) }, fsm.ErrStateExited},
		// The read-ahead lent for the heartbeat sees the reset.
		{"lost", func(_ *Client, srv *wsconntest.Server) error { srv.ResetAll(); return nil }, ErrReadFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(wsconntest.Discard(),
					wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) { _ = c.Send(ctx, wsconntest.Text("tick")) })))
				var rec recorder
				in, ended := make(chan struct{}), make(chan error, 1)
				first := true
				c := dialTest(t, srv, &rec, WithHeartbeat(100*time.Millisecond, time.Second),
					WithBackoff(retry.Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}),
					OnMessage(func(ctx context.Context, _ transport.Message) {
						if !first {
							return
						}
						first = false
						close(in)
						<-ctx.Done()
						ended <- context.Cause(ctx)
					}))
				waitState(t, c, connfsm.Alive)
				<-in
				time.Sleep(500 * time.Millisecond)
				select {
				case err := <-ended:
					t.Fatalf("the handler's context ended (%v) while Alive", err)
				default:
				}
				start := time.Now()
				if err := tt.leave(c, srv); err != nil {
					t.Fatal(err)
				}
				select {
				case cause := <-ended:
					if !errors.Is(cause, tt.want) {
						t.Errorf("cause = %v, want %v", cause, tt.want)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the handler's context did not end")
				}
				synctest.Wait()
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("the handler returned %v after the connection was left, want at once", d)
				}
			})
		})
	}
}
