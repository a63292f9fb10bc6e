package session

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestWedgedConnectionIsLost: over real loopback TCP, a peer that stops
// reading and floods application pings wedges both ends: the answers to
// its pings block in the write, the pump blocks handing them over, and
// the peer's bytes pile up unread in the socket. Those bytes do not excuse
// the missing pongs (the pump is not in a read, so it is not late, it is
// stuck): the connection is Lost on a pong timeout, as a dead peer would
// be.
func TestWedgedConnectionIsLost(t *testing.T) {
	payload := strings.Repeat("x", 4096)
	srv, err := wsconntest.NewTCPServer("", wsconntest.WithoutRecording(), wsconntest.Default(wsconntest.Freeze(),
		wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
			for ctx.Err() == nil {
				if c.SendText(ctx, "ping"+payload) != nil {
					return
				}
			}
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	lost := make(chan any, 1)
	c, err := dialWS(t.Context(), srv.URL,
		WithHeartbeat(200*time.Millisecond, 200*time.Millisecond),
		WithCloseTimeout(100*time.Millisecond),
		WithBackoff(retry.Backoff{Initial: time.Hour}),
		WithPingResponder(func(m transport.Message) ([]byte, bool) {
			if bytes.HasPrefix(m.Data, []byte("ping")) {
				return []byte("pong" + payload), true
			}
			return nil, false
		}),
		OnRecord(func(_ context.Context, r record) {
			if r.To == connfsm.Reconnecting {
				select {
				case lost <- r.Payload:
				default:
				}
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	select {
	case cause := <-lost:
		if err, _ := cause.(error); !errors.Is(err, ErrPongTimeout) {
			t.Errorf("Lost with %v, want ErrPongTimeout", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still %v 10s after the connection wedged, with a 200ms+200ms heartbeat; stats %+v", c.State(), c.Stats())
	}
}
