package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// messages collects what OnMessage got.
type messages struct {
	mu  sync.Mutex
	got []string
}

func (m *messages) handle(_ context.Context, msg transport.Message) {
	m.mu.Lock()
	m.got = append(m.got, string(msg.Data))
	m.mu.Unlock()
}

func (m *messages) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got...)
}

// textHeartbeatVenue is an OKX-like venue: it answers the text "ping" with
// "pong", sends a tick every 1.7s (off the client's ping ticks: a ping due
// while a tick is being handed over waits, see heartbeatTask), and closes
// with 4004 a connection that sent no ping for 30s.
func textHeartbeatVenue() wsconntest.Option {
	return wsconntest.Default(
		wsconntest.RequireHeartbeat(wsconntest.Heartbeat{Ping: "ping", Pong: "pong", Within: 30 * time.Second,
			Code: 4004, Reason: "no ping for 30s"}),
		wsconntest.Push(1700*time.Millisecond, func(n int) wsconntest.Message { return wsconntest.Text("tick " + strconv.Itoa(n)) }),
	)
}

// TestTextHeartbeatVenue: against a venue that wants the text "ping", the
// application heartbeat keeps one connection up for minutes, and its
// replies stay out of OnMessage unless asked for; protocol pings alone get
// the client dropped.
func TestTextHeartbeatVenue(t *testing.T) {
	tests := []struct {
		name      string
		opts      []Option
		wantLost  bool
		wantPongs bool // "pong" reaches OnMessage
	}{
		{name: "application heartbeat", opts: []Option{WithAppHeartbeat(TextHeartbeat("ping", "pong"))}},
		{name: "replies delivered when asked", opts: []Option{WithAppHeartbeat(func() AppHeartbeat {
			h := TextHeartbeat("ping", "pong")
			h.Deliver = true
			return h
		}())}, wantPongs: true},
		{name: "protocol pings only", wantLost: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, textHeartbeatVenue())
				var rec recorder
				var msgs messages
				opts := append([]Option{WithHeartbeat(10*time.Second, 5*time.Second), OnMessage(msgs.handle),
					WithBackoff(retry.Backoff{Initial: time.Hour})}, tt.opts...)
				c := dialTest(t, srv, &rec, opts...)
				time.Sleep(2*time.Minute + 5*time.Second) // off the ping ticks
				synctest.Wait()
				if tt.wantLost {
					causes := lostCauses(&rec)
					var ce *transport.CloseError
					if len(causes) == 0 || !errors.As(causes[0], &ce) || ce.Code != 4004 {
						t.Errorf("Lost causes = %v, want the venue's close 4004", causes)
					}
					return
				}
				if diff := cmp.Diff([]string{"Connecting-Connected->Alive"}, rec.Transitions()); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
				got := msgs.list()
				pongs, ticks := 0, 0
				for _, m := range got {
					switch {
					case m == "pong":
						pongs++
					case len(m) > 5 && m[:5] == "tick ":
						ticks++
					}
				}
				if ticks < 70 {
					t.Errorf("ticks handed over = %d, want about 73 in 2 minutes", ticks)
				}
				if st := c.Stats(); st.Pings != 12 || st.LastRTT != 0 {
					t.Errorf("Stats: Pings %d, LastRTT %v; want 12 pings in 2 minutes, answered at once", st.Pings, st.LastRTT)
				}
				if wantPongs := map[bool]int{true: 12}[tt.wantPongs]; pongs != wantPongs {
					t.Errorf("pongs handed to OnMessage = %d, want %d", pongs, wantPongs)
				}
			})
		})
	}
}

// serverPingVenue sends {"ping":n} every 5s and closes with 4005 a
// connection that does not answer {"pong":n} within 3s; it sends a tick
// every second.
func serverPingVenue() wsconntest.Option {
	return wsconntest.Default(
		wsconntest.AppPingClient(wsconntest.AppPing{Every: 5 * time.Second, Timeout: 3 * time.Second, Code: 4005, Reason: "pong missing"}),
		wsconntest.Push(time.Second, func(int) wsconntest.Message { return wsconntest.Text("tick") }),
	)
}

