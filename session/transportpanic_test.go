package session

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// panicTransport dials connections whose Reader, or whose message's
// Read, panics: a transport's bug.
type panicTransport struct{ inRead bool }

func (panicTransport) String() string { return "panicking" }

func (p panicTransport) Dial(_ context.Context, a *transport.Attempt) (transport.Conn, error) {
	a.Sent()
	a.Reached()
	return &panicConn{inRead: p.inRead, done: make(chan struct{})}, nil
}

type panicConn struct {
	inRead bool
	done   chan struct{}
	once   sync.Once
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("transport bug in Read") }

func (c *panicConn) Reader() (transport.MessageType, io.Reader, error) {
	if c.inRead {
		return transport.Text, panicReader{}, nil
	}
	panic("transport bug in Reader")
}

func (c *panicConn) Write(context.Context, transport.MessageType, []byte) error { return nil }
func (c *panicConn) Ping(context.Context) error                                 { return nil }
func (c *panicConn) Close(transport.StatusCode, string) error                   { return c.CloseNow() }
func (c *panicConn) CloseNow() error                                            { c.once.Do(func() { close(c.done) }); return nil }

// TestTransportReadPanicIsLost: a transport whose Reader, or whose
// message's Read, panics fails its connection, as a panicking Dial fails
// its attempt: the cause matches ErrReadFailed and tasks.ErrPanicked, the
// client backs off and redials, and the process lives on.
func TestTransportReadPanicIsLost(t *testing.T) {
	for _, tt := range []struct {
		name   string
		inRead bool
	}{{"Reader", false}, {"Read", true}} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var rec recorder
				c, err := Dial(context.Background(), panicTransport{inRead: tt.inRead}, OnRecord(rec.Observe), NoWait())
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				causes := lostCauses(&rec)
				if len(causes) == 0 {
					t.Fatalf("no Lost; transitions %v", rec.Transitions())
				}
				for _, cause := range causes {
					if !errors.Is(cause, ErrReadFailed) || !errors.Is(cause, tasks.ErrPanicked) {
						t.Errorf("Lost cause %v, want one matching ErrReadFailed and tasks.ErrPanicked", cause)
					}
				}
				if err := c.Close(context.Background()); err != nil {
					t.Errorf("Close = %v", err)
				}
			})
		})
	}
}

// closeNowPanics dials connections that end after a second and whose
// CloseNow panics once it has closed them: a transport's bug, met in the
// hook that drops the connection.
type closeNowPanics struct{}

func (closeNowPanics) String() string { return "closeNowPanics" }

func (closeNowPanics) Dial(_ context.Context, a *transport.Attempt) (transport.Conn, error) {
	a.Sent()
	a.Reached()
	return &closeNowConn{panicConn{done: make(chan struct{})}}, nil
}

type closeNowConn struct{ panicConn }

func (c *closeNowConn) Reader() (transport.MessageType, io.Reader, error) {
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
	return 0, nil, errors.New("connection lost")
}

func (c *closeNowConn) CloseNow() error {
	_ = c.panicConn.CloseNow()
	panic("transport bug in CloseNow")
}

// TestErrAfterFailStop: a panic the lifecycle cannot take as a task's
// failure (a transport's CloseNow, called by the exit hook that drops the
// connection) stops it where it was. Done is closed then, and Err and
// Ready say why, a *tasks.PanicError, instead of nil: the client is not
// running, nor Ready.
func TestErrAfterFailStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := Dial(context.Background(), closeNowPanics{}, NoWait())
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
		case <-time.After(time.Minute):
			t.Fatalf("not stopped: %v", c.Path())
		}
		if err := c.Err(); !errors.Is(err, tasks.ErrPanicked) {
			t.Errorf("Err = %v, want a *tasks.PanicError", err)
		}
		if err := c.Ready(context.Background()); !errors.Is(err, tasks.ErrPanicked) {
			t.Errorf("Ready = %v, want a *tasks.PanicError", err)
		}
		_ = c.Close(context.Background())
	})
}

// pingThenPanicWrite dials connections that read one "ping" and then
// wait to be closed, and whose Write panics: a transport's bug, met by the
// goroutine that writes the replies of WithPingResponder.
type pingThenPanicWrite struct{}

func (pingThenPanicWrite) String() string { return "pingThenPanicWrite" }

func (pingThenPanicWrite) Dial(_ context.Context, a *transport.Attempt) (transport.Conn, error) {
	a.Sent()
	a.Reached()
	return &pingConn{panicConn: panicConn{done: make(chan struct{})}}, nil
}

type pingConn struct {
	panicConn
	read bool
}

func (c *pingConn) Reader() (transport.MessageType, io.Reader, error) {
	if !c.read {
		c.read = true
		return transport.Text, strings.NewReader("ping"), nil
	}
	<-c.done
	return 0, nil, errors.New("closed")
}

func (c *pingConn) Write(context.Context, transport.MessageType, []byte) error {
	panic("transport bug in Write")
}

// TestTransportReplyPanicIsLost: a transport whose Write panics while the
// reply to the peer's ping is written fails that connection, with a cause
// matching tasks.ErrPanicked, and the process lives on.
func TestTransportReplyPanicIsLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		c, err := Dial(context.Background(), pingThenPanicWrite{}, OnRecord(rec.Observe), NoWait(),
			WithPingResponder(func(m transport.Message) ([]byte, bool) { return []byte("pong"), string(m.Data) == "ping" }))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		causes := lostCauses(&rec)
		if len(causes) == 0 {
			t.Fatalf("no Lost; transitions %v", rec.Transitions())
		}
		if !errors.Is(causes[0], tasks.ErrPanicked) {
			t.Errorf("Lost cause %v, want one matching tasks.ErrPanicked", causes[0])
		}
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
}
