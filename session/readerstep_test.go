package session

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestReaderStepJoinedWithAlive: the reader task runs as the steps of a
// timer, and Alive's exit joins it as it joined the goroutine. Its last
// step, at Reconnect, waits for a handler that ignores its context for
// 2 s; Reconnecting is entered only once that step has returned, and no
// step of the reader runs at that moment or after, while the next
// connection is kept from coming up. A timer whose steps were not joined
// would leave the step running into Reconnecting.
func TestReaderStepJoinedWithAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Push(100*time.Millisecond,
			func(int) wsconntest.Message { return wsconntest.Text("tick") })))
		var (
			rec     recorder
			mu      sync.Mutex
			atLeave []string
			leftAt  time.Duration
			once    sync.Once
			late    []string
		)
		start := time.Now()
		steps := []string{"session.(*Client).readerStep"}
		observe := func(_ context.Context, r record) {
			if r.Kind != fsm.RecordTransition || r.To != connfsm.Reconnecting {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			atLeave, leftAt = running(steps), time.Since(start)
		}
		stuck := make(chan struct{})
		c := dialTest(t, srv, &rec, OnRecord(observe),
			WithHeartbeat(200*time.Millisecond, 10*time.Second), WithAlwaysPing(),
			WithDialGate(func(ctx context.Context) (func(bool), error) {
				if c := rec.Count("Alive-Reconnect->Reconnecting"); c > 0 {
					<-ctx.Done() // the next connection waits: nothing runs the reader
					return nil, ctx.Err()
				}
				return func(bool) {}, nil
			}),
			OnMessage(func(ctx context.Context, _ transport.Message) {
				once.Do(func() {
					close(stuck)
					time.Sleep(2 * time.Second) // ignores ctx
				})
			}))
		waitState(t, c, connfsm.Alive)
		<-stuck
		asked := time.Since(start)
		if err := c.Reconnect(t.Context()); err != nil {
			t.Fatal(err)
		}
		for range 50 { // the next second: no step of the old connection's reader
			time.Sleep(20 * time.Millisecond)
			late = append(late, running(steps)...)
		}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff([]string(nil), atLeave); diff != "" {
			t.Errorf("reader steps running as Reconnecting was entered (-want +got):\n%s", diff)
		}
		if leftAt-asked < 2*time.Second-200*time.Millisecond {
			t.Errorf("Alive left %v after the Reconnect, want after the handler's 2 s", leftAt-asked)
		}
		if diff := cmp.Diff([]string(nil), late); diff != "" {
			t.Errorf("reader steps running after Alive was left (-want +got):\n%s", diff)
		}
	})
}
