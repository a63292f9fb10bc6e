package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// lostCauses returns the cause of every Alive-Lost->Reconnecting transition.
func lostCauses(rec *recorder) []error {
	var out []error
	for i := 1; ; i++ {
		r, ok := rec.Nth("Alive-Lost->Reconnecting", i)
		if !ok {
			return out
		}
		err, _ := r.Payload.(error)
		out = append(out, err)
	}
}

// byteCounter counts what the client reads from its sockets.
type byteCounter struct {
	net.Conn
	n *atomic.Int64
}

func (b byteCounter) Read(p []byte) (int, error) {
	n, err := b.Conn.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// TestOversizedMessages: a peer sending a message above the read limit, as
// one huge message or as a small compressed one that inflates beyond it (a
// compression bomb), loses the connection with status 1009 (message too
// big) without the client ever holding the message: memory stays bounded
// by the limit, not by what the peer sends.
func TestOversizedMessages(t *testing.T) {
	const (
		limit = 64 << 10 // the client's read limit
		size  = 64 << 20 // what the peer sends
		bound = 16 << 20 // allocations allowed for the whole episode
	)
	tests := []struct {
		name     string
		mode     websocket.CompressionMode
		maxWire  int64 // bytes the client may read from the socket
		wantWire string
	}{
		{"frame above the read limit", websocket.CompressionDisabled, bound, "the limit stops the read"},
		{"compression bomb", websocket.CompressionContextTakeover, 1 << 20, "64 MiB inflated from a small compressed message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				chunk := make([]byte, 1<<20) // zeros: deflate shrinks them about a thousandfold
				// The first connection streams the message from one reused
				// chunk, so the venue itself stays small; later ones echo.
				srv := startServer(t, wsconntest.AcceptOptions(websocket.AcceptOptions{CompressionMode: tt.mode}),
					wsconntest.Script(wsconntest.Plan{wsconntest.Discard(), wsconntest.Func(func(ctx context.Context, vc *wsconntest.Conn) {
						wc, err := vc.WebSocket().Writer(ctx, websocket.MessageBinary)
						if err != nil {
							return
						}
						for range size / len(chunk) {
							if _, err := wc.Write(chunk); err != nil {
								return
							}
						}
						_ = wc.Close()
					})}))
				var wire atomic.Int64
				client := wrapDial(t, srv, func(c net.Conn) net.Conn { return byteCounter{Conn: c, n: &wire} })
				var rec recorder
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				c := dialTest(t, srv, &rec, WithHTTPClient(client), WithReadLimit(limit), WithCompression(tt.mode),
					WithBackoff(retry.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}))
				waitState(t, c, connfsm.Alive)
				for i := 0; rec.Count("Alive-Lost->Reconnecting") == 0; i++ {
					if i == 100 {
						t.Fatalf("no Lost within 10s; transitions %v", rec.Transitions())
					}
					time.Sleep(100 * time.Millisecond)
				}
				waitState(t, c, connfsm.Alive) // and the client reconnects
				var after runtime.MemStats
				runtime.ReadMemStats(&after)

				causes := lostCauses(&rec)
				if len(causes) != 1 || !errors.Is(causes[0], websocket.ErrMessageTooBig) {
					t.Fatalf("Lost causes = %v, want one wrapping websocket.ErrMessageTooBig", causes)
				}
				first, _ := srv.Connection(1)
				if f, ok := first.CloseFrom(wsconntest.FromClient); !ok || f.Code != websocket.StatusMessageTooBig {
					t.Errorf("close frame the venue received: %+v, %v; want status 1009", f, ok)
				}
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > bound {
					t.Errorf("allocated %d bytes while the peer sent a %d-byte message, want <= %d", alloc, size, bound)
				}
				if n := wire.Load(); n > tt.maxWire {
					t.Errorf("client read %d bytes from the socket, want <= %d (%s)", n, tt.maxWire, tt.wantWire)
				}
			})
		})
	}
}

