package session

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

var errShutdown = errors.New("service shutting down")

// TestLifetime: WithLifetime ties the client to a context. When it ends,
// the client closes as by Close and Err is the context's cause, whether it
// ends while the client is Alive or was over before Dial.
func TestLifetime(t *testing.T) {
	tests := []struct {
		name      string
		overFirst bool // the lifetime ends before Dial
		want      []string
	}{
		{name: "ends while Alive",
			want: []string{"Connecting-Connected->Alive", "Alive-Close->Closing", "Closing-CloseDone->Closed"}},
		{name: "over before Dial", overFirst: true,
			want: []string{"Connecting-Close->Closed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t)
				lifetime, end := context.WithCancelCause(context.Background())
				defer end(nil)
				if tt.overFirst {
					end(errShutdown)
				}
				var rec recorder
				c := dialTest(t, srv, &rec, WithLifetime(lifetime))
				if !tt.overFirst {
					waitState(t, c, connfsm.Alive)
					end(errShutdown)
				}
				<-c.Done()
				if !errors.Is(c.Err(), errShutdown) {
					t.Errorf("Err() = %v, want the lifetime's cause %v", c.Err(), errShutdown)
				}
				if diff := cmp.Diff(tt.want, rec.Transitions()); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestCloseFromObserver: an OnTransition observer runs inside the
// lifecycle. Close called there with the context it was given starts the
// close and returns; waiting would wait for the observer itself.
func TestCloseFromObserver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The handshake waits for the test to hand the observer its client:
		// the Connected step could otherwise run inside Dial, with the
		// observer waiting for a client Dial has not returned yet.
		gate := make(chan struct{})
		srv := startServer(t, wsconntest.Default(wsconntest.Handshake(func(_ http.ResponseWriter, r *http.Request) bool {
			select {
			case <-gate:
				return false
			case <-r.Context().Done():
				return true
			}
		}), wsconntest.Echo()))
		client := make(chan *Client, 1)
		closed := make(chan error, 1)
		var rec recorder
		c := dialTest(t, srv, &rec, OnRecord(func(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
			if r.Kind != fsm.RecordTransition {
				return
			}
			if r.Event == connfsm.Connected {
				closed <- (<-client).Close(ctx)
			}
		}))
		client <- c
		close(gate)
		if err := <-closed; err != nil {
			t.Errorf("Close from the observer = %v, want nil", err)
		}
		<-c.Done()
		if !errors.Is(c.Err(), ErrClosed) {
			t.Errorf("Err() = %v, want ErrClosed", c.Err())
		}
		want := []string{"Connecting-Connected->Alive", "Alive-Close->Closing", "Closing-CloseDone->Closed"}
		if diff := cmp.Diff(want, rec.Transitions()); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}

// TestCloseWithStuckHandler: a handler that ignores its context holds the
// reader task. Close with a short ctx aborts the connection at once, and
// returns ctx's cause once the lifecycle's join timeout has left the
// handler behind as a straggler: bounded, and reported.
func TestCloseWithStuckHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Func(func(ctx context.Context, vc *wsconntest.Conn) {
			c := vc.WebSocket()
			_ = c.Write(ctx, websocket.MessageText, []byte("hold"))
		}), wsconntest.Echo()))
		var rec recorder
		handling := make(chan struct{})
		c, err := dialWS(t.Context(), "ws://feed.test/", WithHTTPClient(srv.Client()), OnRecord(rec.Observe),
			OnMessage(func(context.Context, transport.Message) {
				close(handling)
				time.Sleep(time.Hour) // ignores its context
			}))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		<-handling
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = c.Close(ctx)
		if took := time.Since(start); took != fsm.DefaultJoinTimeout {
			t.Errorf("Close took %v, want the join timeout %v", took, fsm.DefaultJoinTimeout)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want ctx's cause", err)
		}
		if s := c.State(); s != connfsm.Closed {
			t.Errorf("State() = %v after Close, want Closed", s)
		}
		if diff := cmp.Diff([]string{"straggler: task reader of Alive (epoch 2)"}, rec.Problems()); diff != "" {
			t.Errorf("problems (-want +got):\n%s", diff)
		}
		time.Sleep(time.Hour) // the handler returns in its own time
	})
}

// TestOnConnectErrorIsLost: an OnConnect error (a refused resubscription)
// counts as Lost: the client backs off and reconnects, and OnConnect runs
// again on the new connection.
func TestOnConnectErrorIsLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var calls []uint64
		var mu sync.Mutex
		var rec recorder
		c := dialTest(t, srv, &rec,
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}),
			OnConnect(func(_ context.Context, s *Session) error {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, s.Epoch())
				if len(calls) == 1 {
					return errors.New("subscription refused")
				}
				return nil
			}))
		time.Sleep(time.Second)
		synctest.Wait()
		if s := c.State(); s != connfsm.Alive {
			t.Fatalf("State() = %v, want Alive", s)
		}
		want := []string{"Connecting-Connected->Alive", "Alive-Lost->Reconnecting",
			"Reconnecting-RetryDue->Connecting", "Connecting-Connected->Alive"}
		if diff := cmp.Diff(want, rec.Transitions()); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		mu.Lock()
		defer mu.Unlock()
		// Alive's entries: Connecting 1, Alive 2 (Syncing 3), Reconnecting 4,
		// Connecting 5, Alive 6.
		if diff := cmp.Diff([]uint64{2, 6}, calls); diff != "" {
			t.Errorf("OnConnect epochs (-want +got):\n%s", diff)
		}
	})
}

