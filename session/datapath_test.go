package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestSlowHandlerIsNoDeadPeer: a venue that sends every 100 ms, a handler
// that takes 2 s a message, an idle timeout of 1 s. The handler holds the
// reader: the peer is slowed down (TCP backpressure), not silent, and
// neither the data watchdog nor the heartbeat may count it as silent. A
// feed that truly goes silent is still lost within the idle timeout of the
// handler's return.
func TestSlowHandlerIsNoDeadPeer(t *testing.T) {
	const (
		idle    = time.Second
		handler = 2 * time.Second
	)
	tests := []struct {
		name string
		sent int // messages the venue sends, then it goes silent; 0: forever
		hb   []Option
		// wantLost: the connection is lost with ErrIdleTimeout once every
		// message reached the handler, at most idle after the last call
		// returned (or would have: with the reader lent to a read-ahead
		// meanwhile, the silence may be found during the call).
		wantLost bool
	}{
		{name: "flood, protocol heartbeat 20s", hb: nil},
		{name: "flood, protocol heartbeat 500ms", hb: []Option{WithHeartbeat(500*time.Millisecond, 500*time.Millisecond)}},
		{name: "flood, app heartbeat 500ms", hb: []Option{WithHeartbeat(500*time.Millisecond, 500*time.Millisecond),
			WithAppHeartbeat(TextHeartbeat("ping", "pong"))}},
		{name: "3 messages then silence", sent: 3, wantLost: true},
		{name: "3 messages then silence, heartbeat 500ms", sent: 3, wantLost: true,
			hb: []Option{WithHeartbeat(500*time.Millisecond, 500*time.Millisecond)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				venue := []wsconntest.Behavior{
					wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
						if string(m.Data) == "ping" {
							_ = c.SendText(context.Background(), "pong")
						}
						return true
					}),
					wsconntest.Push(100*time.Millisecond, func(n int) wsconntest.Message {
						if tt.sent > 0 && n > tt.sent {
							return wsconntest.Message{}
						}
						return wsconntest.Text("tick")
					}),
				}
				srv := startServer(t, wsconntest.Default(venue...))
				var rec recorder
				var handled, started atomic.Int64
				var lastStart atomic.Int64 // UnixNano
				opts := append([]Option{
					WithIdleTimeout(idle),
					WithRetryPolicy(func(retry.Failure) retry.Decision { return retry.Decision{GiveUp: true} }),
					OnMessage(func(ctx context.Context, m transport.Message) {
						started.Add(1)
						lastStart.Store(time.Now().UnixNano())
						select {
						case <-time.After(handler):
						case <-ctx.Done():
							return
						}
						handled.Add(1)
					}),
				}, tt.hb...)
				c := dialTest(t, srv, &rec, opts...)
				time.Sleep(10 * time.Second)
				synctest.Wait()
				lost, ok := rec.Nth("Alive-Lost->Reconnecting", 1)
				if !tt.wantLost {
					if ok {
						t.Fatalf("Lost after %d messages handled: %v", handled.Load(), lost.Payload)
					}
					// 10 s of 2 s calls, the first after 100 ms.
					if got := handled.Load(); got < 4 {
						t.Errorf("handled %d messages in 10s, want at least 4", got)
					}
					return
				}
				<-c.Done()
				if !ok {
					t.Fatalf("no Lost; %v", rec.Transitions())
				}
				if err, _ := lost.Payload.(error); !errors.Is(err, ErrIdleTimeout) {
					t.Errorf("Lost cause = %v, want ErrIdleTimeout", err)
				}
				if diff := cmp.Diff(int64(tt.sent), started.Load()); diff != "" {
					t.Errorf("messages handed to the handler before the loss (-want +got):\n%s", diff)
				}
				after := lost.When.Sub(time.Unix(0, lastStart.Load()))
				if after < 0 || after > handler+idle {
					t.Errorf("Lost %v after the last handler call started, want within the call (%v) and the idle timeout %v", after, handler, idle)
				}
			})
		})
	}
}

