package session

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// connGoroutines are the functions a connection's goroutines run.
var connGoroutines = []string{
	"session.(*session).pump(",
	"session.(*session).readAhead(",
	"session.(*session).answer(",
	"session.(*session).handOut(",
	"session.(*Client).resync(",
}

// running returns which of funcs some goroutine's stack holds now, each
// once, in the order of funcs.
func running(funcs []string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for _, f := range funcs {
		if strings.Contains(string(buf), f) {
			found = append(found, f)
		}
	}
	return found
}

// joinCheck looks, at every step of the lifecycle that drops a
// connection (Alive left for Reconnecting, Closing left for Closed), for
// a goroutine of a connection still running: the exit hook that dropped
// it has joined them all. When Alive is left for Closing, it looks for
// those Alive's reader task joins. The observer runs on the lifecycle's goroutine,
// once the step's exit hooks are done and before anything else happens.
type joinCheck struct {
	mu    sync.Mutex
	drops int
	left  [][]string // what ran at each drop that found something
}

func (j *joinCheck) observe(_ context.Context, r record) {
	if r.Kind != fsm.RecordTransition {
		return
	}
	alive := r.From == connfsm.Syncing || r.From == connfsm.Ready
	funcs := connGoroutines
	switch {
	case alive && r.To == connfsm.Closing:
		// The connection goes on to the close handshake, its pump with
		// it; what Alive's reader task joins is gone.
		funcs = []string{"session.(*session).handOut(", "session.(*Client).resync("}
	case !(alive || r.From == connfsm.Closing) || (r.To != connfsm.Reconnecting && r.To != connfsm.Closed):
		return
	}
	found := running(funcs)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.drops++
	if len(found) > 0 {
		j.left = append(j.left, found)
	}
}

func (j *joinCheck) result() (int, [][]string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.drops, j.left
}

// TestConnectionGoroutinesJoined: every goroutine a connection starts (the
// pump, a read-ahead, the answerer of the peer's pings, the hand-out of an
// inbox) has returned once the lifecycle has left the state that dropped
// the connection, at each of many reconnects and at the close: none
// outlives its join.
func TestConnectionGoroutinesJoined(t *testing.T) {
	answer := func(m transport.Message) ([]byte, bool) {
		s := string(m.Data)
		if n, ok := strings.CutPrefix(s, `{"ping":`); ok {
			return []byte(`{"pong":` + n), true
		}
		return nil, false
	}
	tests := []struct {
		name string
		runs []string // what must be seen running meanwhile, for the test to mean something
		push time.Duration
		opts []Option
	}{
		// A ping due while the handler runs lends the connection a
		// read-ahead, which waits for the next push.
		{"block, slow handler, read-ahead", connGoroutines[:2], 400 * time.Millisecond, []Option{
			OnMessage(func(ctx context.Context, _ transport.Message) {
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}),
			WithHeartbeat(100*time.Millisecond, time.Second), WithAlwaysPing()}},
		{"inbox, answerer", []string{connGoroutines[0], connGoroutines[2], connGoroutines[3]}, 10 * time.Millisecond, []Option{
			OnMessage(func(ctx context.Context, _ transport.Message) {
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}),
			WithSlowConsumer(datapath.SlowConsumer{Policy: datapath.DropOldest, Inbox: 4}),
			WithPingResponder(answer)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(
					wsconntest.AppPingClient(wsconntest.AppPing{Every: 20 * time.Millisecond, Timeout: time.Minute}),
					wsconntest.Push(tt.push, func(int) wsconntest.Message { return wsconntest.Text("tick") }),
					wsconntest.After(time.Second, wsconntest.Reset()),
				))
				var (
					rec recorder
					j   joinCheck
				)
				opts := append([]Option{OnRecord(j.observe),
					WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1})}, tt.opts...)
				c := dialTest(t, srv, &rec, opts...)
				seen := map[string]bool{}
				for range 1500 { // the first two connections, sampled every millisecond
					time.Sleep(time.Millisecond)
					for _, f := range running(connGoroutines) {
						seen[f] = true
					}
				}
				for _, f := range tt.runs {
					if !seen[f] {
						t.Errorf("%s never ran", f)
					}
				}
				time.Sleep(18500 * time.Millisecond) // about twenty connections in all, each reset
				if err := c.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				drops, left := j.result()
				if drops < 10 {
					t.Errorf("%d connections dropped, want at least 10", drops)
				}
				if len(left) > 0 {
					t.Errorf("goroutines of a dropped connection still ran at %d of %d drops: %v", len(left), drops, left)
				}
				if got := running(connGoroutines); len(got) > 0 {
					t.Errorf("after Close: %v still run", got)
				}
			})
		})
	}
}

