package wsconn

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// startServer starts an in-memory venue, closed when the test ends. Dial
// it with WithHTTPClient(srv.Client()) and any URL.
func startServer(t *testing.T, opts ...wsconntest.Option) *wsconntest.Server {
	t.Helper()
	srv := wsconntest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// recorder keeps the lifecycle's records; its Transitions name Alive's
// phases Alive.
type recorder struct {
	fsmtest.Recorder[connfsm.State, connfsm.Event]
}

// Transitions returns the transitions so far, phases collapsed.
func (r *recorder) Transitions() []string { return r.TransitionsBy(connfsm.TopTransition) }

// Count returns how many transitions Transitions names name.
func (r *recorder) Count(name string) int { return r.CountBy(connfsm.TopTransition, name) }

// dialTest dials srv without waiting, recording into rec; the client is
// closed when the test ends.
func dialTest(t *testing.T, srv *wsconntest.Server, rec *recorder, opts ...Option) *Client {
	t.Helper()
	base := []Option{WithHTTPClient(srv.Client()), OnRecord(rec.Observe), NoWait()}
	c, err := Dial(t.Context(), "ws://feed.test/", append(base, opts...)...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Close(context.Background())
		if p := rec.Problems(); len(p) > 0 {
			t.Errorf("lifecycle problems: %v", p)
		}
	})
	return c
}

// fixedDelay retries after d whatever the failure, unless the default
// policy gives up: the tests' backoff without jitter.
func fixedDelay(d time.Duration) Option {
	return WithRetryPolicy(func(f Failure) Decision {
		dec := f.Default()
		if !dec.GiveUp {
			dec.Delay, dec.Reason = d, WaitBackoff
		}
		return dec
	})
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// dials counts the dial attempts srv saw, refused ones included.
func dials(srv *wsconntest.Server) int {
	st := srv.Stats()
	return int(st.Accepted + st.Refused)
}

// waitState waits, in a synctest bubble, until c is in want.
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