// TestNoPingWhileHandingOver: the handler returns while the read-ahead
// holds the next message, and the heartbeat comes due before the reader has
// handed that message to the handler (Taking). Nothing reads the
// connection until the next call returns: a ping then would go unanswered,
// its pong would block the venue's reader behind the messages it sends,
// and the next ping's write would block too, until its deadline closed
// the connection (a coder/websocket rule). The slow router holds the
// reader in Taking long enough for two pings: it stands in for the
// scheduler, which lets the heartbeat run between the handler's return and
// the next call about once in a hundred runs of TestSlowHandlerIsNoDeadPeer.
func TestNoPingWhileHandingOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
			for _, m := range []string{"m1", "m2", "m3"} {
				if c.SendText(ctx, m) != nil {
					return
				}
			}
		})))
		var rec recorder
		var mu sync.Mutex
		var got []string
		// m1 is read at once and handled until 1.7 s; the read-ahead lent
		// at the ping due at 500 ms holds m2, and the reader takes it at
		// 1.7 s, routing it until 2.9 s: the heartbeat comes due at 2 s and
		// 2.5 s meanwhile.
		c := dialTest(t, srv, &rec, WithHeartbeat(500*time.Millisecond, 500*time.Millisecond),
			WithRouter(subscription.Router{Route: func(m transport.Message) subscription.Route {
				if string(m.Data) == "m2" {
					time.Sleep(1200 * time.Millisecond)
				}
				return subscription.Route{}
			}}),
			OnMessage(func(ctx context.Context, m transport.Message) {
				mu.Lock()
				got = append(got, string(m.Data))
				mu.Unlock()
				select {
				case <-time.After(1700 * time.Millisecond):
				case <-ctx.Done():
				}
			}))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if lost, ok := rec.Nth("Alive-Lost->Reconnecting", 1); ok {
			t.Fatalf("Lost: %v", lost.Payload)
		}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff([]string{"m1", "m2", "m3"}, got); diff != "" {
			t.Errorf("messages handled (-want +got):\n%s", diff)
		}
		if c.Stats().Pings == 0 {
			t.Error("no ping in 10s: the heartbeat did not run")
		}
	})
}

// TestNothingReadIsDroppedSilently: a handler holds the first message,
// a read-ahead (lent for the heartbeat) holds the second, and then the
// connection ends: the user closes it or asks for a reconnect. The second
// message is delivered if the handler returns within the drain after the
// end; otherwise it is counted in Stats.Dropped. Every message the venue
// sent is one or the other.
func TestNothingReadIsDroppedSilently(t *testing.T) {
	tests := []struct {
		name        string
		end         func(*Client, context.Context) error
		handler     time.Duration // each call, whatever its context says
		want        []string
		wantDropped uint64
	}{
		{"close, handler 300ms", (*Client).Close, 300 * time.Millisecond, []string{"m1", "m2"}, 0},
		{"reconnect, handler 300ms", (*Client).Reconnect, 300 * time.Millisecond, []string{"m1", "m2"}, 0},
		{"close, handler 3s", (*Client).Close, 3 * time.Second, []string{"m1"}, 1},
		{"reconnect, handler 3s", (*Client).Reconnect, 3 * time.Second, []string{"m1"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Script(wsconntest.Plan{wsconntest.Discard(),
					wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
						_ = c.SendText(ctx, "m1")
						_ = c.SendText(ctx, "m2")
					})}), wsconntest.Default(wsconntest.Discard()))
				var rec recorder
				var mu sync.Mutex
				var got []string
				c := dialTest(t, srv, &rec, WithHeartbeat(50*time.Millisecond, time.Second),
					OnMessage(func(ctx context.Context, m transport.Message) {
						mu.Lock()
						got = append(got, string(m.Data))
						mu.Unlock()
						time.Sleep(tt.handler)
					}))
				time.Sleep(200 * time.Millisecond)
				if err := tt.end(c, context.Background()); err != nil {
					t.Fatalf("ending the connection: %v", err)
				}
				time.Sleep(10 * time.Second)
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("messages delivered (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantDropped, c.Stats().Dropped); diff != "" {
					t.Errorf("Stats.Dropped (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// dataPathProblems keeps the data path's rejected steps: every test
// dialed with dialTest fails on one (an event the table says cannot
// happen did).
type dataPathProblems struct {
	mu   sync.Mutex
	recs []string
}

func (p *dataPathProblems) observe(_ context.Context, r record) {
	if dr, ok := r.Payload.(*datapath.Record); ok && r.Kind == RecordDataPath && dr.Kind == fsm.RecordRejected {
		p.mu.Lock()
		p.recs = append(p.recs, dr.String())
		p.mu.Unlock()
	}
}

func (p *dataPathProblems) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.recs)
}

// dataPathSteps keeps the data path's records an observer receives.
type dataPathSteps struct {
	mu   sync.Mutex
	recs []datapath.Record
}

func (p *dataPathSteps) observe(_ context.Context, r record) {
	if dr, ok := r.Payload.(*datapath.Record); ok && r.Kind == RecordDataPath {
		p.mu.Lock()
		p.recs = append(p.recs, *dr)
		p.mu.Unlock()
	}
}

func (p *dataPathSteps) all() []datapath.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.recs)
}

