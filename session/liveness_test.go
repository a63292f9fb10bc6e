package session

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// pushEvery is a venue that sends a tick every d.
func pushEvery(d time.Duration) wsconntest.Behavior {
	return wsconntest.Push(d, func(n int) wsconntest.Message { return wsconntest.Text("tick " + strconv.Itoa(n)) })
}

// TestPingsOnlyWhenIdle: a connection that reads a message within every
// ping interval is never pinged (its messages prove the peer alive), an
// idle one is pinged every interval, WithAlwaysPing pings a busy one too,
// and an application heartbeat keeps the venue's rule: every interval.
func TestPingsOnlyWhenIdle(t *testing.T) {
	const interval = time.Second
	tests := []struct {
		name  string
		venue []wsconntest.Behavior
		opts  []Option
		// want: pings written by the client over 10 intervals, as the
		// venue saw them (protocol pings, or the text "ping").
		wantPings     func(int) bool
		wantSkipped   bool
		wantAppPings  bool
		wantPingsDesc string
	}{
		{name: "busy", venue: []wsconntest.Behavior{wsconntest.Discard(), pushEvery(300 * time.Millisecond)},
			wantPings: func(n int) bool { return n == 0 }, wantSkipped: true, wantPingsDesc: "0"},
		{name: "idle", venue: []wsconntest.Behavior{wsconntest.Discard()},
			wantPings: func(n int) bool { return n >= 9 }, wantPingsDesc: ">= 9"},
		{name: "busy, always ping", venue: []wsconntest.Behavior{wsconntest.Discard(), pushEvery(300 * time.Millisecond)},
			opts:      []Option{WithAlwaysPing()},
			wantPings: func(n int) bool { return n >= 9 }, wantPingsDesc: ">= 9"},
		{name: "busy, application heartbeat", venue: []wsconntest.Behavior{
			wsconntest.RequireHeartbeat(wsconntest.Heartbeat{Ping: "ping", Pong: "pong", Within: 30 * time.Second, Code: 4004}),
			pushEvery(300 * time.Millisecond)},
			opts:      []Option{WithAppHeartbeat(TextHeartbeat("ping", "pong"))},
			wantPings: func(n int) bool { return n >= 9 }, wantAppPings: true, wantPingsDesc: ">= 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(tt.venue...))
				var rec recorder
				var msgs atomic.Int64
				c := dialTest(t, srv, &rec, append([]Option{WithHeartbeat(interval, interval),
					OnMessage(func(context.Context, transport.Message) { msgs.Add(1) })}, tt.opts...)...)
				waitState(t, c, connfsm.Alive)
				time.Sleep(10*interval + interval/2)
				synctest.Wait()
				conn, _ := srv.Connection(1)
				pings := len(conn.FramesOf(wsconntest.FromClient, wsconntest.OpPing))
				if tt.wantAppPings {
					pings = 0
					for _, m := range conn.ReceivedText() {
						if m == "ping" {
							pings++
						}
					}
				}
				st := c.Stats()
				if !tt.wantPings(pings) || (st.PingsSkipped > 0) != tt.wantSkipped {
					t.Errorf("venue saw %d pings (want %s), PingsSkipped %d (want > 0: %v); stats %+v",
						pings, tt.wantPingsDesc, st.PingsSkipped, tt.wantSkipped, st)
				}
				if diff := cmp.Diff([]string{"Connecting-Connected->Alive"}, rec.Transitions()); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestSilentPeerFoundAfterItsLastMessage: a peer that sent data and then
// went silent (a half-open connection) is found within ping interval +
// pong timeout of its last message, though no ping was sent while it
// talked.
func TestSilentPeerFoundAfterItsLastMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, timeout = time.Second, 500 * time.Millisecond
		srv := startServer(t, wsconntest.Default(wsconntest.Discard(), pushEvery(200*time.Millisecond)))
		var rec recorder
		var mu sync.Mutex
		var last time.Time
		c := dialTest(t, srv, &rec, WithHeartbeat(interval, timeout), WithBackoff(retry.Backoff{Initial: time.Hour}),
			OnMessage(func(context.Context, transport.Message) {
				mu.Lock()
				last = time.Now()
				mu.Unlock()
			}))
		waitState(t, c, connfsm.Alive)
		time.Sleep(3*time.Second + 100*time.Millisecond)
		srv.Blackhole(true)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		r, ok := rec.Nth("Alive-Lost->Reconnecting", 1)
		if !ok {
			t.Fatalf("no Lost 5s after the peer went silent; transitions %v", rec.Transitions())
		}
		mu.Lock()
		defer mu.Unlock()
		if d := r.When.Sub(last); d > interval+timeout || d < timeout {
			t.Errorf("Lost %v after the last message, want within [%v, %v]", d, timeout, interval+timeout)
		}
		if err, _ := r.Payload.(error); !errors.Is(err, ErrPongTimeout) {
			t.Errorf("Lost cause = %v, want ErrPongTimeout", err)
		}
		if st := c.Stats(); st.Pings != 1 {
			t.Errorf("Pings = %d, want 1: none while the peer talked, then the unanswered one", st.Pings)
		}
	})
}

