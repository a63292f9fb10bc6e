package wsconntest

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

// Every test closes its venues; none may leave a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patience bounds every wait over TCP, so a broken venue fails a test
// instead of hanging it.
const patience = 10 * time.Second

// transport is one of the venue's transports, with the way its tests run:
// in memory inside a synctest bubble (virtual time: durations are exact),
// over TCP in real time.
type transport struct {
	name  string
	start func(opts ...Option) (*Server, error)
	run   func(t *testing.T, body func(t *testing.T))
	exact bool // durations are exact (virtual time)
}

var transports = []transport{
	{name: "memory", exact: true,
		start: func(opts ...Option) (*Server, error) { return NewServer(opts...), nil },
		run:   synctest.Test},
	{name: "tcp",
		start: func(opts ...Option) (*Server, error) { return NewTCPServer("", opts...) },
		run:   func(t *testing.T, body func(t *testing.T)) { body(t) }},
}

// env is what a test body gets: the transport and a way to start venues
// that are closed when the test ends.
type env struct {
	transport
	t *testing.T
}

func (e env) venue(opts ...Option) *Server {
	e.t.Helper()
	srv, err := e.start(opts...)
	if err != nil {
		e.t.Fatalf("start venue: %v", err)
	}
	e.t.Cleanup(srv.Close)
	return srv
}

// ctx bounds a wait: the test's context, and over TCP patience.
func (e env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(e.t.Context(), patience)
	e.t.Cleanup(cancel)
	return ctx
}

// atLeast checks a duration: exactly want in virtual time, at least want
// in real time.
func (e env) atLeast(what string, got, want time.Duration) {
	e.t.Helper()
	if (e.exact && got != want) || got < want {
		e.t.Errorf("%s after %v, want %v", what, got, want)
	}
}

// each runs body over every transport.
func each(t *testing.T, body func(e env)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel() // each transport has its own venues
			tr.run(t, func(t *testing.T) { body(env{transport: tr, t: t}) })
		})
	}
}

// client is a coder/websocket client of a venue that reads all the time
// (so it answers pings) into msgs.
type client struct {
	ws   *websocket.Conn
	msgs chan Message
	done chan struct{}
	err  error // why reading ended; valid once done is closed
}

// dial connects to srv at path, failing the test on error.
func (e env) dial(srv *Server, path string, opts *websocket.DialOptions) *client {
	e.t.Helper()
	ws, err := e.tryDial(srv, path, opts)
	if err != nil {
		e.t.Fatalf("dial %s: %v", path, err)
	}
	c := &client{ws: ws, msgs: make(chan Message, 64), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			typ, data, err := ws.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			c.msgs <- Message{Type: typ, Data: data}
		}
	}()
	e.t.Cleanup(func() {
		_ = ws.CloseNow()
		<-c.done
	})
	return c
}

func (e env) tryDial(srv *Server, path string, opts *websocket.DialOptions) (*websocket.Conn, error) {
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.HTTPClient = srv.Client()
	ws, resp, err := websocket.Dial(e.ctx(), srv.URL+path, opts)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	return ws, err
}

func (c *client) send(e env, text string) {
	e.t.Helper()
	if err := c.ws.Write(e.ctx(), websocket.MessageText, []byte(text)); err != nil {
		e.t.Fatalf("send %q: %v", text, err)
	}
}

// next returns the next message received, failing the test if reading
// ends first.
func (c *client) next(e env) string {
	e.t.Helper()
	select { // what was read before reading ended comes first
	case m := <-c.msgs:
		return string(m.Data)
	default:
	}
	select {
	case m := <-c.msgs:
		return string(m.Data)
	case <-c.done:
		e.t.Fatalf("reading ended: %v", c.err)
	case <-e.ctx().Done():
		e.t.Fatal("no message within patience")
	}
	return ""
}

// end waits until reading ends and returns why.
func (c *client) end(e env) error {
	e.t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-e.ctx().Done():
		e.t.Fatal("the connection did not end within patience")
		return nil
	}
}

// await waits until cond holds, failing the test after patience.
func (e env) await(srv *Server, what string, cond func() bool) {
	e.t.Helper()
	if err := srv.Await(e.ctx(), cond); err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// frames returns connection n's frames as "dir op" strings, close frames
// with their code and reason.
func frames(srv *Server, n int) []string {
	c, ok := srv.Connection(n)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range c.Frames {
		s := f.Dir.String() + " " + f.Op.String()
		if f.Op == OpClose {
			s += " " + f.Code.String() + " " + f.Reason
		}
		out = append(out, s)
	}
	return out
}