// TestDataPathRecords: a handler that stalls on the first message while
// the venue sends every 100 ms, with a heartbeat due during the stall. The
// observer sees the data path's states as the stall unfolds (a read-ahead
// lent for the ping, backlogged behind the handler, the held message taken
// and delivered with its lag) and the return to the steady flow, whose
// per-message steps it is not told of.
func TestDataPathRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(
			wsconntest.Push(100*time.Millisecond, func(int) wsconntest.Message { return wsconntest.Text("tick") })))
		var rec recorder
		var steps dataPathSteps
		var handled, epoch atomic.Int64
		c := dialTest(t, srv, &rec, OnRecord(steps.observe),
			WithHeartbeat(500*time.Millisecond, 500*time.Millisecond),
			OnMessage(func(ctx context.Context, m transport.Message) {
				epoch.Store(int64(m.Epoch))
				if handled.Add(1) == 1 {
					select {
					case <-time.After(1950 * time.Millisecond):
					case <-ctx.Done():
					}
				}
			}))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := steps.all()
		var names []string
		for _, r := range got {
			names = append(names, fmt.Sprintf("%v -%v-> %v", r.From, r.Event, r.To))
		}
		// The stall, then the return to the steady flow: the handler's
		// return, at 2.05 s, misses the heartbeat's ticks (2 s and 2.1 s),
		// so no ping is out as the flow resumes (one would lend the calls
		// made meanwhile a read-ahead; see TestNoPingWhileHandingOver).
		want := []string{
			"Unstarted -Start-> Flowing",
			"Busy -Lend-> ReadAhead",
			"ReadAhead -Park-> Backlogged",
			"Backlogged -Return-> Taking",
			"Taking -Deliver-> Busy",
			"Busy -Return-> Flowing",
			"Flowing -Stop-> Stopped",
		}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("data path steps observed (-want +got):\n%s", diff)
		}
		if h := handled.Load(); h < 30 {
			t.Errorf("handled %d messages, want at least 30 in 5s at one per 100ms", h)
		}
		for _, r := range got {
			if r.Event == datapath.Deliver && r.Lag < time.Second {
				t.Errorf("%v: lag %v, want at least 1s: the message waited behind the stalled handler", &r, r.Lag)
			}
			if r.Conn != uint64(epoch.Load()) {
				t.Errorf("%v: connection epoch %d, want the messages', %d", &r, r.Conn, epoch.Load())
			}
		}
		if st := c.Stats(); st.MaxLag < time.Second {
			t.Errorf("Stats.MaxLag = %v, want the record's lag, at least 1s", st.MaxLag)
		}
	})
}

// TestDataPathObserverCloses: an observer that closes the client on a
// data path record (Backlogged: the consumer is behind) starts the close
// and returns, as on a lifecycle record: the client ends Closed.
func TestDataPathObserverCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(
			wsconntest.Push(100*time.Millisecond, func(int) wsconntest.Message { return wsconntest.Text("tick") })))
		var rec recorder
		var cp atomic.Pointer[Client]
		var once sync.Once
		c := dialTest(t, srv, &rec,
			WithHeartbeat(500*time.Millisecond, 500*time.Millisecond),
			OnRecord(func(ctx context.Context, r record) {
				if dr, ok := r.Payload.(*datapath.Record); ok && r.Kind == RecordDataPath && dr.To == datapath.Backlogged {
					once.Do(func() {
						if err := cp.Load().Close(ctx); err != nil {
							t.Errorf("Close from the observer: %v", err)
						}
					})
				}
			}),
			OnMessage(func(ctx context.Context, m transport.Message) {
				select {
				case <-time.After(2 * time.Second):
				case <-ctx.Done():
				}
			}))
		cp.Store(c) // long before the first Backlogged, at about 600 ms
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("not closed 10s after the observer's Close; %v", rec.Transitions())
		}
		if diff := cmp.Diff([]string{"Connecting-Connected->Alive", "Alive-Close->Closing", "Closing-CloseDone->Closed"}, rec.Transitions()); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}

