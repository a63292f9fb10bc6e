package tcpconn_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
	"github.com/connfsm/connfsm/tcpconn"
	"github.com/connfsm/connfsm/tcpconn/framing"
	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
)

// inbox collects what the handler is given, and the causes of Lost.
type inbox struct {
	mu   sync.Mutex
	msgs []string
	lost []error
}

func (b *inbox) options() []session.Option {
	return []session.Option{
		session.OnMessage(func(_ context.Context, m transport.Message) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.msgs = append(b.msgs, string(m.Data))
		}),
		session.OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
			if r.Kind == fsm.RecordTransition && r.Event == connfsm.Lost {
				b.mu.Lock()
				defer b.mu.Unlock()
				err, _ := r.Payload.(error)
				b.lost = append(b.lost, err)
			}
		}),
	}
}

func (b *inbox) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

func (b *inbox) losses() []error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]error(nil), b.lost...)
}

// dial starts a client of srv in memory; it is closed when the test ends.
func dial(t *testing.T, srv *tcpconntest.Server, opts ...session.Option) *session.Client {
	t.Helper()
	base := []session.Option{tcpconn.WithDialer(srv.DialContext),
		session.WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1})}
	c, err := tcpconn.Dial(t.Context(), srv.URL, append(base, opts...)...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// TestFaults: what a framed feed does wrong, each met as the lifecycle
// says: a reset or a restart is Lost and redialled, a black hole is found
// by the application heartbeat, a frame split across writes arrives
// whole, and one over the read limit loses the connection, whose redial
// slows down.
func TestFaults(t *testing.T) {
	tests := []struct {
		name     string
		first    []tcpconntest.Behavior // the first connection's; later ones echo
		opts     []session.Option
		restart  bool
		wantMsgs []string
		wantLost func(error) bool // nil: no Lost
	}{
		{name: "echo", first: []tcpconntest.Behavior{tcpconntest.Echo()}, wantMsgs: []string{"hello"}},
		{name: "split frames", first: []tcpconntest.Behavior{tcpconntest.Split(4, 100*time.Millisecond), tcpconntest.Echo()},
			wantMsgs: []string{"hello"}},
		{name: "reset", first: []tcpconntest.Behavior{tcpconntest.After(2*time.Second, tcpconntest.Reset())},
			wantMsgs: []string{"hello"}, wantLost: func(err error) bool { return errors.Is(err, session.ErrReadFailed) }},
		{name: "black hole", first: []tcpconntest.Behavior{tcpconntest.Blackhole()},
			opts: []session.Option{session.WithHeartbeat(5*time.Second, 5*time.Second),
				session.WithAppHeartbeat(session.TextHeartbeat("ping", "pong"))},
			wantMsgs: []string{"hello"}, wantLost: func(err error) bool { return errors.Is(err, session.ErrPongTimeout) }},
		{name: "oversized frame", first: []tcpconntest.Behavior{tcpconntest.Oversized(2048)},
			opts:     []session.Option{session.WithReadLimit(1024)},
			wantMsgs: []string{"hello"}, wantLost: func(err error) bool { return errors.Is(err, session.ErrMessageTooBig) }},
		{name: "server restart", first: []tcpconntest.Behavior{tcpconntest.Echo()}, restart: true,
			wantMsgs: []string{"hello"}, wantLost: func(err error) bool { return errors.Is(err, session.ErrReadFailed) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := tcpconntest.NewServer(
					tcpconntest.Script(tt.first),
					tcpconntest.Default(tcpconntest.AnswerPing("ping", "pong"), tcpconntest.Echo()))
				defer srv.Close()
				var in inbox
				c := dial(t, srv, append(in.options(), tt.opts...)...)
				if err := c.Ready(t.Context()); err != nil {
					t.Fatal(err)
				}
				if tt.restart {
					if err := srv.Restart(); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(30 * time.Second)
				synctest.Wait()
				if err := c.Ready(t.Context()); err != nil {
					t.Fatal(err)
				}
				if err := c.SendText(t.Context(), "hello"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				if diff := cmp.Diff(tt.wantMsgs, in.messages()); diff != "" {
					t.Errorf("messages handled (-want +got):\n%s", diff)
				}
				lost := in.losses()
				switch {
				case tt.wantLost == nil && len(lost) > 0:
					t.Errorf("Lost %v, want no loss", lost)
				case tt.wantLost != nil && (len(lost) != 1 || !tt.wantLost(lost[0])):
					t.Errorf("Lost %v, want one loss of the expected cause", lost)
				}
			})
		})
	}
}

// TestLoginAndSubscriptions: a login acknowledged in OnConnect, then the
// subscriptions, acknowledged, replayed on every connection.
func TestLoginAndSubscriptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer(tcpconntest.Default(
			tcpconntest.LoginAck("login:", "welcome"),
			tcpconntest.SubAck("sub:", func(k string) string { return "ok:" + k }),
			tcpconntest.Echo()))
		defer srv.Close()
		acked := func(k string) func(transport.Message) bool {
			return func(m transport.Message) bool { return string(m.Data) == "ok:"+k }
		}
		c := dial(t, srv,
			session.OnConnect(func(ctx context.Context, s *session.Session) error {
				_, err := s.Request(ctx, transport.Text, []byte("login:secret"), func(m transport.Message) bool {
					return string(m.Data) == "welcome"
				})
				return err
			}),
			session.WithSubscriptions(
				session.Subscription{Key: "a", Message: []byte("sub:a"), Ack: acked("a")},
				session.Subscription{Key: "b", Message: []byte("sub:b"), Ack: acked("b")}))
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		srv.ResetAll()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		var got [][]string
		for _, conn := range srv.Connections() {
			got = append(got, conn.ReceivedText())
		}
		want := [][]string{{"login:secret", "sub:a", "sub:b"}, {"login:secret", "sub:a", "sub:b"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("what each connection received (-want +got):\n%s", diff)
		}
		for _, k := range []string{"a", "b"} {
			if st, ok := c.SubscriptionStatus(k); !ok || st.State.String() != "Active" {
				t.Errorf("subscription %s: %+v, want Active", k, st)
			}
		}
	})
}

