package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// The venue behaviours of wsconn's synctest tests, one of each kind, over
// loopback TCP in real time, with the client's default HTTP client (whose
// handshakes and sessions close their own sockets).

// waits keeps the Wait of every RetryDue step.
type waits struct {
	mu sync.Mutex
	w  []wsconn.Wait
}

func (l *waits) option() wsconn.Option {
	return wsconn.OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
		if r.Kind != fsm.RecordTransition {
			return
		}
		if w, ok := r.Payload.(*wsconn.Wait); ok {
			l.mu.Lock()
			l.w = append(l.w, *w)
			l.mu.Unlock()
		}
	})
}

func (l *waits) list() []wsconn.Wait {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]wsconn.Wait(nil), l.w...)
}

// live waits until progress holds (the heartbeat has done enough) and
// fails if the client lost its connection meanwhile.
func live(t *testing.T, rec *recorder, what string, progress func() bool) {
	t.Helper()
	waitUntil(t, what, func() bool { return progress() || len(rec.Transitions()) > 1 })
	if diff := cmp.Diff([]string{connected}, rec.Transitions()); diff != "" {
		t.Errorf("steps while waiting for %s (-want +got):\n%s", what, diff)
		if s, ok := nth(rec, lost, 1); ok {
			t.Logf("lost: %v", s.cause)
		}
	}
}

func TestVenueTextHeartbeat(t *testing.T) {
	t.Parallel()
	srv := newVenue(t, false, wsconntest.Default(wsconntest.RequireHeartbeat(wsconntest.Heartbeat{
		Ping: "ping", Pong: "pong", Within: 3 * pingInterval, Code: 4004, Reason: "no ping"}), wsconntest.Echo()))
	rec, msgs := newRecorder(), make(messages, 64)
	c := dial(t, srv.URL, append(clientOptions(rec, msgs), wsconn.WithAppHeartbeat(wsconn.TextHeartbeat("ping", "pong")))...)
	live(t, rec, "ten heartbeats answered", func() bool { st := c.Stats(); return st.Pings >= 10 && st.LastRTT > 0 })
	msgs.echo(t, c, "hello")
	if st := c.Stats(); st.Pings < 5 || st.LastRTT == 0 {
		t.Errorf("Stats: %d pings, last RTT %v; want the heartbeat answered", st.Pings, st.LastRTT)
	}
	for len(msgs) > 0 {
		if m := <-msgs; string(m.Data) == "pong" {
			t.Error("a heartbeat reply reached OnMessage")
		}
	}
}

func TestVenueServerPings(t *testing.T) {
	t.Parallel()
	srv := newVenue(t, false, wsconntest.Default(wsconntest.AppPingClient(wsconntest.AppPing{
		Every: pingInterval, Timeout: 2 * pingInterval, Code: 4005, Reason: "pong missing"}), wsconntest.Echo()))
	rec, msgs := newRecorder(), make(messages, 64)
	c := dial(t, srv.URL, append(clientOptions(rec, msgs), wsconn.WithPingResponder(func(m wsconn.Message) ([]byte, bool) {
		var p struct{ Ping *int }
		if json.Unmarshal(m.Data, &p) != nil || p.Ping == nil {
			return nil, false
		}
		return fmt.Appendf(nil, `{"pong":%d}`, *p.Ping), true
	}))...)
	live(t, rec, "ten of the venue's pings answered", func() bool { return c.Stats().AnsweredPings >= 10 })
	if n := c.Stats().AnsweredPings; n < 5 {
		t.Errorf("answered pings = %d, want about 10", n)
	}
	msgs.echo(t, c, "hello")
}

