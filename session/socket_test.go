package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestDefaultClientAbortsBySocket runs over real loopback TCP with the
// default HTTP client, whose dialer hands each session its socket: the
// pump then reads without a cancellable context, and aborting closes the
// socket. Against a peer that never answers the close frame, a Close with
// a short ctx must still return at that ctx's end, not at
// coder/websocket's own 5s wait.
func TestDefaultClientAbortsBySocket(t *testing.T) {
	// The venue says hello and never reads: pings and the close frame go
	// unanswered.
	srv, err := wsconntest.NewTCPServer("", wsconntest.Default(wsconntest.Freeze(),
		wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) { _ = c.SendText(ctx, "hello") })))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	got := make(chan string, 1)
	c, err := dialWS(t.Context(), srv.URL,
		WithHeartbeat(time.Hour, time.Hour), WithCloseTimeout(time.Minute),
		OnMessage(func(_ context.Context, m transport.Message) { got <- string(m.Data) }))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if msg := <-got; msg != "hello" {
		t.Errorf("received %q, want hello", msg)
	}
	s := c.sess.Load()
	if s == nil || s.raw == nil {
		t.Fatal("the session does not know its socket with the default HTTP client")
	}
	if a, b := s.raw.RemoteAddr().String(), strings.TrimPrefix(srv.URL, "ws://"); a != b {
		t.Errorf("socket's peer %s, want the server %s", a, b)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Close(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want ctx's deadline", err)
	}
	if took > 2*time.Second {
		t.Errorf("Close took %v against a silent peer with a 200ms ctx, want about 200ms", took)
	}
	if st := c.State(); st != connfsm.Closed {
		t.Errorf("State() = %v, want Closed", st)
	}
}