// TestLength32 runs the client with length-prefixed frames, binary
// payloads and newlines included.
func TestLength32(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer(tcpconntest.Framing(framing.Length32{}), tcpconntest.Default(tcpconntest.Echo()))
		defer srv.Close()
		var in inbox
		c := dial(t, srv, append(in.options(), tcpconn.WithFraming(framing.Length32{}))...)
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"two\nlines", "\x00\xff binary"} {
			if err := c.Send(t.Context(), transport.Binary, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]string{"two\nlines", "\x00\xff binary"}, in.messages()); diff != "" {
			t.Errorf("echoes (-want +got):\n%s", diff)
		}
	})
}

// TestTLS dials a TLS venue on loopback that trusts only its own CA: the
// client with the CA connects; without it, it gives up (a certificate
// that fails verification is permanent).
func TestTLS(t *testing.T) {
	srv, err := tcpconntest.NewTLSServer("127.0.0.1:0", tcpconntest.Default(tcpconntest.Echo()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var in inbox
	c, err := tcpconn.Dial(ctx, srv.URL, append(in.options(),
		tcpconn.WithTLSConfig(&tls.Config{RootCAs: srv.CertPool(), MinVersion: tls.VersionTLS12}))...)
	if err != nil {
		t.Fatalf("Dial with the CA: %v", err)
	}
	if err := c.SendText(ctx, "over TLS"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Await(ctx, func() bool {
		conn, ok := srv.Connection(1)
		return ok && len(conn.Sent) == 1
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	_, err = tcpconn.Dial(ctx, srv.URL)
	var gu *session.GaveUpError
	if !errors.As(err, &gu) {
		t.Errorf("Dial without the CA = %v, want a *GaveUpError", err)
	}
}

// TestConfigErrors: a bad address or setting is refused by Dial, naming
// it, and nothing starts.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		addr string
		opts []session.Option
		want string
	}{
		{"ws://127.0.0.1:1", nil, `address "ws://127.0.0.1:1": scheme must be tcp or tls, got "ws"`},
		{"tcp://127.0.0.1", nil, `address "tcp://127.0.0.1": want HOST:PORT`},
		{"tcp://127.0.0.1:99999", nil, `address "tcp://127.0.0.1:99999": port must be 1 to 65535, got 99999`},
		{"tls://localhost:0", nil, `address "tls://localhost:0": port must be 1 to 65535, got 0`},
		{"tcp://user:pw@127.0.0.1:1/x?k=v", nil, `address "tcp://127.0.0.1:1/x": want only a scheme, a host and a port`},
		{"tls://user:pw@127.0.0.1:0", nil, `address "tls://127.0.0.1:0": want only a scheme, a host and a port`},
		{"tls://user:p%zz@127.0.0.1:1", nil, `address "tls://xxxxx@127.0.0.1:1": invalid URL escape "%zz"`},
		{"tcp:user:pw@127.0.0.1:1", nil, `address "xxxxx@127.0.0.1:1": want HOST:PORT`},
		{"ssh://127.0.0.1:1?key=secret", nil, `address "ssh://127.0.0.1:1": want only a scheme, a host and a port`},
		{"tcp://127.0.0.1:1", []session.Option{tcpconn.WithTLSConfig(&tls.Config{})},
			"TLSConfig given for tcp://127.0.0.1:1: use a tls:// address"},
		{"tcp://127.0.0.1:1", []session.Option{tcpconn.WithFraming(nil)}, "WithFraming: nil Framer"},
		{"tcp://127.0.0.1:1", []session.Option{tcpconn.WithFraming((*framing.Line)(nil))},
			"WithFraming: nil Framer (a nil *framing.Line)"},
		{"tcp://127.0.0.1:1", []session.Option{tcpconn.WithDialer(nil)}, "WithDialer: nil func"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c, err := tcpconn.Dial(t.Context(), tt.addr, append(tt.opts, session.NoWait())...)
			if c != nil {
				_ = c.Close(context.Background())
				t.Fatal("Dial returned a client")
			}
			var ce *transport.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Dial = %v, want a *ConfigError", err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.Error())
			}
			if diff := cmp.Diff([]string{tt.want}, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCloseWithoutHalfClose: over a connection that cannot half-close
// (the in-memory venue's net.Pipe, a dialer's own net.Conn), Close closes
// it at once: the peer sees the end, and Close does not wait out the
// close timeout for an answer to a FIN it never sent.
func TestCloseWithoutHalfClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer(tcpconntest.Default(tcpconntest.Echo()))
		defer srv.Close()
		c := dial(t, srv, session.WithCloseTimeout(10*time.Second))
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("Close took %v, want no wait", took)
		}
		synctest.Wait()
		if conn, _ := srv.Connection(1); conn.Open() {
			t.Error("the venue's connection is still open")
		}
	})
}

// TestUnframeablePayload: a message the framing cannot carry (a newline
// in a line) fails at once, as a bad message and not a broken
// connection: Send's error matches framing.ErrPayload and not
// ErrNotConnected, nothing is buffered, the connection stays, and a
// subscription or a heartbeat that could never be sent is refused before
// it can lose every connection.
func TestUnframeablePayload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer(tcpconntest.Default(tcpconntest.Echo()))
		defer srv.Close()
		var in inbox
		c := dial(t, srv, append(in.options(), session.WithSendPolicy(session.SendPolicy{Buffer: 4}))...)
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		bad := []byte("two\nlines")
		check := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, framing.ErrPayload) || errors.Is(err, session.ErrNotConnected) {
				t.Errorf("%s = %v, want an error matching framing.ErrPayload and not ErrNotConnected", what, err)
			}
		}
		check("Send while Ready", c.Send(t.Context(), transport.Text, bad))
		_, err := c.Request(t.Context(), transport.Text, bad, func(transport.Message) bool { return true })
		check("Request", err)
		err = c.Subscribe(t.Context(), session.Subscription{Key: "k", Message: bad})
		check("Subscribe", err)
		if !errors.Is(err, session.ErrBadSubscription) {
			t.Errorf("Subscribe = %v, want it to match ErrBadSubscription", err)
		}
		srv.Down()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		check("Send while down", c.Send(t.Context(), transport.Text, bad))
		if n := c.Stats().Buffered; n != 0 {
			t.Errorf("Buffered = %d, want the bad message not kept", n)
		}
		if err := srv.Up(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if err := c.SendText(t.Context(), "fine"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([]string{"fine"}, in.messages()); diff != "" {
			t.Errorf("messages (-want +got):\n%s", diff)
		}
		if n := len(in.losses()); n != 1 {
			t.Errorf("Lost %v, want the venue's restart alone", in.losses())
		}

		for name, opt := range map[string]session.Option{
			"a subscription": session.WithSubscriptions(session.Subscription{Key: "k", Message: bad}),
			"an unsubscribe": session.WithSubscriptions(session.Subscription{Key: "k", Message: []byte("sub"), Unsubscribe: bad}),
			"a heartbeat":    session.WithAppHeartbeat(session.TextHeartbeat("pi\nng", "pong")),
		} {
			c, err := tcpconn.Dial(t.Context(), srv.URL, tcpconn.WithDialer(srv.DialContext), session.NoWait(), opt)
			if c != nil {
				_ = c.Close(context.Background())
			}
			if !errors.Is(err, session.ErrInvalidConfig) || !errors.Is(err, framing.ErrPayload) {
				t.Errorf("Dial with %s that cannot be framed = %v, want a *ConfigError matching framing.ErrPayload", name, err)
			}
		}
	})
}

