package tcpconn_test

import (
	"context"
	"fmt"
	"time"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tcpconn"
	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
)

// A line-protocol feed on loopback: an application heartbeat ("ping",
// answered "pong"), a login acknowledged before anything else is sent, and
// the echo of one line.
func Example() {
	venue, err := tcpconntest.NewTCPServer("127.0.0.1:0", tcpconntest.Default(
		tcpconntest.AnswerPing("ping", "pong"), tcpconntest.LoginAck("login ", "welcome"), tcpconntest.Echo()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer venue.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	echoes := make(chan string, 1)
	c, err := tcpconn.Dial(ctx, venue.URL,
		session.WithAppHeartbeat(session.TextHeartbeat("ping", "pong")),
		session.OnConnect(func(ctx context.Context, s *session.Session) error {
			_, err := s.Request(ctx, transport.Text, []byte("login alice"), func(m transport.Message) bool {
				return string(m.Data) == "welcome"
			})
			return err
		}),
		session.OnMessage(func(_ context.Context, m transport.Message) { echoes <- string(m.Data) }))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.SendText(ctx, "hello"); err != nil {
		fmt.Println(err)
	}
	fmt.Println("echo:", <-echoes)
	fmt.Println("close:", c.Close(ctx))
	// Output:
	// echo: hello
	// close: <nil>
}