// TestSlowConsumerIsNotADeadPeer: a handler slower than the peer holds the
// reader back (backpressure), so pongs wait unread behind messages. That is
// no dead peer: the client must stay on its connection and receive every
// message in order, not reconnect on every pong timeout.
func TestSlowConsumerIsNotADeadPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 9 // 9 × 2.7s: no handoff on a whole second
		// The venue reads (and so answers pings) while its writes are held
		// up by the client's slow handler.
		srv := startServer(t, wsconntest.Default(wsconntest.Discard(), wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
			for i := range n {
				if err := c.SendText(ctx, strconv.Itoa(i)); err != nil {
					return
				}
			}
		})))
		var (
			mu  sync.Mutex
			got []string
			rec recorder
		)
		c := dialTest(t, srv, &rec, WithHeartbeat(time.Second, time.Second),
			OnMessage(func(ctx context.Context, m transport.Message) {
				// Longer than two pong timeouts. Not a whole number of
				// seconds: net.Pipe has no buffer, so a ping written the
				// instant the handler takes a message would leave the
				// server's pong stuck behind its blocked write, and
				// coder/websocket's server drops a connection whose pong
				// cannot be written in 5s. Over TCP the socket buffers
				// absorb that; here handoffs stay off the heartbeat's ticks.
				select {
				case <-time.After(2700 * time.Millisecond):
				case <-ctx.Done():
					return
				}
				mu.Lock()
				got = append(got, string(m.Data))
				mu.Unlock()
			}))
		start := time.Now()
		waitState(t, c, connfsm.Alive)
		time.Sleep(n*2700*time.Millisecond + 10*time.Second)
		synctest.Wait()

		var want []string
		for i := range n {
			want = append(want, strconv.Itoa(i))
		}
		mu.Lock()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("messages (-want +got):\n%s", diff)
		}
		mu.Unlock()
		if diff := cmp.Diff([]string{"Connecting-Connected->Alive"}, rec.Transitions()); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
			for _, r := range rec.Records() {
				t.Logf("%v %v %v %v at %v: %v %v", r.Kind, r.From, r.Event, r.To, r.When.Sub(start), r.Payload, r.Err)
			}
		}
		// Once the handler caught up, the heartbeat pings again, answered
		// (no Lost above) for the last 10s.
		if st := c.Stats(); st.Pings < 9 {
			t.Errorf("Stats = %+v, want >= 9 pings", st)
		}
	})
}

// TestDialContextEnds: Dial waits for the first connection, bounded by its
// ctx. When ctx ends first (the server is down), Dial returns ctx's cause,
// no client, and has closed what it started: the bubble would fail on any
// goroutine left.
func TestDialContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		srv.Down()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		c, err := dialWS(ctx, "ws://feed.test/", WithHTTPClient(srv.Client()))
		if c != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial = %v, %v; want no client and ctx's cause", c, err)
		}
		if took := time.Since(start); took != 2*time.Second {
			t.Errorf("Dial returned after %v, want at ctx's deadline (2s)", took)
		}
		if n := dials(srv); n < 2 {
			t.Errorf("%d dials in 2s, want the client to have retried", n)
		}
	})
}

// TestMessageEpochs: each message carries the epoch of the connection it
// arrived on, and the old connection's messages are all handed over before
// any of the new one's (its reader is joined before the new dial).
func TestMessageEpochs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var conns sync.Mutex
		conn := 0
		srv := startServer(t, wsconntest.Default(wsconntest.Func(func(ctx context.Context, vc *wsconntest.Conn) {
			c := vc.WebSocket()
			conns.Lock()
			conn++
			n := conn
			conns.Unlock()
			for i := range 3 {
				if err := c.Write(ctx, websocket.MessageText, []byte(strconv.Itoa(n)+"."+strconv.Itoa(i))); err != nil {
					return
				}
			}
		}), wsconntest.Echo()))
		type got struct {
			Data  string
			Epoch uint64
		}
		var (
			mu   sync.Mutex
			msgs []got
			rec  recorder
		)
		c := dialTest(t, srv, &rec,
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}),
			OnMessage(func(_ context.Context, m transport.Message) {
				mu.Lock()
				msgs = append(msgs, got{string(m.Data), m.Epoch})
				mu.Unlock()
			}))
		waitState(t, c, connfsm.Alive)
		synctest.Wait()
		srv.ResetAll()
		time.Sleep(time.Second)
		synctest.Wait()
		// The epochs of Alive's entries: Connecting 1, Alive 2 (Syncing 3,
		// Ready 4), Reconnecting 5, Connecting 6, Alive 7.
		want := []got{{"1.0", 2}, {"1.1", 2}, {"1.2", 2}, {"2.0", 7}, {"2.1", 7}, {"2.2", 7}}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, msgs); diff != "" {
			t.Errorf("messages (-want +got):\n%s", diff)
		}
	})
}

// TestSubprotocol: the subprotocols offered reach the server, and OnConnect
// sees the one it chose.
func TestSubprotocol(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.AcceptOptions(websocket.AcceptOptions{Subprotocols: []string{"feed.v2"}}))
		chosen := make(chan string, 1)
		var rec recorder
		dialTest(t, srv, &rec, WithSubprotocols("feed.v1", "feed.v2"),
			OnConnect(func(_ context.Context, s *Session) error {
				chosen <- s.Subprotocol()
				return nil
			}))
		if got := <-chosen; got != "feed.v2" {
			t.Errorf("Session.Subprotocol() = %q, want feed.v2", got)
		}
		synctest.Wait() // the venue has recorded the upgrade
		first, _ := srv.Connection(1)
		if got := first.Header.Get("Sec-WebSocket-Protocol"); got != "feed.v1,feed.v2" || first.Subprotocol != "feed.v2" {
			t.Errorf("the venue saw %q offered and chose %q, want %q and feed.v2", got, first.Subprotocol, "feed.v1,feed.v2")
		}
	})
}