// TestHandlerPanicIsLost: a handler that panics fails its connection as a
// task would (Lost, with the *tasks.PanicError), without ending the
// process, and the next connection's messages reach it again.
func TestHandlerPanicIsLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard(), pushEvery(time.Second)))
		var rec recorder
		var calls atomic.Int64
		c := dialTest(t, srv, &rec, WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}),
			OnMessage(func(context.Context, transport.Message) {
				if calls.Add(1) == 1 {
					panic("handler bug")
				}
			}))
		waitState(t, c, connfsm.Alive)
		time.Sleep(3500 * time.Millisecond)
		synctest.Wait()
		r, ok := rec.Nth("Alive-Lost->Reconnecting", 1)
		if !ok {
			t.Fatalf("no Lost after the handler panicked; transitions %v", rec.Transitions())
		}
		var pe *tasks.PanicError
		if err, _ := r.Payload.(error); !errors.As(err, &pe) || pe.Value != "handler bug" {
			t.Errorf("Lost cause = %v, want a *tasks.PanicError of the handler's panic", r.Payload)
		}
		if n := calls.Load(); n < 3 || c.State() != connfsm.Alive || rec.Count("Alive-Lost->Reconnecting") != 1 {
			t.Errorf("%d handler calls, state %v, transitions %v; want the next connection's messages handled",
				n, c.State(), rec.Transitions())
		}
	})
}

// TestReplyWhileHandlerBlocks: a Request's reply is read while OnMessage
// blocks on an earlier message: the connection is read ahead for it.
func TestReplyWhileHandlerBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Func(func(ctx context.Context, vc *wsconntest.Conn) {
			_ = vc.SendText(ctx, "block")
		}), wsconntest.Echo()))
		var rec recorder
		blocked := make(chan struct{})
		c := dialTest(t, srv, &rec, OnMessage(func(ctx context.Context, m transport.Message) {
			if string(m.Data) == "block" {
				close(blocked)
				<-ctx.Done()
			}
		}))
		<-blocked
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		reply, err := c.Request(ctx, transport.Text, []byte("req-1"), func(m transport.Message) bool { return string(m.Data) == "req-1" })
		if err != nil {
			t.Fatalf("Request while the handler blocks: %v", err)
		}
		if string(reply.Data) != "req-1" || time.Since(start) > 0 {
			t.Errorf("reply %q after %v, want req-1 at once", reply.Data, time.Since(start))
		}
	})
}

// TestCloseFrameSeenWhileHandlerRuns: the peer's close frame, sent while a
// slow handler (one that honours its context) runs, is Lost with its code
// within the ping interval, not when the handler is done.
func TestCloseFrameSeenWhileHandlerRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Second
		srv := startServer(t, wsconntest.Default(wsconntest.Func(func(ctx context.Context, vc *wsconntest.Conn) {
			_ = vc.SendText(ctx, "slow")
		}), wsconntest.After(500*time.Millisecond, wsconntest.Close(4001, "invalid key"))))
		var rec recorder
		c := dialTest(t, srv, &rec, WithHeartbeat(interval, interval), WithBackoff(retry.Backoff{Initial: time.Hour}),
			OnMessage(func(ctx context.Context, _ transport.Message) {
				select {
				case <-ctx.Done():
				case <-time.After(time.Minute):
				}
			}))
		start := time.Now()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		r, ok := rec.Nth("Alive-Lost->Reconnecting", 1)
		if !ok {
			t.Fatalf("no Lost 3s after the close frame; state %v", c.State())
		}
		var ce *transport.CloseError
		if err, _ := r.Payload.(error); !errors.As(err, &ce) || ce.Code != 4001 {
			t.Errorf("Lost cause = %v, want a *CloseError with code 4001", r.Payload)
		}
		if d := r.When.Sub(start); d > interval+lendGrace {
			t.Errorf("Lost %v after Alive, want within the ping interval (+%v)", d, lendGrace)
		}
	})
}

