package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/datapath"
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
					WithRetryPolicy(func(Failure) Decision { return Decision{GiveUp: true} }),
					OnMessage(func(ctx context.Context, m Message) {
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
					OnMessage(func(ctx context.Context, m Message) {
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
	if dr, ok := r.Payload.(*DataPathRecord); ok && r.Kind == RecordDataPath && dr.Kind == fsm.RecordRejected {
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
	recs []DataPathRecord
}

func (p *dataPathSteps) observe(_ context.Context, r record) {
	if dr, ok := r.Payload.(*DataPathRecord); ok && r.Kind == RecordDataPath {
		p.mu.Lock()
		p.recs = append(p.recs, *dr)
		p.mu.Unlock()
	}
}

func (p *dataPathSteps) all() []DataPathRecord {
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
			OnMessage(func(ctx context.Context, m Message) {
				epoch.Store(int64(m.Epoch))
				if handled.Add(1) == 1 {
					select {
					case <-time.After(2 * time.Second):
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
		// The stall, then the return to the steady flow: a ping due as
		// the held message is handed over may lend one more read-ahead
		// (Busy -Lend-> ReadAhead -Return-> Flowing) before it.
		want := []string{
			"Unstarted -Start-> Flowing",
			"Busy -Lend-> ReadAhead",
			"ReadAhead -Park-> Backlogged",
			"Backlogged -Return-> Taking",
			"Taking -Deliver-> Busy",
		}
		if len(names) < len(want)+2 || len(names) > len(want)+3 {
			t.Fatalf("%d data path steps observed, want %d or %d: %q", len(names), len(want)+2, len(want)+3, names)
		}
		if diff := cmp.Diff(want, names[:len(want)]); diff != "" {
			t.Errorf("data path steps observed during the stall (-want +got):\n%s", diff)
		}
		tail := names[len(want):]
		if diff := cmp.Diff("Flowing -Stop-> Stopped", tail[len(tail)-1]); diff != "" {
			t.Errorf("last step (-want +got):\n%s", diff)
		}
		if back := tail[len(tail)-2]; !strings.HasSuffix(back, "-Return-> Flowing") {
			t.Errorf("step before the stop = %q, want the handler's return to Flowing", back)
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
				if dr, ok := r.Payload.(*DataPathRecord); ok && r.Kind == RecordDataPath && dr.To == datapath.Backlogged {
					once.Do(func() {
						if err := cp.Load().Close(ctx); err != nil {
							t.Errorf("Close from the observer: %v", err)
						}
					})
				}
			}),
			OnMessage(func(ctx context.Context, m Message) {
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