// TestStalledPeerIsAPongTimeout: a peer that stops reading (its reader
// stuck) holds the heartbeat's ping in its write; the ping is cut at its
// deadline, which closes the connection, and the loss is a pong timeout
// within interval + timeout, in memory as over TCP, not the closed
// connection the cut leaves behind.
func TestStalledPeerIsAPongTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer(tcpconntest.Default(
			tcpconntest.OnMessage(func(c *tcpconntest.Conn, m tcpconntest.Message) bool {
				if string(m.Data) == "stall" {
					<-c.Context().Done() // the venue reads nothing more
				}
				return false
			}),
			tcpconntest.AnswerPing("ping", "pong"), tcpconntest.Echo()))
		defer srv.Close()
		var in inbox
		const interval, timeout = 5 * time.Second, 3 * time.Second
		c := dial(t, srv, append(in.options(), session.WithHeartbeat(interval, timeout),
			session.WithAppHeartbeat(session.TextHeartbeat("ping", "pong")))...)
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := c.SendText(t.Context(), "stall"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(interval + timeout)
		synctest.Wait()
		lost := in.losses()
		if len(lost) != 1 || !errors.Is(lost[0], session.ErrPongTimeout) {
			t.Errorf("Lost %v, want one pong timeout", lost)
		}
	})
}

