package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestSlowConsumerPolicies: a venue sends m1..m20 10 ms apart to a handler
// (or a loop over Messages) that takes 100 ms a message. Under each
// policy every message is delivered, dropped or conflated, and counted;
// what is delivered keeps its order.
func TestSlowConsumerPolicies(t *testing.T) {
	const total = 20
	num := func(m string) int { n, _ := strconv.Atoi(strings.TrimPrefix(m, "m")); return n }
	key := func(m transport.Message) string { return strconv.Itoa(num(string(m.Data)) % 2) }
	tests := []struct {
		name  string
		p     datapath.SlowConsumer
		pull  bool
		check func(t *testing.T, got []string, st Stats)
	}{
		{"block", datapath.SlowConsumer{}, false, func(t *testing.T, got []string, st Stats) {
			if len(got) != total || st.SlowDropped+st.Conflated != 0 {
				t.Errorf("delivered %d, dropped %d, conflated %d; want all %d delivered", len(got), st.SlowDropped, st.Conflated, total)
			}
			// Nothing waits in the client: the lag is the venue's, in
			// its socket.
			if st.MaxLag != 0 {
				t.Errorf("max lag %v, want 0: each message is read when the handler is free", st.MaxLag)
			}
		}},
		{"block, pull", datapath.SlowConsumer{}, true, func(t *testing.T, got []string, st Stats) {
			if len(got) != total {
				t.Errorf("delivered %d, want all %d", len(got), total)
			}
		}},
		{"drop-newest", datapath.SlowConsumer{Policy: datapath.DropNewest, Inbox: 3}, false, func(t *testing.T, got []string, st Stats) {
			if diff := cmp.Diff([]string{"m1", "m2", "m3", "m4"}, got[:min(4, len(got))]); diff != "" {
				t.Errorf("the first kept (-want +got):\n%s", diff)
			}
			// m2, read at 20 ms, waits for m1's call to end at 110 ms.
			if st.MaxLag < 90*time.Millisecond || st.LastLag <= 0 {
				t.Errorf("lag: last %v, max %v; want a max of at least 90ms", st.LastLag, st.MaxLag)
			}
		}},
		{"drop-newest, pull", datapath.SlowConsumer{Policy: datapath.DropNewest, Inbox: 3}, true, nil},
		{"drop-oldest", datapath.SlowConsumer{Policy: datapath.DropOldest, Inbox: 3}, false, func(t *testing.T, got []string, st Stats) {
			if diff := cmp.Diff([]string{"m18", "m19", "m20"}, got[max(0, len(got)-3):]); diff != "" {
				t.Errorf("the last kept (-want +got):\n%s", diff)
			}
		}},
		{"conflate", datapath.SlowConsumer{Policy: datapath.Conflate, Inbox: 2, Key: key}, false, func(t *testing.T, got []string, st Stats) {
			if st.Conflated == 0 {
				t.Errorf("nothing conflated")
			}
			if !slices.Contains(got, "m19") || !slices.Contains(got, "m20") {
				t.Errorf("delivered %v: the latest of each key, m19 and m20, must be", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(wsconntest.Discard(),
					wsconntest.Push(10*time.Millisecond, func(n int) wsconntest.Message {
						if n > total {
							return wsconntest.Message{}
						}
						return wsconntest.Text(fmt.Sprintf("m%d", n))
					})))
				var rec recorder
				var mu sync.Mutex
				var got []string
				handle := func(m transport.Message) {
					mu.Lock()
					got = append(got, string(m.Data))
					mu.Unlock()
					time.Sleep(100 * time.Millisecond)
				}
				opts := []Option{WithSlowConsumer(tt.p)}
				if tt.pull {
					opts = append(opts, WithPull())
				} else {
					opts = append(opts, OnMessage(func(_ context.Context, m transport.Message) { handle(m) }))
				}
				c := dialTest(t, srv, &rec, opts...)
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() {
					defer close(done)
					for m := range c.Messages(ctx) {
						handle(m)
					}
				}()
				time.Sleep(5 * time.Second)
				synctest.Wait()
				cancel()
				<-done
				mu.Lock()
				defer mu.Unlock()
				st := c.Stats()
				if n := uint64(len(got)) + st.SlowDropped + st.Conflated; n != total {
					t.Errorf("delivered %d + dropped %d + conflated %d = %d, want %d", len(got), st.SlowDropped, st.Conflated, n, total)
				}
				if !slices.IsSortedFunc(got, func(a, b string) int { return num(a) - num(b) }) {
					t.Errorf("delivered out of order: %v", got)
				}
				if tt.p.Policy != datapath.Block && st.SlowDropped+st.Conflated == 0 {
					t.Errorf("the policy dropped nothing: %v", got)
				}
				if tt.check != nil {
					tt.check(t, got, st)
				}
				if n := rec.Count("Alive-Lost->Reconnecting"); n != 0 {
					t.Errorf("%d losses: a slow consumer is no dead peer", n)
				}
			})
		})
	}
}

