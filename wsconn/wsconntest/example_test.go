package wsconntest_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// A venue in memory that echoes, dialed with coder/websocket, and what it
// recorded.
func Example() {
	srv := wsconntest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, srv.URL+"/feed?room=1", &websocket.DialOptions{HTTPClient: srv.Client()})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = c.Write(ctx, websocket.MessageText, []byte("hello"))
	_, echo, _ := c.Read(ctx)
	_ = c.Close(websocket.StatusNormalClosure, "bye")
	// Wait for the venue to record the end: the client may be done first.
	_ = srv.Await(ctx, func() bool {
		rec, _ := srv.Connection(1)
		return !rec.Closed.IsZero()
	})

	rec, _ := srv.Connection(1)
	fmt.Printf("echo %q\n", echo)
	fmt.Println(rec.Path, rec.Query.Get("room"), rec.ReceivedText())
	for _, f := range rec.Frames {
		fmt.Println(f.Dir, f.Op, f.Code)
	}
	// Output:
	// echo "hello"
	// /feed 1 [hello]
	// from client text StatusCode(0)
	// to client text StatusCode(0)
	// from client close StatusNormalClosure
	// to client close StatusNormalClosure
}

// A venue that closes a client that bursts, as exchanges do: more than 3
// messages a second and the connection is closed with 1008. The client
// (wsconn) reconnects; the venue's record says why it closed.
func Example_rateLimit() {
	srv, err := wsconntest.NewTCPServer("", wsconntest.Default(wsconntest.RateLimit(3, time.Second), wsconntest.Echo()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()
	lost := make(chan error, 1)
	c, err := wsconn.Dial(ctx, srv.URL+"/ws",
		wsconn.OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
			if r.Kind != fsm.RecordTransition {
				return
			}
			if err, ok := r.Payload.(error); ok && r.Event == connfsm.Lost {
				select { // an observer must not block
				case lost <- err:
				default:
				}
			}
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	for i := range 5 { // a burst
		_ = c.SendText(ctx, fmt.Sprint("order ", i))
	}
	cause := <-lost
	fmt.Println("client lost its connection:", websocket.CloseStatus(cause))
	first, _ := srv.Connection(1)
	if f, ok := first.CloseFrom(wsconntest.ToClient); ok {
		fmt.Printf("venue closed with %d %q after %d messages\n", int(f.Code), f.Reason, len(first.Received))
	}
	// Output:
	// client lost its connection: StatusPolicyViolation
	// venue closed with 1008 "rate limit exceeded" after 4 messages
}

// A venue whose first dial is refused for maintenance with Retry-After,
// and whose second connection is reset after a message: Script plays one
// plan per handshake request.
func ExampleScript() {
	srv := wsconntest.NewServer(wsconntest.Script(
		wsconntest.Plan{wsconntest.Refuse(http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}})},
		wsconntest.Plan{wsconntest.Echo(), wsconntest.After(50*time.Millisecond, wsconntest.Reset())},
	))
	defer srv.Close()
	ctx := context.Background()
	opts := &websocket.DialOptions{HTTPClient: srv.Client()}
	_, resp, err := websocket.Dial(ctx, srv.URL, opts)
	fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"), err != nil)
	c, _, err := websocket.Dial(ctx, srv.URL, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _, err = c.Read(ctx) // until the reset
	fmt.Println("reset, no close frame:", websocket.CloseStatus(err) == -1)
	// Output:
	// 503 1 true
	// reset, no close frame: true
}

// TestExampleReconnect is the test doc.go shows: a client's reconnect
// against a venue that resets the connection, in virtual time.
func TestExampleReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := wsconntest.NewServer(wsconntest.Script(
			wsconntest.Plan{wsconntest.Echo(), wsconntest.After(70*time.Second, wsconntest.Reset())},
		))
		defer srv.Close()
		alive := make(chan struct{}, 2)
		c, err := wsconn.Dial(t.Context(), srv.URL+"/feed",
			wsconn.WithHTTPClient(srv.Client()),
			wsconn.WithHeartbeat(20*time.Second, 5*time.Second),
			wsconn.OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
				if r.Kind != fsm.RecordTransition {
					return
				}
				if r.Event == connfsm.Connected {
					alive <- struct{}{}
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		<-alive
		// reset after 70s of virtual time (pings at 20s, 40s, 60s), and back
		<-alive
		synctest.Wait() // the venue has recorded it all
		if got := srv.Stats().Upgraded; got != 2 {
			t.Errorf("connections = %d, want 2", got)
		}
		conn, _ := srv.Connection(1)
		if n := len(conn.FramesOf(wsconntest.FromClient, wsconntest.OpPing)); n != 3 {
			t.Errorf("pings before the reset = %d, want 3", n)
		}
	})
}