// TestSendCutByItsContext: a Send whose ctx ends while its write is held
// by a peer that reads nothing fails with ctx's error (as over
// WebSocket), not only with the closed connection the cut leaves.
func TestSendCutByItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer(tcpconntest.Default(
			tcpconntest.OnMessage(func(c *tcpconntest.Conn, m tcpconntest.Message) bool {
				if string(m.Data) == "stall" {
					<-c.Context().Done() // the venue reads nothing more
				}
				return false
			}), tcpconntest.Echo()))
		defer srv.Close()
		c := dial(t, srv)
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := c.SendText(t.Context(), "stall"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err := c.SendText(ctx, "held")
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, session.ErrNotConnected) {
			t.Errorf("Send = %v, want an error matching context.DeadlineExceeded and ErrNotConnected", err)
		}
	})
}

// TestPoolRefusesUnframeable: a Pool's subscription the framing cannot
// carry is refused, and takes no room on a connection.
func TestPoolRefusesUnframeable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer(tcpconntest.Default(tcpconntest.Echo()))
		defer srv.Close()
		p, err := tcpconn.NewPool(t.Context(), srv.URL, session.PoolConfig{MaxPerConn: 1, MaxConns: 1}, tcpconn.WithDialer(srv.DialContext))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = p.Close(context.Background()) }()
		err = p.Subscribe(t.Context(), session.Subscription{Key: "bad", Message: []byte("sub\nbad")})
		if !errors.Is(err, framing.ErrPayload) || !errors.Is(err, session.ErrBadSubscription) {
			t.Errorf("Subscribe = %v, want a bad subscription matching framing.ErrPayload", err)
		}
		if err := p.Subscribe(t.Context(), session.Subscription{Key: "good", Message: []byte("sub:good")}); err != nil {
			t.Errorf("Subscribe after the refused one: %v", err)
		}
	})
}

// TestUnframeableBatch: a batch subscribe message the framing cannot
// carry (JSON indented, on lines) fails its subscriptions, as a refusal
// would, and keeps the connection: it is not written to fail every
// connection it is replayed on.
func TestUnframeableBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer(tcpconntest.Default(tcpconntest.Echo()))
		defer srv.Close()
		var in inbox
		c := dial(t, srv, append(in.options(), session.NoWait(),
			session.WithBatch(session.Batch{Max: 10, Subscribe: func(keys []string) []byte {
				b, _ := json.MarshalIndent(map[string]any{"op": "subscribe", "args": keys}, "", "  ")
				return b
			}}),
			session.WithSubscriptions(session.Subscription{Key: "a", Message: []byte("sub:a")}))...)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if lost := in.losses(); len(lost) != 0 {
			t.Errorf("Lost %d times, first %v; want no loss", len(lost), lost[0])
		}
		st, _ := c.SubscriptionStatus("a")
		if st.State.String() != "Failed" || !errors.Is(st.Err, framing.ErrPayload) {
			t.Errorf("subscription a: %v, %v; want Failed with an error matching framing.ErrPayload", st.State, st.Err)
		}
	})
}