// TestSlowConsumerDisconnect: under Disconnect a full inbox ends the
// connection with a cause matching ErrSlowConsumer, counted. The message
// that found the inbox full was read and never handed over: it is counted
// in Stats.Dropped, beside those the handler got (the one in the call and
// those waiting, handed over after the end).
func TestSlowConsumerDisconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard(),
			wsconntest.Push(10*time.Millisecond, func(int) wsconntest.Message { return wsconntest.Text("m") })))
		var rec recorder
		var calls atomic.Int64
		c := dialTest(t, srv, &rec, WithSlowConsumer(datapath.SlowConsumer{Policy: datapath.Disconnect, Inbox: 3}),
			WithRetryPolicy(func(retry.Failure) retry.Decision { return retry.Decision{GiveUp: true} }),
			OnMessage(func(ctx context.Context, _ transport.Message) {
				calls.Add(1)
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
			}))
		<-c.Done()
		if err := c.Err(); !errors.Is(err, ErrSlowConsumer) {
			t.Errorf("Err = %v, want ErrSlowConsumer", err)
		}
		st := c.Stats()
		if st.SlowDisconnects != 1 {
			t.Errorf("Stats.SlowDisconnects = %d, want 1", st.SlowDisconnects)
		}
		// One in the call, three waiting, one over: five read.
		if n := calls.Load(); st.MessagesIn != uint64(n) || n+int64(st.Dropped) != 5 || st.Dropped == 0 {
			t.Errorf("handled %d, MessagesIn %d, Dropped %d; want the 5 read handled or dropped, the one over the inbox dropped",
				n, st.MessagesIn, st.Dropped)
		}
	})
}

// TestSlowConsumerConfig: a dropping policy needs an inbox, conflation a
// key; WithPull excludes OnMessage.
func TestSlowConsumerConfig(t *testing.T) {
	tests := []struct {
		name string
		opt  []Option
		want string
	}{
		{"inbox 0", []Option{WithSlowConsumer(datapath.SlowConsumer{Policy: datapath.DropOldest})}, "SlowConsumer.Inbox must be positive with policy drop-oldest, got 0"},
		{"no key", []Option{WithSlowConsumer(datapath.SlowConsumer{Policy: datapath.Conflate, Inbox: 1})}, "SlowConsumer.Key: nil func with policy conflate"},
		{"unknown", []Option{WithSlowConsumer(datapath.SlowConsumer{Policy: 9, Inbox: 1})}, "SlowConsumer.Policy 9 is not known"},
		{"pull and handler", []Option{WithPull(), OnMessage(func(context.Context, transport.Message) {})}, "WithPull and OnMessage: messages go to one or the other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dialWS(t.Context(), "ws://feed.test/", append(tt.opt, NoWait())...)
			var ce *transport.ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Fatalf("Dial = %v, want a *ConfigError with one problem", err)
			}
			if diff := cmp.Diff(tt.want, ce.Problems[0].Error()); diff != "" {
				t.Errorf("problem (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConflateKeyPanicIsLost: a Conflate Key that panics fails its
// connection as a handler's panic does (Lost, with the *tasks.PanicError),
// without ending the process; the next connection's messages are handled.
func TestConflateKeyPanicIsLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard(),
			wsconntest.Push(100*time.Millisecond, func(int) wsconntest.Message { return wsconntest.Text("m") })))
		var rec recorder
		var keys, calls atomic.Int64
		key := func(transport.Message) string {
			if keys.Add(1) == 1 {
				panic("key bug")
			}
			return "k"
		}
		c := dialTest(t, srv, &rec, WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}),
			WithSlowConsumer(datapath.SlowConsumer{Policy: datapath.Conflate, Inbox: 2, Key: key}),
			OnMessage(func(context.Context, transport.Message) { calls.Add(1) }))
		time.Sleep(time.Second)
		synctest.Wait()
		r, ok := rec.Nth("Alive-Lost->Reconnecting", 1)
		if !ok {
			t.Fatalf("no Lost after the Key panicked; transitions %v", rec.Transitions())
		}
		var pe *tasks.PanicError
		if err, _ := r.Payload.(error); !errors.As(err, &pe) || pe.Value != "key bug" {
			t.Errorf("Lost cause = %v, want a *tasks.PanicError of the Key's panic", r.Payload)
		}
		if n := calls.Load(); n < 3 || c.State() != connfsm.Alive || rec.Count("Alive-Lost->Reconnecting") != 1 {
			t.Errorf("%d handler calls, state %v, transitions %v; want the next connection's messages handled",
				n, c.State(), rec.Transitions())
		}
	})
}

