package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/wsconn"
)

// quiet is a heartbeat long enough never to fire during a benchmark, so
// pings do not interfere with the message path.
const quiet = time.Hour

// wsServer is a coder/websocket server: at /echo it echoes every message,
// at any other path it reads and discards them. If seen is not nil, the size
// of each message read is sent on it (tests only: it would slow the server
// down). The benchmarks run it in a child process (startServerProcess), so
// that its allocations and heap stay out of the client's figures.
type wsServer struct {
	seen chan<- int

	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
	wg    sync.WaitGroup
}

func newWSServer(seen chan<- int) *wsServer {
	return &wsServer{seen: seen, conns: make(map[*websocket.Conn]struct{})}
}

func (s *wsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1) // before the hijack, so shutdown waits for this handler
	defer s.wg.Done()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.CloseNow()
	}()
	c.SetReadLimit(-1)
	echo := r.URL.Path == "/echo"
	// The request context does not end with a hijacked connection, and a
	// background one keeps the server's per-read cost low.
	ctx := context.Background()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if s.seen != nil {
			s.seen <- len(data)
		}
		if echo {
			if err := c.Write(ctx, typ, data); err != nil {
				return
			}
		}
	}
}

// shutdown closes every connection and waits for the handlers.
func (s *wsServer) shutdown() {
	s.mu.Lock()
	for c := range s.conns {
		_ = c.CloseNow()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// startWSServer runs a wsServer in this process and returns its ws:// base
// URL (ending in "/"); tb's cleanup stops it.
func startWSServer(tb testing.TB, seen chan<- int) string {
	tb.Helper()
	s := newWSServer(seen)
	ts := httptest.NewServer(s)
	tb.Cleanup(func() {
		ts.Close()
		s.shutdown()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/"
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

var dialers = []dialer{{name: "raw", dial: dialRaw}, {name: "wsconn", dial: dialWsconn}}

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

// dialWsconn is the client under test, with its messages handed over the
// same kind of channel by OnMessage.
func dialWsconn(tb testing.TB, url string) client {
	tb.Helper()
	recv := make(chan []byte, 1)
	c, err := wsconn.Dial(context.Background(), url,
		wsconn.WithHeartbeat(quiet, quiet),
		wsconn.OnMessage(func(ctx context.Context, m wsconn.Message) {
			select {
			case recv <- m.Data:
			case <-ctx.Done():
			}
		}))
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
