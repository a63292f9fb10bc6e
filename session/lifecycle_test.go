package session

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// recorder keeps the lifecycle's records for the tests' assertions. Its
// Transitions, Count and Nth see the lifecycle as a user who does not care
// about Alive's phases does: Syncing and Ready are named Alive, and the
// step between them is left out. Phases names every step as it was.
type recorder struct {
	fsmtest.Recorder[connfsm.State, connfsm.Event]
}

// Transitions returns the transitions so far, phases collapsed.
func (r *recorder) Transitions() []string { return r.TransitionsBy(connfsm.TopTransition) }

// Count returns how many transitions Transitions names name.
func (r *recorder) Count(name string) int { return r.CountBy(connfsm.TopTransition, name) }

// Nth returns the n-th (from 1) transition Transitions names name.
func (r *recorder) Nth(name string, n int) (record, bool) {
	return r.NthBy(connfsm.TopTransition, name, n)
}

// Phases returns the transitions so far as they were, phases named.
func (r *recorder) Phases() []string { return r.Recorder.Transitions() }

func dialTest(t *testing.T, srv *wsconntest.Server, rec *recorder, opts ...Option) *Client {
	t.Helper()
	var dp dataPathProblems
	base := []Option{WithHTTPClient(srv.Client()), OnRecord(rec.Observe), OnRecord(dp.observe), NoWait()}
	c, err := dialWS(t.Context(), "ws://feed.test/", append(base, opts...)...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Close(context.Background())
		if p := rec.Problems(); len(p) > 0 {
			t.Errorf("lifecycle problems: %v", p)
		}
		if p := dp.list(); len(p) > 0 {
			t.Errorf("data path problems: %v", p)
		}
	})
	return c
}

func waitState(t *testing.T, c *Client, want connfsm.State) {
	t.Helper()
	for range 1000 {
		synctest.Wait()
		if c.State() == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("state = %v, want %v", c.State(), want)
}

func TestSimultaneousFailuresReconnectOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		c := dialTest(t, srv, &rec, WithHeartbeat(time.Second, time.Second),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
		waitState(t, c, connfsm.Alive)

		// At 1.5s the peer goes silent: the ping sent at 2s gets no pong,
		// and at 3s, the instant the pong times out, the connection is also
		// reset and a send is in flight.
		time.Sleep(1500 * time.Millisecond)
		srv.Blackhole(true)
		time.Sleep(1500 * time.Millisecond)
		srv.Blackhole(false)
		srv.ResetAll()
		sendErr := c.SendText(context.Background(), "racing the failure")
		waitState(t, c, connfsm.Alive)
		time.Sleep(5 * time.Second)
		synctest.Wait()

		if n := rec.Count("Alive-Lost->Reconnecting"); n != 1 {
			t.Errorf("Alive-Lost->Reconnecting happened %d times, want 1; transitions: %v", n, rec.Transitions())
		}
		if d := dials(srv); d != 2 {
			t.Errorf("dials = %d, want 2 (one reconnect, one new socket)", d)
		}
		if sendErr != nil && !errors.Is(sendErr, ErrNotConnected) {
			t.Errorf("send racing the failure: %v, want nil or ErrNotConnected", sendErr)
		}
		if st := c.Stats(); st.DeadPings != 0 {
			t.Errorf("DeadPings = %d, want 0", st.DeadPings)
		}
	})
}

func TestCloseFromEveryState(t *testing.T) {
	const closeTimeout = 2 * time.Second
	tests := []struct {
		name  string
		plan  []wsconntest.Behavior // what the venue does; Echo if nil
		setup func(t *testing.T, srv *wsconntest.Server, c *Client)
		opts  []Option
		want  []string
		bound time.Duration
	}{{
		name: "during dial (server never answers the upgrade)",
		plan: []wsconntest.Behavior{wsconntest.Stall()},
		setup: func(t *testing.T, _ *wsconntest.Server, c *Client) {
			time.Sleep(time.Second)
			synctest.Wait()
			if c.State() != connfsm.Connecting {
				t.Fatalf("state = %v, want Connecting", c.State())
			}
		},
		want: []string{"Connecting-Close->Closed"},
	}, {
		name: "during backoff (closed while disconnected)",
		setup: func(t *testing.T, srv *wsconntest.Server, c *Client) {
			waitState(t, c, connfsm.Reconnecting)
		},
		opts: []Option{WithBackoff(retry.Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 2})},
		want: []string{"Connecting-DialFailed->Reconnecting", "Reconnecting-Close->Closed"},
	}, {
		name: "during OnConnect",
		opts: []Option{OnConnect(func(ctx context.Context, _ *Session) error {
			<-ctx.Done()
			return ctx.Err()
		})},
		setup: func(t *testing.T, _ *wsconntest.Server, c *Client) { waitState(t, c, connfsm.Alive) },
		want:  []string{"Connecting-Connected->Alive", "Alive-Close->Closing", "Closing-CloseDone->Closed"},
	}, {
		name: "with a ping in flight and a peer that never answers the close frame",
		setup: func(t *testing.T, srv *wsconntest.Server, c *Client) {
			waitState(t, c, connfsm.Alive)
			srv.Blackhole(true)
			time.Sleep(1500 * time.Millisecond) // the 1s ping is in flight, unanswered
			synctest.Wait()
		},
		opts:  []Option{WithHeartbeat(time.Second, time.Second)},
		want:  []string{"Connecting-Connected->Alive", "Alive-Close->Closing", "Closing-CloseDone->Closed"},
		bound: closeTimeout,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(append(tt.plan, wsconntest.Echo())...))
				if tt.name == "during backoff (closed while disconnected)" {
					srv.Down()
				}
				var rec recorder
				opts := append([]Option{WithCloseTimeout(closeTimeout)}, tt.opts...)
				c := dialTest(t, srv, &rec, opts...)
				tt.setup(t, srv, c)
				start := time.Now()
				if err := c.Close(context.Background()); err != nil {
					t.Errorf("Close: %v", err)
				}
				if took := time.Since(start); took > tt.bound {
					t.Errorf("Close took %v, want <= %v", took, tt.bound)
				}
				select {
				case <-c.Done():
				default:
					t.Fatal("Close returned before Done")
				}
				if c.State() != connfsm.Closed || !errors.Is(c.Err(), ErrClosed) {
					t.Errorf("after Close: state %v, Err %v; want Closed, ErrClosed", c.State(), c.Err())
				}
				if diff := cmp.Diff(tt.want, rec.Transitions()); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
				if err := c.Close(context.Background()); err != nil {
					t.Errorf("second Close: %v", err)
				}
			})
		})
	}
}