// TestMessagesNilContext: Messages with a nil ctx ranges as with
// context.Background() (as Close takes a nil ctx), rather than panicking
// in the loop, and ends when the client is Closed.
func TestMessagesNilContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		c := dialTest(t, srv, &rec, WithPull())
		if err := c.Ready(t.Context()); err != nil {
			t.Fatalf("Ready: %v", err)
		}
		for _, m := range []string{"a", "b"} {
			if err := c.SendText(t.Context(), m); err != nil {
				t.Fatalf("SendText: %v", err)
			}
		}
		var got []string
		var nilCtx context.Context
		for m := range c.Messages(nilCtx) {
			got = append(got, string(m.Data))
			if len(got) == 2 {
				go func() { _ = c.Close(context.Background()) }()
			}
		}
		if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
			t.Errorf("messages (-want +got):\n%s", diff)
		}
	})
}

// TestPullCountsWhatTheLoopTakes: with WithPull a message is handed over
// when the loop takes it, so Stats.MessagesIn counts those, and one the
// loop never took is counted in Stats.Dropped alone: every message read is
// counted once.
func TestPullCountsWhatTheLoopTakes(t *testing.T) {
	tests := []struct {
		name string
		p    datapath.SlowConsumer
	}{
		{"block", datapath.SlowConsumer{}},
		{"drop-newest", datapath.SlowConsumer{Policy: datapath.DropNewest, Inbox: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const total = 5
				srv := startServer(t, wsconntest.Default(wsconntest.Discard(),
					wsconntest.Push(10*time.Millisecond, func(n int) wsconntest.Message {
						if n > total {
							return wsconntest.Message{}
						}
						return wsconntest.Text(fmt.Sprintf("m%d", n))
					})))
				var rec recorder
				c := dialTest(t, srv, &rec, WithPull(), WithSlowConsumer(tt.p))
				var got []string
				for m := range c.Messages(t.Context()) {
					got = append(got, string(m.Data))
					if len(got) == 2 {
						break
					}
				}
				time.Sleep(time.Second) // the venue has sent all it had
				if err := c.Close(context.Background()); err != nil {
					t.Fatalf("Close: %v", err)
				}
				st := c.Stats()
				if st.MessagesIn != uint64(len(got)) || st.BytesIn != 4 {
					t.Errorf("MessagesIn %d, BytesIn %d; want %d messages of 2 bytes: those the loop took (%v)",
						st.MessagesIn, st.BytesIn, len(got), got)
				}
				if tt.p.Policy == datapath.DropNewest {
					if n := st.MessagesIn + st.Dropped + st.SlowDropped; n != total {
						t.Errorf("MessagesIn %d + Dropped %d + SlowDropped %d = %d, want %d: each counted once",
							st.MessagesIn, st.Dropped, st.SlowDropped, n, total)
					}
				} else if st.Dropped == 0 {
					t.Errorf("Dropped = 0, want the one waiting for the loop counted")
				}
			})
		})
	}
}

// TestPullLag: with WithPull the handler is the loop over Messages, so
// Stats.LastLag and MaxLag count until the loop takes a message: a loop
// that takes one a second behind a feed of ten a second lags by a second
// and more, under Block as under an inbox.
func TestPullLag(t *testing.T) {
	for _, p := range []datapath.SlowConsumer{{}, {Policy: datapath.DropOldest, Inbox: 3}} {
		t.Run(p.Policy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(wsconntest.Discard(),
					wsconntest.Push(100*time.Millisecond, func(n int) wsconntest.Message {
						return wsconntest.Text(fmt.Sprint(n))
					})))
				var rec recorder
				c := dialTest(t, srv, &rec, WithPull(), WithSlowConsumer(p))
				var lag time.Duration // the largest the loop saw
				n := 0
				for m := range c.Messages(t.Context()) {
					lag = max(lag, time.Since(m.Received))
					if n++; n == 5 {
						break
					}
					time.Sleep(time.Second)
				}
				synctest.Wait() // the reader has counted what the loop took
				if st := c.Stats(); st.MaxLag != lag || st.LastLag < time.Second {
					t.Errorf("LastLag %v, MaxLag %v; want the loop's: max %v, last at least 1s", st.LastLag, st.MaxLag, lag)
				}
			})
		})
	}
}