// TestDataPathObserverPanics: an observer that panics on a data path
// record does not break the data path, whose machine would otherwise stop
// mid-step: every message is still handed over, in order, and the
// connection is not lost (a read-ahead stopped short of its record would
// leave the heartbeat's reply unread).
func TestDataPathObserverPanics(t *testing.T) {
	for _, ev := range []datapath.Event{datapath.Deliver, datapath.Lend, datapath.Park, datapath.Return} {
		t.Run(ev.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t)
				var rec recorder
				var panics atomic.Int64
				var mu sync.Mutex
				var got []string
				c := dialTest(t, srv, &rec, WithHeartbeat(time.Second, time.Second),
					OnRecord(func(_ context.Context, r record) {
						if dr, ok := r.Payload.(*datapath.Record); ok && dr.Event == ev && panics.Add(1) == 1 {
							panic("observer bug")
						}
					}),
					OnMessage(func(_ context.Context, m transport.Message) {
						mu.Lock()
						got = append(got, string(m.Data))
						mu.Unlock()
						if string(m.Data) == "0" {
							time.Sleep(3 * time.Second) // a slow call: a read-ahead is lent
						}
					}))
				if err := c.Ready(t.Context()); err != nil {
					t.Fatalf("Ready: %v", err)
				}
				for i := range 6 {
					if err := c.SendText(t.Context(), fmt.Sprint(i)); err != nil {
						t.Fatalf("SendText: %v", err)
					}
				}
				time.Sleep(10 * time.Second)
				mu.Lock()
				defer mu.Unlock()
				if panics.Load() == 0 {
					t.Fatalf("no %v record reached the observer", ev)
				}
				if diff := cmp.Diff([]string{"0", "1", "2", "3", "4", "5"}, got); diff != "" {
					t.Errorf("handled (-want +got):\n%s", diff)
				}
				if n := rec.Count("Alive-Lost->Reconnecting"); n != 0 {
					t.Errorf("%d losses (%v): an observer's panic is no dead peer", n, lostCauses(&rec))
				}
			})
		})
	}
}

// TestLifecycleObserverPanics: an observer that panics on a lifecycle
// record does not stop the lifecycle (which would leave Done closed with
// Err nil and State Alive, and nothing delivered): the client goes on, and
// ends Closed by Close.
func TestLifecycleObserverPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		var panics atomic.Int64
		var mu sync.Mutex
		var got []string
		c := dialTest(t, srv, &rec,
			OnRecord(func(_ context.Context, r record) {
				if r.Kind == fsm.RecordTransition && r.To == connfsm.Ready && panics.Add(1) == 1 {
					panic("observer bug")
				}
			}),
			OnMessage(func(_ context.Context, m transport.Message) {
				mu.Lock()
				got = append(got, string(m.Data))
				mu.Unlock()
			}))
		if err := c.Ready(t.Context()); err != nil {
			t.Fatalf("Ready: %v", err)
		}
		for i := range 3 {
			if err := c.SendText(t.Context(), fmt.Sprint(i)); err != nil {
				t.Fatalf("SendText: %v", err)
			}
		}
		synctest.Wait()
		if panics.Load() != 1 {
			t.Fatalf("%d panics, want the observer's one", panics.Load())
		}
		select {
		case <-c.Done():
			t.Fatalf("Done after the observer's panic: state %v, Err %v", c.State(), c.Err())
		default:
		}
		mu.Lock()
		if diff := cmp.Diff([]string{"0", "1", "2"}, got); diff != "" {
			t.Errorf("handled (-want +got):\n%s", diff)
		}
		mu.Unlock()
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if st, err := c.State(), c.Err(); st != connfsm.Closed || !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: state %v, Err %v; want Closed, ErrClosed", st, err)
		}
	})
}
