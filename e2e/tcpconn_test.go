package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tcpconn"
	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
)

// TestTCPConnToxics runs the framed TCP client through toxiproxy: frames
// cut into segments of a few bytes still arrive whole; a reset is Lost, as
// a failed read, and redialled; a link that stops passing data is found by
// the application heartbeat, and the client comes back once the link does.
func TestTCPConnToxics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		toxic  string
		remove bool // remove the toxic after it has cost a connection
		// lostTo names the cause of Lost with remove: the error it wraps.
		lostTo error
		want   []string
	}{
		{name: "slicer", toxic: `{"name":"slice","type":"slicer","stream":"downstream","attributes":{"average_size":3,"size_variation":2,"delay":100}}`,
			want: []string{connected}},
		// The next heartbeat's reply triggers the reset.
		{name: "reset", toxic: `{"name":"reset","type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}`, remove: true,
			lostTo: session.ErrReadFailed, want: []string{connected, lost, retryDue, connected}},
		{name: "black hole", toxic: `{"name":"black hole","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`, remove: true,
			lostTo: session.ErrPongTimeout, want: []string{connected, lost, retryDue, connected}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			venue, err := tcpconntest.NewTCPServer("127.0.0.1:0",
				tcpconntest.Default(tcpconntest.AnswerPing("ping", "pong"), tcpconntest.Echo()))
			if err != nil {
				t.Fatal(err)
			}
			defer venue.Close()
			p := newProxy(t, venue.Addr)
			rec := newRecorder()
			echoes := make(chan string, 16)
			ctx, cancel := context.WithTimeout(t.Context(), patience)
			defer cancel()
			c, err := tcpconn.Dial(ctx, "tcp://"+p.addr,
				session.WithHeartbeat(200*time.Millisecond, 300*time.Millisecond),
				session.WithAppHeartbeat(session.TextHeartbeat("ping", "pong")),
				session.WithBackoff(retry.Backoff{Initial: backoffInitial, Max: backoffMax, Multiplier: 2}),
				session.OnRecord(rec.Observe),
				session.OnMessage(func(ctx context.Context, m transport.Message) {
					select {
					case echoes <- string(m.Data):
					case <-ctx.Done():
					}
				}))
			if err != nil {
				t.Fatal(err)
			}
			defer closeClient(t, c)
			p.addToxic(t, tt.toxic)
			if tt.remove {
				if l := waitFor(t, rec, lost, 1); !errors.Is(l.cause, tt.lostTo) {
					t.Errorf("Lost cause = %v, want one wrapping %v", l.cause, tt.lostTo)
				}
				if err := p.Toxics.RemoveToxic(context.Background(), tt.name); err != nil {
					t.Fatal(err)
				}
				waitFor(t, rec, connected, 2)
			}
			if err := c.Ready(ctx); err != nil {
				t.Fatal(err)
			}
			line := strings.Repeat("frame ", 20)
			if err := c.SendText(ctx, line); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-echoes:
				if got != line {
					t.Errorf("echo = %q, want %q", got, line)
				}
			case <-ctx.Done():
				t.Fatal("no echo")
			}
			got, _ := squash(rec.Transitions())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("transitions (-want +got):\n%s", diff)
			}
		})
	}
}