// TestUnframeableBatchUnsubscribe: a batch unsubscribe message the framing
// cannot carry is refused by UnsubscribeAll with an error matching
// framing.ErrPayload, and the subscriptions stay as they were: dropped
// here while the venue never heard, their data would go on arriving.
func TestUnframeableBatchUnsubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer(tcpconntest.Default(tcpconntest.Echo()))
		defer srv.Close()
		c := dial(t, srv, session.WithBatch(session.Batch{Max: 10,
			Subscribe: func(keys []string) []byte { return []byte("sub:" + strings.Join(keys, ",")) },
			Unsubscribe: func(keys []string) []byte {
				b, _ := json.MarshalIndent(map[string]any{"op": "unsubscribe", "args": keys}, "", "  ")
				return b
			}}))
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"a", "b"} {
			if err := c.Subscribe(t.Context(), session.Subscription{Key: k, Message: []byte("sub:" + k)}); err != nil {
				t.Fatalf("Subscribe(%s): %v", k, err)
			}
		}
		synctest.Wait()
		states := func() []string {
			var out []string
			for _, k := range []string{"a", "b"} {
				st, ok := c.SubscriptionStatus(k)
				out = append(out, fmt.Sprintf("%s %v %v", k, ok, st.State))
			}
			return out
		}
		before := states()
		err := c.UnsubscribeAll(t.Context(), "a", "b")
		if !errors.Is(err, framing.ErrPayload) || errors.Is(err, session.ErrNotConnected) {
			t.Errorf("UnsubscribeAll = %v, want an error matching framing.ErrPayload and not ErrNotConnected", err)
		}
		synctest.Wait()
		if diff := cmp.Diff(before, states()); diff != "" {
			t.Errorf("subscriptions after the refused unsubscribe (-want +got):\n%s", diff)
		}
	})
}

// panicky is a Framer of the caller's with a bug: it panics on the frame
// "boom", read or written. It is a plain Framer, none of the built-ins'
// extensions.
type panicky struct{ line framing.Line }

func (panicky) Name() string { return "panicky" }

func (p panicky) ReadFrame(r *bufio.Reader, limit int64) ([]byte, error) {
	f, err := p.line.ReadFrame(r, limit)
	if string(f) == "boom" {
		panic("framer bug on read")
	}
	return f, err
}

func (p panicky) WriteFrame(w io.Writer, b []byte) error {
	if string(b) == "boom" {
		panic("framer bug on write")
	}
	return p.line.WriteFrame(w, b)
}

// TestFramerPanic: a Framer of the caller's that panics fails the
// connection with a *tasks.PanicError, which is redialled, as a panicking
// matcher or handler does: it does not end the process. The reader hits
// it on a frame the venue sends; the heartbeat, on the ping it writes.
func TestFramerPanic(t *testing.T) {
	tests := []struct {
		name  string
		first tcpconntest.Behavior
		opts  []session.Option
	}{
		{name: "read", first: tcpconntest.Push(time.Second, func(n int) []byte {
			if n > 1 {
				return nil
			}
			return []byte("boom")
		})},
		{name: "write", first: tcpconntest.Echo(), opts: []session.Option{
			session.WithHeartbeat(5*time.Second, 5*time.Second),
			session.WithAppHeartbeat(session.TextHeartbeat("boom", "pong"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := tcpconntest.NewServer(tcpconntest.Script(tcpconntest.Plan{tt.first}),
					tcpconntest.Default(tcpconntest.Discard()))
				defer srv.Close()
				var in inbox
				c := dial(t, srv, append(append(in.options(), tcpconn.WithFraming(panicky{})), tt.opts...)...)
				if err := c.Ready(t.Context()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(8 * time.Second)
				synctest.Wait()
				lost := in.losses()
				if len(lost) == 0 || !errors.Is(lost[0], tasks.ErrPanicked) {
					t.Fatalf("Lost %v, want a loss to the framer's panic", lost)
				}
				if err := c.Ready(t.Context()); err != nil {
					t.Fatal(err)
				}
				if n := len(srv.Connections()); n < 2 {
					t.Errorf("%d connections, want a redial after the panic", n)
				}
			})
		})
	}
}