func TestVenueZombieFeed(t *testing.T) {
	t.Parallel()
	const idle = 500 * time.Millisecond
	srv := newVenue(t, false, wsconntest.Default(wsconntest.Discard()))
	rec, msgs := newRecorder(), make(messages, 16)
	// The idle clock starts after the dial starts and before Alive is
	// recorded: the loss is at least idle after the one, at most idle and
	// the margin after the other.
	start := time.Now()
	_ = dial(t, srv.URL, append(clientOptions(rec, msgs), wsconn.WithIdleTimeout(idle))...)
	up := waitFor(t, rec, connected, 1)
	down := waitFor(t, rec, lost, 1)
	if !errors.Is(down.cause, wsconn.ErrIdleTimeout) {
		t.Errorf("lost: %v, want ErrIdleTimeout", down.cause)
	}
	if least, most := down.at.Sub(start), down.at.Sub(up.at); least < idle || most > idle+margin {
		t.Errorf("lost %v after the dial started and %v after Alive, want the idle timeout %v (plus at most %v)", least, most, idle, margin)
	}
}

func TestVenuePongSlowerThanInterval(t *testing.T) {
	t.Parallel()
	const pongDelay = 300 * time.Millisecond
	srv := newVenue(t, false, wsconntest.Default(wsconntest.DelayPongs(pongDelay), wsconntest.Echo()))
	rec, msgs := newRecorder(), make(messages, 16)
	c := dial(t, srv.URL, append(clientOptions(rec, msgs), wsconn.WithHeartbeat(pingInterval, 3*pongDelay))...)
	live(t, rec, "five pings answered late", func() bool { st := c.Stats(); return st.Pings >= 5 && st.LastRTT >= pongDelay })
	if st := c.Stats(); st.LastRTT < pongDelay || st.Pings < 3 {
		t.Errorf("Stats: %d pings, last RTT %v; want pings answered %v late", st.Pings, st.LastRTT, pongDelay)
	}
}

func TestVenueSingleUseTokens(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	srv := newVenue(t, false, wsconntest.Choose(func(r *http.Request, _ int) []wsconntest.Behavior {
		mu.Lock()
		defer mu.Unlock()
		tok := r.Header.Get("Authorization")
		if seen[tok] {
			return []wsconntest.Behavior{wsconntest.Refuse(http.StatusUnauthorized, nil)}
		}
		seen[tok] = true
		return []wsconntest.Behavior{wsconntest.Echo(), wsconntest.After(200*time.Millisecond, wsconntest.Reset())}
	}))
	var n atomic.Int32
	rec, msgs := newRecorder(), make(messages, 16)
	_ = dial(t, srv.URL, append(clientOptions(rec, msgs), wsconn.WithCredentials(func(context.Context) (wsconn.Credentials, error) {
		return wsconn.Credentials{Header: http.Header{"Authorization": {fmt.Sprintf("Bearer tok-%d", n.Add(1))}}}, nil
	}))...)
	waitFor(t, rec, connected, 3)
	if names, _ := squash(rec.Transitions()); strings.Contains(strings.Join(names, " "), dialFailed) {
		t.Errorf("a dial failed with fresh tokens: %v", names)
	}
}

func TestVenueRetryAfter(t *testing.T) {
	t.Parallel()
	srv := newVenue(t, false, wsconntest.Script(wsconntest.Plan{
		wsconntest.Refuse(http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}})}))
	rec, msgs := newRecorder(), make(messages, 16)
	var w waits
	start := time.Now()
	_ = dial(t, srv.URL, append(clientOptions(rec, msgs), w.option())...)
	if took := time.Since(start); took < time.Second {
		t.Errorf("connected after %v, want >= Retry-After 1s", took)
	}
	if got := w.list(); len(got) != 1 || got[0].Reason != wsconn.WaitRetryAfter || got[0].Failure.Status != 429 {
		t.Errorf("waits = %+v, want one for Retry-After after a 429", got)
	}
}

func TestVenueCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code   wsconn.StatusCode
		reason string
		opts   []wsconn.Option
		want   wsconn.WaitReason // or giving up when 0
	}{
		{1008, "rate limit", nil, wsconn.WaitSlowDown},
		{1013, "busy", nil, wsconn.WaitSlowDown},
		{4001, "invalid api key", nil, wsconn.WaitBackoff},
		{4001, "invalid api key", []wsconn.Option{wsconn.WithPermanentCloseCodes(4001)}, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %v", tt.code, tt.opts != nil), func(t *testing.T) {
			t.Parallel()
			srv := newVenue(t, false, wsconntest.Default(wsconntest.Close(websocket.StatusCode(tt.code), tt.reason)))
			rec, msgs := newRecorder(), make(messages, 16)
			var w waits
			// w observes before rec: once rec has a step, w has its wait.
			opts := append([]wsconn.Option{w.option()}, clientOptions(rec, msgs)...)
			opts = append(opts, wsconn.NoWait())
			c := dial(t, srv.URL, append(opts, tt.opts...)...)
			if tt.want == 0 {
				select {
				case <-c.Done():
				case <-time.After(patience):
					t.Fatal("the client did not give up")
				}
				var ce *wsconn.CloseError
				if err := c.Err(); !errors.As(err, &ce) || ce.Code != tt.code || ce.Reason != tt.reason {
					t.Errorf("Err() = %v, want the close frame %d %q", err, tt.code, tt.reason)
				}
				return
			}
			waitFor(t, rec, retryDue, 1)
			if got := w.list(); len(got) == 0 || got[0].Reason != tt.want || got[0].Failure.Kind != wsconn.KindClose || got[0].Failure.Code != tt.code {
				t.Errorf("waits %+v, want the first %v after close %d", got, tt.want, tt.code)
			}
		})
	}
}

func TestVenueRedirectLoop(t *testing.T) {
	t.Parallel()
	srv := newVenue(t, false, wsconntest.Default(wsconntest.Redirect(http.StatusFound, "/loop")))
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	_, err := wsconn.Dial(ctx, srv.URL+"/loop")
	var gu *wsconn.GaveUpError
	if !errors.As(err, &gu) || !errors.Is(err, wsconn.ErrTooManyRedirects) {
		t.Fatalf("Dial = %v, want to give up on ErrTooManyRedirects", err)
	}
	if n := srv.Stats().Handshakes; n > 2 {
		t.Errorf("handshake requests = %d, want 2: the first and the one that loops back", n)
	}
}

func TestVenueBadAccept(t *testing.T) {
	t.Parallel()
	srv := newVenue(t, false, wsconntest.Default(wsconntest.BadAccept()))
	t.Run("handshake timeout", func(t *testing.T) {
		rec := newRecorder()
		start := time.Now()
		c, err := wsconn.Dial(t.Context(), srv.URL, wsconn.NoWait(), wsconn.WithHandshakeTimeout(handshakeTimeout),
			wsconn.WithBackoff(wsconn.Backoff{Initial: time.Hour}), wsconn.OnRecord(rec.Observe))
		if err != nil {
			t.Fatal(err)
		}
		defer closeClient(t, c)
		failed := waitFor(t, rec, dialFailed, 1)
		if took := failed.at.Sub(start); took < handshakeTimeout || took > handshakeTimeout+margin {
			t.Errorf("dial failed after %v, want the handshake timeout %v (coder/websocket alone waits 3s)", took, handshakeTimeout)
		}
		if !errors.Is(failed.cause, wsconn.ErrHandshakeTimeout) {
			t.Errorf("cause %v, want ErrHandshakeTimeout", failed.cause)
		}
	})
	t.Run("Close during the attempt", func(t *testing.T) {
		handshakes := srv.Stats().Handshakes
		c, err := wsconn.Dial(t.Context(), srv.URL, wsconn.NoWait(), wsconn.WithHandshakeTimeout(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the venue's bad 101", func() bool { return srv.Stats().Handshakes > handshakes }) // its body being read
		start := time.Now()
		closeClient(t, c)
		if took := time.Since(start); took > margin {
			t.Errorf("Close took %v during a stuck handshake, want at once", took)
		}
	})
}