func TestCloseFromInside(t *testing.T) {
	tests := []struct {
		name string
		opt  func(client <-chan *Client, returned chan<- error) Option
	}{
		{"OnConnect", func(client <-chan *Client, returned chan<- error) Option {
			return OnConnect(func(ctx context.Context, _ *Session) error {
				returned <- (<-client).Close(ctx)
				return nil
			})
		}},
		{"OnMessage", func(client <-chan *Client, returned chan<- error) Option {
			return OnMessage(func(ctx context.Context, _ transport.Message) { returned <- (<-client).Close(ctx) })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t)
				var rec recorder
				client := make(chan *Client, 1)
				returned := make(chan error, 1)
				c := dialTest(t, srv, &rec, tt.opt(client, returned))
				client <- c
				if tt.name == "OnMessage" {
					waitState(t, c, connfsm.Alive)
					if err := c.SendText(t.Context(), "close yourself"); err != nil {
						t.Fatal(err)
					}
				}
				if err := <-returned; err != nil {
					t.Errorf("Close from inside = %v, want nil", err)
				}
				<-c.Done()
				if !errors.Is(c.Err(), ErrClosed) {
					t.Errorf("Err = %v, want ErrClosed", c.Err())
				}
			})
		})
	}
}

func TestClosedIsTerminal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		c := dialTest(t, srv, &rec)
		waitState(t, c, connfsm.Alive)
		if err := c.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		// A late dial result: a real connection arriving after Closed.
		conn, _, err := websocket.Dial(t.Context(), "ws://feed.test/", &websocket.DialOptions{HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		late := newSession(&wsConn{ws: conn, ctx: context.Background(), cancel: func() {}}, nil)
		for _, e := range connfsm.Events() {
			var payload any
			if e == connfsm.Connected {
				payload = late
			}
			if err := c.m.FireWith(t.Context(), e, payload); !errors.Is(err, fsm.ErrStopped) {
				t.Errorf("Fire(%v) after Closed = %v, want ErrStopped", e, err)
			}
		}
		if c.State() != connfsm.Closed {
			t.Errorf("state = %v, want Closed", c.State())
		}
		// The late socket was disposed: closed, not leaked.
		if _, _, err := conn.Read(t.Context()); err == nil {
			t.Error("late connection still readable, want it closed")
		}
		if err := c.SendText(t.Context(), "x"); !errors.Is(err, ErrClosed) {
			t.Errorf("Send after Close = %v, want ErrClosed", err)
		}
	})
}

// delays returns the time spent in each Reconnecting entry that ended with
// RetryDue: the backoff delays actually waited.
func delays(rec *recorder) []time.Duration {
	var out []time.Duration
	var prev time.Time
	for _, r := range rec.Records() {
		if r.Kind != fsm.RecordTransition {
			continue
		}
		if fsmtest.TransitionName(r) == "Reconnecting-RetryDue->Connecting" && !prev.IsZero() {
			out = append(out, r.When.Sub(prev).Round(time.Millisecond))
		}
		prev = r.When
	}
	return out
}

func withRand(f func() float64) Option { return func(c *config) { c.Rand = f } }

