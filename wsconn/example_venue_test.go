package wsconn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// tcpVenue is a wsconntest venue on loopback TCP playing bs on every
// connection.
func tcpVenue(bs ...wsconntest.Behavior) (url string, stop func()) {
	srv, err := wsconntest.NewTCPServer("", wsconntest.Default(bs...))
	if err != nil {
		log.Fatal(err)
	}
	return srv.URL, srv.Close
}

// venue runs handle for each connection (a venue that writes and closes;
// the venue's own reader reads, so handle must not).
func venue(handle func(ctx context.Context, c *websocket.Conn, r *http.Request)) (url string, stop func()) {
	return tcpVenue(wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
		handle(ctx, c.WebSocket(), c.Request())
	}))
}

// A venue that wants the text "ping" and answers "pong" (OKX does): the
// application heartbeat replaces protocol pings, and its replies stay out
// of OnMessage.
func ExampleWithAppHeartbeat() {
	url, stop := tcpVenue(wsconntest.RequireHeartbeat(wsconntest.Heartbeat{Ping: "ping", Pong: "pong"}), wsconntest.Echo())
	defer stop()

	// The heartbeat's matcher, wrapped to tell this example when the venue
	// has answered a ping.
	hb := wsconn.TextHeartbeat("ping", "pong")
	isPong, answered := hb.IsPong, make(chan struct{}, 1)
	hb.IsPong = func(m wsconn.Message) bool {
		ok := isPong(m)
		if ok {
			select {
			case answered <- struct{}{}:
			default:
			}
		}
		return ok
	}
	received := make(chan string, 10)
	c, err := wsconn.Dial(context.Background(), url,
		wsconn.WithAppHeartbeat(hb),
		wsconn.WithHeartbeat(20*time.Millisecond, time.Second),
		wsconn.OnMessage(func(_ context.Context, m wsconn.Message) { received <- string(m.Data) }),
	)
	if err != nil {
		log.Fatal(err)
	}
	<-answered // a heartbeat answered, its reply kept from OnMessage
	if err := c.SendText(context.Background(), "hello"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("received:", <-received)
	_ = c.Close(context.Background())
	fmt.Println("more received:", len(received))
	// Output:
	// received: hello
	// more received: 0
}

// A venue that pings its clients with {"ping":n} and drops those that do
// not answer {"pong":n}.
func ExampleWithPingResponder() {
	url, stop := tcpVenue(
		wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
			_ = c.SendText(ctx, `{"ping":1700000000}`)
		}),
		wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
			_ = c.SendText(c.Context(), "venue got "+string(m.Data))
			return true
		}))
	defer stop()

	received := make(chan string, 1)
	c, err := wsconn.Dial(context.Background(), url,
		wsconn.WithPingResponder(func(m wsconn.Message) ([]byte, bool) {
			var p struct{ Ping *int64 }
			if json.Unmarshal(m.Data, &p) != nil || p.Ping == nil {
				return nil, false // not a ping: a message for OnMessage
			}
			return fmt.Appendf(nil, `{"pong":%d}`, *p.Ping), true
		}),
		wsconn.OnMessage(func(_ context.Context, m wsconn.Message) { received <- string(m.Data) }),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-received)
	_ = c.Close(context.Background())
	// Output:
	// venue got {"pong":1700000000}
}

// A token good for one connection: the credentials function is called
// before every dial, so a reconnect gets a fresh one.
func ExampleWithCredentials() {
	url, stop := venue(func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		_ = c.Write(ctx, websocket.MessageText, []byte("welcome, "+r.Header.Get("Authorization")))
		_ = c.Close(websocket.StatusServiceRestart, "restarting") // the client reconnects
	})
	defer stop()

	n := 0
	received := make(chan string, 2)
	c, err := wsconn.Dial(context.Background(), url,
		wsconn.WithCredentials(func(ctx context.Context) (wsconn.Credentials, error) {
			n++ // a real one asks the venue's REST API, bounded by ctx
			return wsconn.Credentials{Header: http.Header{"Authorization": {fmt.Sprintf("Bearer token-%d", n)}}}, nil
		}),
		wsconn.WithBackoff(wsconn.Backoff{Initial: 10 * time.Millisecond}),
		wsconn.OnMessage(func(_ context.Context, m wsconn.Message) { received <- string(m.Data) }),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-received)
	fmt.Println(<-received)
	_ = c.Close(context.Background())
	// Output:
	// welcome, Bearer token-1
	// welcome, Bearer token-2
}

// A venue that closes with 4001 when the API key is wrong: redialling will
// not help, so the client gives up, and the close code and reason reach
// the caller.
func ExampleWithPermanentCloseCodes() {
	url, stop := venue(func(_ context.Context, c *websocket.Conn, _ *http.Request) {
		_ = c.Close(4001, "invalid api key")
	})
	defer stop()

	c, err := wsconn.Dial(context.Background(), url, wsconn.WithPermanentCloseCodes(4001))
	if err == nil { // connected before the venue closed
		<-c.Done()
		err = c.Err()
	}
	var ce *wsconn.CloseError
	if errors.As(err, &ce) {
		fmt.Printf("gave up: close %d %q\n", ce.Code, ce.Reason)
	}
	// Output:
	// gave up: close 4001 "invalid api key"
}

// A policy of one's own: give up on the venue's "account locked", retry a
// "resubscribe" close at once, leave the rest to the defaults.
func ExampleWithRetryPolicy() {
	closes := []struct {
		code   websocket.StatusCode
		reason string
	}{{4002, "resubscribe"}, {4009, "account locked"}}
	var n atomic.Int32
	url, stop := venue(func(_ context.Context, c *websocket.Conn, _ *http.Request) {
		cl := closes[min(int(n.Add(1))-1, len(closes)-1)]
		_ = c.Close(cl.code, cl.reason)
	})
	defer stop()

	policy := func(f wsconn.Failure) wsconn.Decision {
		fmt.Printf("attempt %d: %v %d %q\n", f.Attempt, f.Kind, f.Code, f.Reason)
		switch {
		case f.Kind == wsconn.KindClose && f.Code == 4009:
			return wsconn.Decision{GiveUp: true}
		case f.Kind == wsconn.KindClose && f.Code == 4002:
			return wsconn.Decision{Delay: 0}
		}
		return f.Default()
	}
	c, err := wsconn.Dial(context.Background(), url, wsconn.WithRetryPolicy(policy))
	if err == nil { // connected before the venue closed
		<-c.Done()
		err = c.Err()
	}
	fmt.Println(err)
	// Output:
	// attempt 1: close 4002 "resubscribe"
	// attempt 2: close 4009 "account locked"
	// session: gave up after 2 attempt(s): session: closed by the peer with status 4009: "account locked"
}
