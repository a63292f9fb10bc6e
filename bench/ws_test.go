package bench

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// quiet is a heartbeat long enough never to fire during a benchmark, so
// pings do not interfere with the message path.
const quiet = time.Hour

// pushEvery is the period of the /push feed.
const pushEvery = 10 * time.Millisecond

func pushTick(n int) wsconntest.Message { return wsconntest.Text("tick") }

// benchVenue is the benchmarks' venue (wsconntest) on loopback: at /echo it
// echoes every message, at /push it sends a small message every pushEvery
// (a busy feed), and at any path it reads and discards what it receives.
// With record, it records what it received, for tests (it would slow the
// venue down in a benchmark). The benchmarks run it in a child process
// (startServerProcess), so that its allocations and heap stay out of the
// client's figures.
func benchVenue(record bool) (*wsconntest.Server, error) {
	opts := []wsconntest.Option{wsconntest.Choose(func(r *http.Request, _ int) []wsconntest.Behavior {
		switch r.URL.Path {
		case "/echo":
			return []wsconntest.Behavior{wsconntest.Echo()}
		case "/push":
			return []wsconntest.Behavior{wsconntest.Discard(), wsconntest.Push(pushEvery, pushTick)}
		}
		return []wsconntest.Behavior{wsconntest.Discard()}
	})}
	if !record {
		opts = append(opts, wsconntest.WithoutRecording())
	}
	return wsconntest.NewTCPServer("", opts...)
}

// startWSServer runs a recording benchVenue in this process and returns it;
// its URL plus "/echo" or "/discard" picks what it does. tb's cleanup stops
// it.
func startWSServer(tb testing.TB) *wsconntest.Server {
	tb.Helper()
	srv, err := benchVenue(true)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	return srv
}

// client is one side of a comparison: a connection whose received messages
// arrive on recv, sent through send.
type client struct {
	send func(ctx context.Context, data []byte) error
	recv <-chan []byte
}

// dialer opens a client to url; the connection is closed by tb's cleanup.
type dialer struct {
	name string
	dial func(tb testing.TB, url string) client
}

var dialers = []dialer{{name: "raw", dial: dialRaw}, {name: "gorilla", dial: dialGorilla}, {name: "wsconn", dial: dialWsconn},
	{name: "wsconn+metrics", dial: dialWsconnMetrics}}

// dialRaw is the baseline: a coder/websocket connection whose reader
// goroutine hands each message to the caller over a channel.
func dialRaw(tb testing.TB, url string) client {
	tb.Helper()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		tb.Fatalf("raw dial: %v", err)
	}
	c.SetReadLimit(wsconn.DefaultReadLimit)
	recv := make(chan []byte, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			recv <- data
		}
	}()
	tb.Cleanup(func() {
		_ = c.Close(websocket.StatusNormalClosure, "")
		<-done
	})
	return client{
		send: func(ctx context.Context, data []byte) error { return c.Write(ctx, websocket.MessageText, data) },
		recv: recv,
	}
}

// dialGorilla is the other baseline: a gorilla/websocket connection, the
// most used Go WebSocket library, with the same reader goroutine and
// channel as dialRaw. Its writes are not safe for concurrent use; the
// benchmarks write from one goroutine.
func dialGorilla(tb testing.TB, url string) client {
	tb.Helper()
	c, _, err := gorilla.DefaultDialer.Dial(url, nil)
	if err != nil {
		tb.Fatalf("gorilla dial: %v", err)
	}
	c.SetReadLimit(wsconn.DefaultReadLimit)
	recv := make(chan []byte, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			recv <- data
		}
	}()
	tb.Cleanup(func() {
		msg := gorilla.FormatCloseMessage(gorilla.CloseNormalClosure, "")
		_ = c.WriteControl(gorilla.CloseMessage, msg, time.Now().Add(5*time.Second))
		select {
		case <-done: // the reader saw the server's close frame
		case <-time.After(5 * time.Second):
		}
		_ = c.Close()
		<-done
	})
	return client{
		send: func(_ context.Context, data []byte) error { return c.WriteMessage(gorilla.TextMessage, data) },
		recv: recv,
	}
}

// dialWsconn is the client under test, with its messages handed over the
// same kind of channel by OnMessage.
func dialWsconn(tb testing.TB, url string) client {
	tb.Helper()
	return dialWsconnWith(tb, url)
}

// dialWsconnWith is dialWsconn with more options, applied after its own
// (a WithHeartbeat among them replaces the quiet one).
func dialWsconnWith(tb testing.TB, url string, opts ...wsconn.Option) client {
	tb.Helper()
	recv := make(chan []byte, 1)
	c, err := wsconn.Dial(context.Background(), url, append([]wsconn.Option{
		wsconn.WithHeartbeat(quiet, quiet),
		wsconn.OnMessage(func(ctx context.Context, m wsconn.Message) {
			select {
			case recv <- m.Data:
			case <-ctx.Done():
			}
		})}, opts...)...)
	if err != nil {
		tb.Fatalf("wsconn dial: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			tb.Errorf("wsconn close: %v", err)
		}
	})
	return client{
		send: func(ctx context.Context, data []byte) error { return c.Send(ctx, wsconn.Text, data) },
		recv: recv,
	}
}

// payload returns n bytes of printable text.
func payload(n int) []byte {
	return []byte(strings.Repeat("0123456789abcdef", n/16+1)[:n])
}