// TestPoolEndJoinsWatchers: the pool is Ended only once the goroutine
// that watched each connection has returned: here one still re-homes the
// subscriptions of a connection that gave up (its ConnOptions is called
// for the connection that takes them over) when Close is called. Close
// waits for it, and nothing of the pool runs once Close has returned.
func TestPoolEndJoinsWatchers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue(), wsconntest.Choose(func(r *http.Request, _ int) []wsconntest.Behavior {
			if r.Header.Get("X-Conn") == "0" {
				return []wsconntest.Behavior{wsconntest.After(DefaultStablePeriod+time.Second, wsconntest.Close(websocket.StatusProtocolError, "bad frame"))}
			}
			return nil
		}))
		entered, release := make(chan struct{}), make(chan struct{})
		p := poolTest(t, srv, PoolConfig{MaxPerConn: 1, MaxConns: 1, ConnOptions: func(n int) []Option {
			if n == 1 { // the connection that takes over from connection 0
				close(entered)
				<-release
			}
			return connHeader(n)
		}}, WithSubscriptions(sub("a")))
		<-entered
		closed := make(chan error, 1)
		go func() { closed <- p.Close(context.Background()) }()
		synctest.Wait()
		var err error
		select {
		case err = <-closed:
			t.Errorf("Close returned (%v) while a watcher was still re-homing; pool %v", err, p.State())
			close(release)
		default:
			close(release)
			err = <-closed
		}
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close = %v", err)
		}
		if got := running([]string{"session.(*Pool).watch("}); len(got) > 0 {
			t.Errorf("after Close: %v still runs", got)
		}
		if diff := cmp.Diff(PoolEnded, p.State()); diff != "" {
			t.Errorf("pool state (-want +got):\n%s", diff)
		}
	})
}

// TestResyncJoinedWithItsConnection: a resync after a sequence gap runs
// on a goroutine of its own, bound to its connection's Alive: when the
// connection is lost, its context ends and it has returned before the
// lifecycle is Reconnecting.
func TestResyncJoinedWithItsConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, gapVenue([]int{1, 2, 5}, []int{1}))
		var (
			rec recorder
			j   joinCheck
		)
		seqRouter := subscription.Router{Acks: true, Route: func(m transport.Message) subscription.Route {
			r := prefixRouter.Route(m)
			r.Key, _, _ = strings.Cut(r.Key, ":")
			return r
		}}
		c := dialTest(t, srv, &rec, WithRouter(seqRouter), OnRecord(j.observe),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
		waitPhase(t, c, connfsm.Ready)
		started, ended := make(chan struct{}), make(chan error, 1)
		resync := func(ctx context.Context, _ string) error {
			close(started)
			<-ctx.Done()
			ended <- context.Cause(ctx)
			return ctx.Err()
		}
		if err := c.Subscribe(context.Background(), Subscription{Key: "s", Message: []byte("sub:s"),
			Sequence: seqOf, Resync: resync}); err != nil {
			t.Fatal(err)
		}
		<-started
		srv.ResetAll()
		waitPhase(t, c, connfsm.Ready)
		select {
		case <-ended:
		default:
			t.Error("the resync's context did not end with its connection")
		}
		drops, left := j.result()
		if drops != 1 || len(left) > 0 {
			t.Errorf("%d drops, goroutines left running at them: %v; want 1 drop, none left", drops, left)
		}
	})
}
