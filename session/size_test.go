package session

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestInboundMessageTooBig: a venue that sends a 100 KiB message on
// every connection to a client whose read limit is 64 KiB. The loss is
// ErrMessageTooBig, counted in Stats.TooBig, and the retry policy sees
// KindTooBig, whose default decision slows down (as after close 1008):
// a few dials in ten seconds, not a hot loop. A policy may give up.
func TestInboundMessageTooBig(t *testing.T) {
	tests := []struct {
		name     string
		giveUp   bool
		maxDials int
	}{
		{"default: slow down", false, 4},
		{"policy: permanent", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				big := bytes.Repeat([]byte("x"), 100<<10)
				srv := startServer(t, wsconntest.Default(wsconntest.Discard(),
					wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) { _ = c.Send(ctx, wsconntest.Binary(big)) })))
				var rec recorder
				var mu sync.Mutex
				var kinds []retry.FailureKind
				var reasons []retry.WaitReason
				c := dialTest(t, srv, &rec, WithReadLimit(64<<10),
					OnMessage(func(context.Context, transport.Message) {}),
					WithRetryPolicy(func(f retry.Failure) retry.Decision {
						d := f.Default()
						if tt.giveUp && f.Kind == retry.KindTooBig {
							d = retry.Decision{GiveUp: true}
						}
						mu.Lock()
						kinds, reasons = append(kinds, f.Kind), append(reasons, d.Reason)
						mu.Unlock()
						return d
					}))
				time.Sleep(10 * time.Second)
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				lost, ok := rec.Nth("Alive-Lost->Reconnecting", 1)
				if !ok {
					t.Fatalf("no Lost: %v", rec.Transitions())
				}
				if err, _ := lost.Payload.(error); !errors.Is(err, ErrMessageTooBig) {
					t.Errorf("Lost cause = %v, want ErrMessageTooBig", err)
				}
				if len(kinds) == 0 || kinds[0] != retry.KindTooBig {
					t.Errorf("kinds the policy saw = %v, want %v first", kinds, retry.KindTooBig)
				}
				if !tt.giveUp && (len(reasons) == 0 || reasons[0] != retry.WaitSlowDown) {
					t.Errorf("default decisions = %v, want %v", reasons, retry.WaitSlowDown)
				}
				if n := dials(srv); n > tt.maxDials {
					t.Errorf("%d dials in 10s, want at most %d", n, tt.maxDials)
				}
				if st := c.Stats(); st.TooBig == 0 || st.TooBig != uint64(len(kinds)) {
					t.Errorf("Stats.TooBig = %d, want %d (one per loss)", st.TooBig, len(kinds))
				}
				if tt.giveUp {
					<-c.Done()
					if err := c.Err(); !errors.Is(err, ErrMessageTooBig) {
						t.Errorf("Err = %v, want ErrMessageTooBig", err)
					}
				}
			})
		})
	}
}

// TestWriteLimit: a message over the write limit fails its Send with
// ErrMessageTooBig before anything is written; the limit's default is
// DefaultWriteLimit; -1 turns it off.
func TestWriteLimit(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		size    int
		wantErr bool
	}{
		{"under the limit", []Option{WithWriteLimit(1024)}, 1024, false},
		{"over the limit", []Option{WithWriteLimit(1024)}, 1025, true},
		{"over the default", nil, DefaultWriteLimit + 1, true},
		{"no limit", []Option{WithWriteLimit(-1)}, DefaultWriteLimit + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
				var rec recorder
				c := dialTest(t, srv, &rec, append([]Option{WithReadLimit(-1)}, tt.opts...)...)
				waitState(t, c, connfsm.Alive)
				err := c.Send(t.Context(), transport.Binary, make([]byte, tt.size))
				synctest.Wait()
				if got := errors.Is(err, ErrMessageTooBig); got != tt.wantErr {
					t.Fatalf("Send(%d bytes) = %v, want ErrMessageTooBig: %v", tt.size, err, tt.wantErr)
				}
				want := int64(1)
				if tt.wantErr {
					want = 0
				}
				if diff := cmp.Diff(want, srv.Stats().Received); diff != "" {
					t.Errorf("messages the venue received (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestWriteLimitConfig(t *testing.T) {
	_, err := dialWS(t.Context(), "ws://feed.test/", WithWriteLimit(0), NoWait())
	var ce *transport.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Dial with WithWriteLimit(0) = %v, want a *ConfigError", err)
	}
}

// TestIdleSizes keeps a client and a connection within the size classes
// they were brought to: a field added to either moves the idle cost of
// every connection up a class (docs/benchmarks.md, idle memory).
func TestIdleSizes(t *testing.T) {
	tests := []struct {
		name     string
		size, at uintptr // at most at: the top of the size class
	}{
		{"Client", unsafe.Sizeof(Client{}), 320},
		{"session", unsafe.Sizeof(session{}), 256},
	}
	for _, tt := range tests {
		if tt.size > tt.at {
			t.Errorf("%s is %d bytes, over %d", tt.name, tt.size, tt.at)
		}
	}
}
