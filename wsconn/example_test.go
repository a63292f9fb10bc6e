package wsconn_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// echoServer is a local WebSocket venue on the loopback interface that
// sends every message back (wsconntest). A real client dials a wss:// URL
// instead.
func echoServer() (url string, stop func()) {
	srv, err := wsconntest.NewTCPServer("")
	if err != nil {
		log.Fatal(err)
	}
	return srv.URL, srv.Close
}

// A client that subscribes on every connection, handles messages as they
// arrive and closes gracefully.
func Example() {
	url, stop := echoServer()
	defer stop()

	received := make(chan string)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // bounds Dial only
	defer cancel()
	c, err := wsconn.Dial(ctx, url,
		// Sent on every connection, before Send is released: after a
		// reconnect the subscription is renewed before anything else is sent.
		wsconn.WithSubscriptions(wsconn.Subscription{Key: "trades", Message: []byte(`{"op":"subscribe","channel":"trades"}`)}),
		// Called by the reader, one message at a time: while it blocks, no
		// further message is read.
		wsconn.OnMessage(func(ctx context.Context, m wsconn.Message) {
			select {
			case received <- string(m.Data):
			case <-ctx.Done(): // the connection was left
			}
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("state after Dial:", c.State())
	fmt.Println("received:", <-received)

	if err := c.SendText(context.Background(), "hello"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("received:", <-received)

	if err := c.Close(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("state after Close:", c.State())
	fmt.Println("Err:", c.Err())
	// Output:
	// state after Dial: Alive
	// received: {"op":"subscribe","channel":"trades"}
	// received: hello
	// state after Close: Closed
	// Err: session: client closed
}

// With a send buffer, messages sent before the connection is up are kept
// and written in order once it is, ahead of any later message.
func ExampleWithSendPolicy() {
	url, stop := echoServer()
	defer stop()

	received := make(chan string)
	c, err := wsconn.Dial(context.Background(), url,
		wsconn.NoWait(), // return at once; Send does not wait for the connection either
		wsconn.WithSendPolicy(wsconn.SendPolicy{Buffer: 16}),
		wsconn.OnMessage(func(ctx context.Context, m wsconn.Message) {
			select {
			case received <- string(m.Data):
			case <-ctx.Done():
			}
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	for _, msg := range []string{"one", "two", "three"} {
		// Buffered while connecting, written directly once Alive: the
		// order holds either way.
		if err := c.SendText(context.Background(), msg); err != nil {
			log.Fatal(err)
		}
	}
	for range 3 {
		fmt.Println(<-received)
	}
	if err := c.Close(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent:", c.Stats().MessagesOut)
	// Output:
	// one
	// two
	// three
	// sent: 3
}

// A venue session: log in on every connection and wait for the ack
// (Request), subscribe once and have the subscription replayed, in order
// and acknowledged, on every connection after it (Subscribe). The venue
// here acknowledges both, and the connection is reset once to show it.
func ExampleClient_Subscribe() {
	srv, err := wsconntest.NewTCPServer("", wsconntest.Default(wsconntest.OnMessage(
		func(c *wsconntest.Conn, m wsconntest.Message) bool {
			switch string(m.Data) {
			case `{"op":"login"}`:
				_ = c.SendText(c.Context(), `{"event":"login","ok":true}`)
			case `{"op":"subscribe","channel":"trades"}`:
				_ = c.SendText(c.Context(), `{"event":"subscribed","channel":"trades"}`)
				_ = c.SendText(c.Context(), fmt.Sprintf(`{"trade":%d}`, c.N()))
			}
			return true
		})))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	trades := make(chan string, 4)
	c, err := wsconn.Dial(context.Background(), srv.URL,
		// Every connection syncs before the user's sends go out: log in...
		wsconn.OnConnect(func(ctx context.Context, s *wsconn.Session) error {
			_, err := s.Request(ctx, wsconn.Text, []byte(`{"op":"login"}`), func(m wsconn.Message) bool {
				return string(m.Data) == `{"event":"login","ok":true}`
			})
			return err // an error is Lost: the connection is dropped and dialed again
		}),
		// ...then the subscriptions are replayed; acks and login replies
		// never reach OnMessage.
		wsconn.OnMessage(func(_ context.Context, m wsconn.Message) { trades <- string(m.Data) }),
		wsconn.WithBackoff(wsconn.Backoff{Initial: 10 * time.Millisecond}),
	)
	if err != nil {
		log.Fatal(err)
	}
	err = c.Subscribe(context.Background(), wsconn.Subscription{
		Key:     "trades",
		Message: []byte(`{"op":"subscribe","channel":"trades"}`),
		Ack:     func(m wsconn.Message) bool { return string(m.Data) == `{"event":"subscribed","channel":"trades"}` },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first connection:", <-trades)

	srv.ResetAll() // no close handshake: the client reconnects, logs in, resubscribes
	fmt.Println("after the reset:", <-trades)
	_ = c.Close(context.Background())
	// Output:
	// first connection: {"trade":1}
	// after the reset: {"trade":2}
}