func TestBackoffGrowsCapsAndResetsAfterStablePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var flapping atomic.Bool // accept, then drop at once
		srv := startServer(t, wsconntest.Choose(func(*http.Request, int) []wsconntest.Behavior {
			if flapping.Load() {
				return []wsconntest.Behavior{wsconntest.Reset()}
			}
			return nil // echo
		}))
		srv.Down()
		var rec recorder
		b := retry.Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Multiplier: 2, Mode: retry.FullJitter}
		c := dialTest(t, srv, &rec, WithBackoff(b), WithStablePeriod(5*time.Second),
			WithStormGuard(retry.StormGuard{}), withRand(func() float64 { return 0.999999 }))

		// Down: the delays grow by the multiplier and stop at Max.
		time.Sleep(1400 * time.Millisecond)
		synctest.Wait()
		ms := time.Millisecond
		if diff := cmp.Diff([]time.Duration{100 * ms, 200 * ms, 400 * ms, 400 * ms}, delays(&rec)); diff != "" {
			t.Fatalf("delays while down (-want +got):\n%s", diff)
		}

		// Flapping: connections that die at once do not reset the counter.
		flapping.Store(true)
		up(t, srv)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := rec.Count("Alive-Lost->Reconnecting"); n < 2 {
			t.Fatalf("flapping server: %d losses, want >= 2; %v", n, rec.Transitions())
		}
		for _, d := range delays(&rec)[4:] {
			if d != 400*ms {
				t.Errorf("delay after a short-lived connection = %v, want the cap 400ms", d)
			}
		}

		// Stable: after 5s Alive, a loss starts again from Initial.
		flapping.Store(false)
		waitState(t, c, connfsm.Alive)
		time.Sleep(6 * time.Second)
		n := len(delays(&rec))
		srv.ResetAll()
		time.Sleep(time.Second)
		synctest.Wait()
		// The counter was reset: the retry's cap is Initial again.
		if got := delays(&rec); len(got) <= n || got[n] != 100*ms {
			t.Errorf("delays after a stable connection = %v, want [100ms ...]", got[n:])
		}
	})
}

func TestStormGuardLimitsDials(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A server that accepts and drops every connection at once.
		srv := startServer(t, wsconntest.Default(wsconntest.Reset()))
		var rec recorder
		guard := retry.StormGuard{Attempts: 5, Window: time.Minute, MinGap: 5 * time.Second}
		_ = dialTest(t, srv, &rec, WithStormGuard(guard),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
		time.Sleep(60 * time.Second)
		synctest.Wait()
		// 5 dials may come fast; after that one per MinGap at most.
		if d, max := dials(srv), 5+60/5+1; d > max || d < 10 {
			t.Errorf("dials in 60s = %d, want between 10 and %d", d, max)
		}
	})
}

func TestHandshakeStatuses(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		permanent  bool
	}{
		{400, "", true}, {401, "", true}, {403, "", true}, {404, "", true}, {405, "", true}, {410, "", true},
		{408, "", false}, {429, "3", false}, {500, "", false}, {502, "", false}, {503, "7", false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				header := http.Header{}
				if tt.retryAfter != "" {
					header.Set("Retry-After", tt.retryAfter)
				}
				srv := startServer(t, wsconntest.Script(wsconntest.Plan{wsconntest.Refuse(tt.status, header)}))
				var rec recorder
				start := time.Now()
				c, err := dialWS(t.Context(), "ws://feed.test/", WithHTTPClient(srv.Client()), OnRecord(rec.Observe),
					WithBackoff(retry.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}))
				if tt.permanent {
					var gu *GaveUpError
					var he *transport.HandshakeError
					if !errors.As(err, &gu) || !errors.As(err, &he) || he.Status != tt.status {
						t.Fatalf("Dial = %v, want *GaveUpError wrapping *HandshakeError %d", err, tt.status)
					}
					want := []string{"Connecting-DialFailed->Reconnecting", "Reconnecting-GaveUp->Closed"}
					if diff := cmp.Diff(want, rec.Transitions()); diff != "" {
						t.Errorf("transitions (-want +got):\n%s", diff)
					}
					return
				}
				if err != nil {
					t.Fatalf("Dial after a transient %d = %v, want success", tt.status, err)
				}
				defer c.Close(context.Background())
				if n := srv.Stats().Handshakes; n != 2 {
					t.Errorf("handshakes = %d, want 2", n)
				}
				if tt.retryAfter != "" {
					secs, _ := strconv.Atoi(tt.retryAfter)
					if took := time.Since(start); took < time.Duration(secs)*time.Second {
						t.Errorf("reconnected after %v, want >= Retry-After %ss", took, tt.retryAfter)
					}
				}
			})
		})
	}
}

func TestMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		srv.Down()
		var rec recorder
		_, err := dialWS(t.Context(), "ws://feed.test/", WithHTTPClient(srv.Client()), OnRecord(rec.Observe),
			WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1, MaxAttempts: 3}))
		var gu *GaveUpError
		if !errors.Is(err, ErrRetriesExhausted) || !errors.As(err, &gu) || gu.Attempts != 3 {
			t.Fatalf("Dial = %v, want *GaveUpError after 3 attempts wrapping ErrRetriesExhausted", err)
		}
		if d := dials(srv); d != 3 {
			t.Errorf("dials = %d, want 3", d)
		}
	})
}
