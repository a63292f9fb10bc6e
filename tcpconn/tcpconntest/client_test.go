package tcpconntest_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tcpconn"
	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
)

// TestExampleClient is the venue as a test of the framed TCP client uses
// it, in virtual time: the client's heartbeat is answered, then no longer,
// and the client reconnects; then the venue restarts under it, and it
// reconnects again.
func TestExampleClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer(tcpconntest.Default(tcpconntest.AnswerPing("ping", "pong"), tcpconntest.Echo()))
		defer srv.Close()
		echoes := make(chan string, 10)
		c, err := tcpconn.Dial(t.Context(), srv.URL,
			tcpconn.WithDialer(srv.DialContext),
			session.WithHeartbeat(20*time.Second, 5*time.Second),
			session.WithAppHeartbeat(session.TextHeartbeat("ping", "pong")),
			session.OnMessage(func(_ context.Context, m transport.Message) { echoes <- string(m.Data) }))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := c.SendText(t.Context(), "hello"); err != nil {
			t.Fatal(err)
		}
		if got := <-echoes; got != "hello" {
			t.Errorf("echo = %q", got)
		}
		time.Sleep(time.Minute) // pings at 20s, 40s, 60s, answered
		synctest.Wait()
		first, _ := srv.Connection(1)
		if diff := cmp.Diff([]string{"hello", "ping", "ping", "ping"}, first.ReceivedText()); diff != "" {
			t.Errorf("received (-want +got):\n%s", diff)
		}

		srv.AnswerPings(false) // the next ping goes unanswered: Lost, then a new connection
		time.Sleep(30 * time.Second)
		srv.AnswerPings(true)
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the client has seen the connection go
		if err := c.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st := srv.Stats(); st.Accepted != 3 || st.Open != 1 {
			t.Errorf("venue stats = %+v, want 3 connections, 1 open", st)
		}
		if got := c.Stats().Reconnects; got != 2 {
			t.Errorf("reconnects = %d, want 2", got)
		}
	})
}