// TestHandshakeHostilePeers: peers that accept the TCP connection but do
// not complete the WebSocket handshake.
func TestHandshakeHostilePeers(t *testing.T) {
	const handshakeTimeout = 3 * time.Second
	tests := []struct {
		name  string
		venue wsconntest.Behavior // how the venue answers the handshake
		// check inspects the first DialFailed's cause and the time it took.
		check     func(t *testing.T, cause error, took time.Duration)
		wantTrans []string
	}{{
		name:  "never answers the upgrade",
		venue: wsconntest.Stall(),
		check: func(t *testing.T, cause error, took time.Duration) {
			if !errors.Is(cause, ErrHandshakeTimeout) {
				t.Errorf("cause = %v, want ErrHandshakeTimeout", cause)
			}
			if took != handshakeTimeout {
				t.Errorf("DialFailed after %v, want the handshake timeout %v", took, handshakeTimeout)
			}
		},
		wantTrans: []string{"Connecting-DialFailed->Reconnecting", "Reconnecting-RetryDue->Connecting"},
	}, {
		name: "answers 200 without upgrading",
		venue: wsconntest.Handshake(func(w http.ResponseWriter, _ *http.Request) bool {
			_, _ = w.Write([]byte("hello, I am a web page"))
			return true
		}),
		check: func(t *testing.T, cause error, _ time.Duration) {
			var he *transport.HandshakeError
			if !errors.As(cause, &he) || he.Status != http.StatusOK {
				t.Errorf("cause = %v, want *HandshakeError{Status: 200}", cause)
			}
			if v := retry.DefaultClassifier(cause); v != retry.Permanent {
				t.Errorf("DefaultClassifier = %v, want permanent", v)
			}
		},
		wantTrans: []string{"Connecting-DialFailed->Reconnecting", "Reconnecting-GaveUp->Closed"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(tt.venue))
				var rec recorder
				start := time.Now()
				c := dialTest(t, srv, &rec, WithHandshakeTimeout(handshakeTimeout),
					WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}))
				time.Sleep(handshakeTimeout + 2*time.Second)
				synctest.Wait()
				r, ok := rec.Nth("Connecting-DialFailed->Reconnecting", 1)
				if !ok {
					t.Fatalf("no DialFailed; transitions %v", rec.Transitions())
				}
				err, _ := r.Payload.(error)
				tt.check(t, err, r.When.Sub(start))
				got := rec.Transitions()
				if len(got) > len(tt.wantTrans) {
					got = got[:len(tt.wantTrans)]
				}
				if diff := cmp.Diff(tt.wantTrans, got); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
				_ = c.Close(t.Context())
			})
		})
	}
}

// TestGarbageAfterUpgrade: a peer completes the handshake and then writes
// bytes that are not WebSocket frames. The connection is Lost (a protocol
// error, not a hang) and the client reconnects to a peer that behaves.
func TestGarbageAfterUpgrade(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The first connection's venue upgrades, then writes garbage and
		// keeps the socket open: the failure must come from the bytes, not
		// from an EOF. Later ones echo.
		srv := startServer(t, wsconntest.Script(wsconntest.Plan{wsconntest.Garbage(bytes.Repeat([]byte{0xff, 0x13, 0x37, 0x00}, 64))}))
		var rec recorder
		c := dialTest(t, srv, &rec, WithBackoff(retry.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}))
		time.Sleep(time.Second)
		waitState(t, c, connfsm.Alive)
		want := []string{
			"Connecting-Connected->Alive", "Alive-Lost->Reconnecting",
			"Reconnecting-RetryDue->Connecting", "Connecting-Connected->Alive",
		}
		if diff := cmp.Diff(want, rec.Transitions()); diff != "" {
			t.Fatalf("transitions (-want +got):\n%s", diff)
		}
		cause := lostCauses(&rec)[0]
		if errors.Is(cause, net.ErrClosed) || errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) {
			t.Errorf("Lost cause = %v, want a protocol error from the garbage, not a closed socket", cause)
		}
		if err := c.SendText(t.Context(), "still works"); err != nil {
			t.Errorf("Send after the reconnect: %v", err)
		}
	})
}

