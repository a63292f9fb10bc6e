package session

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// timeline is an ordered log shared by the client's observer and the test
// network, so the test can assert what happened before what.
type timeline struct {
	mu  sync.Mutex
	log []string
}

func (tl *timeline) add(s string) {
	tl.mu.Lock()
	tl.log = append(tl.log, s)
	tl.mu.Unlock()
}

func (tl *timeline) snapshot() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]string(nil), tl.log...)
}

// countingHandler counts slog records, at every level.
type countingHandler struct {
	mu      sync.Mutex
	records int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records++
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
func (h *countingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.records
}

// writeCounter wraps the client side of a connection and counts writes made
// after the peer reset it.
type writeCounter struct {
	net.Conn
	mu         sync.Mutex
	reset      bool
	afterReset int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.reset {
		w.afterReset++
	}
	w.mu.Unlock()
	return w.Conn.Write(p)
}

func (w *writeCounter) markReset() {
	w.mu.Lock()
	w.reset = true
	w.mu.Unlock()
}

func (w *writeCounter) writesAfterReset() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.afterReset
}

// TestSeedRegression is the bug connfsm exists for: the server drops the
// connection without a close handshake. The client must reconnect, and the
// old heartbeat must be gone before the new connection exists: no ping is
// written to the dead connection and nothing is logged per heartbeat
// interval afterwards.
func TestSeedRegression(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Second
		srv := startServer(t)
		var tl timeline
		var conns []*writeCounter
		var connsMu sync.Mutex
		client := wrapDial(t, srv, func(c net.Conn) net.Conn {
			tl.add("dial")
			wc := &writeCounter{Conn: c}
			connsMu.Lock()
			conns = append(conns, wc)
			connsMu.Unlock()
			return wc
		})
		logs := &countingHandler{}
		alive := make(chan uint64, 4)
		lost := make(chan error, 1)
		c, err := dialWS(t.Context(), "ws://feed.test/",
			WithHTTPClient(client),
			WithHeartbeat(interval, interval),
			WithBackoff(retry.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}),
			WithLogger(slog.New(logs)),
			OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
				switch r.Kind {
				case fsm.RecordTransition:
					for _, task := range r.Join.Tasks {
						if task.Straggler {
							tl.add("straggler " + task.Name)
						} else {
							tl.add("returned " + task.Name)
						}
					}
					tl.add(r.From.String() + "->" + r.To.String())
					if err, ok := r.Payload.(error); ok && r.Event == connfsm.Lost {
						lost <- err
					}
					if r.Event == connfsm.Connected {
						alive <- r.Epoch
					}
				case fsm.RecordStraggler, fsm.RecordRejected:
					t.Errorf("unexpected record %v: %+v", r.Kind, r)
				}
			}))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		<-alive
		time.Sleep(3*interval + interval/2) // a few healthy pings
		synctest.Wait()
		before := c.Stats()
		if before.Pings < 3 {
			t.Fatalf("pings before the reset = %d, want >= 3", before.Pings)
		}

		connsMu.Lock()
		old := conns[0]
		connsMu.Unlock()
		oldSession := c.sess.Load()
		old.markReset()
		srv.ResetAll() // no close frame: the TCP connection just dies
		<-alive
		synctest.Wait()
		recordsAtReconnect := logs.count()
		time.Sleep(10 * interval) // ten heartbeat intervals on the new connection
		synctest.Wait()

		want := []string{
			"dial",
			"returned dial", "Connecting->Syncing",
			"returned sync", "Syncing->Ready",
			"returned reader", "Ready->Reconnecting",
			"returned backoff", "Reconnecting->Connecting",
			"dial",
			"returned dial", "Connecting->Syncing",
			"returned sync", "Syncing->Ready",
		}
		if diff := cmp.Diff(want, tl.snapshot()); diff != "" {
			t.Errorf("timeline (-want +got):\n%s", diff)
		}
		if n := old.writesAfterReset(); n != 0 {
			t.Errorf("%d writes on the dead connection after the reset, want 0", n)
		}
		if first, _ := srv.Connection(1); first.Closed.IsZero() || len(first.FramesOf(wsconntest.ToClient, wsconntest.OpClose)) != 0 {
			t.Errorf("the venue's record of the reset connection: %+v; want closed without a close frame", first)
		}
		if cause := <-lost; !errors.Is(cause, ErrReadFailed) {
			t.Errorf("Lost cause = %v, want one wrapping ErrReadFailed", cause)
		}
		if st := c.Stats(); st.DeadPings != 0 || st.Reconnects != 1 || st.Pings < before.Pings+9 {
			t.Errorf("stats after reconnect = %+v, want DeadPings 0, Reconnects 1, Pings >= %d", st, before.Pings+9)
		}
		if n := logs.count() - recordsAtReconnect; n != 0 {
			t.Errorf("%d records logged (any level) over 10 intervals after the reconnect, want 0", n)
		}
		// Any ping attempt on the old connection since would have reached
		// the venue's socket (writesAfterReset) or failed on a closed one.
		if !oldSession.dead() {
			t.Error("the old connection's pump still runs after it was left")
		}
		if err := c.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}
