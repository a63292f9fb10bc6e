package session

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/transport"
)

func TestDialEchoClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		got := make(chan transport.Message, 1)
		var tr recorder
		c, err := dialWS(t.Context(), "ws://example.test/feed",
			WithHTTPClient(srv.Client()),
			OnMessage(func(_ context.Context, m transport.Message) { got <- m }),
			OnRecord(tr.Observe))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if st := c.State(); st != connfsm.Alive {
			t.Fatalf("State after Dial = %v, want Alive", st)
		}
		if err := c.SendText(t.Context(), "hello"); err != nil {
			t.Fatalf("SendText: %v", err)
		}
		m := <-got
		if string(m.Data) != "hello" || m.Type != transport.Text {
			t.Errorf("echo = %v %q, want text %q", m.Type, m.Data, "hello")
		}
		if err := c.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		<-c.Done()
		want := []string{"Connecting-Connected->Alive", "Alive-Close->Closing", "Closing-CloseDone->Closed"}
		if diff := cmp.Diff(want, tr.Transitions()); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		if err := c.Err(); err != ErrClosed {
			t.Errorf("Err = %v, want ErrClosed", err)
		}
	})
}