// TestPeerNeverReads: a peer that completes the handshake and then never
// reads. Over net.Pipe a write blocks until the peer reads, the harshest
// form of a full TCP window. A Send bounded by a deadline fails by it
// (nothing queues up behind the stuck write), and without sends the
// heartbeat finds the dead peer within interval + pong timeout.
func TestPeerNeverReads(t *testing.T) {
	const interval = time.Second
	// A frozen venue never reads; each of its connections keeps one
	// goroutine (its handler, blocked) until the venue closes, which the
	// count below leaves out to see the client's own.
	stuck := wsconntest.Default(wsconntest.Freeze())

	t.Run("send with a deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := startServer(t, stuck)
			var rec recorder
			c := dialTest(t, srv, &rec, WithHeartbeat(time.Hour, time.Hour), WithStormGuard(retry.StormGuard{}),
				WithBackoff(retry.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}))
			payload := bytes.Repeat([]byte("x"), 256<<10)
			var grow []int
			var heap []uint64
			for i := range 20 {
				waitState(t, c, connfsm.Alive)
				ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
				start := time.Now()
				err := c.Send(ctx, transport.Binary, payload)
				took := time.Since(start)
				cancel()
				if !errors.Is(err, ErrNotConnected) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("send %d to a peer that never reads = %v, want ErrNotConnected wrapping the deadline", i, err)
				}
				if took != 100*time.Millisecond {
					t.Fatalf("send %d returned after %v, want at its 100ms deadline", i, took)
				}
				if i == 1 || i == 19 {
					synctest.Wait()
					runtime.GC()
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					grow = append(grow, runtime.NumGoroutine()-int(srv.Stats().Open))
					heap = append(heap, ms.HeapAlloc)
				}
			}
			// A failed write ends its connection (coder/websocket closes a
			// connection whose write was cancelled): each send cost one
			// reconnect and left nothing behind.
			if n := rec.Count("Alive-Lost->Reconnecting"); n != 20 {
				t.Errorf("losses = %d, want 20 (one per timed-out send)", n)
			}
			if grow[1] > grow[0] {
				t.Errorf("goroutines (besides the stuck peers) grew from %d to %d over 18 stuck sends", grow[0], grow[1])
			}
			if heap[1] > heap[0]+2<<20 {
				t.Errorf("heap grew from %d to %d bytes over 18 stuck 256 KiB sends", heap[0], heap[1])
			}
		})
	})

	t.Run("heartbeat finds the dead peer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := startServer(t, stuck)
			var rec recorder
			c := dialTest(t, srv, &rec, WithHeartbeat(interval, interval),
				WithBackoff(retry.Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}))
			waitState(t, c, connfsm.Alive)
			alive, _ := rec.Nth("Connecting-Connected->Alive", 1)
			waitState(t, c, connfsm.Reconnecting)
			lost, _ := rec.Nth("Alive-Lost->Reconnecting", 1)
			// The ping's write blocks, and coder/websocket closes the
			// connection when the pong timeout cancels it: the reader may
			// report the closed socket a moment before the heartbeat
			// reports the timeout. The cause is the timeout, not the
			// socket it closed.
			cause, _ := lost.Payload.(error)
			if !errors.Is(cause, ErrPongTimeout) {
				t.Errorf("Lost cause = %v, want ErrPongTimeout", cause)
			}
			if took := lost.When.Sub(alive.When); took != 2*interval {
				t.Errorf("dead peer found after %v, want interval + pong timeout = %v", took, 2*interval)
			}
			if st := c.Stats(); st.Pings != 1 {
				t.Errorf("pings = %d, want 1 (the unanswered one)", st.Pings)
			}
		})
	})
}

// TestLogsHoldNoSecrets: at Debug level, through a connection, messages,
// a reset, a reconnect and a close, the log holds no header value, no
// query string and no payload.
func TestLogsHoldNoSecrets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		secrets := []string{"secret-token", "secret-cookie", "query-secret", "secret-payload"}
		srv := startServer(t)
		var logs bytes.Buffer
		var logMu sync.Mutex
		logger := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		received := make(chan string, 8)
		var rec recorder
		c, err := dialWS(t.Context(), "ws://feed.test/stream?token=query-secret",
			WithHTTPClient(srv.Client()), OnRecord(rec.Observe), WithLogger(logger),
			WithHeader(http.Header{"Authorization": {"Bearer secret-token"}, "Cookie": {"session=secret-cookie"}}),
			WithBackoff(retry.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}),
			OnMessage(func(_ context.Context, m transport.Message) { received <- string(m.Data) }))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if err := c.SendText(t.Context(), "secret-payload one"); err != nil {
			t.Fatal(err)
		}
		<-received
		srv.ResetAll()
		waitState(t, c, connfsm.Reconnecting)
		waitState(t, c, connfsm.Alive)
		if err := c.SendText(t.Context(), "secret-payload two"); err != nil {
			t.Fatal(err)
		}
		<-received
		if err := c.Close(t.Context()); err != nil {
			t.Fatal(err)
		}

		if first, _ := srv.Connection(1); first.Header.Get("Authorization") != "Bearer secret-token" || first.Header.Get("Cookie") != "session=secret-cookie" {
			t.Fatal("the venue never saw the headers: the test proves nothing")
		}
		logMu.Lock()
		out := logs.String()
		logMu.Unlock()
		if rec.Count("Alive-Lost->Reconnecting") != 1 || !strings.Contains(out, "Alive") || !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "level=INFO") {
			t.Fatalf("the log missed the lifecycle (transitions %v):\n%s", rec.Transitions(), out)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("log holds %q:\n%s", s, out)
			}
		}
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