// answerPings answers {"ping":n} with {"pong":n}.
func answerPings(m transport.Message) ([]byte, bool) {
	var p struct{ Ping *int }
	if m.Type != transport.Text || json.Unmarshal(m.Data, &p) != nil || p.Ping == nil {
		return nil, false
	}
	return fmt.Appendf(nil, `{"pong":%d}`, *p.Ping), true
}

// TestServerPingVenue: a venue that pings the client with its own
// messages keeps the connection only if the responder answers them; the
// pings never reach OnMessage.
func TestServerPingVenue(t *testing.T) {
	for _, answer := range []bool{true, false} {
		t.Run(fmt.Sprintf("answer=%v", answer), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, serverPingVenue())
				var rec recorder
				var msgs messages
				opts := []Option{OnMessage(msgs.handle), WithBackoff(retry.Backoff{Initial: time.Hour})}
				if answer {
					opts = append(opts, WithPingResponder(answerPings))
				}
				c := dialTest(t, srv, &rec, opts...)
				time.Sleep(time.Minute + 2*time.Second) // off the venue's ticks
				synctest.Wait()
				if !answer {
					causes := lostCauses(&rec)
					var ce *transport.CloseError
					if len(causes) == 0 || !errors.As(causes[0], &ce) || ce.Code != 4005 {
						t.Errorf("Lost causes = %v, want the venue's close 4005", causes)
					}
					return
				}
				if diff := cmp.Diff([]string{"Connecting-Connected->Alive"}, rec.Transitions()); diff != "" {
					t.Errorf("transitions (-want +got):\n%s\nLost causes: %v", diff, lostCauses(&rec))
				}
				for _, m := range msgs.list() {
					if m != "tick" {
						t.Errorf("OnMessage got %q, want only ticks", m)
					}
				}
				if n := len(msgs.list()); n < 59 {
					t.Errorf("ticks = %d, want about 60", n)
				}
				if st := c.Stats(); st.AnsweredPings != 12 {
					t.Errorf("AnsweredPings = %d, want 12 in a minute", st.AnsweredPings)
				}
			})
		})
	}
}

// TestPongSlowerThanInterval: a venue whose pongs take 400ms, with a ping
// every 300ms. A pong timeout of 900ms (longer than the interval, which is
// legal) keeps the connection: the next ping waits for the previous
// pong. The nearest setting that was legal before, 300ms, loses it.
func TestPongSlowerThanInterval(t *testing.T) {
	const pongDelay = 400 * time.Millisecond
	tests := []struct {
		name     string
		timeout  time.Duration
		wantLost bool
	}{
		{"pong timeout 900ms", 900 * time.Millisecond, false},
		{"pong timeout 300ms", 300 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(wsconntest.DelayPongs(pongDelay), wsconntest.Discard()))
				var rec recorder
				c := dialTest(t, srv, &rec, WithHeartbeat(300*time.Millisecond, tt.timeout),
					WithBackoff(retry.Backoff{Initial: time.Hour}))
				time.Sleep(time.Minute)
				synctest.Wait()
				if tt.wantLost {
					causes := lostCauses(&rec)
					if len(causes) == 0 || !errors.Is(causes[0], ErrPongTimeout) {
						t.Errorf("Lost causes = %v, want a pong timeout", causes)
					}
					return
				}
				if diff := cmp.Diff([]string{"Connecting-Connected->Alive"}, rec.Transitions()); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
				// One ping in flight: a ping every 400ms, each answered.
				if st := c.Stats(); st.Pings < 145 || st.Pings > 151 || st.LastRTT != pongDelay {
					t.Errorf("Stats: Pings %d, LastRTT %v; want about 150 pings answered in %v", st.Pings, st.LastRTT, pongDelay)
				}
				if c.State() != connfsm.Alive {
					t.Errorf("State() = %v, want Alive", c.State())
				}
			})
		})
	}
}