// TestPongDeadline: the wait for a reply ends at the pong timeout when the
// deadline's timer fires on time, and is lengthened by the timer's own
// lateness, up to maxLateness in all, when the process runs late.
func TestPongDeadline(t *testing.T) {
	const timeout = time.Second
	tests := []struct {
		name     string
		late     []time.Duration // how late each firing finds itself
		want     time.Duration   // when the wait ends, from arm
		extended int
	}{
		{name: "on time", late: nil, want: timeout},
		{name: "late within the slack", late: []time.Duration{lateSlack(timeout)}, want: timeout},
		{name: "late once", late: []time.Duration{400 * time.Millisecond}, want: timeout + 400*time.Millisecond, extended: 1},
		{name: "late twice", late: []time.Duration{400 * time.Millisecond, 300 * time.Millisecond},
			want: timeout + 700*time.Millisecond, extended: 2},
		{name: "late beyond the bound", late: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second},
			want: timeout + maxLateness(timeout), extended: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The fake clock runs ahead of the bubble's by the
				// lateness injected so far: each firing finds itself late
				// by its entry in tt.late, as a timer of a process that
				// did not run for that long would.
				var mu sync.Mutex
				calls, ahead := 0, time.Duration(0)
				d := &pongDeadline{now: func() time.Time {
					mu.Lock()
					defer mu.Unlock()
					calls++
					if n := calls - 2; n >= 0 && n < len(tt.late) { // call 1 is arm's
						ahead += tt.late[n]
					}
					return time.Now().Add(ahead)
				}}
				ctx, cancel := context.WithCancel(t.Context())
				start := time.Now()
				d.arm(timeout, cancel)
				<-ctx.Done()
				took := time.Since(start)
				expired, extended := d.disarm()
				d.stop()
				type result struct {
					Took     time.Duration
					Expired  bool
					Extended int
				}
				// The bubble's time is what the wait took: the timeout and
				// the extensions, the lateness itself being the fake
				// clock's.
				want := result{Took: tt.want, Expired: true, Extended: tt.extended}
				if diff := cmp.Diff(want, result{took, expired, extended}); diff != "" {
					t.Errorf("wait (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestResetDuringPingIsLostAtOnce: a connection reset while a protocol
// ping waits for its pong is Lost when the read fails, with the read's
// failure, not a pong timeout later: coder/websocket's Ping does not end
// when the reads do.
func TestResetDuringPingIsLostAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, timeout = time.Second, 10 * time.Second
		srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
		var rec recorder
		c := dialTest(t, srv, &rec, WithHeartbeat(interval, timeout), WithBackoff(retry.Backoff{Initial: time.Hour}))
		waitState(t, c, connfsm.Alive)
		srv.Blackhole(true) // the ping at 1s goes unanswered
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if st := c.Stats(); st.Pings != 1 {
			t.Fatalf("Pings = %d, want 1 in flight", st.Pings)
		}
		reset := time.Now()
		srv.ResetAll()
		synctest.Wait()
		r, ok := rec.Nth("Alive-Lost->Reconnecting", 1)
		if !ok {
			t.Fatalf("no Lost at the reset; transitions %v", rec.Transitions())
		}
		if d := r.When.Sub(reset); d != 0 {
			t.Errorf("Lost %v after the reset, want at once", d)
		}
		if err, _ := r.Payload.(error); !errors.Is(err, ErrReadFailed) {
			t.Errorf("Lost cause = %v, want ErrReadFailed", err)
		}
	})
}

// TestPongDeadlineStaleFiring: a firing of the previous ping's timer that
// got the lock only after that ping was disarmed and the next one armed
// (the next ping is due at once when the pong timeout is not below the
// interval) leaves the next ping's wait alone.
func TestPongDeadlineStaleFiring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := new(pongDeadline)
		defer d.stop()
		_, cancel1 := context.WithCancel(t.Context())
		d.arm(time.Second, cancel1)
		d.disarm() // the pong came just as the timer fired
		ctx2, cancel2 := context.WithCancel(t.Context())
		defer cancel2()
		d.arm(time.Second, cancel2)
		d.fire() // the first ping's firing, late to the lock
		if err := ctx2.Err(); err != nil {
			t.Errorf("the next ping's wait ended at once: %v", err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if ctx2.Err() == nil {
			t.Errorf("the next ping's wait did not end at its own deadline")
		}
		if expired, _ := d.disarm(); !expired {
			t.Errorf("expired = false at the next ping's deadline")
		}
	})
}
